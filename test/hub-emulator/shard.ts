/**
 * Shard format (docs/xet/shard.md): 48-byte header, file-info section, CAS-info section, optional
 * 200-byte footer. Sections are parsed linearly up to their bookends instead of trusting the footer:
 * the JS client writes a footer with zeroed lookup fields, xet-core omits it on upload.
 * All integers are little-endian; hashes are raw 32 bytes (hex form via hashToHex).
 */
import { HASH_BYTES, hashToHex, hexToBytes } from './hash.js';

export const SHARD_MAGIC_TAG = Buffer.from([
  ...Buffer.from('HFRepoMetaData', 'ascii'),
  0, 85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169,
]);
const HEADER_BYTES = 48;
const RECORD_BYTES = 48;
const FOOTER_BYTES = 200;
const HEADER_VERSION = 2n;
const FOOTER_VERSION = 1n;

const FLAG_WITH_VERIFICATION = 0x80000000;
const FLAG_WITH_METADATA_EXT = 0x40000000;

export class ShardFormatError extends Error {}

export interface ShardTerm {
  xorbHash: string;
  unpackedBytes: number;
  chunkStart: number;
  /** Exclusive. */
  chunkEnd: number;
  /** Raw verification (range) hash, when the block carries verification entries. */
  verification?: Uint8Array;
}

export interface ShardFileBlock {
  fileHash: string;
  terms: ShardTerm[];
  /**
   * The sha256 the block's metadata extension claims (hex, as `sha256sum` prints it), when the
   * block carries one. xet-core stores it as a MerkleHash built from that hex, four little-endian
   * u64 (mdb_shard/src/file_structs.rs, data/src/sha256.rs), so it reads back with hashToHex.
   */
  sha256?: string;
}

export interface ShardCasBlock {
  xorbHash: string;
  numChunks: number;
  bytesInCas: number;
  bytesOnDisk: number;
  chunks: Array<{ hash: Uint8Array; byteRangeStart: number; unpackedBytes: number }>;
}

export interface ParsedShard {
  files: ShardFileBlock[];
  xorbs: ShardCasBlock[];
}

class Reader {
  offset: number;
  private readonly buf: Buffer;
  private readonly end: number;

  constructor(buf: Buffer, offset: number, end: number) {
    this.buf = buf;
    this.offset = offset;
    this.end = end;
  }

  need(bytes: number, what: string): void {
    if (this.offset + bytes > this.end) throw new ShardFormatError(`truncated shard while reading ${what}`);
  }

  hash(): Uint8Array {
    const hash = this.buf.subarray(this.offset, this.offset + HASH_BYTES);
    this.offset += HASH_BYTES;
    return hash;
  }

  u32(): number {
    const value = this.buf.readUInt32LE(this.offset);
    this.offset += 4;
    return value;
  }

  skip(bytes: number): void {
    this.offset += bytes;
  }

  /** A bookend is a record whose hash is 32 x 0xFF; consumes it when present. */
  atBookend(): boolean {
    this.need(RECORD_BYTES, 'a section record');
    for (let i = 0; i < HASH_BYTES; i++) if (this.buf[this.offset + i] !== 0xff) return false;
    this.offset += RECORD_BYTES;
    return true;
  }
}

export function parseShard(buf: Buffer): ParsedShard {
  if (buf.byteLength < HEADER_BYTES + 2 * RECORD_BYTES) throw new ShardFormatError('shard too short');
  if (!buf.subarray(0, SHARD_MAGIC_TAG.length).equals(SHARD_MAGIC_TAG)) throw new ShardFormatError('bad shard magic tag');
  const version = buf.readBigUInt64LE(32);
  if (version !== HEADER_VERSION) throw new ShardFormatError(`unsupported shard header version ${version}`);
  const footerSize = Number(buf.readBigUInt64LE(40));
  if (footerSize !== 0 && footerSize !== FOOTER_BYTES) throw new ShardFormatError(`unsupported footer size ${footerSize}`);
  const sectionsEnd = buf.byteLength - footerSize;
  if (sectionsEnd < HEADER_BYTES + 2 * RECORD_BYTES) throw new ShardFormatError('shard too short for its footer');
  if (footerSize && buf.readBigUInt64LE(sectionsEnd) !== FOOTER_VERSION) {
    throw new ShardFormatError('unsupported shard footer version');
  }

  const r = new Reader(buf, HEADER_BYTES, sectionsEnd);
  const files: ShardFileBlock[] = [];
  while (!r.atBookend()) {
    const fileHash = hashToHex(r.hash());
    const flags = r.u32();
    const numEntries = r.u32();
    r.skip(8);
    const entryCount = numEntries * (1 + ((flags & FLAG_WITH_VERIFICATION) !== 0 ? 1 : 0));
    r.need(entryCount * RECORD_BYTES + ((flags & FLAG_WITH_METADATA_EXT) !== 0 ? RECORD_BYTES : 0), `file ${fileHash}`);
    const terms: ShardTerm[] = [];
    for (let i = 0; i < numEntries; i++) {
      const xorbHash = hashToHex(r.hash());
      r.skip(4); // per-entry flags, always 0
      const unpackedBytes = r.u32();
      const chunkStart = r.u32();
      const chunkEnd = r.u32();
      terms.push({ xorbHash, unpackedBytes, chunkStart, chunkEnd });
    }
    if ((flags & FLAG_WITH_VERIFICATION) !== 0) {
      for (const term of terms) {
        term.verification = r.hash();
        r.skip(16);
      }
    }
    let sha256: string | undefined;
    if ((flags & FLAG_WITH_METADATA_EXT) !== 0) {
      sha256 = hashToHex(r.hash());
      r.skip(16); // reserved
    }
    files.push(sha256 === undefined ? { fileHash, terms } : { fileHash, terms, sha256 });
  }

  const xorbs: ShardCasBlock[] = [];
  while (!r.atBookend()) {
    const xorbHash = hashToHex(r.hash());
    r.skip(4); // flags
    const numChunks = r.u32();
    const bytesInCas = r.u32();
    const bytesOnDisk = r.u32();
    r.need(numChunks * RECORD_BYTES, `xorb ${xorbHash}`);
    const chunks: ShardCasBlock['chunks'] = [];
    for (let i = 0; i < numChunks; i++) {
      const hash = r.hash();
      const byteRangeStart = r.u32();
      const unpackedBytes = r.u32();
      r.skip(8);
      chunks.push({ hash, byteRangeStart, unpackedBytes });
    }
    xorbs.push({ xorbHash, numChunks, bytesInCas, bytesOnDisk, chunks });
  }
  // Without a footer nothing may follow the CAS bookend; with one, stored shards may keep lookup
  // tables between the bookend and the footer, which the linear parse has no use for.
  if (footerSize === 0 && r.offset !== buf.byteLength) throw new ShardFormatError('trailing bytes after CAS section');
  return { files, xorbs };
}

export interface DedupXorb {
  hash: string;
  /** Chunk hashes already keyed with the shard's HMAC key, 32 bytes each. */
  keyedChunkHashes: Uint8Array;
  uncompressedLengths: Uint32Array;
  bytesOnDisk: number;
}

/**
 * The global-dedup answer (C3): a shard with an empty file section and one CAS block per xorb, each
 * listing every chunk from index 0 (the client numbers chunks by position). The footer's lookup
 * offsets point at the footer itself, because the client stops scanning CAS blocks at @24.
 */
export function buildDedupShard(xorbs: DedupXorb[], hmacKey: Uint8Array, nowSeconds: number, ttlSeconds = 24 * 3600): Buffer {
  const casBytes = xorbs.reduce((sum, x) => sum + RECORD_BYTES * (1 + x.uncompressedLengths.length), 0);
  const casOffset = HEADER_BYTES + RECORD_BYTES;
  const footerOffset = casOffset + casBytes + RECORD_BYTES;
  const buf = Buffer.alloc(footerOffset + FOOTER_BYTES);

  SHARD_MAGIC_TAG.copy(buf, 0);
  buf.writeBigUInt64LE(HEADER_VERSION, 32);
  buf.writeBigUInt64LE(BigInt(FOOTER_BYTES), 40);

  const bookend = (at: number) => buf.fill(0xff, at, at + HASH_BYTES);
  bookend(HEADER_BYTES);

  let at = casOffset;
  let storedOnDisk = 0;
  let stored = 0;
  for (const xorb of xorbs) {
    const unpacked = xorb.uncompressedLengths.reduce((sum, n) => sum + n, 0);
    buf.set(hexToBytes(xorb.hash), at);
    buf.writeUInt32LE(xorb.uncompressedLengths.length, at + 36);
    buf.writeUInt32LE(unpacked, at + 40);
    buf.writeUInt32LE(xorb.bytesOnDisk, at + 44);
    at += RECORD_BYTES;
    let rangeStart = 0;
    xorb.uncompressedLengths.forEach((length, i) => {
      buf.set(xorb.keyedChunkHashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES), at);
      buf.writeUInt32LE(rangeStart, at + 32);
      buf.writeUInt32LE(length, at + 36);
      rangeStart += length;
      at += RECORD_BYTES;
    });
    storedOnDisk += xorb.bytesOnDisk;
    stored += unpacked;
  }
  bookend(at);

  const f = footerOffset;
  buf.writeBigUInt64LE(FOOTER_VERSION, f);
  buf.writeBigUInt64LE(BigInt(HEADER_BYTES), f + 8);
  buf.writeBigUInt64LE(BigInt(casOffset), f + 16);
  buf.writeBigUInt64LE(BigInt(footerOffset), f + 24); // file lookup offset (0 entries)
  buf.writeBigUInt64LE(BigInt(footerOffset), f + 40); // CAS lookup offset (0 entries)
  buf.writeBigUInt64LE(BigInt(footerOffset), f + 56); // chunk lookup offset (0 entries)
  buf.set(hmacKey, f + 72);
  buf.writeBigUInt64LE(BigInt(nowSeconds), f + 104);
  buf.writeBigUInt64LE(BigInt(nowSeconds + ttlSeconds), f + 112); // shard_key_expiry
  buf.writeBigUInt64LE(BigInt(storedOnDisk), f + 168);
  buf.writeBigUInt64LE(BigInt(stored), f + 184);
  buf.writeBigUInt64LE(BigInt(footerOffset), f + 192);
  return buf;
}
