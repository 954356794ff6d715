/**
 * A second local user plays the attacker: the agent that owns the outbox, against the daemon's user,
 * which owns secrets the agent cannot read (under the shipped unit: the service's own token).
 */
import { chownSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { WRITE_TOKEN, startEmulator, writeTokenFile } from '../helpers/hub.js';
import { OTHER_USER, otherUserSkipReason, sharedDir, shAs } from '../helpers/other-user.js';

const skip = otherUserSkipReason();
const BUCKET = 'team/shared';

describe.skipIf(skip !== undefined)(`a local attacker owning the outbox${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('a folder swapped for a symlink between the scan and the open uploads nothing of what it points at', async () => {
    const place = sharedDir();
    const outbox = path.join(place, 'outbox');
    mkdirSync(outbox, { mode: 0o755 });
    chownSync(outbox, OTHER_USER.uid, OTHER_USER.gid);
    // The daemon's secret, as under the shipped unit: its own token, a 0600 file in a 0700 folder.
    const secretDir = path.join(place, 'credentials');
    mkdirSync(secretDir, { mode: 0o700 });
    const tokenFile = await writeTokenFile(secretDir);
    const emu = await startEmulator();
    shAs('mkdir x data && echo bait > x/hf-token && echo fine > data/ok.txt', outbox);

    // The daemon scanned x/, settled its files and checks the bucket before the upload: hold it there.
    const held = emu.hold('paths-info');
    const run = runCli(
      ['sync', '--outbox', outbox, '--bucket', `hf://buckets/${BUCKET}`, '--state-dir', path.join(place, 'state'), '--agent-id', 'agent-07',
        '--hub-url', emu.url, '--token-file', tokenFile, '--settle-ms', '0', '--settle-timeout-ms', '20000'],
      { timeoutMs: 60_000 },
    );
    await held.arrived();
    shAs(`mv x x.real && ln -s ${secretDir} x`, outbox);
    held.release();
    const r = await run;

    for (const p of emu.listPaths(BUCKET)) expect(emu.readFile(BUCKET, p)?.toString(), p).not.toContain(WRITE_TOKEN);
    expect(emu.listPaths(BUCKET)).not.toContain('artifacts/x/hf-token_agent-07');
    const refused = r.logs.find((l) => l['local'] === 'x/hf-token' && /symlink/.test(String(l['err'] ?? l['reason'] ?? l.msg)));
    expect(refused, r.stdout).toBeDefined();
    expect(r.stdout + r.stderr).not.toContain(WRITE_TOKEN);
    expect(r.code).toBe(1);
    // The rest of the outbox is not held back by it.
    expect(emu.readFile(BUCKET, 'artifacts/data/ok_agent-07.txt')?.toString()).toBe('fine\n');
  }, 90_000);
});
