import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { BucketTarget } from '../../src/config/parse.js';
import { checkpointsInListing, renderCheckpointPost, type CheckpointPostInput } from '../../src/conventions/checkpoint-post.js';
import { parseMessage } from '../../src/conventions/message.js';
import { parseTrainerState, type TrainerStateSummary } from '../../src/conventions/trainer-state.js';
import { REAL_TRAINER_STATE } from '../fixtures/trainer-state.js';

const HF: BucketTarget = { kind: 'hf', owner: 'team', name: 'shared', id: 'team/shared', uri: 'hf://buckets/team/shared' };
const LOCAL: BucketTarget = { kind: 'local', root: '/srv/bucket', uri: 'file:///srv/bucket' };
const AT = new Date('2026-12-01T22:30:05.120Z');
const RUN = 'artifacts/checkpoints/run1_agent-01';

const listing = [
  { path: `${RUN}/checkpoint-100/model.safetensors`, sizeBytes: 1000 },
  { path: `${RUN}/checkpoint-100/trainer_state.json`, sizeBytes: 24 },
  { path: `${RUN}/checkpoint-300/model.safetensors`, sizeBytes: 3000 },
  { path: `${RUN}/checkpoint-300/optimizer.pt`, sizeBytes: 6000 },
  { path: `${RUN}/checkpoint-300/trainer_state.json`, sizeBytes: 30 },
  { path: `${RUN}/checkpoint-200/model.safetensors`, sizeBytes: 2000 },
  { path: `${RUN}/config.json`, sizeBytes: 7 },
  { path: `${RUN}/runs/events.out.tfevents`, sizeBytes: 9 },
  { path: `${RUN}/tmp-checkpoint-400/model.safetensors`, sizeBytes: 9 },
  { path: 'artifacts/checkpoints/run10_agent-01/checkpoint-5/x', sizeBytes: 9 },
];

/** The metrics of the shared trainer_state.json fixture, as the reader gives them. */
const METRICS: TrainerStateSummary = (() => {
  const parsed = parseTrainerState(new TextEncoder().encode(REAL_TRAINER_STATE));
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.summary;
})();

function input(overrides: Partial<CheckpointPostInput> = {}): CheckpointPostInput {
  const runCheckpoints = checkpointsInListing(RUN, listing);
  return {
    agentId: 'agent-01',
    timestamp: AT,
    bucket: HF,
    runLocalPath: 'checkpoints/run1',
    runBucketPath: RUN,
    checkpoint: runCheckpoints.find((c) => c.name === 'checkpoint-300')!,
    metrics: METRICS,
    runCheckpoints,
    ...overrides,
  };
}

function frontMatterOf(text: string): Record<string, unknown> {
  const m = /^---\n([\s\S]*?)\n---\n/.exec(text);
  if (!m) throw new Error('no front matter');
  return parseYaml(m[1] as string) as Record<string, unknown>;
}

describe('checkpointsInListing: the run\'s checkpoints as the bucket holds them', () => {
  it('groups files by checkpoint folder, sums sizes, orders by step; other files and staging folders are not checkpoints', () => {
    expect(checkpointsInListing(`${RUN}/`, listing)).toEqual([
      { name: 'checkpoint-100', step: 100, bucketPath: `${RUN}/checkpoint-100`, sizeBytes: 1024, fileCount: 2 },
      { name: 'checkpoint-200', step: 200, bucketPath: `${RUN}/checkpoint-200`, sizeBytes: 2000, fileCount: 1 },
      { name: 'checkpoint-300', step: 300, bucketPath: `${RUN}/checkpoint-300`, sizeBytes: 9030, fileCount: 3 },
    ]);
  });
});

describe('renderCheckpointPost', () => {
  it('names the checkpoint, its step, its size and file count in the bucket, and the command for it alone', () => {
    const r = renderCheckpointPost(input());
    expect(r.bucketPath).toBe('message_board/20261201T223005Z_run1-checkpoint-300_agent-01.md');
    expect(r.title).toBe('run1: checkpoint-300 (step 300)');
    expect(r.text).toContain('Checkpoint `artifacts/checkpoints/run1_agent-01/checkpoint-300/` of run `checkpoints/run1/`: step 300, 3 files, 8.8 KiB in the bucket.');
    expect(r.text).toContain(
      '```sh\nhf buckets sync hf://buckets/team/shared/artifacts/checkpoints/run1_agent-01/checkpoint-300/ ./checkpoint-300/\n' +
        'hf-outbox pull --bucket hf://buckets/team/shared artifacts/checkpoints/run1_agent-01/checkpoint-300\n```',
    );
  });

  it('front matter: the usual artifact entry (board and readers list it) and a checkpoint block with step, metrics and the run\'s checkpoints', () => {
    const fm = frontMatterOf(renderCheckpointPost(input()).text);
    expect(fm).toEqual({
      agent_id: 'agent-01',
      timestamp: '2026-12-01T22:30:05Z',
      title: 'run1: checkpoint-300 (step 300)',
      tags: [],
      artifacts: [
        { path: `${RUN}/checkpoint-300`, uri: `hf://buckets/team/shared/${RUN}/checkpoint-300/`, kind: 'directory', size_bytes: 9030, file_count: 3 },
      ],
      checkpoint: {
        run: RUN,
        name: 'checkpoint-300',
        step: 300,
        metrics: { global_step: 300, epoch: 0.75, loss: 0.8123, eval_loss: 0.53, eval_accuracy: 0.65, best_metric: 0.5125, best_checkpoint: 'checkpoint-200' },
        run_checkpoints: ['checkpoint-100', 'checkpoint-200', 'checkpoint-300'],
      },
    });
    // The board's reader sees the artifact with its bucket size.
    const read = parseMessage(renderCheckpointPost(input()).text, 'message_board/x_agent-01.md');
    expect(read.artifacts).toEqual([{ path: `${RUN}/checkpoint-300`, uri: `hf://buckets/team/shared/${RUN}/checkpoint-300/`, kind: 'directory', sizeBytes: 9030, fileCount: 3 }]);
  });

  it('shows the trainer_state metrics as a table, with the step each value was logged at', () => {
    const { text } = renderCheckpointPost(input());
    expect(text).toContain(
      [
        '| metric | value |',
        '|---|---|',
        '| epoch | 0.75 |',
        '| loss (step 300) | 0.8123 |',
        '| eval_loss (step 300) | 0.53 |',
        '| eval_accuracy | 0.65 |',
        '| best_metric | 0.5125 |',
        '| best checkpoint | checkpoint-200 |',
      ].join('\n'),
    );
  });

  it('lists every checkpoint of the run in the bucket, this one marked, and the latest', () => {
    const { text } = renderCheckpointPost(input({ checkpoint: input().runCheckpoints[0]! }));
    expect(text).toContain(
      [
        '| checkpoint | step | files | size |',
        '|---|---|---|---|',
        '| **checkpoint-100** (this post) | 100 | 2 | 1 KiB |',
        '| checkpoint-200 | 200 | 1 | 2 KiB |',
        '| checkpoint-300 | 300 | 3 | 8.8 KiB |',
        '',
        'Latest: `artifacts/checkpoints/run1_agent-01/checkpoint-300/` (step 300).',
      ].join('\n'),
    );
  });

  it('quotes the run\'s note as its description and takes its title and tags', () => {
    const r = renderCheckpointPost(input({ runNote: { title: 'Qwen LoRA on GSM8K', tags: ['lora', 'gsm8k'], body: 'Rank 16.\n\nCoT prompts.' } }));
    expect(r.title).toBe('Qwen LoRA on GSM8K: checkpoint-300 (step 300)');
    expect(r.bucketPath).toBe('message_board/20261201T223005Z_run1-checkpoint-300_agent-01.md');
    expect(r.text).toContain('Run description (`checkpoints/run1.note.md`):\n\n> Rank 16.\n>\n> CoT prompts.');
    expect(frontMatterOf(r.text)['tags']).toEqual(['lora', 'gsm8k']);
  });

  it('says what it replaces: the earlier version\'s publication time and its post', () => {
    const r = renderCheckpointPost(
      input({ replaces: { publishedAt: new Date('2026-12-01T21:00:00.900Z'), messagePath: 'message_board/20261201T210001Z_run1-checkpoint-300_agent-01.md' }, leftoverFiles: 1 }),
    );
    expect(r.text).toContain(
      '**This replaces the checkpoint-300 published at 2026-12-01T21:00:00Z** (announced in `message_board/20261201T210001Z_run1-checkpoint-300_agent-01.md`): the bucket now holds the new version.',
    );
    expect(r.text).toContain('1 of them is left from an earlier version (hf-outbox never deletes in the bucket).');
    const fm = frontMatterOf(r.text);
    expect(fm['supersedes']).toBe('message_board/20261201T210001Z_run1-checkpoint-300_agent-01.md');
    expect(fm['checkpoint']).toMatchObject({ replaces: { published_at: '2026-12-01T21:00:00Z', message: 'message_board/20261201T210001Z_run1-checkpoint-300_agent-01.md' } });
  });

  it('without trainer_state.json, or with an unreadable one, says so instead of a table', () => {
    expect(renderCheckpointPost(input({ metrics: undefined })).text).toContain('## Metrics (trainer_state.json)\n\nNo trainer_state.json in this checkpoint.');
    expect(renderCheckpointPost(input({ metrics: undefined, metricsProblem: 'trainer_state.json is not valid JSON' })).text).toContain(
      'Not shown: trainer_state.json is not valid JSON.',
    );
  });

  it('a diverged loss is shown as NaN, and a global_step that differs from the folder name is shown', () => {
    const { text } = renderCheckpointPost(input({ metrics: { ...METRICS, globalStep: 301, loss: { value: Number.NaN, step: 301 } } }));
    expect(text).toContain('| global_step | 301 |');
    expect(text).toContain('| loss (step 301) | NaN |');
  });

  it('a local-folder bucket gets cp and a pull from that folder', () => {
    const { text } = renderCheckpointPost(input({ bucket: LOCAL }));
    expect(text).toContain(
      '```sh\ncp -R /srv/bucket/artifacts/checkpoints/run1_agent-01/checkpoint-300 ./\nhf-outbox pull --bucket /srv/bucket artifacts/checkpoints/run1_agent-01/checkpoint-300\n```',
    );
  });
});
