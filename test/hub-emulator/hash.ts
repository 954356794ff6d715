/**
 * Xet hashes, recomputed server-side so the emulator never trusts a hash it is handed.
 *
 * Everything is keyed BLAKE3 as the spec says (docs/xet/hashing.md; summary in shared/docs
 * hub-bucket-api.md §3.1), computed by ./blake3.ts in WebAssembly SIMD (about 4x blake3-jit's scalar
 * keyed Hasher): chunk hashes, the Merkle tree of xorb and file hashes (written here, with the node
 * text built as bytes and hashes turned to hex by table, instead of `@huggingface/xetchunk-wasm`'s
 * per-entry BigInt and string work), and verification hashes. test/integration/hub-emulator/
 * hashes.test.ts checks all of them against xetchunk-wasm, the code the client uses.
 */
import { getChunks, hexToBytes, hmac, type Chunk } from '@huggingface/xetchunk-wasm';
import { Hasher as GearHasher } from 'gearhash-jit';
import { KeyedBlake3 } from './blake3.js';

export { hexToBytes };

const DATA_KEY = new Uint8Array([
  102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28, 157, 228, 33, 16, 155, 235, 43, 88, 180,
  208, 176, 75, 147, 173, 242, 41,
]);
const INTERNAL_NODE_KEY = new Uint8Array([
  1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230, 93, 221, 83, 111, 55, 199, 109, 210, 248,
  99, 82, 230, 74, 83, 113, 63,
]);
const VERIFICATION_KEY = new Uint8Array([
  127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243, 164, 205, 38, 213, 181, 219, 73, 230,
  65, 36, 152, 127, 40, 251, 148, 195,
]);

const chunkHasher = new KeyedBlake3(DATA_KEY);
const nodeHasher = new KeyedBlake3(INTERNAL_NODE_KEY);
const fileHasher = new KeyedBlake3(new Uint8Array(32));
const verificationHasher = new KeyedBlake3(VERIFICATION_KEY);

export const HASH_BYTES = 32;
/** The file hash of the empty file, and the hash the client sends for it. */
export const ZERO_HASH = '0'.repeat(64);

const HASH_HEX = /^[0-9a-f]{64}$/;

export function isHashHex(value: unknown): value is string {
  return typeof value === 'string' && HASH_HEX.test(value);
}

/** Raw 32-byte chunk hash (BLAKE3 keyed with DATA_KEY over the uncompressed chunk bytes). */
export function chunkHash(data: Uint8Array): Uint8Array {
  return chunkHasher.hash(data);
}

/** chunkHash written straight into `out` at `offset` (e.g. a xorb's table of chunk hashes). */
export function chunkHashInto(data: Uint8Array, out: Uint8Array, offset: number): void {
  chunkHasher.hashInto(data, out, offset);
}

/** A run of chunks described by their raw hashes (32 bytes each, concatenated) and lengths. */
export interface ChunkList {
  hashes: Uint8Array;
  lengths: ArrayLike<number>;
  start: number;
  end: number;
}

const hexScratch = Buffer.alloc(HASH_BYTES);

/** Xet's hex form of a raw hash: each 8-byte group read as a little-endian u64, printed as 16 hex digits. */
export function hashToHex(hash: Uint8Array): string {
  for (let g = 0; g < HASH_BYTES; g += 8) for (let k = 0; k < 8; k++) hexScratch[g + k] = hash[g + 7 - k] ?? 0;
  return hexScratch.toString('hex');
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** One internal node's text: at most 9 lines of 64 hex digits, " : ", up to 16 decimal digits, "\n". */
const nodeText = Buffer.alloc(9 * (64 + 3 + 16 + 1));
const NODE_MAX_CHILDREN = 9;
const MEAN_CHILDREN = 4;

/**
 * Hashes the node over entries [from, to) of a level (`"{hex} : {len}\n"` per entry, BLAKE3 keyed with
 * INTERNAL_NODE_KEY) into out[at]; returns the node's length (the sum of its entries').
 */
function mergeNode(hashes: Uint8Array, lengths: ArrayLike<number>, from: number, to: number, out: Uint8Array, at: number): number {
  let pos = 0;
  let total = 0;
  for (let j = from; j < to; j++) {
    const base = j * HASH_BYTES;
    for (let g = 0; g < HASH_BYTES; g += 8) {
      for (let k = 7; k >= 0; k--) {
        const byte = hashes[base + g + k] ?? 0;
        nodeText[pos++] = HEX_DIGITS[byte >>> 4] ?? 0;
        nodeText[pos++] = HEX_DIGITS[byte & 15] ?? 0;
      }
    }
    const length = lengths[j] ?? 0;
    pos += nodeText.write(` : ${length}\n`, pos, 'latin1');
    total += length;
  }
  nodeHasher.hashInto(nodeText.subarray(0, pos), out, at);
  return total;
}

/**
 * Merkle root of (chunk hash, length) entries [start, end): each level is cut left to right into
 * groups that end at the last entry, at the 9th, or at the first entry from the 3rd on whose hash
 * byte 24 is divisible by 4; one node per group, until one node is left. No entries: all zeros.
 */
function merkleRoot(hashes: Uint8Array, lengths: ArrayLike<number>, start: number, end: number): Uint8Array {
  let count = end - start;
  if (count <= 0) return new Uint8Array(HASH_BYTES);
  let level = hashes.subarray(start * HASH_BYTES, end * HASH_BYTES);
  let levelLengths: ArrayLike<number> = start === 0 ? lengths : Array.from({ length: count }, (_, i) => lengths[start + i] ?? 0);
  while (count > 1) {
    // Every group but the last has at least 3 entries.
    const next = new Uint8Array((Math.floor(count / 3) + 1) * HASH_BYTES);
    const nextLengths: number[] = [];
    let groupStart = 0;
    for (let i = 0; i < count; i++) {
      const children = i - groupStart;
      if (i === count - 1 || children === NODE_MAX_CHILDREN - 1 || (children >= 2 && (level[i * HASH_BYTES + 24] ?? 0) % MEAN_CHILDREN === 0)) {
        nextLengths.push(mergeNode(level, levelLengths, groupStart, i + 1, next, nextLengths.length * HASH_BYTES));
        groupStart = i + 1;
      }
    }
    level = next;
    levelLengths = nextLengths;
    count = nextLengths.length;
  }
  return level.slice(0, HASH_BYTES);
}

export function xorbHashHex(list: ChunkList): string {
  return hashToHex(merkleRoot(list.hashes, list.lengths, list.start, list.end));
}

/** File hash over chunk runs taken in order (one run per reconstruction term): the root of all their chunks, keyed with zeros. */
export function fileHashHex(runs: ChunkList[]): string {
  const count = runs.reduce((sum, r) => sum + Math.max(0, r.end - r.start), 0);
  if (count === 0) return ZERO_HASH;
  const hashes = new Uint8Array(count * HASH_BYTES);
  const lengths = new Array<number>(count);
  let n = 0;
  for (const run of runs) {
    hashes.set(run.hashes.subarray(run.start * HASH_BYTES, run.end * HASH_BYTES), n * HASH_BYTES);
    for (let i = run.start; i < run.end; i++) lengths[n++] = run.lengths[i] ?? 0;
  }
  return hashToHex(fileHasher.hash(merkleRoot(hashes, lengths, 0, count)));
}

/** BLAKE3 keyed with VERIFICATION_KEY over the run's raw chunk hashes, concatenated (they already are). */
export function verificationHashHex(list: ChunkList): string {
  return hashToHex(verificationHasher.hash(list.hashes.subarray(list.start * HASH_BYTES, list.end * HASH_BYTES)));
}

/** BLAKE3 keyed with `key` over a raw hash: how dedup shards disguise chunk hashes. */
export function keyedChunkHash(hash: Uint8Array, key: Uint8Array): Uint8Array {
  return hmac(hash, key);
}

/** How another client cut a file: xet-core since 1.1.10 (the `hf` CLI), or the legacy rule of xetchunk-wasm 0.2.0. */
export type SeedChunking = 'xet-core' | 'legacy';

const MIN_CHUNK = 8 * 1024;
const MAX_CHUNK = 128 * 1024;

/**
 * xet-core's cut points over a whole buffer, written independently of hf-outbox's streaming chunker:
 * a chunk ends after the first byte at least 8 KiB in whose 64-byte GEAR hash has its top 16 bits
 * zero, or at 128 KiB.
 */
function xetCoreChunkLengths(data: Uint8Array): number[] {
  const gear = new GearHasher(0xffffn << 48n);
  const lengths: number[] = [];
  for (let start = 0; start < data.byteLength; ) {
    const limit = Math.min(data.byteLength, start + MAX_CHUNK);
    // The hash is reset 65 bytes before the first possible cut, so that cut's window is all in the chunk.
    let pos = start + MIN_CHUNK - 65;
    let end = limit;
    if (pos < limit) {
      gear.resetHash();
      for (;;) {
        const at = gear.nextMatch(data.subarray(pos, limit));
        if (at === -1) break;
        pos += at;
        if (pos - start >= MIN_CHUNK) {
          end = pos;
          break;
        }
      }
    }
    lengths.push(end - start);
    start = end;
  }
  return lengths;
}

/** Content-defined chunking as a client does it (64 KiB target), for seeded files. */
export function chunkBytes(data: Uint8Array, chunking: SeedChunking = 'xet-core'): Chunk[] {
  if (data.byteLength === 0) return [];
  if (chunking === 'legacy') return getChunks(data);
  let at = 0;
  return xetCoreChunkLengths(data).map((length) => {
    const hash = chunkHash(data.subarray(at, at + length));
    at += length;
    return { hash, length };
  });
}
