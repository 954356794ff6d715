/**
 * The writer's memory layout: what it keeps per chunk stays small, so a 10 GiB file (about 164k
 * chunks) costs megabytes, not hundreds; and the bytes it sends are the ones it sent before the
 * compact layout (the shard and xorbs of a multi-xorb call, pinned by digest).
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import { fileHash, hashToHex, verificationHash } from '@huggingface/xetchunk-wasm';
import { describe, expect, it } from 'vitest';
import { ChunkIndex } from '../../src/adapters/xet/chunk-index.js';
import { FileHashStream, VerificationStream } from '../../src/adapters/xet/streaming-hashes.js';
import { XetWriter, type CasWrites } from '../../src/adapters/xet/writer.js';

/** A 10 GiB file's chunks at the 64 KiB average. */
const TEN_GIB_CHUNKS = 163_840;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Bytes the heap and array buffers hold more after `build` than before, its result kept alive. */
function retained(build: () => unknown): number {
  const used = () => {
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = used();
  const kept = build();
  const after = used();
  expect(kept).toBeDefined();
  return after - before;
}

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
  it("keeps under 100 bytes per chunk in the dedup index for a 10 GiB file's chunks, loaded whole or chunk by chunk", () => {
    const loaded = retained(() => {
      const index = new ChunkIndex();
      for (let x = 0; x < TEN_GIB_CHUNKS / 8192; x++) index.addXorb({ hash: String(x).padStart(64, '0'), origin: 'cache' }, randomBytes(8192 * 32));
      return index.chunks === TEN_GIB_CHUNKS ? index : undefined;
    });
    const pool = randomBytes(TEN_GIB_CHUNKS * 32); // allocated before the measure: addChunk copies what it keeps
    const filled = retained(() => {
      const index = new ChunkIndex();
      for (let x = 0; x < TEN_GIB_CHUNKS / 4096; x++) {
        const slot = index.addXorb({ hash: undefined, origin: 'session' });
        for (let c = 0; c < 4096; c++) index.addChunk(slot, pool.subarray((x * 4096 + c) * 32, (x * 4096 + c + 1) * 32));
      }
      return index.chunks === TEN_GIB_CHUNKS ? index : undefined;
    });
    expect(loaded / TEN_GIB_CHUNKS).toBeLessThan(100);
    expect(filled / TEN_GIB_CHUNKS).toBeLessThan(100);
  });

  it("computes a 10 GiB file's hash in under 1 MiB, and each term's verification entry as it goes, equal to the list-based ones", () => {
    const sample = Array.from({ length: 3000 }, (_, i) => ({ hash: Uint8Array.from(randomBytes(32)), length: 8192 + i }));
    const stream = new FileHashStream();
    for (const c of sample) stream.push(c.hash, c.length);
    expect(stream.digest()).toBe(hashToHex(fileHash(sample)));
    const verify = new VerificationStream();
    for (const c of sample.slice(0, 700)) verify.add(c.hash);
    expect(Buffer.from(verify.take()).equals(Buffer.from(verificationHash(sample.slice(0, 700).map((c) => c.hash))))).toBe(true);
    verify.add(sample[5]?.hash as Uint8Array);
    expect(Buffer.from(verify.take()).equals(Buffer.from(verificationHash([sample[5]?.hash as Uint8Array])))).toBe(true);

    const big = new FileHashStream();
    const pool = randomBytes(TEN_GIB_CHUNKS * 32);
    const bytes = retained(() => {
      for (let i = 0; i < TEN_GIB_CHUNKS; i++) big.push(pool.subarray(i * 32, (i + 1) * 32), 65536);
      return big;
    });
    expect(bytes).toBeLessThan(1024 * 1024);
    expect(big.digest()).toMatch(/^[0-9a-f]{64}$/);
  }, 60_000);

  it('sends the same xorbs and shard as before the compact layout, for a call spanning two xorbs', async () => {
    const { digest, xorbs, fileHashes } = await sentDigest();
    expect(xorbs).toBe(2);
    expect(fileHashes).toEqual(['bb06bed85f8cd292dd7b2185d79027c101f2a52a2b72d7b1c9e221510744336a', '4d2851abb8ee60dd457146042b0bcdef4298dd2fd50a34ed485d27bee1dd729d']);
    expect(digest).toBe('86fb6976131d708a3ecdc0ad029740a2a73bd2542e54cf6bd922f870d9ac9920');
  }, 120_000);
});
