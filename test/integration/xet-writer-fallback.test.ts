/**
 * The safety net behind the own Xet writer (--xet-writer auto): a Hub that refuses the own
 * writer's format, or serves back other bytes than were sent, never strands the upload — the
 * call goes again through @huggingface/hub's own upload and the run stays on it, saying why.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { HubBucket, READ_BACK_MAX_BYTES } from '../../src/adapters/hub-bucket.js';
import { NodeOutboxFs } from '../../src/adapters/node-fs.js';
import { WRITER_STATE_FILE, type XetWriterSetting } from '../../src/adapters/xet/library-writer.js';
import type { UploadSource } from '../../src/core/ports.js';
import { createLogger } from '../../src/log.js';
import type { HubEmulator } from '../hub-emulator/index.js';
import { WRITE_TOKEN, readBack, startEmulator } from '../helpers/hub.js';
import { sha256, tmpDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const BUCKET = 'team/shared';

function bucketOn(emu: HubEmulator, xetWriter: XetWriterSetting) {
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const stateDir = tmpDir();
  const bucket = new HubBucket({
    target: { kind: 'hf', id: BUCKET, owner: 'team', name: 'shared', uri: `hf://buckets/${BUCKET}` },
    hubUrl: emu.url,
    token: WRITE_TOKEN,
    fs: new NodeOutboxFs(),
    xetWriter,
    stateDir,
    logger: createLogger({ level: 'info', destination, pretty: false }),
  });
  const recorded = () => JSON.parse(readFileSync(path.join(stateDir, WRITER_STATE_FILE), 'utf8')) as Record<string, unknown>;
  return { bucket, logs, recorded };
}

const bytes = (bucketPath: string, content: Uint8Array): UploadSource => ({ bucketPath, sizeBytes: content.length, content });

async function expectLanded(emu: HubEmulator, bucketPath: string, content: Uint8Array): Promise<void> {
  const want = sha256(content);
  expect(await readBack(emu, BUCKET, bucketPath)).toEqual({ client: want, emulator: want });
}

describe('xet-writer auto: the library writer takes over when the Hub disagrees', () => {
  it("a Hub refusing the own writer's shards (400): the call goes through @huggingface/hub, the run stays on it, log and state say why", async () => {
    const emu = await startEmulator();
    emu.addFault({ endpoint: 'shard', kind: 'status', status: 400, shardFooter: 'absent' });
    const { bucket, logs, recorded } = bucketOn(emu, 'auto');
    const big = randomBytes(2 * MiB);
    const small = Buffer.from('step,loss\n1,0.5\n');
    const results = await bucket.upload([bytes('artifacts/data/big_agent-01.bin', big), bytes('artifacts/results/r_agent-01.csv', small)]);
    expect(results.every((r) => r.ok)).toBe(true);
    await expectLanded(emu, 'artifacts/data/big_agent-01.bin', big);
    await expectLanded(emu, 'artifacts/results/r_agent-01.csv', small);
    expect(bucket.writer).toMatchObject({ writer: 'library', setting: 'auto' });
    expect(bucket.writer.reason).toMatch(/refused the own Xet writer's shard: .*HTTP 400/u);
    expect(logs.find((l) => l['xetWriter'] === 'library')).toMatchObject({ level: 40, reason: expect.stringMatching(/shard/u) });
    expect(recorded()).toMatchObject({ writer: 'library', setting: 'auto', reason: expect.stringMatching(/shard/u) });
    // The next call goes straight to the library: no footerless shard is refused again.
    emu.resetCounters();
    const next = randomBytes(300 * 1024);
    expect(await bucket.upload([bytes('artifacts/data/next_agent-01.bin', next)])).toEqual([{ bucketPath: 'artifacts/data/next_agent-01.bin', ok: true }]);
    expect(emu.counters().requestLog.filter((r) => r.endpoint === 'shard' && r.status === 400)).toHaveLength(0);
    await expectLanded(emu, 'artifacts/data/next_agent-01.bin', next);
  }, 60_000);

  it('--xet-writer own keeps to the own writer: the refusal is the error the files get', async () => {
    const emu = await startEmulator();
    emu.addFault({ endpoint: 'shard', kind: 'status', status: 400, shardFooter: 'absent' });
    const { bucket } = bucketOn(emu, 'own');
    const [result] = await bucket.upload([bytes('artifacts/data/x_agent-01.bin', randomBytes(1000))]);
    expect(result).toMatchObject({ ok: false, error: { code: 'HFO_UPLOAD_REJECTED' } });
    expect(bucket.writer.writer).toBe('own');
  }, 60_000);

  it("the first upload of a start is read back through @huggingface/hub; other bytes switch to the library and the call is redone", async () => {
    const emu = await startEmulator();
    emu.addFault({ endpoint: 'xorb-read', kind: 'corrupt', times: 1 });
    const { bucket, logs, recorded } = bucketOn(emu, 'auto');
    const content = randomBytes(20_000);
    expect(await bucket.upload([bytes('artifacts/data/a_agent-01.bin', content)])).toEqual([{ bucketPath: 'artifacts/data/a_agent-01.bin', ok: true }]);
    expect(bucket.writer).toMatchObject({ writer: 'library', readBack: { ok: false, path: 'artifacts/data/a_agent-01.bin' } });
    expect(logs.find((l) => l['xetWriter'] === 'library')).toMatchObject({ level: 50, reason: expect.stringMatching(/did not read back identical/u) });
    expect(recorded()).toMatchObject({ writer: 'library', readBack: { ok: false } });
    await expectLanded(emu, 'artifacts/data/a_agent-01.bin', content);
  }, 60_000);

  it('an identical read-back keeps the own writer, and is done once per start', async () => {
    const emu = await startEmulator();
    const { bucket, recorded } = bucketOn(emu, 'auto');
    await bucket.upload([bytes('artifacts/data/a_agent-01.bin', randomBytes(20_000)), bytes('artifacts/data/b_agent-01.bin', randomBytes(5000))]);
    expect(bucket.writer).toMatchObject({ writer: 'own', readBack: { ok: true, path: 'artifacts/data/b_agent-01.bin' } });
    expect(recorded()).toMatchObject({ writer: 'own', readBack: { ok: true } });
    emu.resetCounters();
    await bucket.upload([bytes('artifacts/data/c_agent-01.bin', randomBytes(5000))]);
    expect(emu.counters().requests['reconstruction'] ?? 0).toBe(0);
  }, 60_000);

  it('a call of only large files is not downloaded again: the read-back waits for a call with a small file', async () => {
    const emu = await startEmulator();
    const { bucket } = bucketOn(emu, 'auto');
    await bucket.upload([bytes('artifacts/data/big_agent-01.bin', randomBytes(READ_BACK_MAX_BYTES + 1))]);
    expect(emu.counters().requests['reconstruction'] ?? 0).toBe(0);
    expect(bucket.writer).toMatchObject({ writer: 'own', readBack: 'pending' });
    await bucket.upload([bytes('artifacts/data/small_agent-01.bin', randomBytes(5000))]);
    expect(bucket.writer).toMatchObject({ writer: 'own', readBack: { ok: true, path: 'artifacts/data/small_agent-01.bin' } });
  }, 120_000);
});
