import { chmodSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Daemon, runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

describe('hf-outbox init', () => {
  it('creates the outbox layout and a commented config that watch then runs on; never overwrites it', async () => {
    const root = tmpDir();
    const configOut = path.join(root, 'etc', 'agent-07.yaml');
    const r = await runCli(['init', '--outbox', path.join(root, 'outbox'), '--bucket', path.join(root, 'bucket'), '--agent-id', 'agent-07', '--state-dir', path.join(root, 'state'), '--config-out', configOut]);
    expect(r.code, r.stderr).toBe(0);
    for (const c of ['scripts', 'results', 'checkpoints', 'data']) expect(existsSync(path.join(root, 'outbox', c))).toBe(true);
    const text = readFileSync(configOut, 'utf8');
    expect(text).toMatch(/^# Your agent id/m);
    expect(parse(text)).toMatchObject({ outbox: path.join(root, 'outbox'), bucket: path.join(root, 'bucket'), 'agent-id': 'agent-07' });
    const again = await runCli(['init', '--outbox', path.join(root, 'outbox'), '--config-out', configOut]);
    expect(again.code).toBe(78);
    expect(again.stderr).toMatch(/already exists; it was left as it is/);
    expect(readFileSync(configOut, 'utf8')).toBe(text);
    const plan = await runCli(['plan', '--config', configOut, '--state-dir', path.join(root, 'state')]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/agent agent-07/);
  });

  it('watch warns at start when the outbox is world-writable', async () => {
    const root = tmpDir();
    const outbox = path.join(root, 'outbox');
    await runCli(['init', '--outbox', outbox, '--config-out', path.join(root, 'c.yaml')]);
    chmodSync(outbox, 0o777);
    const d = new Daemon(['watch', '--outbox', outbox, '--bucket', path.join(root, 'bucket'), '--state-dir', path.join(root, 'state'), '--agent-id', 'agent-01']);
    await d.waitForLog((l) => /world-writable/.test(l.msg));
    expect(await d.stop()).toBe(0);
  });
});
