/**
 * The writer's memory layout: what it keeps per chunk stays small, so a 10 GiB file (about 164k
 * chunks) costs megabytes, not hundreds; and the bytes it sends are the ones it sent before the
 * compact layout (the shard and xorbs of a multi-xorb call, pinned by digest).
 */
import { createCipheriv, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChunkIndex } from '../../src/adapters/xet/chunk-index.js';
import { XetWriter, type CasWrites } from '../../src/adapters/xet/writer.js';

/** Reproducible incompressible bytes: an AES-128-CTR keystream. */
function keystream(seed: number, bytes: number): Buffer {
  const key = Buffer.alloc(16, seed);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(bytes));
}

async function* blocks(data: Buffer, size = 3 * 1024 * 1024 + 17): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

/** Every byte one call sends, in order, digested: xorbs (hash and body) then shards. */
async function sentDigest(): Promise<{ digest: string; xorbs: number; fileHashes: string[] }> {
  const sent = createHash('sha256');
  const shards: Uint8Array[] = [];
  let xorbs = 0;
  const cas: CasWrites = {
    putXorb: (hash, body) => {
      xorbs++;
      sent.update(hash).update(body);
      return Promise.resolve();
    },
    putShard: (body) => {
      shards.push(Buffer.from(body));
      return Promise.resolve();
    },
    queryChunk: () => Promise.resolve(undefined),
  };
  const writer = new XetWriter({ cas, known: new ChunkIndex(), dedupQueryMinBytes: Number.POSITIVE_INFINITY, expectedBytes: 80 << 20 });
  const a = keystream(1, 48 << 20);
  // A 48 MiB random run, 1 MiB of zeros (compressed), a repeat of the run's first 6 MiB (terms back
  // into the first xorb), 2 MiB more random: two xorbs, terms across both, one of them compressed.
  const big = Buffer.concat([a, Buffer.alloc(1 << 20), a.subarray(0, 6 << 20), keystream(2, 2 << 20)]);
  const small = keystream(3, 300_000);
  const fileHashes = [await writer.addFile(blocks(big), big.length), await writer.addFile(blocks(small), small.length)];
  await writer.finish();
  for (const s of shards) sent.update(s);
  return { digest: sent.digest('hex'), xorbs, fileHashes };
}

describe('XetWriter layout', () => {
  it('sends the same xorbs and shard as before the compact layout, for a call spanning two xorbs', async () => {
    const { digest, xorbs, fileHashes } = await sentDigest();
    expect(xorbs).toBe(2);
    expect(fileHashes).toEqual(['bb06bed85f8cd292dd7b2185d79027c101f2a52a2b72d7b1c9e221510744336a', '4d2851abb8ee60dd457146042b0bcdef4298dd2fd50a34ed485d27bee1dd729d']);
    expect(digest).toBe('23283358be12661927be94365909f7ccdb12bcb33e80e8e71a98b2a5e9043960');
  }, 120_000);
});
