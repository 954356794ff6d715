import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Daemon, runCli, waitFor } from '../helpers/cli.js';
import { startEmulator, writeTokenFile } from '../helpers/hub.js';
import { StateStore } from '../../src/state/store.js';
import { triggeringData } from '../fixtures/xet-core-chunking-vectors.js';
import { outboxIn, sha256, tmpDir, treeHashes, writeTree } from '../helpers/tmp.js';

interface Status {
  counts: Record<string, number>;
  bytesPending: number;
  items: Array<{ local: string; remote: string; state: string; error?: string; localPresent: boolean }>;
  uploading: Array<{ remote: string; percent: number }>;
  lastSuccess: { remote: string } | null;
  localCopiesRemoved: number;
}

function local() {
  const root = tmpDir();
  const outbox = outboxIn(root);
  const bucket = path.join(root, 'bucket');
  return { root, outbox, bucket, args: ['--outbox', outbox, '--bucket', bucket, '--state-dir', path.join(root, 'state'), '--agent-id', 'agent-01', '--settle-ms', '0'] };
}

describe('hf-outbox status', () => {
  it('reports counts, items and errors as JSON, and says a removed local copy stays in the bucket', async () => {
    const t = local();
    await writeTree(t.outbox, { 'scripts/a.py': 'a', 'scripts/b.py': 'b', 'data/bad#name.csv': 'x' });
    await runCli(['sync', ...t.args]);
    await rm(path.join(t.outbox, 'scripts/b.py'));
    await runCli(['sync', ...t.args]);
    const r = await runCli(['status', '--json', ...t.args]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as Status;
    expect(s.counts).toMatchObject({ uploaded: 2, rejected: 1, pending: 0, failed: 0 });
    expect(s.items).toContainEqual({ local: 'scripts/b.py', remote: 'artifacts/scripts/b_agent-01.py', state: 'uploaded', localPresent: false });
    expect(s.items.find((i) => i.local === 'data/bad#name.csv')).toMatchObject({ state: 'rejected', error: expect.stringMatching(/rename the file/) });
    expect(s.localCopiesRemoved).toBe(1);
    expect(Object.keys(treeHashes(t.bucket))).toContain('artifacts/scripts/b_agent-01.py');
    const human = await runCli(['status', ...t.args]);
    expect(human.stdout).toMatch(/uploaded 2/);
    expect(human.stdout).toMatch(/1 uploaded file\(s\) were removed locally; the bucket keeps them/);
  });

  it('works while the daemon runs and shows the upload in flight and the bytes pending', async () => {
    const root = tmpDir();
    const outbox = outboxIn(root);
    const emu = await startEmulator();
    const tokenFile = await writeTokenFile(root);
    const args = ['--outbox', outbox, '--bucket', 'hf://buckets/team/shared', '--state-dir', path.join(root, 'state'), '--agent-id', 'agent-01', '--hub-url', emu.url, '--token-file', tokenFile, '--settle-ms', '0'];
    // The emulator answers no xorb upload until released: the upload stays in flight for as long
    // as the status polls take, however slow or fast the machine (a rate cap alone raced them).
    const xorbs = emu.hold('xorb');
    const d = new Daemon(['watch', ...args]);
    await d.waitForLog((l) => /^watching the outbox/.test(l.msg));
    // Held, the upload stays in flight whatever its size: 4 MiB to hash instead of 40.
    const bytes = randomBytes(4 * 1024 * 1024);
    await writeTree(outbox, { 'data/big.bin': bytes });
    await xorbs.arrived();
    let seen: Status | undefined;
    await waitFor(async () => {
      const r = await runCli(['status', '--json', ...args]);
      seen = JSON.parse(r.stdout) as Status;
      return seen.counts['uploading'] === 1;
    }, 60_000, 'status to show the upload');
    expect(seen?.bytesPending).toBe(4 * 1024 * 1024);
    expect(xorbs.waiting).toBeGreaterThan(0);
    xorbs.release();
    await d.waitForLog((l) => l.msg === 'uploaded', 60_000);
    const after = JSON.parse((await runCli(['status', '--json', ...args])).stdout) as Status;
    expect(after.counts['uploaded']).toBe(1);
    expect(after.lastSuccess?.remote).toBe('artifacts/data/big_agent-01.bin');
    expect(sha256(emu.readFile('team/shared', 'artifacts/data/big_agent-01.bin') ?? Buffer.alloc(0))).toBe(sha256(bytes));
    await d.stop();
  }, 120_000);
});

describe('hf-outbox sync --adopt', () => {
  it('adopts identical files after the state was lost, and leaves different ones as conflicts', async () => {
    const root = tmpDir();
    const outbox = outboxIn(root);
    const emu = await startEmulator();
    const tokenFile = await writeTokenFile(root);
    const args = (state: string) => ['--outbox', outbox, '--bucket', 'hf://buckets/team/shared', '--state-dir', path.join(root, state), '--agent-id', 'agent-01', '--hub-url', emu.url, '--token-file', tokenFile, '--settle-ms', '0'];
    await writeTree(outbox, { 'scripts/a.py': 'same', 'scripts/b.py': 'b v1' });
    expect((await runCli(['sync', ...args('state-1')])).code).toBe(0);
    await writeTree(outbox, { 'scripts/b.py': 'b v2 edited after the state was lost' });
    const lost = await runCli(['sync', ...args('state-2')]);
    expect(lost.code).toBe(1);
    expect(lost.logs.filter((l) => l['state'] === 'conflict')).toHaveLength(2);
    const writesBefore = emu.writes('team/shared').length;
    const adopt = await runCli(['sync', '--adopt', ...args('state-3')]);
    expect(adopt.code).toBe(1);
    expect(adopt.logs.find((l) => /^adopted/.test(l.msg))).toMatchObject({ local: 'scripts/a.py' });
    expect(adopt.logs.find((l) => l['state'] === 'conflict')).toMatchObject({ local: 'scripts/b.py' });
    expect(emu.writes('team/shared')).toHaveLength(writesBefore);
  });

  it('adopts multi-chunk files whichever chunking rule the uploading client used (hf CLI, @huggingface/hub)', async () => {
    const root = tmpDir();
    const outbox = path.join(root, 'outbox');
    const emu = await startEmulator();
    const tokenFile = await writeTokenFile(root);
    // Each starts with xet-core's vector that the legacy rule cuts at 8191 bytes: the two rules' hashes surely differ.
    const make = () => Buffer.concat([triggeringData(65536, 1), randomBytes(600 * 1024)]);
    const files = { 'data/cli.bin': make(), 'data/library.bin': make() };
    await writeTree(outbox, files);
    emu.seedFile('team/shared', 'artifacts/data/cli_agent-01.bin', files['data/cli.bin'], { chunking: 'xet-core' });
    emu.seedFile('team/shared', 'artifacts/data/library_agent-01.bin', files['data/library.bin'], { chunking: 'legacy' });
    emu.seedFile('team/shared', 'elsewhere/library.bin', files['data/library.bin'], { chunking: 'xet-core' });
    expect(emu.fileInfo('team/shared', 'elsewhere/library.bin')?.xetHash).not.toBe(emu.fileInfo('team/shared', 'artifacts/data/library_agent-01.bin')?.xetHash);
    const writesBefore = emu.writes('team/shared').length;
    const adopt = await runCli(['sync', '--adopt', '--outbox', outbox, '--bucket', 'hf://buckets/team/shared', '--state-dir', path.join(root, 'state'), '--agent-id', 'agent-01', '--hub-url', emu.url, '--token-file', tokenFile, '--settle-ms', '0']);
    expect(adopt.code).toBe(0);
    expect(adopt.logs.filter((l) => /^adopted/.test(l.msg)).map((l) => l['local']).sort()).toEqual(['data/cli.bin', 'data/library.bin']);
    expect(emu.writes('team/shared')).toHaveLength(writesBefore);
    await emu.close();
  });

  it('recognises an interrupted upload that landed under the legacy chunking rule (an older hf-outbox) and does not redo it', async () => {
    const root = tmpDir();
    const outbox = path.join(root, 'outbox');
    const stateDir = path.join(root, 'state');
    const emu = await startEmulator();
    const tokenFile = await writeTokenFile(root);
    const args = ['--outbox', outbox, '--bucket', 'hf://buckets/team/shared', '--state-dir', stateDir, '--agent-id', 'agent-01', '--hub-url', emu.url, '--token-file', tokenFile, '--settle-ms', '0'];
    const bytes = Buffer.concat([triggeringData(65536, 1), randomBytes(600 * 1024)]);
    await writeTree(outbox, { 'data/old.bin': bytes });
    expect((await runCli(['sync', ...args])).code).toBe(0);
    // As if the last run was an older hf-outbox, killed after its upload landed but before it was recorded.
    const state = StateStore.open(stateDir, { outbox, bucket: 'hf://buckets/team/shared', agentId: 'agent-01' });
    state.markUploading(['data/old.bin']);
    state.close();
    emu.seedFile('team/shared', 'artifacts/data/old_agent-01.bin', bytes, { chunking: 'legacy' });
    const writesBefore = emu.writes('team/shared').length;
    const again = await runCli(['sync', ...args]);
    expect(again.code).toBe(0);
    expect(again.logs.find((l) => /^already in the bucket/.test(l.msg))).toMatchObject({ local: 'data/old.bin' });
    expect(emu.writes('team/shared')).toHaveLength(writesBefore);
    await emu.close();
  });
});
