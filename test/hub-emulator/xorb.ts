/**
 * Xorb format (docs/xet/xorb.md): a run of `[8-byte chunk header][payload]`, optionally followed by a
 * footer that starts with the ASCII ident `XETBLOB` (written by xet-core, never by the JS client).
 *
 * Chunk header: u8 version (0), u24 LE compressed length, u8 scheme, u24 LE uncompressed length.
 * Schemes: 0 = raw, 1 = LZ4, 2 = byte-grouping-4 then LZ4. "LZ4" means the LZ4 *frame* format.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { decompressFrameSync, uncompressSync } from 'lz4-napi';
import { chunkHashInto, HASH_BYTES, xorbHashHex } from './hash.js';

export const XORB_MAX_BYTES = 64 * 1024 * 1024;
export const CHUNK_HEADER_BYTES = 8;

export const SCHEME_NONE = 0;
export const SCHEME_LZ4 = 1;
export const SCHEME_BG4_LZ4 = 2;

const LZ4_FRAME_MAGIC = 0x184d2204;
const XORB_FOOTER_IDENT = Buffer.from('XETBLOB', 'ascii');

export class XorbFormatError extends Error {}

/** Where each chunk sits in a serialized xorb; enough to serve byte ranges and decode single chunks. */
export interface XorbLayout {
  /** n + 1 entries: offset of chunk i's header, and at [n] the end of the last chunk's payload. */
  chunkOffsets: Uint32Array;
  /** Uncompressed length of each chunk. */
  uncompressedLengths: Uint32Array;
}

interface ChunkHeader {
  compressedLength: number;
  scheme: number;
  uncompressedLength: number;
}

function u24(data: Uint8Array, at: number): number {
  return (data[at] ?? 0) | ((data[at + 1] ?? 0) << 8) | ((data[at + 2] ?? 0) << 16);
}

function readHeader(data: Uint8Array, offset: number): ChunkHeader | undefined {
  if (data[offset] !== 0) return undefined;
  return { compressedLength: u24(data, offset + 1), scheme: data[offset + 4] ?? -1, uncompressedLength: u24(data, offset + 5) };
}

/** Walks the chunk headers. Throws XorbFormatError on truncation, bad version or unknown scheme. */
export function parseXorbLayout(data: Uint8Array): XorbLayout {
  const offsets: number[] = [];
  const lengths: number[] = [];
  let offset = 0;
  while (offset < data.byteLength) {
    if (data[offset] !== 0) {
      // A non-zero version byte can only legitimately be the start of the xet-core footer.
      const rest = view(data, offset, Math.min(data.byteLength, offset + XORB_FOOTER_IDENT.length));
      if (rest.equals(XORB_FOOTER_IDENT)) break;
      throw new XorbFormatError(`unsupported chunk version ${data[offset]} at byte ${offset}`);
    }
    if (data.byteLength - offset < CHUNK_HEADER_BYTES) throw new XorbFormatError(`truncated chunk header at byte ${offset}`);
    const header = readHeader(data, offset);
    if (!header) throw new XorbFormatError(`bad chunk header at byte ${offset}`);
    if (header.scheme !== SCHEME_NONE && header.scheme !== SCHEME_LZ4 && header.scheme !== SCHEME_BG4_LZ4) {
      throw new XorbFormatError(`unknown compression scheme ${header.scheme} at byte ${offset}`);
    }
    if (header.scheme === SCHEME_NONE && header.compressedLength !== header.uncompressedLength) {
      throw new XorbFormatError(`raw chunk at byte ${offset} has different compressed and uncompressed lengths`);
    }
    const end = offset + CHUNK_HEADER_BYTES + header.compressedLength;
    if (end > data.byteLength) throw new XorbFormatError(`truncated chunk payload at byte ${offset}`);
    offsets.push(offset);
    lengths.push(header.uncompressedLength);
    offset = end;
  }
  if (lengths.length === 0) throw new XorbFormatError('xorb has no chunks');
  offsets.push(offset);
  return { chunkOffsets: Uint32Array.from(offsets), uncompressedLengths: Uint32Array.from(lengths) };
}

function view(data: Uint8Array, start: number, end: number): Buffer {
  return Buffer.from(data.buffer, data.byteOffset + start, end - start);
}

/**
 * LZ4 payload to bytes. Frames (what every known writer sends) go to lz4_flex's frame decoder, which
 * handles linked blocks, checksums and content size. A bare block is accepted as well: the chunk
 * header already carries the decoded size that lz4-napi's block API wants prepended.
 */
export function lz4Decode(payload: Buffer, uncompressedLength: number): Buffer {
  let out: Buffer;
  try {
    if (payload.byteLength >= 4 && payload.readUInt32LE(0) === LZ4_FRAME_MAGIC) {
      out = decompressFrameSync(payload);
    } else {
      const sized = Buffer.allocUnsafe(4 + payload.byteLength);
      sized.writeUInt32LE(uncompressedLength, 0);
      payload.copy(sized, 4);
      out = uncompressSync(sized);
    }
  } catch (err) {
    throw new XorbFormatError(`LZ4 decode failed: ${(err as Error).message}`);
  }
  if (out.byteLength !== uncompressedLength) {
    throw new XorbFormatError(`LZ4 payload decoded to ${out.byteLength} bytes, header says ${uncompressedLength}`);
  }
  return out;
}

/**
 * Inverse of the byte-grouping-4 split: the input is four groups (bytes 0,4,8.. then 1,5,9.. ...),
 * the first `len % 4` groups one byte longer; output byte 4i+k comes from group k, position i.
 */
export function bg4Regroup(grouped: Uint8Array): Buffer {
  const len = grouped.byteLength;
  const n = Math.floor(len / 4);
  const r = len % 4;
  const out = Buffer.allocUnsafe(len);
  let groupStart = 0;
  for (let k = 0; k < 4; k++) {
    const groupLen = n + (k < r ? 1 : 0);
    for (let i = 0; i < groupLen; i++) out[4 * i + k] = grouped[groupStart + i] ?? 0;
    groupStart += groupLen;
  }
  return out;
}

/** The forward split, used by tests to build BG4 chunks the way the client does. */
export function bg4Split(data: Uint8Array): Buffer {
  const len = data.byteLength;
  const n = Math.floor(len / 4);
  const r = len % 4;
  const out = Buffer.allocUnsafe(len);
  let pos = 0;
  for (let k = 0; k < 4; k++) {
    const groupLen = n + (k < r ? 1 : 0);
    for (let i = 0; i < groupLen; i++) out[pos++] = data[4 * i + k] ?? 0;
  }
  return out;
}

/** Decodes the chunk whose header starts at `offset` (already validated by parseXorbLayout). */
export function decodeChunk(data: Uint8Array, offset: number): Buffer {
  const header = readHeader(data, offset);
  if (!header) throw new XorbFormatError(`bad chunk header at byte ${offset}`);
  const payload = view(data, offset + CHUNK_HEADER_BYTES, offset + CHUNK_HEADER_BYTES + header.compressedLength);
  switch (header.scheme) {
    case SCHEME_NONE:
      return payload;
    case SCHEME_LZ4:
      return lz4Decode(payload, header.uncompressedLength);
    case SCHEME_BG4_LZ4:
      return bg4Regroup(lz4Decode(payload, header.uncompressedLength));
    default:
      throw new XorbFormatError(`unknown compression scheme ${header.scheme}`);
  }
}

export interface VerifiedXorb {
  layout: XorbLayout;
  /** Raw chunk hashes, 32 bytes each, in chunk order. */
  chunkHashes: Uint8Array;
}

/** How much decoded data to process between event-loop yields, so big uploads don't stall other requests. */
const YIELD_EVERY_BYTES = 8 * 1024 * 1024;

/**
 * Hashes a xorb's chunks while its body arrives (a BodyObserver for C1): each chunk is decoded and
 * hashed as soon as its header and payload are in, reading bytes that were just received and are
 * still in cache, so that when the upload ends little or nothing is left to hash. It only ever
 * computes hashes for verifyXorb, which re-walks the finished body and takes a hash from here only
 * for a chunk at the same offset with the same extent in the same buffer; anything unusual (a
 * footer, a bad header, a decode error) just stops it, and verifyXorb does the rest as before.
 */
export class StreamingChunkHasher {
  private data: Uint8Array | undefined;
  private next = 0;
  private stopped = false;
  private count = 0;
  private offsets: number[] = [];
  private hashes = new Uint8Array(1024 * HASH_BYTES);

  update(body: Uint8Array, received: number): void {
    if (this.stopped) return;
    if (this.data === undefined) this.data = body;
    else if (this.data !== body) {
      this.stopped = true;
      return;
    }
    while (received - this.next >= CHUNK_HEADER_BYTES) {
      const offset = this.next;
      const header = readHeader(body, offset);
      if (!header || !KNOWN_SCHEMES.has(header.scheme) || (header.scheme === SCHEME_NONE && header.compressedLength !== header.uncompressedLength)) {
        this.stopped = true;
        return;
      }
      const end = offset + CHUNK_HEADER_BYTES + header.compressedLength;
      if (end > received) return;
      if ((this.count + 1) * HASH_BYTES > this.hashes.byteLength) {
        const grown = new Uint8Array(this.hashes.byteLength * 2);
        grown.set(this.hashes);
        this.hashes = grown;
      }
      try {
        chunkHashInto(decodeChunk(body, offset), this.hashes, this.count * HASH_BYTES);
      } catch {
        this.stopped = true;
        return;
      }
      this.offsets.push(offset);
      this.count++;
      this.next = end;
    }
  }

  /**
   * Copies into `out` the hashes of the leading chunks of `layout` that were hashed from these very
   * bytes (same memory, same offsets, same extent); returns how many.
   */
  takeHashes(data: Uint8Array, layout: XorbLayout, out: Uint8Array): number {
    const seen = this.data;
    if (!seen || seen.buffer !== data.buffer || seen.byteOffset !== data.byteOffset || seen.byteLength < data.byteLength) return 0;
    const offsets = layout.chunkOffsets;
    const limit = Math.min(this.count, layout.uncompressedLengths.length);
    let n = 0;
    while (n < limit && this.offsets[n] === offsets[n] && (n + 1 < this.count ? this.offsets[n + 1] : this.next) === offsets[n + 1]) n++;
    out.set(this.hashes.subarray(0, n * HASH_BYTES));
    return n;
  }
}

const KNOWN_SCHEMES = new Set([SCHEME_NONE, SCHEME_LZ4, SCHEME_BG4_LZ4]);

/**
 * Decodes every chunk, hashes it and checks the Merkle hash against `expectedHash` (C1). The xorb is
 * self-describing, so this needs no shard. Throws XorbFormatError on any mismatch. Chunks that
 * `streamed` already hashed from these bytes while they arrived are not hashed twice.
 */
export async function verifyXorb(data: Uint8Array, expectedHash: string, streamed?: StreamingChunkHasher): Promise<VerifiedXorb> {
  const layout = parseXorbLayout(data);
  const count = layout.uncompressedLengths.length;
  const chunkHashes = new Uint8Array(count * HASH_BYTES);
  let sinceYield = 0;
  for (let i = streamed?.takeHashes(data, layout, chunkHashes) ?? 0; i < count; i++) {
    const chunk = decodeChunk(data, layout.chunkOffsets[i] ?? 0);
    chunkHashInto(chunk, chunkHashes, i * HASH_BYTES);
    sinceYield += chunk.byteLength;
    if (sinceYield >= YIELD_EVERY_BYTES) {
      sinceYield = 0;
      await yieldToEventLoop();
    }
  }
  const actual = xorbHashHex({ hashes: chunkHashes, lengths: layout.uncompressedLengths, start: 0, end: count });
  if (actual !== expectedHash) {
    throw new XorbFormatError(`xorb hash mismatch: body hashes to ${actual}, URL says ${expectedHash}`);
  }
  return { layout, chunkHashes };
}

/** Serializes raw chunks (scheme 0): how seeded files get xorbs without going through a client. */
export function buildRawXorb(chunks: Uint8Array[]): Buffer {
  const total = chunks.reduce((sum, c) => sum + CHUNK_HEADER_BYTES + c.byteLength, 0);
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const chunk of chunks) {
    const len = chunk.byteLength;
    out[offset] = 0;
    out.writeUIntLE(len, offset + 1, 3);
    out[offset + 4] = SCHEME_NONE;
    out.writeUIntLE(len, offset + 5, 3);
    out.set(chunk, offset + CHUNK_HEADER_BYTES);
    offset += CHUNK_HEADER_BYTES + len;
  }
  return out;
}
