/** `sync` stops like `watch`: a stop signal drains within the grace period, and the terminal is given back as it was. */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CLI, Daemon, cleanEnv, runCli, waitFor } from '../helpers/cli.js';
import { hubWorkspace } from '../helpers/hub.js';
import { writeTree } from '../helpers/tmp.js';

const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const WRAP_ON = '\x1b[?7h';

/** The CLI on a pseudo-terminal (util-linux `script`), as a user runs it; keys go in through `type`. */
function onTerminal(args: string[]) {
  const command = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...cleanEnv(), TERM: 'xterm', COLUMNS: '120', LINES: '40' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  onTestFinished(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { get output() { return output; }, type: (keys: string) => child.stdin.write(keys), exited };
}

describe('sync stops like watch', () => {
  it('SIGTERM during an upload: drains within the grace period, logs what is left, and the file lands at the next sync', async () => {
    const t = await hubWorkspace();
    const bytes = randomBytes(3 * 1024 * 1024);
    await writeTree(t.outbox, { 'data/big.bin': bytes, 'scripts/a.py': 'print(1)' });
    const xorbs = t.emu.hold('xorb');
    const d = new Daemon(['sync', ...t.args(['--shutdown-grace-ms', '1500'])]);
    await xorbs.arrived();
    const sentAt = Date.now();
    const code = await d.stop('SIGTERM');
    const tookMs = Date.now() - sentAt;
    xorbs.release();
    expect(code).toBe(1);
    expect(tookMs).toBeLessThan(1500 + 4000);
    expect(d.logs.find((l) => /^stopping: finishing uploads in flight/.test(l.msg))).toMatchObject({ signal: 'SIGTERM', graceMs: 1500 });
    const left = d.logs.filter((l) => /^not delivered: goes at the next sync or watch/.test(l.msg)).map((l) => l['local']);
    expect(left.length).toBeGreaterThan(0);
    expect(d.logs.find((l) => l.msg === 'sync stopped by SIGTERM')).toMatchObject({ notDelivered: left.length });
    const again = await runCli(['sync', ...t.args()]);
    expect(again.code).toBe(0);
    expect(t.emu.listPaths('team/shared')).toEqual(['artifacts/data/big_agent-01.bin', 'artifacts/scripts/a_agent-01.py']);
  }, 120_000);

  it('Ctrl-C on a terminal drains, a second Ctrl-C exits at once, and the cursor and line wrap come back', async () => {
    const t = await hubWorkspace();
    await writeTree(t.outbox, { 'data/big.bin': randomBytes(3 * 1024 * 1024) });
    const xorbs = t.emu.hold('xorb');
    const term = onTerminal(['sync', ...t.args(['--shutdown-grace-ms', '60000'])]);
    await xorbs.arrived();
    await waitFor(() => term.output.includes(HIDE_CURSOR), 30_000, 'the progress bar');
    term.type('\x03');
    await waitFor(() => term.output.includes('stopping: finishing uploads in flight'), 30_000, 'the drain to start');
    // The grace period is a minute and the upload is held: only the second Ctrl-C ends it.
    term.type('\x03');
    const code = await term.exited;
    xorbs.release();
    expect(code).toBe(130);
    expect(term.output).toMatch(/second stop signal: exiting now/);
    const out = term.output;
    expect(out.lastIndexOf(SHOW_CURSOR)).toBeGreaterThan(out.lastIndexOf(HIDE_CURSOR));
    expect(out.lastIndexOf(WRAP_ON)).toBeGreaterThan(out.lastIndexOf('\x1b[?7l'));
  }, 120_000);

  it('the terminal bar follows acknowledged bytes with rate and ETA, and prints each landed file above it', async () => {
    const t = await hubWorkspace();
    await writeTree(t.outbox, { 'data/big.bin': randomBytes(3 * 1024 * 1024) });
    const xorbs = t.emu.hold('xorb');
    const term = onTerminal(['sync', ...t.args()]);
    await xorbs.arrived();
    await waitFor(() => /0% · 0 B of 3 MiB · [\d.]+ [KMG]?i?B\/s · ETA \S+ · 0\/1 files/.test(term.output), 30_000, 'the bar at 0% while the xorb is held');
    xorbs.release();
    expect(await term.exited).toBe(0);
    expect(term.output).toContain('uploaded data/big.bin → artifacts/data/big_agent-01.bin (3 MiB)');
    expect(term.output).toMatch(/100% · 3 MiB of 3 MiB/);
  }, 120_000);
});
