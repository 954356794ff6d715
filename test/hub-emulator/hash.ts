/**
 * Xet hashes, recomputed server-side so the emulator never trusts a hash it is handed.
 *
 * Merkle, file and verification hashes come from `@huggingface/xetchunk-wasm` (the same code the
 * client uses). That package does not export a bare chunk hash, so chunk hashing is keyed BLAKE3 with
 * the Xet DATA_KEY from the spec (docs/xet/hashing.md), computed by ./blake3.ts in WebAssembly SIMD
 * (about 4x the throughput of blake3-jit's scalar keyed Hasher, which it falls back to).
 */
import { KeyedBlake3 } from './blake3.js';
import {
  fileHash,
  getChunks,
  hashToHex,
  hexToBytes,
  hmac,
  verificationHash,
  xorbHash,
  type Chunk,
} from '@huggingface/xetchunk-wasm';

export { hashToHex, hexToBytes };

const DATA_KEY = new Uint8Array([
  102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28, 157, 228, 33, 16, 155, 235, 43, 88, 180,
  208, 176, 75, 147, 173, 242, 41,
]);

const chunkHasher = new KeyedBlake3(DATA_KEY);

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

function toChunks(list: ChunkList): Chunk[] {
  const chunks: Chunk[] = [];
  for (let i = list.start; i < list.end; i++) {
    chunks.push({ hash: list.hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES), length: list.lengths[i] ?? 0 });
  }
  return chunks;
}

export function xorbHashHex(list: ChunkList): string {
  return hashToHex(xorbHash(toChunks(list)));
}

/** File hash over chunk runs taken in order (one run per reconstruction term). */
export function fileHashHex(runs: ChunkList[]): string {
  return hashToHex(fileHash(runs.flatMap(toChunks)));
}

export function verificationHashHex(list: ChunkList): string {
  const hashes: Uint8Array[] = [];
  for (let i = list.start; i < list.end; i++) hashes.push(list.hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES));
  return hashToHex(verificationHash(hashes));
}

/** BLAKE3 keyed with `key` over a raw hash: how dedup shards disguise chunk hashes. */
export function keyedChunkHash(hash: Uint8Array, key: Uint8Array): Uint8Array {
  return hmac(hash, key);
}

/** Content-defined chunking exactly as the client does it (64 KiB target), for seeded files. */
export function chunkBytes(data: Uint8Array): Chunk[] {
  return data.byteLength === 0 ? [] : getChunks(data);
}
