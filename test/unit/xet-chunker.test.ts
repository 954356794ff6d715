/**
 * hf-outbox's chunker must cut and hash exactly like @huggingface/xetchunk-wasm (the Hub client's
 * own chunker): same boundaries mean the same file hash, dedup with other clients, and `sync --adopt`
 * recognising files uploaded by either.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createChunker, finalize, getChunks, hashToHex, nextBlock } from '@huggingface/xetchunk-wasm';
import { XetChunker, type DataChunk } from '../../src/hash/xet-chunker.js';

const KiB = 1024;

async function ours(data: Buffer, blockSizes: () => number): Promise<DataChunk[]> {
  const chunker = await XetChunker.create();
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

const summary = (chunks: ReadonlyArray<{ hash: Uint8Array; length: number }>) => chunks.map((c) => `${c.length}:${hashToHex(c.hash)}`);

/** Data with long runs (forced 128 KiB cuts), text-like stretches and random stretches. */
function mixed(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let at = 0; at < size; ) {
    const n = Math.min(size - at, 1000 + Math.floor(Math.random() * 300 * KiB));
    const kind = Math.floor(Math.random() * 3);
    if (kind === 0) randomBytes(n).copy(out, at);
    else if (kind === 1) out.fill(Math.floor(Math.random() * 256), at, at + n);
    else out.write('step,loss\n0,1.234\n'.repeat(Math.ceil(n / 18)).slice(0, n), at, 'latin1');
    at += n;
  }
  return out;
}

describe('Xet chunker', () => {
  it.each([
    ['random data in one block', () => randomBytes(3 * 1024 * KiB), () => Number.MAX_SAFE_INTEGER],
    ['random data in 1 MiB blocks', () => randomBytes(5 * 1024 * KiB + 17), () => 1024 * KiB],
    ['mixed data split at random points', () => mixed(6 * 1024 * KiB), () => 1 + Math.floor(Math.random() * 300 * KiB)],
    ['a run of one byte value (only 128 KiB cuts)', () => Buffer.alloc(1024 * KiB + 5, 7), () => 64 * KiB + 3],
    ['a file smaller than the minimum chunk', () => randomBytes(5000), () => 1000],
  ])('cuts and hashes %s exactly like xetchunk-wasm', async (_name, make, blocks) => {
    const data = make();
    const want = getChunks(data);
    const got = await ours(data, blocks);
    expect(summary(got)).toEqual(summary(want));
    expect(Buffer.concat(got.map((c) => c.data)).equals(data)).toBe(true);
  });

  it('matches xetchunk-wasm streamed with the same block splits', async () => {
    const data = mixed(4 * 1024 * KiB);
    const sizes = Array.from({ length: 400 }, () => 1 + Math.floor(Math.random() * 50 * KiB));
    let i = 0;
    const got = await ours(data, () => sizes[i++ % sizes.length] as number);
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

  it('an empty input has no chunks', async () => {
    const chunker = await XetChunker.create();
    expect(chunker.push(Buffer.alloc(0))).toEqual([]);
    expect(chunker.finish()).toBeUndefined();
  });
});
