/**
 * Xet binary formats the upload side writes and reads (docs/xet/xorb.md, shard.md; summarised in
 * shared/docs/hub-bucket-api.md §3): chunk headers inside a xorb, the shard that registers files
 * and xorbs (sent without its footer, as the spec asks of uploads), and the shard a dedup query
 * answers with (read to learn which xorbs already hold a chunk). Integers are little-endian;
 * hashes are the raw 32 bytes (`hexToBytes` of the string form).
 */
import { hashToHex, hexToBytes } from '@huggingface/xetchunk-wasm';

export const HASH_BYTES = 32;
export const CHUNK_HEADER_BYTES = 8;
/** A xorb's serialized size limit, headers included. */
export const XORB_MAX_BYTES = 64 * 1024 * 1024;
export const XORB_MAX_CHUNKS = 8 * 1024;
/** Shards are capped near 64 MiB too; stay under it with room for the last file's blocks. */
export const SHARD_SOFT_MAX_BYTES = 60 * 1024 * 1024;

/** How a chunk's payload is stored: raw, an LZ4 frame, or byte-grouped by 4 then an LZ4 frame. */
export const Scheme = { None: 0, Lz4: 1, ByteGrouping4Lz4: 2 } as const;
export type Scheme = (typeof Scheme)[keyof typeof Scheme];

const SHARD_MAGIC_TAG = Uint8Array.from([
  ...Buffer.from('HFRepoMetaData', 'ascii'),
  0, 85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169,
]);
const SHARD_HEADER_VERSION = 2;
const SHARD_FOOTER_VERSION = 1;
const SHARD_HEADER_BYTES = 48;
const RECORD_BYTES = 48;
const FOOTER_BYTES = 200;
/** Footer fields: version, 8 offsets/counts, the 32-byte HMAC key at 72, creation time at 104, key expiry at 112 (seconds). */
const FOOTER_KEY_EXPIRY_AT = 112;
const FLAG_WITH_VERIFICATION = 0x80000000;
const FLAG_WITH_METADATA_EXT = 0x40000000;

export function writeChunkHeader(buf: Buffer, at: number, payloadBytes: number, scheme: Scheme, rawBytes: number): void {
  buf[at] = 0; // version
  buf.writeUIntLE(payloadBytes, at + 1, 3);
  buf[at + 4] = scheme;
  buf.writeUIntLE(rawBytes, at + 5, 3);
}

/** One reconstruction term: chunks [start, end) of a xorb, with their hashes' verification hash. */
export interface ShardTerm {
  xorbHash: string;
  chunkStart: number;
  chunkEnd: number;
  unpackedBytes: number;
  verification: Uint8Array;
}

export interface ShardFile {
  fileHash: string;
  terms: ShardTerm[];
  /**
   * The file's sha256 (32 bytes, standard digest order), sent in the file block's metadata
   * extension; all zero for an empty file, as xet-core sends it (its hasher never saw a chunk).
   */
  sha256?: Uint8Array;
}

export interface ShardXorb {
  hash: string;
  /** Serialized size (headers and payloads). */
  bytesOnDisk: number;
  /** The raw chunk hashes, concatenated (32 bytes each): one buffer, not an object per chunk. */
  chunkHashes: Uint8Array;
  chunkLengths: ArrayLike<number>;
}

export function shardSize(files: readonly ShardFile[], xorbs: readonly ShardXorb[]): number {
  let records = 0;
  for (const f of files) records += 1 + 2 * f.terms.length + (f.sha256 ? 1 : 0);
  for (const x of xorbs) records += 1 + x.chunkLengths.length;
  return SHARD_HEADER_BYTES + (records + 2) * RECORD_BYTES;
}

/** An upload shard: header, file blocks (with verification entries and, when known, the sha256 extension), CAS blocks; no footer. */
export function serializeShard(files: readonly ShardFile[], xorbs: readonly ShardXorb[]): Buffer {
  const buf = Buffer.alloc(shardSize(files, xorbs));
  let at = 0;
  buf.set(SHARD_MAGIC_TAG, at);
  buf.writeBigUInt64LE(BigInt(SHARD_HEADER_VERSION), 32);
  buf.writeBigUInt64LE(0n, 40); // footer size: none
  at = SHARD_HEADER_BYTES;
  for (const file of files) {
    buf.set(hexToBytes(file.fileHash), at);
    buf.writeUInt32LE((FLAG_WITH_VERIFICATION | (file.sha256 ? FLAG_WITH_METADATA_EXT : 0)) >>> 0, at + 32);
    buf.writeUInt32LE(file.terms.length, at + 36);
    at += RECORD_BYTES;
    for (const t of file.terms) {
      buf.set(hexToBytes(t.xorbHash), at);
      buf.writeUInt32LE(0, at + 32);
      buf.writeUInt32LE(t.unpackedBytes, at + 36);
      buf.writeUInt32LE(t.chunkStart, at + 40);
      buf.writeUInt32LE(t.chunkEnd, at + 44);
      at += RECORD_BYTES;
    }
    for (const t of file.terms) {
      buf.set(t.verification, at);
      at += RECORD_BYTES;
    }
    if (file.sha256) {
      writeSha256Field(buf, at, file.sha256);
      at += RECORD_BYTES; // the 16 reserved bytes stay zero
    }
  }
  at = writeBookend(buf, at);
  for (const x of xorbs) {
    const count = x.chunkLengths.length;
    let bytesInCas = 0;
    for (let i = 0; i < count; i++) bytesInCas += x.chunkLengths[i] as number;
    buf.set(hexToBytes(x.hash), at);
    buf.writeUInt32LE(0, at + 32);
    buf.writeUInt32LE(count, at + 36);
    buf.writeUInt32LE(bytesInCas, at + 40);
    buf.writeUInt32LE(x.bytesOnDisk, at + 44);
    at += RECORD_BYTES;
    let offset = 0;
    for (let i = 0; i < count; i++) {
      buf.set(x.chunkHashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES), at);
      buf.writeUInt32LE(offset, at + 32);
      buf.writeUInt32LE(x.chunkLengths[i] as number, at + 36);
      offset += x.chunkLengths[i] as number;
      at += RECORD_BYTES;
    }
  }
  writeBookend(buf, at);
  return buf;
}

/**
 * The metadata extension's sha256 field, laid out as xet-core writes it: the FileMetadataExt of
 * xet-core's mdb_shard/src/file_structs.rs holds the sha256 as a MerkleHash (four u64) made with
 * `MerkleHash::from_hex` of the digest's hex (data/src/sha256.rs), and serializes it as four
 * little-endian u64. So each 8-byte group of the digest lands byte-reversed; the extension's
 * `hex()` is then the ordinary sha256 hex. The same order as every other hash here (`hexToBytes`).
 */
export function writeSha256Field(buf: Buffer, at: number, sha256: Uint8Array): void {
  if (sha256.length !== HASH_BYTES) throw new Error(`a sha256 is ${HASH_BYTES} bytes, got ${sha256.length}`);
  for (let group = 0; group < HASH_BYTES; group += 8) {
    for (let i = 0; i < 8; i++) buf[at + group + i] = sha256[group + 7 - i] as number;
  }
}

function writeBookend(buf: Buffer, at: number): number {
  buf.fill(0xff, at, at + HASH_BYTES);
  buf.fill(0, at + HASH_BYTES, at + RECORD_BYTES);
  return at + RECORD_BYTES;
}

function isBookend(buf: Buffer, at: number): boolean {
  for (let i = 0; i < HASH_BYTES; i++) if (buf[at + i] !== 0xff) return false;
  return true;
}

export class ShardFormatError extends Error {}

/** The CAS blocks of a shard: which xorbs hold which chunks (hashes keyed with `hmacKey` when it is not all zero). */
export interface ShardXorbIndex {
  hmacKey: Uint8Array | undefined;
  /** The footer's `shard_key_expiry` in ms since the epoch; undefined when there is no footer or it is 0 (no expiry). */
  expiresAt: number | undefined;
  /** Per xorb, its chunk hashes concatenated (32 bytes each) and their lengths. */
  xorbs: Array<{ hash: string; bytesOnDisk: number; chunkHashes: Uint8Array; chunkLengths: Uint32Array }>;
}

/**
 * Reads the CAS blocks of a shard (a dedup answer, or one of our own from the local cache),
 * walking the sections by their bookends; the footer, when present, only supplies the HMAC key and
 * the key's expiry.
 */
export function parseShardXorbs(buf: Buffer): ShardXorbIndex {
  if (buf.length < SHARD_HEADER_BYTES + 2 * RECORD_BYTES || !buf.subarray(0, 32).equals(SHARD_MAGIC_TAG)) {
    throw new ShardFormatError('not a shard (bad magic tag or too short)');
  }
  const footerSize = Number(buf.readBigUInt64LE(40));
  if (footerSize !== 0 && footerSize !== FOOTER_BYTES) throw new ShardFormatError(`unexpected shard footer size ${footerSize}`);
  const end = buf.length - footerSize;
  let hmacKey: Uint8Array | undefined;
  let expiresAt: number | undefined;
  if (footerSize === FOOTER_BYTES) {
    const footer = buf.subarray(end);
    if (Number(footer.readBigUInt64LE(0)) !== SHARD_FOOTER_VERSION) throw new ShardFormatError('unexpected shard footer version');
    const key = Uint8Array.from(footer.subarray(72, 104));
    if (key.some((b) => b !== 0)) hmacKey = key;
    const expiry = footer.readBigUInt64LE(FOOTER_KEY_EXPIRY_AT);
    // 0: none; anything past year 10,000 (xet-core writes u64::MAX for "never") is no expiry either.
    if (expiry > 0n && expiry < 253_402_300_800n) expiresAt = Number(expiry) * 1000;
  }
  const need = (at: number, what: string) => {
    if (at + RECORD_BYTES > end) throw new ShardFormatError(`truncated shard while reading ${what}`);
  };
  let at = SHARD_HEADER_BYTES;
  // File section: skipped (a dedup answer has none; our own shards' files are not needed for dedup).
  for (;;) {
    need(at, 'the file section');
    if (isBookend(buf, at)) break;
    const flags = buf.readUInt32LE(at + 32);
    const entries = buf.readUInt32LE(at + 36);
    let records = 1 + entries;
    if (flags & FLAG_WITH_VERIFICATION) records += entries;
    if (flags & FLAG_WITH_METADATA_EXT) records += 1;
    at += records * RECORD_BYTES;
  }
  at += RECORD_BYTES;
  const xorbs: ShardXorbIndex['xorbs'] = [];
  for (;;) {
    need(at, 'the CAS section');
    if (isBookend(buf, at)) break;
    const hash = hashToHex(buf.subarray(at, at + HASH_BYTES));
    const numChunks = buf.readUInt32LE(at + 36);
    const bytesOnDisk = buf.readUInt32LE(at + 44);
    at += RECORD_BYTES;
    if (at + numChunks * RECORD_BYTES > end) throw new ShardFormatError(`truncated CAS block of xorb ${hash}`);
    const chunkHashes = new Uint8Array(numChunks * HASH_BYTES);
    const chunkLengths = new Uint32Array(numChunks);
    for (let i = 0; i < numChunks; i++) {
      chunkHashes.set(buf.subarray(at, at + HASH_BYTES), i * HASH_BYTES);
      chunkLengths[i] = buf.readUInt32LE(at + 36);
      at += RECORD_BYTES;
    }
    xorbs.push({ hash, bytesOnDisk, chunkHashes, chunkLengths });
  }
  return { hmacKey, expiresAt, xorbs };
}
