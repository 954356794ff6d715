/**
 * Reproducible "random" input for tests whose assertion depends on the data (a share of chunks, a
 * count of cuts): the same seed gives the same numbers and bytes on every run and machine, so such
 * a test either always passes or always fails, never now and then.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { prng } from '../../bench/lib/data.js';

/** Numbers in [0, 1) from a seed (the benchmarks' mulberry32: 32-bit state, enough to vary test input). */
export const seededRandom: (seed: number) => () => number = prng;

/** `n` incompressible bytes from a seed (AES-128-CTR keystream: fast for many MiB, unlike a JS loop). */
export function seededBytes(n: number, seed: number | string): Buffer {
  const key = createHash('sha256').update(`seeded-bytes:${seed}`).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  return Buffer.concat([cipher.update(Buffer.alloc(n)), cipher.final()]).subarray(0, n);
}
