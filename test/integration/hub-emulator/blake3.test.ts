/**
 * The emulator's WebAssembly SIMD keyed BLAKE3 (test/hub-emulator/blake3.ts) against blake3-jit's
 * scalar Hasher, and its use as the Xet chunk hash against the client's chunker.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Hasher } from '@huggingface/blake3-jit';
import { getChunks } from '@huggingface/xetchunk-wasm';
import { KeyedBlake3 } from '../../hub-emulator/blake3.js';
import { chunkHash, chunkHashInto } from '../../hub-emulator/hash.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('KeyedBlake3', () => {
  const key = randomBytes(32);
  const simd = new KeyedBlake3(key);
  const reference = Hasher.newKeyed(key);
  const expected = (data: Uint8Array) => hex(reference.reset().update(data).finalize(32));
  const data = randomBytes(300_000);

  it('runs in WebAssembly SIMD on this Node', () => {
    expect(simd.simd).toBe(true);
  });

  it('matches the scalar Hasher for every length across block, chunk and 4-chunk boundaries', () => {
    for (let len = 0; len <= 5 * 1024 + 70; len++) {
      const input = data.subarray(len % 13, (len % 13) + len);
      if (hex(simd.hash(input)) !== expected(input)) expect.fail(`length ${len} differs`);
    }
  });

  it('matches for large and odd tree shapes, and after the memory grew', () => {
    const lengths = [64 * 1024, 64 * 1024 + 1, 128 * 1024 - 1, 128 * 1024, 128 * 1024 + 1, 11 * 1024 + 5, 299_999, 300_000];
    for (let i = 0; i < 60; i++) lengths.push(Math.floor(Math.random() * 300_000));
    lengths.push(17, 0, 1024);
    for (const len of lengths) {
      const input = data.subarray(0, len);
      expect(hex(simd.hash(input)), `length ${len}`).toBe(expected(input));
    }
  });

  it('writes into a caller buffer at an offset without touching its neighbours', () => {
    const out = Buffer.alloc(96, 0xaa);
    simd.hashInto(data.subarray(0, 5000), out, 32);
    expect(hex(out.subarray(32, 64))).toBe(expected(data.subarray(0, 5000)));
    expect(out.subarray(0, 32).every((b) => b === 0xaa) && out.subarray(64).every((b) => b === 0xaa)).toBe(true);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => new KeyedBlake3(new Uint8Array(16))).toThrow(RangeError);
  });
});

describe('chunkHash', () => {
  it('equals the chunk hashes the client chunker computes', () => {
    const data = randomBytes(1024 * 1024);
    const out = new Uint8Array(32);
    let offset = 0;
    for (const chunk of getChunks(data)) {
      const bytes = data.subarray(offset, offset + chunk.length);
      offset += chunk.length;
      expect(hex(chunkHash(bytes))).toBe(hex(chunk.hash));
      chunkHashInto(bytes, out, 0);
      expect(hex(out)).toBe(hex(chunk.hash));
    }
    expect(offset).toBe(data.byteLength);
  });
});
