/** A new user's typos at start: each is an error naming what to do (exit 78), and nothing is created for it. */
import { existsSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { outboxIn, tmpDir, treeHashes, writeTree } from '../helpers/tmp.js';

describe('start-up typos', () => {
  it('a bucket typed hf:/buckets/… (one slash) exits 78 showing the expected form, and creates no folder', async () => {
    const root = tmpDir();
    const outbox = outboxIn(root);
    await writeTree(outbox, { 'scripts/a.py': 'a' });
    const r = await runCli(['sync', '--outbox', outbox, '--bucket', 'hf:/buckets/org/name', '--agent-id', 'agent-01', '--state-dir', path.join(root, 'state')], { cwd: root });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/bucket: got "hf:\/buckets\/org\/name", expected hf:\/\/buckets\/OWNER\/NAME/);
    expect(readdirSync(root).sort()).toEqual(['outbox']);
  });

  it('an explicit --outbox that does not exist exits 78 naming hf-outbox init; nothing is created, not even state', async () => {
    const root = tmpDir();
    const missing = path.join(root, 'outbx');
    for (const command of ['sync', 'watch']) {
      const r = await runCli([command, '--outbox', missing, '--bucket', path.join(root, 'bucket'), '--agent-id', 'agent-01', '--state-dir', path.join(root, 'state')]);
      expect(r.code).toBe(78);
      expect(r.stderr).toContain(`the outbox ${missing} does not exist; check the path, or create it with "hf-outbox init --outbox ${missing}"`);
    }
    expect(readdirSync(root)).toEqual([]);
  });

  it('the default ./outbox of the quick start is still created', async () => {
    const root = tmpDir();
    const r = await runCli(['sync', '--bucket', path.join(root, 'bucket'), '--agent-id', 'agent-01', '--state-dir', path.join(root, 'state')], { cwd: root });
    expect(r.code).toBe(0);
    expect(existsSync(path.join(root, 'outbox', 'scripts'))).toBe(true);
  });

  it('an outbox that is a regular file says so (exit 78)', async () => {
    const root = tmpDir();
    const file = path.join(root, 'outbox.txt');
    await writeFile(file, 'not a folder');
    const r = await runCli(['sync', '--outbox', file, '--bucket', path.join(root, 'bucket'), '--agent-id', 'agent-01', '--state-dir', path.join(root, 'state')]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`the outbox ${file} is a file, not a folder`);
    expect(existsSync(path.join(root, 'state'))).toBe(false);
  });

  it('--auto-announce checkpoint is refused with the nearest category; YAML auto-announce: checkpoints is taken', async () => {
    const root = tmpDir();
    const outbox = outboxIn(root);
    const bucket = path.join(root, 'bucket');
    const base = ['--outbox', outbox, '--bucket', bucket, '--agent-id', 'agent-01', '--state-dir', path.join(root, 'state'), '--settle-ms', '0'];
    const typo = await runCli(['sync', ...base, '--auto-announce', 'checkpoint']);
    expect(typo.code).toBe(78);
    expect(typo.stderr).toMatch(/auto-announce: "checkpoint" is not a category \(did you mean "checkpoints"\?\)/);
    const config = path.join(root, 'hf-outbox.yaml');
    await writeFile(config, 'auto-announce: checkpoints\n');
    await writeTree(outbox, { 'checkpoints/step_1/model.safetensors': 'weights' });
    const r = await runCli(['sync', '--config', config, ...base]);
    expect(r.code).toBe(0);
    // The generated post for the checkpoint is there: the plain string was read as the list it names.
    expect(Object.keys(treeHashes(bucket)).filter((p) => p.startsWith('message_board/'))).toHaveLength(1);
  });
});
