/** The resume records: xorbs the CAS accepted before an upload was cut off, kept bounded on disk. */
import { randomBytes } from 'node:crypto';
import { readdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AcceptedXorbs } from '../../src/adapters/xet/accepted-xorbs.js';
import { ChunkIndex } from '../../src/adapters/xet/chunk-index.js';
import type { ShardXorb } from '../../src/adapters/xet/format.js';
import { tmpDir } from '../helpers/tmp.js';

function xorb(chunks = 3): ShardXorb {
  const chunkHashes = new Uint8Array(randomBytes(32 * chunks));
  const chunkLengths = Uint32Array.from({ length: chunks }, (_, i) => 65_536 - i);
  return { hash: randomBytes(32).toString('hex'), bytesOnDisk: chunkLengths.reduce((a, b) => a + b + 8, 0), chunkHashes, chunkLengths };
}

const chunkHash = (x: ShardXorb, i: number) => x.chunkHashes.subarray(i * 32, (i + 1) * 32);

const records = async (dir: string) => (await readdir(dir).catch(() => [])).sort();

describe('AcceptedXorbs', () => {
  it('a record written in one process serves dedup and its CAS block in the next, chunk for chunk', async () => {
    const dir = tmpDir();
    const x = xorb(5);
    await new AcceptedXorbs({ dir }).record(x);
    const index = new ChunkIndex();
    const next = new AcceptedXorbs({ dir });
    expect(await next.load(index)).toBe(1);
    expect(index.lookup(chunkHash(x, 3))).toEqual({ xorb: { hash: x.hash, origin: 'accepted' }, index: 3 });
    const block = next.unregistered(x.hash);
    expect(block?.bytesOnDisk).toBe(x.bytesOnDisk);
    expect(block?.chunkLengths).toEqual(x.chunkLengths);
    expect(Buffer.from(block?.chunkHashes ?? []).equals(Buffer.from(x.chunkHashes))).toBe(true);
  });

  it('forget() removes the record of a xorb a shard registered, in memory and on disk', async () => {
    const dir = tmpDir();
    const log = new AcceptedXorbs({ dir });
    const [a, b] = [xorb(), xorb()];
    await log.record(a);
    await log.record(b);
    await log.forget([a.hash]);
    expect(log.unregistered(a.hash)).toBeUndefined();
    expect(log.unregistered(b.hash)).toBeDefined();
    expect(await records(dir)).toEqual([`${b.hash}.shard`]);
  });

  it('past the cap the oldest records go, while recording and when loading', async () => {
    const dir = tmpDir();
    const log = new AcceptedXorbs({ dir, maxRecords: 2 });
    const xs = [xorb(), xorb(), xorb()];
    for (const x of xs) await log.record(x);
    expect(log.size).toBe(2);
    expect(log.unregistered(xs[0]?.hash as string)).toBeUndefined();
    expect(await records(dir)).toEqual([xs[1], xs[2]].map((x) => `${x?.hash}.shard`).sort());
    // Written by a process with a larger cap: the next one with cap 1 keeps only the newest.
    const older = new Date(Date.now() - 60_000);
    await utimes(path.join(dir, `${xs[1]?.hash}.shard`), older, older);
    const capped = new AcceptedXorbs({ dir, maxRecords: 1 });
    expect(await capped.load(new ChunkIndex())).toBe(1);
    expect(capped.unregistered(xs[2]?.hash as string)).toBeDefined();
    expect(await records(dir)).toEqual([`${xs[2]?.hash}.shard`]);
  });

  it('records older than the age limit, torn records and temp files are deleted, not loaded', async () => {
    const dir = tmpDir();
    const [old, fresh] = [xorb(), xorb()];
    await new AcceptedXorbs({ dir }).record(old);
    await new AcceptedXorbs({ dir }).record(fresh);
    const day = 24 * 3600 * 1000;
    const then = new Date(Date.now() - 8 * day);
    await utimes(path.join(dir, `${old.hash}.shard`), then, then);
    await writeFile(path.join(dir, `${'c'.repeat(64)}.shard`), Buffer.from('HFRepoMetaData, cut short'));
    await writeFile(path.join(dir, `${'d'.repeat(64)}.shard.123.tmp`), Buffer.alloc(10));
    const index = new ChunkIndex();
    const log = new AcceptedXorbs({ dir, maxAgeMs: 7 * day });
    expect(await log.load(index)).toBe(1);
    expect(index.lookup(chunkHash(old, 0))).toBeUndefined();
    expect(index.lookup(chunkHash(fresh, 0))).toBeDefined();
    expect(await records(dir)).toEqual([`${fresh.hash}.shard`]);
  });

  it('clear() drops every record (the CAS refused a shard that named one)', async () => {
    const dir = tmpDir();
    const log = new AcceptedXorbs({ dir: path.join(dir, 'accepted') });
    const x = xorb();
    await log.record(x);
    await log.clear();
    expect(log.unregistered(x.hash)).toBeUndefined();
    expect(await records(path.join(dir, 'accepted'))).toEqual([]);
  });

  it('without a directory it still remembers within the process', async () => {
    const log = new AcceptedXorbs();
    const x = xorb();
    await log.record(x);
    expect(log.unregistered(x.hash)?.hash).toBe(x.hash);
  });
});
