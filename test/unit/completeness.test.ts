import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/adapters/system-clock.js';
import type { SettledUnit } from '../../src/core/types.js';
import { judgeCompleteness, judgeUnitOnDisk, uploadOrder, type UnitLayout } from '../../src/pipeline/completeness.js';
import { createSettler, type UnitSnapshot } from '../../src/pipeline/settle.js';
import { logSink } from '../fakes/log-sink.js';
import { MemoryFs } from '../fakes/memory-fs.js';

const judge = (name: string, files: string[], texts: Record<string, string> = {}, runLatest?: string) =>
  judgeCompleteness({ name, files, texts: new Map(Object.entries(texts)), ...(runLatest === undefined ? {} : { runLatest }) } satisfies UnitLayout);

const index = (...shards: string[]) => JSON.stringify({ metadata: { total_size: 1 }, weight_map: Object.fromEntries(shards.map((s, i) => [`layer.${i}`, s])) });

describe('checkpoint completeness rules', () => {
  it('holds a Trainer checkpoint until trainer_state.json, which the Trainer writes last', () => {
    const written = ['config.json', 'model.safetensors', 'training_args.bin', 'optimizer.pt', 'scheduler.pt', 'rng_state.pth'];
    for (let n = 3; n <= written.length; n++) {
      expect(judge('checkpoint-100', written.slice(0, n))).toMatchObject({ state: 'incomplete', waitingFor: expect.stringMatching(/trainer_state\.json/) });
    }
    expect(judge('checkpoint-100', [...written, 'trainer_state.json'])).toMatchObject({ state: 'complete' });
    // save_only_model: no optimizer, still trainer_state.json last.
    expect(judge('checkpoint-100', ['config.json', 'model.safetensors', 'training_args.bin'])).toMatchObject({ state: 'incomplete' });
  });

  it('does not call a half-written checkpoint-N complete because its adapter or shards are there', () => {
    // Before training_args.bin the Trainer's folder looks like a plain PEFT adapter: only the quiet period may release it.
    expect(judge('checkpoint-100', ['README.md', 'adapter_model.safetensors', 'adapter_config.json'])).toEqual({ state: 'unknown' });
    expect(judge('checkpoint-100', ['adapter_model.safetensors', 'adapter_config.json', 'training_args.bin', 'optimizer.pt'])).toMatchObject({ state: 'incomplete' });
  });

  it('holds sharded weights until every shard the index names is there, and an unreadable index too', () => {
    const shards = ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors'];
    const texts = { 'model.safetensors.index.json': index(...shards) };
    expect(judge('merged', ['config.json', shards[0] as string, 'model.safetensors.index.json'], texts)).toMatchObject({
      state: 'incomplete',
      waitingFor: expect.stringMatching(/2 of the 3 shards/),
    });
    expect(judge('merged', ['config.json', ...shards, 'model.safetensors.index.json'], texts)).toMatchObject({ state: 'complete', rule: expect.stringMatching(/shard/) });
    expect(judge('merged', ['model.safetensors.index.json', ...shards], { 'model.safetensors.index.json': '{"weight_map": {"a": "model-00001' })).toMatchObject({ state: 'incomplete' });
    // Even with trainer_state.json, a missing shard keeps it back; shards in a sub-folder are found beside their index.
    expect(judge('checkpoint-5', ['training_args.bin', 'trainer_state.json', 'model.safetensors.index.json'], { 'model.safetensors.index.json': index('s1.safetensors') })).toMatchObject({ state: 'incomplete' });
    expect(judge('m', ['sub/model.safetensors.index.json', 'sub/s1.safetensors'], { 'sub/model.safetensors.index.json': index('s1.safetensors') })).toMatchObject({ state: 'complete' });
  });

  it('treats an index naming paths outside its folder as unreadable (hostile input)', () => {
    expect(judge('m', ['model.safetensors.index.json'], { 'model.safetensors.index.json': index('../../etc/passwd') })).toMatchObject({ state: 'incomplete' });
  });

  it('takes a PEFT adapter as complete with both adapter_config.json and adapter_model.*', () => {
    expect(judge('lora_r16', ['README.md', 'adapter_model.safetensors'])).toMatchObject({ state: 'incomplete', waitingFor: 'adapter_config.json' });
    expect(judge('lora_r16', ['README.md', 'adapter_model.safetensors', 'adapter_config.json'])).toMatchObject({ state: 'complete', rule: 'PEFT adapter' });
    expect(judge('lora_r16', ['adapter_config.json', 'adapter_model.bin'])).toMatchObject({ state: 'complete' });
  });

  it('takes an explicit marker as complete, whatever else is there', () => {
    for (const marker of ['_SUCCESS', 'COMPLETE', '.complete', 'commit_success.txt']) {
      expect(judge('run-x', ['weights.npz', marker])).toMatchObject({ state: 'complete', rule: `marker ${marker}` });
    }
  });

  it('holds a DeepSpeed tag folder until the run folder latest names it or a later step', () => {
    const files = ['mp_rank_00_model_states.pt', 'zero_pp_rank_0_mp_rank_00_optim_states.pt'];
    expect(judge('global_step200', files)).toMatchObject({ state: 'incomplete', waitingFor: expect.stringMatching(/latest/) });
    expect(judge('global_step200', files, {}, 'global_step100\n')).toMatchObject({ state: 'incomplete' });
    expect(judge('global_step200', files, {}, 'global_step200')).toMatchObject({ state: 'complete' });
    expect(judge('global_step200', files, {}, 'global_step300')).toMatchObject({ state: 'complete' });
  });

  it('leaves a folder of no known layout to the quiet period', () => {
    expect(judge('step_500', ['model.pt'])).toEqual({ state: 'unknown' });
    expect(judge('checkpoint-100', ['config.json', 'model.safetensors'])).toEqual({ state: 'unknown' });
  });

  it('orders a folder for upload: largest first, the completion files last', () => {
    const files = [
      { localPath: 'c/trainer_state.json', sizeBytes: 10 },
      { localPath: 'c/model.safetensors', sizeBytes: 1000 },
      { localPath: 'c/COMPLETE', sizeBytes: 0 },
      { localPath: 'c/model.safetensors.index.json', sizeBytes: 50 },
      { localPath: 'c/optimizer.pt', sizeBytes: 2000 },
      { localPath: 'c/config.json', sizeBytes: 5 },
    ];
    expect(uploadOrder(files).map((f) => f.localPath)).toEqual([
      'c/optimizer.pt',
      'c/model.safetensors',
      'c/config.json',
      'c/model.safetensors.index.json',
      'c/trainer_state.json',
      'c/COMPLETE',
    ]);
  });

  it('reads the index, the hidden marker and the run folder latest from disk', async () => {
    const fs = new MemoryFs();
    const root = '/outbox';
    fs.write(`${root}/checkpoints/run1/latest`, 'global_step7');
    fs.write(`${root}/checkpoints/run1/global_step7/mp_rank_00_model_states.pt`, 'x');
    const files = async (unit: string, names: string[]) =>
      Promise.all(
        names.map(async (n) => {
          const s = await fs.stat(`${root}/${unit}/${n}`);
          return { localPath: `${unit}/${n}`, bucketPath: `b/${n}`, sizeBytes: s?.sizeBytes ?? 0, mtimeMs: s?.mtimeMs ?? 0, ino: s?.ino ?? 0 };
        }),
      );
    expect(await judgeUnitOnDisk(fs, root, 'checkpoints/run1/global_step7', await files('checkpoints/run1/global_step7', ['mp_rank_00_model_states.pt']))).toMatchObject({ state: 'complete' });
    fs.write(`${root}/checkpoints/m/model.safetensors.index.json`, index('a.safetensors', 'b.safetensors'));
    fs.write(`${root}/checkpoints/m/a.safetensors`, 'a');
    const m = await files('checkpoints/m', ['model.safetensors.index.json', 'a.safetensors']);
    expect(await judgeUnitOnDisk(fs, root, 'checkpoints/m', m)).toMatchObject({ state: 'incomplete', waitingFor: expect.stringMatching(/b\.safetensors/) });
    fs.write(`${root}/checkpoints/x/w.bin`, 'w');
    expect(await judgeUnitOnDisk(fs, root, 'checkpoints/x', await files('checkpoints/x', ['w.bin']))).toEqual({ state: 'unknown' });
    fs.write(`${root}/checkpoints/x/.complete`, '');
    expect(await judgeUnitOnDisk(fs, root, 'checkpoints/x', await files('checkpoints/x', ['w.bin']))).toMatchObject({ state: 'complete' });
  });
});

describe('settle stage on checkpoint folders', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A settler over folders under /outbox/checkpoints, judged with the real rules. */
  function harness(settleMs: number, unitSettleMs: number, settleTimeoutMs = 600_000) {
    const fs = new MemoryFs();
    const settled: SettledUnit[] = [];
    const unsettled: Array<{ unit: string; waitingFor: string | undefined }> = [];
    const { logger, lines } = logSink();
    const settler = createSettler({
      clock: systemClock,
      logger,
      timing: () => ({ settleMs, unitSettleMs, settleTimeoutMs }),
      async snapshot(unitPath): Promise<UnitSnapshot | undefined> {
        const names = fs.namesUnder(`/outbox/${unitPath}/`);
        if (names.length === 0) return undefined;
        const files = await Promise.all(
          names.map(async (n) => {
            const s = await fs.stat(`/outbox/${unitPath}/${n}`);
            return { localPath: `${unitPath}/${n}`, bucketPath: `artifacts/${unitPath}/${n}`, sizeBytes: s?.sizeBytes ?? 0, mtimeMs: s?.mtimeMs ?? 0, ino: s?.ino ?? 0 };
          }),
        );
        return { unitKind: 'directory', unitBucketPath: `artifacts/${unitPath}`, files, completeness: await judgeUnitOnDisk(fs, '/outbox', unitPath, files) };
      },
      onSettled: (u) => settled.push(u),
      onUnsettled: (unit, _ms, waitingFor) => unsettled.push({ unit, waitingFor }),
      onError: (_u, e) => {
        throw e;
      },
    });
    const write = (rel: string, content = 'x') => {
      fs.write(`/outbox/${rel}`, content);
      settler.touch(rel.split('/').slice(0, 3).join('/'), { changed: true });
    };
    return { fs, settler, settled, unsettled, write, lines };
  }

  it('never releases a Trainer checkpoint whose writer pauses before the optimizer, however long', async () => {
    const h = harness(300, 1_000);
    h.write('checkpoints/run1/checkpoint-100/config.json');
    h.write('checkpoints/run1/checkpoint-100/model.safetensors');
    h.write('checkpoints/run1/checkpoint-100/training_args.bin');
    await vi.advanceTimersByTimeAsync(120_000); // gathering optimizer state across ranks
    expect(h.settled).toHaveLength(0);
    h.write('checkpoints/run1/checkpoint-100/optimizer.pt');
    h.write('checkpoints/run1/checkpoint-100/scheduler.pt');
    h.write('checkpoints/run1/checkpoint-100/rng_state.pth');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(h.settled).toHaveLength(0);
    h.write('checkpoints/run1/checkpoint-100/trainer_state.json');
    await vi.advanceTimersByTimeAsync(299);
    expect(h.settled).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(300); // settle-ms after the last file, plus the recheck
    expect(h.settled.map((u) => u.files.length)).toEqual([7]);
  });

  it('waits unit-settle-ms of quiet, not settle-ms, for a folder of no known layout', async () => {
    const h = harness(300, 10_000);
    h.write('checkpoints/run1/step_5/model.pt');
    await vi.advanceTimersByTimeAsync(5_000);
    h.write('checkpoints/run1/step_5/opt.pt');
    await vi.advanceTimersByTimeAsync(9_900);
    expect(h.settled).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(h.settled.map((u) => u.files.length)).toEqual([2]);
  });

  it('warns that an incomplete folder is not sent until it is complete, naming what it waits for and COMPLETE', async () => {
    const h = harness(300, 1_000, 20_000);
    h.write('checkpoints/run1/checkpoint-7/training_args.bin');
    await vi.advanceTimersByTimeAsync(25_000);
    expect(h.lines.filter((l) => l.level === 40)).toEqual([
      expect.objectContaining({
        unit: 'checkpoints/run1/checkpoint-7',
        waitingFor: expect.stringMatching(/trainer_state\.json/),
        msg: expect.stringMatching(/^incomplete \(.*trainer_state\.json.*\); it is not sent until it is complete \(a file named COMPLETE in the folder publishes it as it is\)$/),
      }),
    ]);
  });

  it('reports an incomplete folder after the timeout with what it waits for, at once when it is an old leftover', async () => {
    const h = harness(300, 1_000, 20_000);
    h.write('checkpoints/run1/checkpoint-7/training_args.bin');
    await vi.advanceTimersByTimeAsync(19_000);
    expect(h.unsettled).toEqual([]);
    await vi.advanceTimersByTimeAsync(6_000);
    expect(h.unsettled).toEqual([{ unit: 'checkpoints/run1/checkpoint-7', waitingFor: expect.stringMatching(/trainer_state\.json/) }]);
    expect(h.settled).toHaveLength(0);
    // A crashed run's leftover, found by a later scan: reported at its first look.
    h.fs.write('/outbox/checkpoints/run2/checkpoint-1/optimizer.pt', 'x');
    await vi.advanceTimersByTimeAsync(60_000);
    h.settler.touch('checkpoints/run2/checkpoint-1', { changed: false });
    await vi.advanceTimersByTimeAsync(10);
    expect(h.unsettled.map((u) => u.unit)).toContain('checkpoints/run2/checkpoint-1');
  });
});
