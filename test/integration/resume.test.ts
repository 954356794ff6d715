/**
 * An upload cut off midway resumes: the xorbs the CAS had accepted are recorded as it accepts them,
 * so the next `sync` (a new process) sends only what is missing, and the file still rebuilds
 * byte-exact. The cut is made at a known point: the emulator answers the first xorb and holds the
 * second one open, and only then is the process stopped.
 */
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Daemon, runCli } from '../helpers/cli.js';
import { hubWorkspace } from '../helpers/hub.js';
import { sha256, writeTree } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const REMOTE = 'artifacts/data/big_agent-01.bin';

/** Syncs 36 MiB, stops the process with `stop` once the first 32 MiB xorb is accepted, then syncs again. */
async function cutAndResume(stop: (d: Daemon) => Promise<unknown>, extra: string[] = []) {
  const t = await hubWorkspace();
  const content = randomBytes(36 * MiB);
  await writeTree(t.outbox, { 'data/big.bin': content });
  const held = t.emu.hold('xorb', { after: 1 });
  const first = new Daemon(['sync', ...t.args(extra)]);
  await held.arrived();
  // The second xorb is at the CAS, unanswered; the first one's record was written before it went.
  await stop(first);
  held.release();
  t.emu.resetCounters();
  const again = await runCli(['sync', ...t.args()]);
  expect(again.code, again.stdout + again.stderr).toBe(0);
  return { t, content, again, counters: t.emu.counters() };
}

async function expectResumed({ t, content, again, counters }: Awaited<ReturnType<typeof cutAndResume>>): Promise<void> {
  expect(again.logs.find((l) => l.msg.startsWith('resuming:'))).toMatchObject({ xorbs: 1 });
  // Only the second xorb (4 MiB) goes up again, with the shard and the batch; 36 MiB without the record.
  expect(counters.requests['xorb']).toBe(1);
  expect(counters.bytesReceived).toBeLessThan(content.length - 31 * MiB);
  expect(sha256(t.emu.readFile('team/shared', REMOTE) ?? '')).toBe(sha256(content));
  // Registered by the accepted shard and kept in the shard cache: no longer a resume record.
  expect(await readdir(path.join(t.state, 'xet-cache', 'accepted'))).toEqual([]);
}

describe('an interrupted upload resumes', () => {
  it('kill -9 after the first xorb was accepted: the next sync sends only the rest, and the file rebuilds byte-exact', async () => {
    await expectResumed(await cutAndResume((d) => d.stop('SIGKILL')));
  }, 120_000);

  it('SIGTERM while a xorb is in flight: the drain gives up on it, and the next sync sends only the rest', async () => {
    const run = await cutAndResume(async (d) => expect(await d.stop('SIGTERM')).toBe(1), ['--shutdown-grace-ms', '200']);
    await expectResumed(run);
  }, 120_000);
});
