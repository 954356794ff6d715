/** `status` tells the truth: a process alive or not, uploads cut off, a Hub outage, and where the state is. */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Daemon, cleanEnv, runCli, waitFor } from '../helpers/cli.js';
import { hubWorkspace } from '../helpers/hub.js';
import { outboxIn, tmpDir, writeTree } from '../helpers/tmp.js';

interface Status {
  counts: Record<string, number>;
  daemon: { running: boolean; pid?: number; command?: string };
  uploading: unknown[];
  interrupted: Array<{ local: string; remote: string }>;
  hub: { unreachableSince?: string; nextProbeAt?: string; lastNetworkErrors: Array<{ error: string }> };
  stateDir: string;
}

const status = async (args: string[], env?: Record<string, string>) => {
  const r = await runCli(['status', '--json', ...args], env ? { env } : {});
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Status;
};

describe('status tells the truth', () => {
  it('names the running process and its pid; after it was killed, its upload shows as interrupted, not uploading', async () => {
    const t = await hubWorkspace();
    await writeTree(t.outbox, { 'data/big.bin': randomBytes(2 * 1024 * 1024) });
    const xorbs = t.emu.hold('xorb');
    const d = new Daemon(['sync', ...t.args()]);
    await xorbs.arrived();
    const live = await status(t.args());
    expect(live.daemon).toMatchObject({ running: true, pid: d.child.pid, command: 'sync' });
    expect(live.counts['uploading']).toBe(1);
    expect(live.interrupted).toEqual([]);
    await d.stop('SIGKILL');
    const after = await status(t.args());
    expect(after.daemon).toEqual({ running: false });
    expect(after.uploading).toEqual([]);
    expect(after.interrupted).toMatchObject([{ local: 'data/big.bin', remote: 'artifacts/data/big_agent-01.bin' }]);
    const human = (await runCli(['status', ...t.args()])).stdout;
    expect(human).toMatch(/^not running: no hf-outbox process works on this state now$/m);
    expect(human).toMatch(/^interrupted artifacts\/data\/big_agent-01\.bin: stopped at 0% of 2 MiB; the next start checks the bucket and redoes it$/m);
    xorbs.release();
  }, 120_000);

  it('while the Hub is down: "Hub unreachable since …, next probe in …" and the last network errors', async () => {
    const t = await hubWorkspace();
    const d = new Daemon(['watch', ...t.args()]);
    await d.waitForLog((l) => /^watching the outbox/.test(l.msg));
    await t.emu.stopListening();
    await writeTree(t.outbox, { 'scripts/a.py': 'print(1)' });
    let seen: Status | undefined;
    await waitFor(async () => {
      seen = await status(t.args());
      return seen.hub.unreachableSince !== undefined;
    }, 90_000, 'status to show the outage');
    expect(seen?.daemon).toMatchObject({ running: true, command: 'watch' });
    expect(Date.parse(seen?.hub.nextProbeAt ?? '')).toBeGreaterThan(Date.parse(seen?.hub.unreachableSince ?? ''));
    expect(seen?.hub.lastNetworkErrors[0]?.error).toMatch(/^127\.0\.0\.1:\d+: /);
    const human = (await runCli(['status', ...t.args()])).stdout;
    expect(human).toMatch(/^Hub unreachable since \S+, next probe in \d+ s; uploads wait and resume by themselves$/m);
    expect(human).toMatch(/^network error \S+: 127\.0\.0\.1:\d+: /m);
    await t.emu.listen();
    await d.waitForLog((l) => l.msg === 'uploaded', 120_000);
    expect(await d.stop()).toBe(0);
  }, 240_000);

  it('finds the state from the outbox alone, and otherwise names the state dirs there are and the flag', async () => {
    const root = tmpDir();
    const outbox = outboxIn(root);
    const env = cleanEnv({ XDG_STATE_HOME: path.join(root, 'xdg') });
    await writeTree(outbox, { 'scripts/a.py': 'a' });
    const sync = await runCli(['sync', '--outbox', outbox, '--bucket', path.join(root, 'bucket'), '--agent-id', 'agent-07', '--settle-ms', '0'], { env });
    expect(sync.code).toBe(0);
    // Only the outbox: no agent id, no bucket, no state dir.
    const found = await status(['--outbox', outbox], env);
    expect(found.counts['uploaded']).toBe(1);
    expect(found.stateDir).toMatch(new RegExp(`^${path.join(root, 'xdg', 'hf-outbox', 'agent-07')}/`));
    const other = outboxIn(path.join(root, 'elsewhere'));
    const none = await runCli(['status', '--outbox', other], { env });
    expect(none.stdout).toContain(`nothing has been published from ${other} with these settings`);
    expect(none.stdout).toMatch(/pass one with --state-dir/);
    expect(none.stdout).toContain(`${found.stateDir}: ${outbox} → file://${path.join(root, 'bucket')} (agent agent-07)`);
  }, 60_000);

  it('a start that fails with 78 (the bucket does not exist) creates no state', async () => {
    const t = await hubWorkspace('team/missing');
    await writeTree(t.outbox, { 'scripts/a.py': 'a' });
    const r = await runCli(['sync', ...t.args()]);
    expect(r.code).toBe(78);
    expect(existsSync(t.state)).toBe(false);
  }, 60_000);
});
