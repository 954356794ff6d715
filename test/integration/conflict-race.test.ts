/**
 * The bucket API has no conditional write: a foreign file created between the conflict check and
 * the batch must not be overwritten silently, and one written right after our batch must not pass
 * for ours. The emulator holds the upload at the moment under test; the local-folder bucket gets
 * the same moments through its file-system port.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalFolderBucket } from '../../src/adapters/local-bucket.js';
import { NodeOutboxFs } from '../../src/adapters/node-fs.js';
import type { OutboxFile } from '../../src/core/ports.js';
import type { Fingerprint } from '../../src/core/types.js';
import type { ProblemEvent } from '../../src/daemon.js';
import { localWorkspace, noWatcher } from '../helpers/local-workspace.js';
import { runCli } from '../helpers/cli.js';
import { hubWorkspace } from '../helpers/hub.js';
import { writeTree } from '../helpers/tmp.js';

const A = 'artifacts/scripts/a_agent-01.py';

describe('a file someone writes while the upload is under way', () => {
  it('is checked again right before the batch: left untouched, reported as a conflict (log, status, exit 1)', async () => {
    const w = await hubWorkspace();
    await writeTree(w.outbox, { 'scripts/a.py': 'mine\n', 'scripts/b.py': 'also mine\n' });
    // The conflict check has passed; the xorb is going up: hold it there.
    const held = w.emu.hold('xorb');
    const run = runCli(['sync', ...w.args(['--settle-ms', '0'])], { timeoutMs: 60_000 });
    await held.arrived();
    w.emu.seedFile('team/shared', 'artifacts/scripts/a_agent-01.py', Buffer.from('theirs\n'));
    held.release();
    const r = await run;
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(w.emu.readFile('team/shared', 'artifacts/scripts/a_agent-01.py')?.toString()).toBe('theirs\n');
    expect(w.emu.readFile('team/shared', 'artifacts/scripts/b_agent-01.py')?.toString()).toBe('also mine\n');
    const line = r.logs.find((l) => l['local'] === 'scripts/a.py' && /appeared in hf:\/\/buckets\/team\/shared while this upload was under way \(7 bytes/.test(l.msg));
    expect(line, r.stdout).toBeDefined();
    const status = await runCli(['status', '--json', ...w.args()]);
    const report = JSON.parse(status.stdout) as { counts: Record<string, number> };
    expect(report.counts['conflict']).toBe(1);
    // The next pass checks again instead of taking the path as ours.
    const again = await runCli(['sync', ...w.args(['--settle-ms', '0'])]);
    expect(again.code).toBe(1);
    expect(w.emu.readFile('team/shared', 'artifacts/scripts/a_agent-01.py')?.toString()).toBe('theirs\n');
  }, 120_000);

  it('is compared right after the batch: a path that no longer holds our bytes is a conflict naming what is there (log, status, exit 1)', async () => {
    const w = await hubWorkspace();
    await writeTree(w.outbox, { 'scripts/a.py': 'mine\n', 'scripts/b.py': 'also mine\n' });
    // Our batch is on its way: hold it, and hold the paths-info that follows it (the compare).
    const batch = w.emu.hold('batch');
    const run = runCli(['sync', ...w.args(['--settle-ms', '0'])], { timeoutMs: 60_000 });
    await batch.arrived();
    const compare = w.emu.hold('paths-info');
    batch.release();
    // The compare is awaited as long as it takes; a sync that ends without one fails here at once.
    const first = await Promise.race([compare.arrived().then(() => 'compare' as const), run.then(() => 'exited' as const)]);
    expect(first, 'sync ended without reading the paths back after its batch').toBe('compare');
    // Our file has landed; another writer overwrites it before we look.
    expect(w.emu.readFile('team/shared', A)?.toString()).toBe('mine\n');
    w.emu.seedFile('team/shared', A, Buffer.from('theirs, longer\n'));
    const theirs = w.emu.fileInfo('team/shared', A);
    compare.release();
    const r = await run;
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(w.emu.readFile('team/shared', A)?.toString()).toBe('theirs, longer\n');
    expect(w.emu.readFile('team/shared', 'artifacts/scripts/b_agent-01.py')?.toString()).toBe('also mine\n');
    const line = r.logs.find((l) => l['local'] === 'scripts/a.py' && l['state'] === 'conflict');
    expect(line?.level, r.stdout).toBe(50);
    expect(line?.msg).toContain(`${A} in hf://buckets/team/shared holds someone else's file right after this upload wrote it (15 bytes, xet ${theirs?.xetHash}`);
    expect(line?.msg).toContain("Per its name the file is agent-01's");
    expect(r.logs.some((l) => l.msg === 'uploaded' && l['local'] === 'scripts/a.py')).toBe(false);
    expect(r.logs.some((l) => l.msg === 'uploaded' && l['local'] === 'scripts/b.py')).toBe(true);
    const status = await runCli(['status', '--json', ...w.args()]);
    expect(status.stdout).toContain('holds someone else');
    expect((JSON.parse(status.stdout) as { counts: Record<string, number> }).counts['conflict']).toBe(1);
    // The path is not taken as ours: the next pass finds their file and leaves it.
    const again = await runCli(['sync', ...w.args(['--settle-ms', '0'])]);
    expect(again.code).toBe(1);
    expect(w.emu.readFile('team/shared', A)?.toString()).toBe('theirs, longer\n');
  }, 120_000);
});

describe('a file someone writes into a local-folder bucket around our write', () => {
  /** The daemon over a local-folder bucket whose file-system port runs `around` at the moment under test. */
  async function syncWith(fs: NodeOutboxFs, ws: ReturnType<typeof localWorkspace>) {
    const { daemon, state } = ws.open({ watch: noWatcher, fs, bucket: new LocalFolderBucket(ws.bucketDir, fs) });
    const problems: ProblemEvent[] = [];
    const uploaded: string[] = [];
    daemon.on('problem', (p) => problems.push(p));
    daemon.on('uploaded', (u) => uploaded.push(u.localPath));
    try {
      await daemon.prepare();
      await daemon.scan();
      await daemon.drain();
      return { problems, uploaded, record: state.get('scripts/a.py'), ours: state.hasWritten(A) };
    } finally {
      await daemon.stop();
      state.close();
    }
  }

  it('written after the conflict check and before ours lands: left untouched, reported as a conflict', async () => {
    const ws = localWorkspace();
    await writeTree(ws.outbox, { 'scripts/a.py': 'mine\n', 'scripts/b.py': 'also mine\n' });
    const target = path.join(ws.bucketDir, ...A.split('/'));
    // The conflict check found the path free; while our copy is read, another writer creates it.
    class Racing extends NodeOutboxFs {
      override openVerified(file: OutboxFile, expected: Fingerprint) {
        const stream = super.openVerified(file, expected);
        if (file.relPath === 'scripts/a.py') stream.once('end', () => writeFileSync(target, 'theirs\n'));
        return stream;
      }
    }
    const r = await syncWith(new Racing(), ws);
    expect(readFileSync(target, 'utf8')).toBe('theirs\n');
    expect(readFileSync(path.join(ws.bucketDir, 'artifacts/scripts/b_agent-01.py'), 'utf8')).toBe('also mine\n');
    expect(r.problems).toEqual([expect.objectContaining({ localPath: 'scripts/a.py', state: 'conflict', reason: expect.stringContaining(`${A} appeared in file://${ws.bucketDir} while this upload was under way (7 bytes`) })]);
    expect(r.uploaded).toEqual(['scripts/b.py']);
    expect(r.record?.state).toBe('conflict');
    expect(r.ours).toBe(false);
  }, 60_000);

  it('replaced right after ours landed: reported as a conflict naming what is there, not taken as ours', async () => {
    const ws = localWorkspace();
    await writeTree(ws.outbox, { 'scripts/a.py': 'mine\n' });
    const target = path.join(ws.bucketDir, ...A.split('/'));
    // The first look at the path once ours is there (the compare) comes after another writer replaced it.
    class Racing extends NodeOutboxFs {
      replaced = false;
      override async stat(absPath: string) {
        if (absPath === target && !this.replaced && existsSync(target)) {
          this.replaced = true;
          writeFileSync(`${target}.theirs`, 'theirs, longer\n');
          renameSync(`${target}.theirs`, target);
        }
        return super.stat(absPath);
      }
    }
    const r = await syncWith(new Racing(), ws);
    expect(readFileSync(target, 'utf8')).toBe('theirs, longer\n');
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]?.reason).toContain(`${A} in file://${ws.bucketDir} holds someone else's file right after this upload wrote it (15 bytes`);
    expect(r.problems[0]?.reason).toContain("Per its name the file is agent-01's");
    expect(r.uploaded).toEqual([]);
    expect(r.record?.state).toBe('conflict');
    expect(r.ours).toBe(false);
  }, 60_000);
});
