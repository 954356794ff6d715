/**
 * A training run written into the outbox the way the common stacks write it: each checkpoint
 * sub-folder of a run folder is its own artifact, published only once complete.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { outboxIn, tmpDir, writeTree } from '../helpers/tmp.js';

function setup() {
  const root = tmpDir();
  const outbox = outboxIn(root);
  const bucket = path.join(root, 'bucket');
  const state = path.join(root, 'state');
  return { root, outbox, bucket, state, args: ['--outbox', outbox, '--bucket', bucket, '--state-dir', state, '--agent-id', 'agent-01'] };
}

interface PlanJson {
  action: string;
  local: string;
  remote?: string;
  artifact?: string;
  reason: string;
}

describe('hf-outbox plan on a run folder', () => {
  it('shows each checkpoint sub-folder as its own artifact, the run folder keeping its other files, and skips the staging folder', async () => {
    const t = setup();
    await writeTree(t.outbox, {
      'checkpoints/run1/checkpoint-100/config.json': '{}',
      'checkpoints/run1/checkpoint-100/trainer_state.json': '{}',
      'checkpoints/run1/checkpoint-200/model.safetensors': 'w',
      'checkpoints/run1/tmp-checkpoint-300/model.safetensors': 'w',
      'checkpoints/run1/README.md': '# run 1',
    });
    const r = await runCli(['plan', ...t.args, '--json']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as PlanJson);
    const by = (local: string) => lines.find((l) => l.local === local);
    expect(by('checkpoints/run1/checkpoint-100/trainer_state.json')).toMatchObject({
      remote: 'artifacts/checkpoints/run1_agent-01/checkpoint-100/trainer_state.json',
      artifact: 'checkpoints/run1/checkpoint-100/',
    });
    expect(by('checkpoints/run1/checkpoint-200/model.safetensors')).toMatchObject({ artifact: 'checkpoints/run1/checkpoint-200/' });
    expect(by('checkpoints/run1/README.md')).toMatchObject({ remote: 'artifacts/checkpoints/run1_agent-01/README.md', artifact: 'checkpoints/run1/' });
    expect(by('checkpoints/run1/tmp-checkpoint-300/')).toMatchObject({ action: 'ignored', reason: expect.stringMatching(/staging folder/) });
    expect(lines.some((l) => l.local.startsWith('checkpoints/run1/tmp-checkpoint-300/model'))).toBe(false);
    const human = await runCli(['plan', ...t.args]);
    expect(human.stdout).toMatch(/checkpoint-100\/config\.json → \S+ \(2 bytes\) +\[new; artifact checkpoints\/run1\/checkpoint-100\/\]/);
  });
});
