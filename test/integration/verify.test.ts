/** The bucket is the truth: --verify lists it once and sends again what the records call delivered but it lacks. */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateStore } from '../../src/state/store.js';
import { Daemon, runCli } from '../helpers/cli.js';
import { outboxIn, sha256, tmpDir, treeHashes, writeTree } from '../helpers/tmp.js';

function local() {
  const root = tmpDir();
  const outbox = outboxIn(root);
  const bucket = path.join(root, 'bucket');
  return { root, outbox, bucket, args: ['--outbox', outbox, '--bucket', bucket, '--state-dir', path.join(root, 'state'), '--agent-id', 'agent-01', '--settle-ms', '0'] };
}

const A = 'artifacts/scripts/a_agent-01.py';
const B = 'artifacts/scripts/b_agent-01.py';

describe('verify against the bucket', () => {
  it('after the bucket lost or changed files: plan --verify shows them as uploads, sync --verify sends them again; plain sync trusts the records', async () => {
    const t = local();
    await writeTree(t.outbox, { 'scripts/a.py': 'print("a")\n', 'scripts/b.py': 'print("b")\n', 'scripts/c.py': 'print("c")\n' });
    expect((await runCli(['sync', ...t.args])).code).toBe(0);
    // A cleanup removed b, and someone replaced a with other bytes.
    await rm(path.join(t.bucket, B));
    await writeFile(path.join(t.bucket, A), 'truncated');
    const plan = (await runCli(['plan', '--json', ...t.args])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { action: string; local: string; reason: string });
    expect(plan.filter((l) => l.action === 'up-to-date').map((l) => l.local).sort()).toEqual(['scripts/a.py', 'scripts/b.py', 'scripts/c.py']);
    const verified = (await runCli(['plan', '--json', '--verify', ...t.args])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { action: string; local: string; reason: string });
    expect(verified.find((l) => l.local === 'scripts/b.py')).toMatchObject({ action: 'upload', reason: expect.stringMatching(/the bucket does not hold it/) as unknown });
    expect(verified.find((l) => l.local === 'scripts/a.py')).toMatchObject({ action: 'upload', reason: expect.stringMatching(/holds a different file/) as unknown });
    expect(verified.find((l) => l.local === 'scripts/c.py')).toMatchObject({ action: 'up-to-date' });
    const trusting = await runCli(['sync', ...t.args]);
    expect(trusting.logs.filter((l) => l.msg === 'uploaded')).toHaveLength(0);
    const sync = await runCli(['sync', '--verify', ...t.args]);
    expect(sync.code).toBe(0);
    expect(sync.logs.find((l) => /^verify: the bucket lacks files/.test(l.msg))).toMatchObject({ checked: 3, missing: 1, different: 1 });
    expect(sync.logs.filter((l) => l.msg === 'uploaded').map((l) => l['local']).sort()).toEqual(['scripts/a.py', 'scripts/b.py']);
    const hashes = treeHashes(t.bucket);
    expect(hashes[A]).toBe(sha256('print("a")\n'));
    expect(hashes[B]).toBe(sha256('print("b")\n'));
  }, 120_000);

  it('watch verifies at start when the state is older than the rescan interval (and not when it is fresh), and sends what the bucket lost', async () => {
    const t = local();
    await writeTree(t.outbox, { 'scripts/a.py': 'print("a")\n', 'scripts/b.py': 'print("b")\n' });
    expect((await runCli(['sync', ...t.args])).code).toBe(0);
    await rm(path.join(t.bucket, B));
    const fresh = new Daemon(['watch', ...t.args]);
    await fresh.waitForLog((l) => /^watching the outbox/.test(l.msg));
    expect(await fresh.stop()).toBe(0);
    expect(fresh.logs.some((l) => /^verify:/.test(l.msg))).toBe(false);
    // As if that sync ran two hours ago: older than the 1 h rescan interval.
    const state = StateStore.open(path.join(t.root, 'state'), { outbox: t.outbox, bucket: `file://${t.bucket}`, agentId: 'agent-01' });
    state.markVerified(Date.now() - 2 * 3600_000);
    state.close();
    const d = new Daemon(['watch', ...t.args]);
    await d.waitForLog((l) => l.msg === 'uploaded' && l['local'] === 'scripts/b.py', 60_000);
    expect(d.logs.find((l) => /^verify: the bucket lacks files/.test(l.msg))).toMatchObject({ checked: 2, missing: 1 });
    expect(treeHashes(t.bucket)[B]).toBe(sha256('print("b")\n'));
    expect(await d.stop()).toBe(0);
  }, 120_000);
});
