/**
 * The emulator's own Xet hashes (test/hub-emulator/hash.ts) against @huggingface/xetchunk-wasm, the
 * code the client uses: hex form, xorb (Merkle) hash, file hash and verification hash.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import * as xet from '@huggingface/xetchunk-wasm';
import { CONST_1MB_BOUNDARIES, HITTING, RANDOM_1MB, splitmixData, triggeringData } from '../../fixtures/xet-core-chunking-vectors.js';
import { chunkBytes, fileHashHex, HASH_BYTES, hashToHex, verificationHashHex, xorbHashHex, ZERO_HASH, type ChunkList } from '../../hub-emulator/hash.js';

function entries(count: number): { hashes: Uint8Array; lengths: number[] } {
  const hashes = randomBytes(count * HASH_BYTES);
  // Lengths of every digit count, up to file-sized totals.
  const lengths = Array.from({ length: count }, () => [randomInt(1, 10), randomInt(1, 131_073), randomInt(1, 2 ** 31)][randomInt(0, 3)] ?? 1);
  return { hashes, lengths };
}

const chunksOf = (list: ChunkList): xet.Chunk[] =>
  Array.from({ length: list.end - list.start }, (_, k) => {
    const i = list.start + k;
    return { hash: list.hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES), length: list.lengths[i] ?? 0 };
  });

describe('emulator Xet hashes match xetchunk-wasm', () => {
  it('hex form', () => {
    for (let i = 0; i < 200; i++) {
      const hash = randomBytes(HASH_BYTES);
      expect(hashToHex(hash)).toBe(xet.hashToHex(hash));
    }
    expect(hashToHex(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe('07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918');
  });

  it('xorb hash, for every small size and for big ones, also on a sub-range', () => {
    const sizes = [...Array.from({ length: 80 }, (_, i) => i), 255, 256, 1000, 1024, 4099, 8192];
    for (const n of sizes) {
      const { hashes, lengths } = entries(n + 5);
      const list = { hashes, lengths, start: n % 5, end: (n % 5) + n };
      expect(xorbHashHex(list), `${n} chunks`).toBe(xet.hashToHex(xet.xorbHash(chunksOf(list))));
    }
  });

  it('xorb hash where no early cut happens, so groups run to 9 entries', () => {
    const { hashes, lengths } = entries(500);
    for (let i = 0; i < 500; i++) hashes[i * HASH_BYTES + 24] = 1; // byte 24 never divisible by 4
    const list = { hashes, lengths, start: 0, end: 500 };
    expect(xorbHashHex(list)).toBe(xet.hashToHex(xet.xorbHash(chunksOf(list))));
  });

  it('file hash over several runs, and the empty file', () => {
    for (const counts of [[1], [3, 1, 7], [100, 1000, 17], [0, 5], [2000]]) {
      const runs = counts.map((n) => {
        const { hashes, lengths } = entries(n + 3);
        return { hashes, lengths, start: 1, end: 1 + n };
      });
      expect(fileHashHex(runs)).toBe(xet.hashToHex(xet.fileHash(runs.flatMap(chunksOf))));
    }
    expect(fileHashHex([])).toBe(ZERO_HASH);
    expect(fileHashHex([])).toBe(xet.hashToHex(xet.fileHash([])));
  });

  it('verification hash', () => {
    for (const n of [1, 2, 31, 32, 33, 100, 2000]) {
      const { hashes, lengths } = entries(n + 4);
      const list = { hashes, lengths, start: 2, end: 2 + n };
      expect(verificationHashHex(list)).toBe(xet.hashToHex(xet.verificationHash(chunksOf(list).map((c) => c.hash))));
    }
  });
});

describe('emulator seeding chunks like the client it stands for', () => {
  const cuts = (chunks: ReadonlyArray<{ length: number }>) => {
    let at = 0;
    return chunks.map((c) => (at += c.length));
  };

  it("cuts by xet-core's rule by default (xet-core's chunking.rs vectors)", () => {
    expect(cuts(chunkBytes(splitmixData(1_000_000, 0n)))).toEqual(RANDOM_1MB.boundaries);
    expect(cuts(chunkBytes(Buffer.alloc(1_000_000, 59)))).toEqual(CONST_1MB_BOUNDARIES);
    for (const [padding, [, ...want]] of HITTING.entries()) {
      expect(cuts(chunkBytes(triggeringData(65536, padding))), `padding ${padding}`).toEqual([...want, 65536]);
    }
  });

  it('cuts by the legacy rule (xetchunk-wasm 0.2.0) when told, with the same chunk hashes for the same bytes', () => {
    const data = randomBytes(3 * 1024 * 1024);
    const legacy = chunkBytes(data, 'legacy');
    expect(cuts(legacy)).toEqual(cuts(xet.getChunks(data)));
    const first = chunkBytes(data.subarray(0, legacy[0]?.length ?? 0))[0];
    expect(first && xet.hashToHex(first.hash)).toBe(legacy[0] && xet.hashToHex(legacy[0].hash));
  });
});
