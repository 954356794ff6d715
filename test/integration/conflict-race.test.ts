/**
 * The bucket API has no conditional write: a foreign file created between the conflict check and
 * the batch must not be overwritten silently. The emulator holds the upload between the two.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { hubWorkspace } from '../helpers/hub.js';
import { writeTree } from '../helpers/tmp.js';

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
});
