/**
 * Nothing lost across crashes, outages and rate limits: the daemon as a child process against
 * the Hub emulator, with the bucket's content checked by sha256 of the emulator's own rebuild.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { xetHashOf } from '../../src/hash/xet-hash.js';
import { Daemon, runCli, waitFor } from '../helpers/cli.js';
import type { HubEmulator } from '../hub-emulator/index.js';
import { hubWorkspace } from '../helpers/hub.js';
import { sha256, writeTree } from '../helpers/tmp.js';

const BUCKET = 'team/shared';

const setup = hubWorkspace;

/** Files of the test, with the bucket path each must land at. */
async function dropFiles(outbox: string, count: number, large: number, largeBytes: number) {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < count; i++) {
    const big = i < large;
    files[big ? `checkpoints/run/shard${i}.bin` : `data/f${String(i).padStart(3, '0')}.bin`] = randomBytes(big ? largeBytes : 1024 + ((i * 7919) % 60_000));
  }
  await writeTree(outbox, files);
  const expected = new Map<string, string>();
  for (const [local, bytes] of Object.entries(files)) {
    const remote = local.startsWith('checkpoints/run/')
      ? `artifacts/checkpoints/run_agent-01/${local.slice('checkpoints/run/'.length)}`
      : `artifacts/${local.replace(/\.bin$/, '_agent-01.bin')}`;
    expected.set(remote, sha256(bytes));
  }
  return expected;
}

function bucketHashes(emu: HubEmulator): Map<string, string> {
  return new Map(emu.listPaths(BUCKET).map((p) => [p, sha256(emu.readFile(BUCKET, p) ?? Buffer.alloc(0))]));
}

describe('durability', () => {
  it('kill -9 at random moments in 10 rounds: every file lands intact, once, and every state is uploaded', async () => {
    const t = await setup();
    const expected = await dropFiles(t.outbox, 200, 4, 50 * 1024 * 1024);
    let kills = 0;
    for (let round = 0; round < 10; round++) {
      const d = new Daemon(['watch', ...t.args()]);
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 1500));
      d.child.kill('SIGKILL');
      await d.exited;
      kills++;
    }
    const final = await runCli(['sync', ...t.args()], { timeoutMs: 120_000 });
    expect(final.code, final.stdout + final.stderr).toBe(0);
    expect(kills).toBe(10);
    expect(bucketHashes(t.emu)).toEqual(expected);
    // Each path was written exactly once: nothing that had landed was sent again after a restart.
    const writesPerPath = new Map<string, number>();
    for (const w of t.emu.writes(BUCKET)) writesPerPath.set(w.path, (writesPerPath.get(w.path) ?? 0) + 1);
    expect([...writesPerPath.entries()].filter(([, n]) => n > 1)).toEqual([]);
    const status = await runCli(['status', '--json', ...t.args()]);
    const report = JSON.parse(status.stdout) as { counts: Record<string, number>; items: Array<{ state: string }> };
    expect(report.items).toHaveLength(200);
    expect(report.items.every((i) => i.state === 'uploaded')).toBe(true);
    console.info(`kill-9 loop: ${t.emu.counters().totalRequests} requests for 200 files over 10 kills`);
  }, 240_000);

  it('everything lands through 30% 5xx and 5% dropped connections', async () => {
    const t = await setup();
    const expected = await dropFiles(t.outbox, 40, 1, 20 * 1024 * 1024);
    t.emu.addFault({ endpoint: '*', kind: 'drop', probability: 0.05 });
    t.emu.addFault({ endpoint: '*', kind: 'status', status: 503, probability: 0.3 });
    const started = Date.now();
    const r = await runCli(['sync', ...t.args()], { timeoutMs: 180_000 });
    expect(r.code, r.stdout.slice(-3000) + r.stderr).toBe(0);
    expect(bucketHashes(t.emu)).toEqual(expected);
    const c = t.emu.counters();
    console.info(`faults: ${c.totalRequests} requests for 40 files (${(c.totalRequests / 40).toFixed(1)} per file), drained in ${Date.now() - started} ms`);
  }, 200_000);

  it('a 429 storm with a 3 requests/s limit: never more than 3 requests in any second, and Retry-After honoured', async () => {
    const t = await setup();
    const expected = await dropFiles(t.outbox, 12, 0, 0);
    // A 12-file sync is only a handful of requests now (they share one xorb, shard and batch): the
    // first two are always refused, so the storm cannot miss them, then 40% of the rest.
    t.emu.addFault({ endpoint: '*', kind: 'rate-limit', retryAfterSeconds: 2, times: 2 });
    t.emu.addFault({ endpoint: '*', kind: 'rate-limit', retryAfterSeconds: 2, probability: 0.4 });
    const r = await runCli(['sync', ...t.args(['--max-requests-per-second', '3'])], { timeoutMs: 180_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(bucketHashes(t.emu)).toEqual(expected);
    const c = t.emu.counters();
    expect(c.peakRequestsPerSecond).toBeLessThanOrEqual(3);
    expect(c.requestLog.some((e) => e.status === 429)).toBe(true);
    // Every retry after a 429 waited at least what Retry-After asked (2 s).
    const retries = r.logs.filter((l) => l['type'] === 'retry' && l['status'] === 429);
    expect(retries.length).toBeGreaterThan(0);
    for (const retry of retries) expect(retry['delayMs'] as number).toBeGreaterThanOrEqual(2000);
  }, 200_000);

  it('the Hub down for 60 s: probes stay bounded, the queue resumes alone, everything lands', async () => {
    const t = await setup();
    const d = new Daemon(['watch', ...t.args()]);
    await d.waitForLog((l) => /^watching the outbox/.test(l.msg));
    await t.emu.stopListening();
    const downAt = Date.now();
    const expected = await dropFiles(t.outbox, 20, 0, 0);
    await new Promise((r) => setTimeout(r, 60_000));
    const attemptsWhileDown = d.logs.filter((l) => l.msg.startsWith('request failed') && (l['time'] as number) >= downAt).length;
    await t.emu.listen();
    await waitFor(() => t.emu.listPaths(BUCKET).length === 20, 120_000, 'all 20 files after the outage');
    expect(bucketHashes(t.emu)).toEqual(expected);
    expect(d.logs.some((l) => /pausing all requests/.test(l.msg))).toBe(true);
    expect(attemptsWhileDown).toBeLessThanOrEqual(20);
    console.info(`outage: ${attemptsWhileDown} failed attempts in 60 s down; resumed ${Date.now() - downAt - 60_000} ms after the Hub came back`);
    expect(await d.stop()).toBe(0);
  }, 240_000);

  it('a file rewritten while it uploads: the bucket ends with the final bytes', async () => {
    const t = await setup();
    const first = randomBytes(30 * 1024 * 1024);
    const final = randomBytes(30 * 1024 * 1024);
    // Settle 500 ms and synchronous writes: the rewrite's truncated state never lasts a settle
    // period, even on a loaded machine (fs.promises.writeFile yields between 512 KiB pieces).
    const d = new Daemon(['watch', ...t.args(['--max-upload-bytes-per-second', String(8 * 1024 * 1024), '--settle-ms', '500'])]);
    await d.waitForLog((l) => /^watching the outbox/.test(l.msg));
    const file = path.join(t.outbox, 'data', 'model.bin');
    writeFileSync(file, first);
    await waitFor(() => t.emu.counters().bytesReceived > 4 * 1024 * 1024, 30_000, 'the upload to be under way');
    writeFileSync(file, final);
    await waitFor(() => t.emu.fileInfo(BUCKET, 'artifacts/data/model_agent-01.bin') !== undefined && sha256(t.emu.readFile(BUCKET, 'artifacts/data/model_agent-01.bin') ?? Buffer.alloc(0)) === sha256(final), 90_000, 'the final bytes');
    // Whatever landed meanwhile was one whole version or the other, never a torn mix.
    const versions = new Set([await xetHashOf(Readable.from([first])), await xetHashOf(Readable.from([final]))]);
    for (const w of t.emu.writes(BUCKET)) expect(versions.has(w.xetHash)).toBe(true);
    // The two versions were never in two upload calls at once: no write of ours was taken for someone else's.
    expect(d.logs.filter((l) => /conflict|someone else|not written by this agent/.test(String(l.msg)))).toEqual([]);
    await d.stop();
  }, 150_000);
});
