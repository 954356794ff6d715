/**
 * The upload side's own Xet writer, end to end against the emulator (which rebuilds and checks
 * every chunk, xorb and file hash itself), read back with the Hub client's own downloadFile.
 */
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HubBucket } from '../../src/adapters/hub-bucket.js';
import { NodeOutboxFs } from '../../src/adapters/node-fs.js';
import { OutboxError } from '../../src/core/errors.js';
import { readerOf } from '../../src/core/file-reader.js';
import type { OutboxFile, OutboxFs, UploadSource } from '../../src/core/ports.js';
import type { HubEmulator } from '../hub-emulator/index.js';
import { WRITE_TOKEN, readBack, startEmulator } from '../helpers/hub.js';
import { sha256, tmpDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const BUCKET = 'team/shared';

function bucketOn(emu: HubEmulator, shardCacheDir?: string, fs: OutboxFs = new NodeOutboxFs(), uploadThreads?: number): HubBucket {
  return new HubBucket({
    target: { kind: 'hf', id: BUCKET, owner: 'team', name: 'shared', uri: `hf://buckets/${BUCKET}` },
    hubUrl: emu.url,
    token: WRITE_TOKEN,
    fs,
    ...(shardCacheDir ? { shardCacheDir } : {}),
    ...(uploadThreads ? { uploadThreads } : {}),
  });
}

const bytes = (bucketPath: string, content: Uint8Array): UploadSource => ({ bucketPath, sizeBytes: content.length, content });

async function expectLanded(emu: HubEmulator, bucketPath: string, content: Uint8Array): Promise<void> {
  const want = sha256(content);
  expect(await readBack(emu, BUCKET, bucketPath)).toEqual({ client: want, emulator: want });
}

/** `base` with `fraction` of its bytes rewritten in four regions, one per quarter. */
function rewrite(base: Buffer, fraction: number, seed: number): Buffer {
  const next = Buffer.from(base);
  const region = Math.floor((base.length * fraction) / 4);
  for (let q = 0; q < 4; q++) {
    const at = Math.floor((base.length / 4) * q + ((seed * 7919 + q * 104729) % Math.floor(base.length / 4 - region)));
    randomBytes(region).copy(next, at);
  }
  return next;
}

describe('own Xet writer', () => {
  it('a 70 MiB incompressible file spans several xorbs, lands byte-identical, and is sent once', async () => {
    const emu = await startEmulator();
    // Two full 32 MiB xorbs and a partial one: every kind of xorb boundary, half the hashing of 150 MiB.
    const content = randomBytes(70 * MiB);
    emu.resetCounters();
    const [result] = await bucketOn(emu).upload([bytes('artifacts/data/big_agent-01.bin', content)]);
    expect(result).toEqual({ bucketPath: 'artifacts/data/big_agent-01.bin', ok: true });
    const c = emu.counters();
    expect(c.requests['xorb']).toBe(3); // 2 × 32 MiB + 6 MiB
    expect(c.bytesReceived).toBeLessThan(content.length * 1.01);
    await expectLanded(emu, 'artifacts/data/big_agent-01.bin', content);
  }, 240_000);

  it('progress counts only bytes the CAS acknowledged: nothing while the xorb upload is held, all of it once stored', async () => {
    const emu = await startEmulator();
    const big = randomBytes(40 * MiB);
    const small = randomBytes(64 * 1024);
    const reports: Array<{ bucketPath: string; bytesDone: number }> = [];
    const xorbs = emu.hold('xorb');
    const upload = bucketOn(emu).upload([bytes('artifacts/data/big_agent-01.bin', big), bytes('artifacts/data/small_agent-01.bin', small)], {
      onProgress: (p) => reports.push({ bucketPath: p.bucketPath, bytesDone: p.bytesDone }),
    });
    await xorbs.arrived();
    // 32 MiB were read, chunked and sent, but the CAS has not answered: nothing is acknowledged yet.
    expect(reports).toEqual([]);
    xorbs.release();
    expect((await upload).every((r) => r.ok)).toBe(true);
    const last = (p: string) => reports.filter((r) => r.bucketPath === p).at(-1)?.bytesDone;
    expect(last('artifacts/data/big_agent-01.bin')).toBe(big.length);
    expect(last('artifacts/data/small_agent-01.bin')).toBe(small.length);
    // The first report came when the first 32 MiB xorb was stored, before the end.
    expect(reports[0]).toMatchObject({ bucketPath: 'artifacts/data/big_agent-01.bin' });
    expect(reports[0]?.bytesDone).toBeLessThan(big.length);
  }, 120_000);

  it('compressible text goes up compressed and reads back identical', async () => {
    const emu = await startEmulator();
    const content = Buffer.from(Array.from({ length: 400_000 }, (_, i) => `${i},loss=${(1 / (i + 1)).toFixed(6)}\n`).join(''));
    emu.resetCounters();
    const [result] = await bucketOn(emu).upload([bytes('artifacts/results/log_agent-01.csv', content)]);
    expect(result?.ok).toBe(true);
    expect(emu.counters().bytesReceived).toBeLessThan(content.length * 0.6);
    await expectLanded(emu, 'artifacts/results/log_agent-01.csv', content);
  }, 60_000);

  it('1,000 small files, an empty file and a duplicate go up in one xorb, one shard and one batch', async () => {
    const emu = await startEmulator();
    const files = Array.from({ length: 998 }, (_, i) => bytes(`artifacts/scripts/s${i}_agent-01.py`, Buffer.from(`print(${i}) # ${'x'.repeat(i % 300)}\n`)));
    files.push(bytes('artifacts/scripts/empty_agent-01.py', new Uint8Array()));
    files.push(bytes('artifacts/scripts/copy_agent-01.py', files[5]?.content as Uint8Array));
    emu.resetCounters();
    const results = await bucketOn(emu).upload(files);
    expect(results.every((r) => r.ok)).toBe(true);
    const r = emu.counters().requests;
    expect([r['xorb'], r['shard'], r['batch'], r['dedup'] ?? 0]).toEqual([1, 1, 1, 0]);
    for (const i of [0, 5, 997, 998, 999]) await expectLanded(emu, files[i]?.bucketPath as string, files[i]?.content as Uint8Array);
  }, 60_000);

  it('a checkpoint with 5% rewritten sends under 10% of its bytes, also from a new process through the shard cache', async () => {
    const emu = await startEmulator();
    const cache = path.join(tmpDir(), 'xet-cache');
    const ck0 = randomBytes(64 * MiB);
    const ck1 = rewrite(ck0, 0.05, 1);
    const ck2 = rewrite(ck1, 0.05, 2);
    await bucketOn(emu, cache).upload([bytes('artifacts/checkpoints/step-0_agent-01/model.bin', ck0)]);
    emu.resetCounters();
    // A new HubBucket: nothing in memory, only the cache on disk.
    await bucketOn(emu, cache).upload([bytes('artifacts/checkpoints/step-1_agent-01/model.bin', ck1)]);
    expect(emu.counters().bytesReceived / ck1.length).toBeLessThan(0.1);
    emu.resetCounters();
    await bucketOn(emu, cache).upload([bytes('artifacts/checkpoints/step-2_agent-01/model.bin', ck2)]);
    expect(emu.counters().bytesReceived / ck2.length).toBeLessThan(0.1);
    await expectLanded(emu, 'artifacts/checkpoints/step-1_agent-01/model.bin', ck1);
    await expectLanded(emu, 'artifacts/checkpoints/step-2_agent-01/model.bin', ck2);
  }, 120_000);

  it('with 3 upload threads a checkpoint and its 5% rewrite land byte-identical, and the rewrite still dedups', async () => {
    const emu = await startEmulator();
    const cache = path.join(tmpDir(), 'xet-cache');
    const ck0 = randomBytes(40 * MiB);
    const ck1 = rewrite(ck0, 0.05, 3);
    await bucketOn(emu, cache, undefined, 3).upload([bytes('artifacts/checkpoints/step-0_agent-01/model.bin', ck0)]);
    emu.resetCounters();
    const [result] = await bucketOn(emu, cache, undefined, 3).upload([bytes('artifacts/checkpoints/step-1_agent-01/model.bin', ck1)]);
    expect(result?.ok).toBe(true);
    expect(emu.counters().bytesReceived / ck1.length).toBeLessThan(0.1);
    await expectLanded(emu, 'artifacts/checkpoints/step-0_agent-01/model.bin', ck0);
    await expectLanded(emu, 'artifacts/checkpoints/step-1_agent-01/model.bin', ck1);
  }, 120_000);

  it('a second checkpoint from another machine (no cache) still dedups through the CAS dedup answers', async () => {
    const emu = await startEmulator();
    const ck0 = randomBytes(64 * MiB);
    const ck1 = rewrite(ck0, 0.05, 3);
    await bucketOn(emu).upload([bytes('artifacts/checkpoints/a_agent-01/model.bin', ck0)]);
    emu.resetCounters();
    await bucketOn(emu).upload([bytes('artifacts/checkpoints/b_agent-01/model.bin', ck1)]);
    // Its first chunk was rewritten: the query after the first 8 MiB without a hit finds the earlier xorbs.
    expect(emu.counters().bytesReceived / ck1.length).toBeLessThan(0.3);
    await expectLanded(emu, 'artifacts/checkpoints/b_agent-01/model.bin', ck1);
  }, 120_000);

  it('a cache pointing at xorbs the CAS no longer has is dropped and everything is sent', async () => {
    const cache = path.join(tmpDir(), 'xet-cache');
    const first = await startEmulator();
    const ck0 = randomBytes(8 * MiB);
    await bucketOn(first, cache).upload([bytes('artifacts/checkpoints/a_agent-01/model.bin', ck0)]);
    const fresh = await startEmulator(); // another CAS: none of the cached xorbs exist there
    const ck1 = rewrite(ck0, 0.05, 4);
    const [result] = await bucketOn(fresh, cache).upload([bytes('artifacts/checkpoints/b_agent-01/model.bin', ck1)]);
    expect(result).toEqual({ bucketPath: 'artifacts/checkpoints/b_agent-01/model.bin', ok: true });
    expect(fresh.counters().requests['shard']).toBe(2); // refused once, then accepted
    await expectLanded(fresh, 'artifacts/checkpoints/b_agent-01/model.bin', ck1);
  }, 60_000);

  it('a call cut off by a network loss after its first xorb is made again sending only what the CAS had not accepted', async () => {
    const emu = await startEmulator();
    const content = randomBytes(36 * MiB);
    const upload = () => bucket.upload([bytes('artifacts/data/big_agent-01.bin', content)]);
    const bucket = bucketOn(emu);
    const held = emu.hold('xorb', { after: 1 });
    const first = upload();
    await held.arrived();
    await emu.stopListening(); // the second xorb's connection drops before its answer
    expect((await first)[0]).toMatchObject({ ok: false, error: { code: 'HFO_NETWORK' } });
    await emu.listen();
    emu.resetCounters();
    expect((await upload())[0]).toEqual({ bucketPath: 'artifacts/data/big_agent-01.bin', ok: true });
    expect(emu.counters().requests['xorb']).toBe(1);
    expect(emu.counters().bytesReceived).toBeLessThan(content.length - 31 * MiB);
    await expectLanded(emu, 'artifacts/data/big_agent-01.bin', content);
  }, 120_000);

  it('a resumed xorb the CAS has lost: its shard is refused, every dedup source dropped, and the file sent whole', async () => {
    const emu = await startEmulator();
    const cache = path.join(tmpDir(), 'xet-cache');
    const content = randomBytes(36 * MiB);
    const held = emu.hold('xorb', { after: 1 });
    const first = bucketOn(emu, cache).upload([bytes('artifacts/data/big_agent-01.bin', content)]);
    await held.arrived();
    await emu.stopListening();
    expect((await first)[0]?.ok).toBe(false);
    expect(emu.dropXorbs()).toBeGreaterThan(0); // the CAS lost the xorb the record names
    await emu.listen();
    emu.resetCounters();
    // A new HubBucket, as after a restart: only the record on disk.
    const [result] = await bucketOn(emu, cache).upload([bytes('artifacts/data/big_agent-01.bin', content)]);
    expect(result).toEqual({ bucketPath: 'artifacts/data/big_agent-01.bin', ok: true });
    const c = emu.counters();
    expect(c.requests['shard']).toBe(2); // refused once, then accepted
    expect(c.bytesReceived).toBeGreaterThan(content.length); // the redo sent everything
    expect(await readdir(path.join(cache, 'accepted'))).toEqual([]);
    await expectLanded(emu, 'artifacts/data/big_agent-01.bin', content);
  }, 120_000);

  it('a file that changes while it is read fails alone; the rest of the call lands', async () => {
    const emu = await startEmulator();
    const dir = tmpDir();
    const real = new NodeOutboxFs();
    // The upload reads through openReader: 3 MiB come, then the file is found changed.
    const changing: OutboxFs = Object.assign(Object.create(real) as OutboxFs, {
      openReader(file: OutboxFile, expected: never) {
        const absPath = path.join(file.root, file.relPath);
        if (!absPath.endsWith('changing.bin')) return real.openReader(file, expected);
        return readerOf(
          (async function* () {
            yield randomBytes(3 * MiB);
            throw new OutboxError('HFO_FILE_CHANGED', `${absPath} changed while it was being read; it will be sent again once it settles`);
          })(),
        );
      },
    });
    const steady = randomBytes(2 * MiB);
    const results = await bucketOn(emu, undefined, changing).upload([
      { bucketPath: 'artifacts/data/changing_agent-01.bin', sizeBytes: 4 * MiB, local: { root: dir, relPath: 'changing.bin', fingerprint: {} as never } },
      bytes('artifacts/data/steady_agent-01.bin', steady),
    ]);
    expect(results[0]).toMatchObject({ ok: false, error: { code: 'HFO_FILE_CHANGED' } });
    expect(results[1]).toEqual({ bucketPath: 'artifacts/data/steady_agent-01.bin', ok: true });
    await expectLanded(emu, 'artifacts/data/steady_agent-01.bin', steady);
    expect(emu.readFile(BUCKET, 'artifacts/data/changing_agent-01.bin')).toBeUndefined();
  }, 60_000);
});
