import { describe, expect, it } from 'vitest';
import { compileRules, isOtherUnitFolder, mapPath, splitExtension, withAgentId } from '../../src/pipeline/naming.js';

const rules = compileRules({ agentId: 'agent-01', unitCategories: ['checkpoints'], ignore: ['**/wandb/**', '*.lock'] });

describe('mapPath maps outbox paths to the agent-id bucket names of the conventions', () => {
  it.each([
    ['scripts/train_lora.py', 'artifacts/scripts/train_lora_agent-01.py'],
    ['results/eval_baseline.json', 'artifacts/results/eval_baseline_agent-01.json'],
    ['results/gsm8k/eval.json', 'artifacts/results/gsm8k/eval_agent-01.json'],
    ['data/shards.tar.gz', 'artifacts/data/shards_agent-01.tar.gz'],
    ['data/train.jsonl.gz', 'artifacts/data/train_agent-01.jsonl.gz'],
    ['data/blob.tar.zst', 'artifacts/data/blob_agent-01.tar.zst'],
    [
      'checkpoints/lora_r16_ep3/adapter_model.safetensors',
      'artifacts/checkpoints/lora_r16_ep3_agent-01/adapter_model.safetensors',
    ],
    ['checkpoints/lora_r16_ep3/sub/dir/x.bin', 'artifacts/checkpoints/lora_r16_ep3_agent-01/sub/dir/x.bin'],
    ['checkpoints/run_agent-01/x.bin', 'artifacts/checkpoints/run_agent-01/x.bin'],
    ['checkpoints/merged.gguf', 'artifacts/checkpoints/merged_agent-01.gguf'],
    ['scripts/Makefile', 'artifacts/scripts/Makefile_agent-01'],
    ['scripts/train_lora_agent-01.py', 'artifacts/scripts/train_lora_agent-01.py'],
    ['scripts/v1.2.release.py', 'artifacts/scripts/v1.2.release_agent-01.py'],
    ['notes.txt', 'artifacts/notes_agent-01.txt'],
    ['prompts/unicodé ✓ 日本.txt', 'artifacts/prompts/unicodé ✓ 日本_agent-01.txt'],
  ])('%s → %s', (local, bucket) => {
    const m = mapPath(local, rules);
    expect(m).toMatchObject({ kind: 'file', bucketPath: bucket });
  });

  it.each([
    'scripts/.env',
    'x.tmp',
    'x.part',
    'x.partial',
    'x.swp',
    'x~',
    '.DS_Store',
    'checkpoints/ckpt/.git/config',
    'checkpoints/.staging/model.bin',
    'results/.hf-outbox-upload-1',
    'runs/wandb/run-1/log.txt',
    'data/foo.lock',
  ])('ignores %s', (local) => {
    expect(mapPath(local, rules).kind).toBe('ignored');
  });

  it('treats a directory under a unit category as one artifact named with the agent id', () => {
    expect(mapPath('checkpoints/lora_r16_ep3/adapter_model.safetensors', rules)).toEqual({
      kind: 'file',
      unitPath: 'checkpoints/lora_r16_ep3',
      unitKind: 'directory',
      unitBucketPath: 'artifacts/checkpoints/lora_r16_ep3_agent-01',
      bucketPath: 'artifacts/checkpoints/lora_r16_ep3_agent-01/adapter_model.safetensors',
    });
  });

  it('publishes each checkpoint sub-folder of a run folder as an artifact of its own', () => {
    expect(mapPath('checkpoints/run1/checkpoint-100/model.safetensors', rules)).toEqual({
      kind: 'file',
      unitPath: 'checkpoints/run1/checkpoint-100',
      unitKind: 'directory',
      unitBucketPath: 'artifacts/checkpoints/run1_agent-01/checkpoint-100',
      bucketPath: 'artifacts/checkpoints/run1_agent-01/checkpoint-100/model.safetensors',
    });
    for (const step of ['step_500', 'global_step500', 'epoch_2', 'checkpoint_3', 'iter-7', '1200']) {
      expect(mapPath(`checkpoints/run1/${step}/a/b.pt`, rules)).toMatchObject({
        unitPath: `checkpoints/run1/${step}`,
        bucketPath: `artifacts/checkpoints/run1_agent-01/${step}/a/b.pt`,
      });
    }
  });

  it("keeps a run folder's own files (logs, README, runs/) as the run folder's artifact", () => {
    for (const local of ['checkpoints/run1/README.md', 'checkpoints/run1/runs/events.out', 'checkpoints/run1/best/model.safetensors']) {
      expect(mapPath(local, rules)).toMatchObject({ unitPath: 'checkpoints/run1', unitBucketPath: 'artifacts/checkpoints/run1_agent-01' });
    }
    expect(isOtherUnitFolder('checkpoints/run1/checkpoint-100', 'checkpoints/run1', rules)).toBe(true);
    expect(isOtherUnitFolder('checkpoints/run1/runs', 'checkpoints/run1', rules)).toBe(false);
  });

  it('keeps a step-named folder directly under the category whole, its sub-folders included', () => {
    expect(mapPath('checkpoints/checkpoint-100/global_step100/mp_rank_00_model_states.pt', rules)).toMatchObject({
      unitPath: 'checkpoints/checkpoint-100',
      bucketPath: 'artifacts/checkpoints/checkpoint-100_agent-01/global_step100/mp_rank_00_model_states.pt',
    });
  });

  it.each(['checkpoints/run1/tmp-checkpoint-400/model.safetensors', 'checkpoints/run1/100.orbax-checkpoint-tmp-1700000000/x', 'checkpoints/ckpt.tmp/x.pt'])(
    'never publishes the staging folder %s',
    (local) => {
      expect(mapPath(local, rules)).toMatchObject({ kind: 'ignored', reason: expect.stringMatching(/staging|temporary/) });
    },
  );

  it('reads X.note.md as an announcement of X, never as an artifact', () => {
    expect(mapPath('scripts/train_lora.note.md', rules)).toEqual({ kind: 'note', announces: 'scripts/train_lora' });
  });

  it.each(['data/what?.csv', 'data/a#b.csv', 'data/100%.csv', 'data/line\nbreak.txt'])(
    'rejects %j with a reason that says to rename it',
    (local) => {
      const m = mapPath(local, rules);
      expect(m.kind).toBe('rejected');
      expect(m.kind === 'rejected' && m.reason).toMatch(/rename the file/);
    },
  );

  it('rejects a name that would pass 255 bytes once the agent id is added', () => {
    const m = mapPath(`data/${'a'.repeat(250)}.csv`, rules);
    expect(m.kind).toBe('rejected');
  });

  it('honours a configured unit category', () => {
    const r = compileRules({ agentId: 'agent-07', unitCategories: ['checkpoints', 'models'], ignore: [] });
    expect(mapPath('models/m1/config.json', r)).toMatchObject({
      unitPath: 'models/m1',
      bucketPath: 'artifacts/models/m1_agent-07/config.json',
    });
  });
});

describe('splitExtension keeps compound extensions together', () => {
  it.each([
    ['shards.tar.gz', 'shards', '.tar.gz'],
    ['a.jsonl.zst', 'a', '.jsonl.zst'],
    ['Makefile', 'Makefile', ''],
    ['.bashrc', '.bashrc', ''],
    ['log.2024.gz', 'log.2024', '.gz'],
    ['model.safetensors', 'model', '.safetensors'],
  ])('%s → %s + %s', (name, stem, ext) => {
    expect(splitExtension(name)).toEqual([stem, ext]);
  });

  it('does not add the suffix twice', () => {
    expect(withAgentId(withAgentId('x.tar.gz', 'a-1'), 'a-1')).toBe('x_a-1.tar.gz');
  });
});
