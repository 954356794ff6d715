/** The xorb index kept between runs: what it loads, and what it drops. */
import { randomBytes } from 'node:crypto';
import { readdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChunkIndex } from '../../src/adapters/xet/chunk-index.js';
import { ShardCache } from '../../src/adapters/xet/shard-cache.js';
import type { ShardXorb } from '../../src/adapters/xet/format.js';
import { tmpDir } from '../helpers/tmp.js';

function xorb(chunks: number): ShardXorb {
  const chunkHashes = Uint8Array.from(randomBytes(32 * chunks));
  return { hash: randomBytes(32).toString('hex'), bytesOnDisk: chunks * 65544, chunkHashes, chunkLengths: new Uint32Array(chunks).fill(65536) };
}

describe('shard cache', () => {
  it('loads what earlier runs saved, so their chunks are found again', async () => {
    const dir = path.join(tmpDir(), 'xet-cache');
    const saved = [xorb(100), xorb(3)];
    await new ShardCache(dir).save(saved);
    const index = new ChunkIndex();
    expect(await new ShardCache(dir).load(index)).toEqual({ xorbs: 2, chunks: 103 });
    expect(index.lookup((saved[0] as ShardXorb).chunkHashes.subarray(42 * 32, 43 * 32))).toMatchObject({ xorb: { hash: saved[0]?.hash, origin: 'cache' }, index: 42 });
    expect(index.lookup(Uint8Array.from(randomBytes(32)))).toBeUndefined();
  });

  it('drops entries older than 14 days and files that are not shards', async () => {
    const dir = path.join(tmpDir(), 'xet-cache');
    const cache = new ShardCache(dir);
    const old = xorb(5);
    const fresh = xorb(7);
    await cache.save([old]);
    await cache.save([fresh]);
    const fifteenDaysAgo = (Date.now() - 15 * 24 * 3600 * 1000) / 1000;
    await utimes(path.join(dir, `${old.hash}.shard`), fifteenDaysAgo, fifteenDaysAgo);
    await writeFile(path.join(dir, 'torn.shard'), 'HFRepoMetaData but cut short');
    const index = new ChunkIndex();
    expect(await cache.load(index)).toEqual({ xorbs: 1, chunks: 7 });
    expect((await readdir(dir)).sort()).toEqual([`${fresh.hash}.shard`]);
  });
});
