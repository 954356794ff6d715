/**
 * A training run written into the outbox the way the common stacks write it: each checkpoint
 * sub-folder of a run folder is its own artifact, published only once complete.
 */
import { appendFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HubEmulator } from '../hub-emulator/index.js';
import { Daemon, cleanEnv, runCli } from '../helpers/cli.js';
import { hubWorkspace } from '../helpers/hub.js';
import { outboxIn, sha256, tmpDir, treeHashes, writeTree } from '../helpers/tmp.js';
import { seededBytes as bytes } from '../helpers/trainer-writer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Writes checkpoint folders the way transformers' Trainer does: the model (config.json, weights,
 * training_args.bin), a pause while the optimizer state is gathered, optimizer.pt / scheduler.pt /
 * rng_state.pth, trainer_state.json last; then older checkpoints rotated away (save_total_limit).
 */
class TrainerWriter {
  /** What each checkpoint holds, by name: file → bytes. */
  readonly written = new Map<string, Map<string, Buffer>>();
  /** How many files each checkpoint has once whole (known before it is written). */
  readonly fileCount = new Map<string, number>();
  /** When trainer_state.json of each checkpoint was written (ms since epoch). */
  readonly finishedAt = new Map<string, number>();

  readonly runDir: string;
  readonly pauseMs: number;

  constructor(runDir: string, pauseMs: number) {
    this.runDir = runDir;
    this.pauseMs = pauseMs;
  }

  async save(step: number, options: { staging?: boolean; shards?: number; modelBytes?: number } = {}): Promise<void> {
    const name = `checkpoint-${step}`;
    const dir = path.join(this.runDir, options.staging ? `tmp-${name}` : name);
    await mkdir(dir, { recursive: true });
    const files = new Map<string, Buffer>();
    this.written.set(name, files);
    this.fileCount.set(name, 6 + (options.shards ? options.shards + 1 : 1));
    const put = async (file: string, content: Buffer) => {
      files.set(file, content);
      // Written in two steps, as a large torch.save is: the size changes while it is written.
      const half = Math.floor(content.length / 2);
      await writeFile(path.join(dir, file), content.subarray(0, half));
      await sleep(20);
      await appendFile(path.join(dir, file), content.subarray(half));
    };
    await put('config.json', Buffer.from(JSON.stringify({ model_type: 'llama', step })));
    if (options.shards) {
      const weightMap: Record<string, string> = {};
      for (let i = 1; i <= options.shards; i++) {
        const shard = `model-${String(i).padStart(5, '0')}-of-${String(options.shards).padStart(5, '0')}.safetensors`;
        await put(shard, bytes(200_000, `${step}/${shard}`));
        weightMap[`layers.${i}.weight`] = shard;
        if (i === 1) await sleep(this.pauseMs / 2); // a pause between shards too
      }
      await put('model.safetensors.index.json', Buffer.from(JSON.stringify({ metadata: { total_size: 600_000 }, weight_map: weightMap })));
    } else {
      await put('model.safetensors', bytes(options.modelBytes ?? 300_000, `${step}/model`));
    }
    await put('training_args.bin', bytes(5_000, 'args'));
    await sleep(this.pauseMs); // gathering the optimizer state across ranks
    await put('optimizer.pt', bytes(400_000, `${step}/optimizer`));
    await put('scheduler.pt', bytes(1_000, `${step}/scheduler`));
    await put('rng_state.pth', bytes(14_000, `${step}/rng`));
    await put('trainer_state.json', Buffer.from(JSON.stringify({ global_step: step, log_history: [{ loss: 1 / step, step }] })));
    if (options.staging) await rename(dir, path.join(this.runDir, name));
    this.finishedAt.set(name, Date.now());
  }

  /** save_total_limit: the oldest checkpoints beyond the limit are deleted locally. */
  async rotate(keep: number): Promise<string[]> {
    const names = [...this.written.keys()].sort((a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1]));
    const gone = names.slice(0, Math.max(0, names.length - keep));
    for (const name of gone) await rm(path.join(this.runDir, name), { recursive: true, force: true });
    return gone;
  }
}

/**
 * Polls the bucket listing every few milliseconds; records every partial checkpoint it ever sees and
 * when each became whole. The Hub applies a batch's files in order, not as one transaction
 * (docs/hub-bucket-api.md H8), so while the one batch that registers a checkpoint runs, a listing
 * may show part of it: that is allowed, but never its completion file without the rest, and never
 * a part outside a batch request (a checkpoint spread over several registrations).
 */
class BucketWatcher {
  readonly partial = new Set<string>();
  readonly staging = new Set<string>();
  readonly completeAt = new Map<string, number>();
  /** Partial listings seen while a batch request was being applied (allowed; counted for the log). */
  midBatch = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(
    emu: HubEmulator,
    bucket: string,
    prefix: string,
    expected: (checkpoint: string) => number | undefined,
  ) {
    this.#timer = setInterval(() => {
      const counts = new Map<string, number>();
      const completion = new Set<string>();
      for (const p of emu.listPaths(bucket)) {
        if (!p.startsWith(prefix)) continue;
        const [folder, file] = p.slice(prefix.length).split('/') as [string, string | undefined];
        if (folder.startsWith('tmp-')) this.staging.add(p);
        if (file === 'trainer_state.json') completion.add(folder);
        counts.set(folder, (counts.get(folder) ?? 0) + 1);
      }
      const batchRunning = emu.counters().requestLog.some((e) => e.endpoint === 'batch' && e.status === 0);
      for (const [folder, n] of counts) {
        const want = expected(folder);
        if (want !== undefined && n >= want) {
          if (!this.completeAt.has(folder)) this.completeAt.set(folder, Date.now());
        } else if (want !== undefined && batchRunning && !completion.has(folder)) this.midBatch++;
        else this.partial.add(`${folder}: ${n} of ${want ?? '?'} files listed${completion.has(folder) ? ', trainer_state.json among them' : ''}`);
      }
    }, 5);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

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

describe('hf-outbox watch publishes a Trainer run to an hf:// bucket', () => {
  it('registers every checkpoint whole in one batch, its trainer_state.json last — across a pause before the optimizer, a staging folder, sharded weights and rotation — byte-exact', async () => {
    const t = await hubWorkspace();
    const runDir = path.join(t.outbox, 'checkpoints', 'run1');
    const writer = new TrainerWriter(runDir, 3_000);
    const prefix = 'artifacts/checkpoints/run1_agent-01/';
    const seen = new BucketWatcher(t.emu, 'team/shared', prefix, (folder) => writer.fileCount.get(folder));
    // settle-ms 300 is a tenth of the writer's pause; unit-settle-ms keeps a folder of unknown layout back as long.
    const d = new Daemon(['watch', ...t.args(['--settle-ms', '300', '--unit-settle-ms', '20000'])], { env: cleanEnv() });
    try {
      await d.waitForLog((l) => /^watching the outbox/.test(l.msg));
      await writer.save(100, { staging: true }); // transformers 4.36–4.37: tmp-checkpoint-100, renamed when done
      await writer.save(200, { modelBytes: 17 * 1024 * 1024 }); // a weights file large enough for a call of its own, before
      await writer.save(300, { shards: 3 });
      expect(await writer.rotate(2)).toEqual(['checkpoint-100']);
      await writer.save(400);
      const deadline = Date.now() + 60_000;
      while (seen.completeAt.size < 4 && Date.now() < deadline) await sleep(50);
    } finally {
      seen.stop();
    }
    expect([...seen.partial]).toEqual([]);
    expect([...seen.staging]).toEqual([]);
    expect([...seen.completeAt.keys()].sort()).toEqual(['checkpoint-100', 'checkpoint-200', 'checkpoint-300', 'checkpoint-400']);
    // Byte-exact, the rotated-away checkpoint-100 included (the bucket keeps it).
    const listed = t.emu.listPaths('team/shared').filter((p) => p.startsWith(prefix));
    const expected: string[] = [];
    for (const [name, files] of writer.written) {
      for (const [file, content] of files) {
        const bucketPath = `${prefix}${name}/${file}`;
        expected.push(bucketPath);
        expect(sha256(t.emu.readFile('team/shared', bucketPath) ?? Buffer.alloc(0)), bucketPath).toBe(sha256(content));
      }
    }
    expect(listed.sort()).toEqual(expected.sort());
    const latencies = [...seen.completeAt].map(([name, at]) => at - (writer.finishedAt.get(name) as number));
    console.log(`trainer_state.json written → checkpoint listed whole (ms): ${latencies.join(', ')}; partial listings while a batch was applied: ${seen.midBatch}`);
    for (const ms of latencies) expect(ms).toBeGreaterThanOrEqual(300);
    await d.stop();
  }, 120_000);
});

describe('hf-outbox sync on a run folder with a local-folder bucket', () => {
  it('sends the complete checkpoints, holds back one a crashed run left half written (naming what it waits for), and a COMPLETE file releases it', async () => {
    const t = setup();
    const whole = {
      'checkpoints/run1/checkpoint-100/config.json': '{}',
      'checkpoints/run1/checkpoint-100/model.safetensors': 'weights-100',
      'checkpoints/run1/checkpoint-100/training_args.bin': 'args',
      'checkpoints/run1/checkpoint-100/optimizer.pt': 'opt-100',
      'checkpoints/run1/checkpoint-100/trainer_state.json': '{"global_step":100}',
    };
    const half = {
      'checkpoints/run1/checkpoint-200/config.json': '{}',
      'checkpoints/run1/checkpoint-200/model.safetensors': 'weights-200',
      'checkpoints/run1/checkpoint-200/training_args.bin': 'args',
    };
    await writeTree(t.outbox, { ...whole, ...half });
    const args = [...t.args, '--settle-ms', '0', '--unit-settle-ms', '0', '--settle-timeout-ms', '1500'];
    const first = await runCli(['sync', ...args], { env: cleanEnv() });
    expect(first.code).toBe(1);
    expect(first.logs.find((l) => l['unit'] === 'checkpoints/run1/checkpoint-200')).toMatchObject({ waitingFor: expect.stringMatching(/trainer_state\.json/) });
    const bucketFiles = Object.keys(treeHashes(t.bucket)).filter((p) => p.includes('run1_agent-01'));
    expect(bucketFiles.sort()).toEqual(Object.keys(whole).map((p) => p.replace('checkpoints/run1/', 'artifacts/checkpoints/run1_agent-01/')).sort());
    // The user decides the leftover is worth publishing as it is.
    await writeTree(t.outbox, { 'checkpoints/run1/checkpoint-200/COMPLETE': '' });
    const second = await runCli(['sync', ...args], { env: cleanEnv() });
    expect(second.code).toBe(0);
    const hashes = treeHashes(t.bucket);
    for (const [local, content] of Object.entries({ ...whole, ...half })) {
      expect(hashes[local.replace('checkpoints/run1/', 'artifacts/checkpoints/run1_agent-01/')], local).toBe(sha256(content));
    }
    expect(Object.keys(hashes).some((p) => p.includes('.hf-outbox-tmp-'))).toBe(false);
  }, 60_000);
});
