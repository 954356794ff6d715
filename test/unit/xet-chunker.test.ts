/**
 * hf-outbox's chunker cuts where xet-core (since 1.1.10, the `hf` CLI's engine) cuts: same
 * boundaries mean the same file hash as the Hub's own tools, dedup with them, and `sync --adopt`
 * recognising files they uploaded. Proved with xet-core's own test vectors. The `legacy` rule
 * (xetchunk-wasm 0.2.0, the JS library's chunker, and hf-outbox before) is still cut exactly, to
 * recognise files recorded under it.
 */
import { describe, expect, it } from 'vitest';
import { createChunker, finalize, getChunks, hashToHex, nextBlock } from '@huggingface/xetchunk-wasm';
import { XetChunker, type ChunkRule, type DataChunk } from '../../src/hash/xet-chunker.js';
import { CONST_1MB_BOUNDARIES, HITTING, RANDOM_1MB, splitmixData, triggeringData } from '../fixtures/xet-core-chunking-vectors.js';
import { seededBytes, seededRandom } from '../helpers/seeded.js';

const KiB = 1024;

async function ours(data: Buffer, blockSizes: () => number, rule: ChunkRule = 'xet-core'): Promise<DataChunk[]> {
  const chunker = await XetChunker.create(rule);
  const out: DataChunk[] = [];
  for (let at = 0; at < data.length; ) {
    const n = Math.min(data.length - at, blockSizes());
    // A fresh copy per block, as the file reader hands them over.
    for (const c of chunker.push(Buffer.from(data.subarray(at, at + n)))) out.push({ ...c, data: Buffer.from(c.data) });
    at += n;
  }
  const last = chunker.finish();
  if (last) out.push(last);
  return out;
}

const whole = () => Number.MAX_SAFE_INTEGER;
/** Block sizes of 1..max bytes, the same sequence for the same seed. */
const randomSplits = (seed: number, max: number) => {
  const random = seededRandom(seed);
  return () => 1 + Math.floor(random() * max);
};
const boundaries = (chunks: ReadonlyArray<{ length: number }>) => {
  let at = 0;
  return chunks.map((c) => (at += c.length));
};
const summary = (chunks: ReadonlyArray<{ hash: Uint8Array; length: number }>) => chunks.map((c) => `${c.length}:${hashToHex(c.hash)}`);

/**
 * Data with long runs (forced 128 KiB cuts), text-like stretches and random stretches, the same for
 * the same seed: a test asserting a share of chunks must not pass or fail by the draw.
 */
function mixed(size: number, seed: number): Buffer {
  const random = seededRandom(seed);
  const out = Buffer.alloc(size);
  for (let at = 0; at < size; ) {
    const n = Math.min(size - at, 1000 + Math.floor(random() * 300 * KiB));
    const kind = Math.floor(random() * 3);
    if (kind === 0) seededBytes(n, `${seed}:${at}`).copy(out, at);
    else if (kind === 1) out.fill(Math.floor(random() * 256), at, at + n);
    else out.write('step,loss\n0,1.234\n'.repeat(Math.ceil(n / 18)).slice(0, n), at, 'latin1');
    at += n;
  }
  return out;
}

describe('Xet chunker, xet-core rule (xet-core chunking.rs test vectors)', () => {
  it('cuts 1 MB of SplitMix64 data (seed 0) at xet-core\'s boundaries', async () => {
    const data = splitmixData(1_000_000, 0n);
    for (const [at, byte] of RANDOM_1MB.samples) expect(data[at]).toBe(byte);
    expect(boundaries(await ours(data, whole))).toEqual(RANDOM_1MB.boundaries);
  });

  it('cuts 1 MB of one byte value only at 128 KiB', async () => {
    expect(boundaries(await ours(Buffer.alloc(1_000_000, 59), whole))).toEqual(CONST_1MB_BOUNDARIES);
  });

  it('never ends a chunk before 8 KiB on the 128 cut-triggering patterns, exactly as xet-core', async () => {
    expect(HITTING).toHaveLength(128);
    const got: number[][] = [];
    const want: number[][] = [];
    for (const [padding, [sample, ...cuts]] of HITTING.entries()) {
      const data = triggeringData(65536, padding);
      expect(data[11111], `input byte for padding ${padding}`).toBe(sample);
      got.push(boundaries(await ours(data, whole)));
      want.push([...cuts, 65536]);
    }
    expect(got).toEqual(want);
    // The vector the old rule gets wrong: a cut at 8191 bytes.
    expect(boundaries(await ours(triggeringData(65536, 1), whole, 'legacy'))[0]).toBeLessThan(8192);
  });

  it('cuts the same whatever blocks the bytes arrive in (1, 37, 255 bytes, as xet-core checks)', async () => {
    const data = splitmixData(256_000, 1n);
    const want = boundaries(await ours(data, whole));
    for (const size of [1, 37, 255]) expect(boundaries(await ours(data, () => size))).toEqual(want);
  });

  it('keeps every chunk but the last within 8 KiB..128 KiB and the bytes intact, split at random points', async () => {
    const data = mixed(6 * 1024 * KiB, 11);
    const got = await ours(data, randomSplits(12, 300 * KiB));
    for (const c of got.slice(0, -1)) {
      expect(c.length).toBeGreaterThanOrEqual(8 * KiB);
      expect(c.length).toBeLessThanOrEqual(128 * KiB);
    }
    expect(Buffer.concat(got.map((c) => c.data)).equals(data)).toBe(true);
    // Where both rules cut the same chunk, its hash is the one the library computes for those bytes.
    const key = (chunks: ReadonlyArray<{ hash: Uint8Array; length: number }>) => {
      let at = 0;
      return new Map(chunks.map((c) => [`${(at += c.length) - c.length}+${c.length}`, hashToHex(c.hash)]));
    };
    const library = key(getChunks(data));
    const shared = [...key(got)].filter(([where]) => library.has(where));
    console.info(`${shared.length} of ${got.length} chunks cut alike by both rules`);
    expect(shared.length).toBeGreaterThan(got.length / 2);
    for (const [where, hash] of shared) expect(hash, where).toBe(library.get(where));
  });

  it('an empty input has no chunks', async () => {
    const chunker = await XetChunker.create();
    expect(chunker.push(Buffer.alloc(0))).toEqual([]);
    expect(chunker.finish()).toBeUndefined();
  });
});

describe('Xet chunker, legacy rule (xetchunk-wasm 0.2.0)', () => {
  it.each([
    ['random data in 1 MiB blocks', () => seededBytes(5 * 1024 * KiB + 17, 21), () => 1024 * KiB],
    ['mixed data split at random points', () => mixed(4 * 1024 * KiB, 22), randomSplits(23, 300 * KiB)],
    ['a file smaller than the minimum chunk', () => seededBytes(5000, 24), () => 1000],
  ])('cuts and hashes %s exactly like xetchunk-wasm', async (_name, make, blocks) => {
    const data = make();
    const got = await ours(data, blocks, 'legacy');
    expect(summary(got)).toEqual(summary(getChunks(data)));
    expect(Buffer.concat(got.map((c) => c.data)).equals(data)).toBe(true);
  });

  it('matches xetchunk-wasm streamed with the same block splits', async () => {
    const data = mixed(3 * 1024 * KiB, 31);
    const sizes = Array.from({ length: 400 }, randomSplits(32, 50 * KiB));
    let i = 0;
    const got = await ours(data, () => sizes[i++ % sizes.length] as number, 'legacy');
    const ref = createChunker();
    const want = [];
    for (let at = 0, j = 0; at < data.length; j++) {
      const n = Math.min(data.length - at, sizes[j % sizes.length] as number);
      want.push(...nextBlock(ref, data.subarray(at, at + n)));
      at += n;
    }
    const last = finalize(ref);
    if (last) want.push(last);
    expect(summary(got)).toEqual(summary(want));
  });

  it('differs from the xet-core rule on random data in a few percent of chunks', async () => {
    const data = seededBytes(8 * 1024 * KiB, 7);
    const now = new Set(boundaries(await ours(data, whole)));
    const old = boundaries(await ours(data, whole, 'legacy'));
    const moved = old.filter((b) => !now.has(b)).length;
    console.info(`${moved} of ${old.length} legacy boundaries moved`);
    expect(moved).toBeGreaterThan(0);
    expect(moved / old.length).toBeLessThan(0.25);
  });
});
