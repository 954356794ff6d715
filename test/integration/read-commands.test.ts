/**
 * The reading commands (board, results, pull) against a bucket another agent (agent-02, and a
 * little of agent-03) has filled: once as a local-folder bucket, once on the Hub emulator.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { renderMessage } from '../../src/conventions/message.js';
import type { BucketTarget } from '../../src/config/parse.js';
import type { BucketClient, RemoteEntry } from '../../src/core/ports.js';
import { runBoard } from '../../src/cli/board.js';
import { loadContext, type CommandContext } from '../../src/cli/context.js';
import { runPull } from '../../src/cli/pull.js';
import { runResults } from '../../src/cli/results.js';
import { createLogger } from '../../src/log.js';
import { startEmulator, writeTokenFile } from '../helpers/hub.js';
import { sha256, tmpDir, treeHashes, writeTree } from '../helpers/tmp.js';

/** A writable that keeps what was written. */
class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** The other agents' files. The checkpoint is random bytes so a mixed-up pull cannot pass. */
function seedFiles(target: BucketTarget): Record<string, Buffer> {
  const ckpt = {
    'artifacts/checkpoints/lora_r16_ep3_agent-02/adapter_model.safetensors': randomBytes(300 * 1024),
    'artifacts/checkpoints/lora_r16_ep3_agent-02/adapter_config.json': Buffer.from('{"r": 16, "lora_alpha": 32}\n'),
    'artifacts/checkpoints/lora_r16_ep3_agent-02/tokenizer/tokenizer.json': randomBytes(5000),
  };
  const ckptSize = Object.values(ckpt).reduce((n, b) => n + b.length, 0);
  const announced = renderMessage({
    agentId: 'agent-02',
    timestamp: new Date('2026-04-24T17:30:00Z'),
    bucket: target,
    note: { title: 'LoRA r16 checkpoint (3 epochs)', tags: ['lora', 'qwen'], body: 'Adapter for Qwen2.5-7B, CoT formatting.' },
    artifacts: [{ bucketPath: 'artifacts/checkpoints/lora_r16_ep3_agent-02', kind: 'directory', sizeBytes: ckptSize, fileCount: 3, localPath: 'checkpoints/lora_r16_ep3' }],
  });
  const update = renderMessage({
    agentId: 'agent-02',
    timestamp: new Date('2026-04-24T17:45:00Z'),
    bucket: target,
    note: { title: 'LoRA r16 checkpoint (3 epochs)', tags: ['lora'], body: 'Now with the tokenizer.' },
    artifacts: [{ bucketPath: 'artifacts/checkpoints/lora_r16_ep3_agent-02', kind: 'directory', sizeBytes: ckptSize, fileCount: 3, localPath: 'checkpoints/lora_r16_ep3' }],
    supersedes: announced.bucketPath,
  });
  const result = (o: Record<string, unknown>) => Buffer.from(`${JSON.stringify(o, null, 2)}\n`);
  return {
    ...ckpt,
    'artifacts/scripts/train_lora_agent-02.py': Buffer.from('print("train")\n'),
    [announced.bucketPath]: Buffer.from(announced.text),
    [update.bucketPath]: Buffer.from(update.text),
    // Hand-written by agent-02: no front matter at all.
    'message_board/20260424T120000Z_baseline-eval_agent-02.md': Buffer.from('# Baseline eval done\n\nScore 0.61, see artifacts/results/eval_baseline_agent-02.json\n'),
    'message_board/20260423T080000Z_data-shards_agent-03.md': Buffer.from('---\nagent_id: agent-03\ntimestamp: 2026-04-23T08:00:00Z\ntitle: GSM8K shards\n---\nShards are up.\n'),
    'message_board/notes.txt': Buffer.from('not a message'),
    'artifacts/results/eval_baseline_agent-02.json': result({ agent_id: 'agent-02', timestamp: '2026-04-24T12:00:00Z', experiment: 'Baseline Qwen2.5-7B, greedy', model: 'Qwen/Qwen2.5-7B', score: 0.61 }),
    'artifacts/results/gsm8k/eval_lora_agent-02.json': result({ agent_id: 'agent-02', timestamp: '2026-04-24T17:30:00Z', experiment: 'LoRA r16 CoT, 3 epochs', model: 'Qwen/Qwen2.5-7B', score: 0.72 }),
    'artifacts/results/gsm8k/eval_cot_agent-03.json': result({ agent_id: 'agent-03', timestamp: '2026-04-24T18:00:00Z', experiment: 'CoT prompting only', model: 'Qwen/Qwen2.5-7B', score: 0.72 }),
    'artifacts/results/ppl_agent-03.json': result({ experiment: 'LoRA r16 perplexity', score: 3.1 }),
    'artifacts/results/broken_agent-02.json': Buffer.from('{"experiment": "half written", "score": 0.9,'),
    'artifacts/results/noscore_agent-02.json': result({ agent_id: 'agent-02', experiment: 'forgot the score' }),
    'artifacts/results/list_agent-02.json': Buffer.from('[1, 2, 3]'),
    'artifacts/results/readme_agent-02.txt': Buffer.from('not json'),
  };
}

interface Backend {
  name: string;
  setup(): Promise<{ ctx: CommandContext; logs: LogLine[]; files: Record<string, Buffer>; root: string; put(p: string, b: Buffer): Promise<void> }>;
}

async function contextWith(flags: Parameters<typeof loadContext>[0]): Promise<{ ctx: CommandContext; logs: LogLine[] }> {
  const ctx = await loadContext(flags);
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { ctx: { ...ctx, logger: createLogger({ level: 'info', agentId: ctx.config.agentId, destination: sink }) }, logs };
}

const backends: Backend[] = [
  {
    name: 'local-folder bucket',
    async setup() {
      const root = tmpDir();
      const bucketDir = path.join(root, 'bucket');
      const { ctx, logs } = await contextWith({ bucket: bucketDir, agentId: 'agent-01', outbox: path.join(root, 'outbox'), stateDir: path.join(root, 'state') });
      const files = seedFiles(ctx.config.bucket);
      await writeTree(bucketDir, files);
      return { ctx, logs, files, root, put: (p, b) => writeTree(bucketDir, { [p]: b }) };
    },
  },
  {
    name: 'Hub emulator',
    async setup() {
      const root = tmpDir();
      const emu = await startEmulator();
      const tokenFile = await writeTokenFile(root);
      const { ctx, logs } = await contextWith({
        bucket: 'hf://buckets/team/shared',
        agentId: 'agent-01',
        outbox: path.join(root, 'outbox'),
        stateDir: path.join(root, 'state'),
        hubUrl: emu.url,
        tokenFile,
      });
      const files = seedFiles(ctx.config.bucket);
      for (const [p, b] of Object.entries(files)) emu.seedFile('team/shared', p, b);
      return { ctx, logs, files, root, put: async (p, b) => emu.seedFile('team/shared', p, b) };
    },
  },
];

const NOW = Date.parse('2026-04-24T18:30:00Z');

describe.each(backends)('reading commands on a $name filled by agent-02', (backend) => {
  it('results: a leaderboard best first, ties sharing a rank, malformed files skipped with a warning naming each', async () => {
    const t = await backend.setup();
    const out = new Capture();
    expect(await runResults(t.ctx, { json: false, ascending: false, out })).toBe(0);
    const rows = out.text.split('\n').filter((l) => /^\d+\s+-?\d/.test(l));
    expect(rows.map((r) => r.split(/\s{2,}/).slice(0, 3))).toEqual([
      ['1', '3.1', 'agent-03'],
      ['2', '0.72', 'agent-02'],
      ['2', '0.72', 'agent-03'],
      ['4', '0.61', 'agent-02'],
    ]);
    expect(out.text.split('\n')[0]).toMatch(/^rank\s+score\s+agent_id\s+experiment\s+model\s+path$/);
    expect(rows[1]).toContain('LoRA r16 CoT, 3 epochs');
    expect(rows[1]).toContain('Qwen/Qwen2.5-7B');
    expect(rows[1]).toContain('artifacts/results/gsm8k/eval_lora_agent-02.json');
    expect(out.text).toMatch(/4 results, highest score first; 3 files skipped \(see warnings\)/);
    const warned = t.logs.filter((l) => l.level === 40).map((l) => l.msg).sort();
    expect(warned).toEqual([
      expect.stringMatching(/^skipping artifacts\/results\/broken_agent-02\.json: not valid JSON: line 1, column \d+: unexpected end of input/),
      expect.stringMatching(/^skipping artifacts\/results\/list_agent-02\.json: must be a JSON object/),
      expect.stringMatching(/^skipping artifacts\/results\/noscore_agent-02\.json: missing required field "score"/),
    ]);
  });

  it('results --ascending puts the lowest score first; --experiment filters case-insensitively; --json gives one object per row', async () => {
    const t = await backend.setup();
    const asc = new Capture();
    await runResults(t.ctx, { json: true, ascending: true, out: asc });
    const ascRows = asc.text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(ascRows.map((r) => [r['rank'], r['score'], r['path']])).toEqual([
      [1, 0.61, 'artifacts/results/eval_baseline_agent-02.json'],
      [2, 0.72, 'artifacts/results/gsm8k/eval_lora_agent-02.json'],
      [2, 0.72, 'artifacts/results/gsm8k/eval_cot_agent-03.json'],
      [4, 3.1, 'artifacts/results/ppl_agent-03.json'],
    ]);
    expect(ascRows[3]).toEqual({ rank: 4, score: 3.1, agent_id: 'agent-03', claimed_agent_id: null, experiment: 'LoRA r16 perplexity', model: null, timestamp: null, path: 'artifacts/results/ppl_agent-03.json' });

    const lora = new Capture();
    await runResults(t.ctx, { json: true, ascending: false, experiment: 'lora R16', out: lora });
    expect(lora.text.trim().split('\n').map((l) => (JSON.parse(l) as { path: string }).path)).toEqual([
      'artifacts/results/ppl_agent-03.json',
      'artifacts/results/gsm8k/eval_lora_agent-02.json',
    ]);

    const none = new Capture();
    await runResults(t.ctx, { json: false, ascending: false, experiment: 'no such run', out: none });
    expect(none.text).toMatch(/^no results matching "no such run"/);
  });

  it('board: every message newest first, with time, agent, title, artifacts and sizes; hand-written ones included', async () => {
    const t = await backend.setup();
    const out = new Capture();
    expect(await runBoard(t.ctx, { follow: false, json: false, out })).toBe(0);
    const heads = out.text.split('\n').filter((l) => /^\d{4}-/.test(l));
    expect(heads).toEqual([
      '2026-04-24 17:45:00Z  agent-02  LoRA r16 checkpoint (3 epochs)  [lora]',
      '2026-04-24 17:30:00Z  agent-02  LoRA r16 checkpoint (3 epochs)  [lora, qwen]',
      '2026-04-24 12:00:00Z  agent-02  Baseline eval done',
      '2026-04-23 08:00:00Z  agent-03  GSM8K shards',
    ]);
    expect(out.text).toContain('    updates message_board/20260424T173000Z_lora-r16-checkpoint-3-epochs_agent-02.md');
    expect(out.text).toContain('    artifacts/checkpoints/lora_r16_ep3_agent-02/  (directory, 3 files, 304.9 KiB)');
    expect(out.text).not.toContain('notes.txt');
  });

  it('board --since and --agent filter; --json gives the parsed messages', async () => {
    const t = await backend.setup();
    const recent = new Capture();
    await runBoard(t.ctx, { since: '2h', follow: false, json: true, out: recent, now: () => NOW });
    const msgs = recent.text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(msgs.map((m) => m['timestamp'])).toEqual(['2026-04-24T17:45:00Z', '2026-04-24T17:30:00Z']);
    expect(msgs[1]).toMatchObject({
      agent_id: 'agent-02',
      title: 'LoRA r16 checkpoint (3 epochs)',
      tags: ['lora', 'qwen'],
      supersedes: null,
      artifacts: [{ path: 'artifacts/checkpoints/lora_r16_ep3_agent-02', kind: 'directory', file_count: 3 }],
    });
    expect(msgs[0]?.['body']).toContain('Now with the tokenizer.');

    const agent3 = new Capture();
    await runBoard(t.ctx, { agent: 'agent-03', follow: false, json: true, out: agent3 });
    expect(agent3.text.trim().split('\n').map((l) => (JSON.parse(l) as { title: string }).title)).toEqual(['GSM8K shards']);

    const week = new Capture();
    await runBoard(t.ctx, { since: '1d 12h', agent: 'agent-02', follow: false, json: true, out: week, now: () => NOW });
    expect(week.text.trim().split('\n')).toHaveLength(3);

    const bad = new Capture();
    const err = new Capture();
    expect(await runBoard(t.ctx, { since: 'yesterday', follow: false, json: false, out: bad, err })).toBe(2);
    expect(err.text).toMatch(/--since: "yesterday" is not a duration/);
  });

  it('board --follow prints messages as they appear, until aborted', async () => {
    const t = await backend.setup();
    const out = new Capture();
    const stop = new AbortController();
    const running = runBoard(t.ctx, { agent: 'agent-04', follow: true, json: false, out, signal: stop.signal, pollMs: 50 });
    await waitFor(() => out.text.includes('waiting for new ones'));
    await t.put('message_board/20260424T190000Z_first_agent-04.md', Buffer.from('---\nagent_id: agent-04\ntitle: First\n---\n'));
    await waitFor(() => out.text.includes('First'));
    await t.put('message_board/20260424T190500Z_second_agent-04.md', Buffer.from('# Second\n'));
    await waitFor(() => out.text.includes('Second'));
    stop.abort();
    expect(await running).toBe(0);
    expect(out.text.indexOf('First')).toBeLessThan(out.text.indexOf('Second'));
    expect(out.text.match(/First/g)).toHaveLength(1);
  });

  it('pull: a file and a whole directory artifact into ./inbox, byte-identical', async () => {
    const t = await backend.setup();
    const cwd = path.join(t.root, 'work');
    await mkdir(cwd, { recursive: true });
    const out = new Capture();
    expect(await runPull(t.ctx, { bucketPath: 'artifacts/scripts/train_lora_agent-02.py', force: false, out, cwd })).toBe(0);
    expect(await runPull(t.ctx, { bucketPath: 'artifacts/checkpoints/lora_r16_ep3_agent-02/', force: false, out, cwd })).toBe(0);
    const f = t.files;
    const hash = (p: string) => sha256(f[p] as Buffer);
    expect(treeHashes(path.join(cwd, 'inbox'))).toEqual({
      'train_lora_agent-02.py': hash('artifacts/scripts/train_lora_agent-02.py'),
      'lora_r16_ep3_agent-02/adapter_model.safetensors': hash('artifacts/checkpoints/lora_r16_ep3_agent-02/adapter_model.safetensors'),
      'lora_r16_ep3_agent-02/adapter_config.json': hash('artifacts/checkpoints/lora_r16_ep3_agent-02/adapter_config.json'),
      'lora_r16_ep3_agent-02/tokenizer/tokenizer.json': hash('artifacts/checkpoints/lora_r16_ep3_agent-02/tokenizer/tokenizer.json'),
    });
    expect(out.text).toContain('pulled artifacts/scripts/train_lora_agent-02.py → inbox/train_lora_agent-02.py (15 B)');
    expect(out.text).toMatch(/3 files, 304\.9 KiB into .*inbox/);
  });

  it('pull refuses to overwrite local files without --force, listing them and writing nothing; --force overwrites', async () => {
    const t = await backend.setup();
    const dest = path.join(t.root, 'dest');
    const ckpt = 'artifacts/checkpoints/lora_r16_ep3_agent-02';
    await writeTree(dest, { 'lora_r16_ep3_agent-02/adapter_config.json': 'my local edit', 'lora_r16_ep3_agent-02/tokenizer/tokenizer.json': 'mine too' });
    const err = new Capture();
    expect(await runPull(t.ctx, { bucketPath: ckpt, dest, force: false, out: new Capture(), err })).toBe(1);
    expect(err.text).toContain('2 local files differ from the bucket and would be overwritten; nothing was pulled (pass --force to overwrite them)');
    expect(err.text).toContain(path.join(dest, 'lora_r16_ep3_agent-02/adapter_config.json'));
    expect(err.text).toContain(path.join(dest, 'lora_r16_ep3_agent-02/tokenizer/tokenizer.json'));
    expect(treeHashes(dest)).toEqual({
      'lora_r16_ep3_agent-02/adapter_config.json': sha256('my local edit'),
      'lora_r16_ep3_agent-02/tokenizer/tokenizer.json': sha256('mine too'),
    });

    expect(await runPull(t.ctx, { bucketPath: ckpt, dest, force: true, out: new Capture() })).toBe(0);
    expect(await readFile(path.join(dest, 'lora_r16_ep3_agent-02/adapter_config.json'), 'utf8')).toBe('{"r": 16, "lora_alpha": 32}\n');
    expect(Object.keys(treeHashes(dest))).toHaveLength(3);
  });

  it('pull accepts the full URI of the configured bucket, and fails clearly on a missing path or another bucket', async () => {
    const t = await backend.setup();
    const dest = path.join(t.root, 'dest');
    const uri = `${t.ctx.config.bucket.uri}/artifacts/scripts/train_lora_agent-02.py`;
    expect(await runPull(t.ctx, { bucketPath: uri, dest, force: false, out: new Capture() })).toBe(0);
    expect(readFileSync(path.join(dest, 'train_lora_agent-02.py'), 'utf8')).toBe('print("train")\n');

    const err = new Capture();
    expect(await runPull(t.ctx, { bucketPath: 'artifacts/scripts/nope_agent-02.py', dest, force: false, out: new Capture(), err })).toBe(1);
    expect(err.text).toMatch(/nothing at artifacts\/scripts\/nope_agent-02\.py in .* \(no such file or folder\)/);
    expect(await runPull(t.ctx, { bucketPath: 'hf://buckets/other/bucket/artifacts/x', dest, force: false, out: new Capture(), err })).toBe(1);
    expect(err.text).toMatch(/is not in the configured bucket/);
    expect(await runPull(t.ctx, { bucketPath: 'artifacts/../etc/passwd', dest, force: false, out: new Capture(), err })).toBe(1);
    expect(err.text).toMatch(/refusing "artifacts\/\.\.\/etc\/passwd": "\.\." segment/);
  });
});

/** A bucket whose listing holds names that try to escape the destination. */
class HostileBucket implements BucketClient {
  readonly description = 'fake://hostile';
  readonly entries: RemoteEntry[];
  downloads = 0;
  constructor(paths: string[]) {
    this.entries = paths.map((p) => ({ path: p, sizeBytes: 4 }));
  }
  async check(): Promise<void> {}
  async upload(): Promise<never> {
    throw new Error('read-only');
  }
  async stat(): Promise<Map<string, RemoteEntry>> {
    return new Map();
  }
  async *list(): AsyncIterable<RemoteEntry> {
    yield* this.entries;
  }
  async download(): Promise<Readable> {
    this.downloads++;
    return Readable.from([Buffer.from('evil')]);
  }
}

describe('pull never writes outside its destination', () => {
  it.each([
    ['a ".." segment', 'artifacts/checkpoints/x_agent-02/../../../../escape.txt'],
    ['an absolute-looking name', 'artifacts/checkpoints/x_agent-02//etc/passwd'],
    ['a backslash', 'artifacts/checkpoints/x_agent-02/..\\..\\escape.txt'],
    ['a control character', 'artifacts/checkpoints/x_agent-02/a\u0000b'],
    ['a path outside the folder asked for', 'artifacts/checkpoints/x_agent-02-other/file.bin'],
  ])('refuses a listing with %s, downloading nothing', async (_name, hostile) => {
    const root = tmpDir();
    const { ctx } = await contextWith({ bucket: path.join(root, 'bucket'), agentId: 'agent-01', stateDir: path.join(root, 'state') });
    const bucket = new HostileBucket(['artifacts/checkpoints/x_agent-02/ok.bin', hostile]);
    const err = new Capture();
    const dest = path.join(root, 'a', 'b', 'dest');
    expect(await runPull(ctx, { bucketPath: 'artifacts/checkpoints/x_agent-02', dest, force: true, bucket, out: new Capture(), err })).toBe(1);
    expect(err.text).toMatch(/these remote names could write outside/);
    expect(err.text).toContain(JSON.stringify(hostile));
    expect(bucket.downloads).toBe(0);
    expect(treeHashes(root)).toEqual({});
  });

  it('refuses to write through a symlinked folder inside the destination', async () => {
    const root = tmpDir();
    const { ctx } = await contextWith({ bucket: path.join(root, 'bucket'), agentId: 'agent-01', stateDir: path.join(root, 'state') });
    const outside = path.join(root, 'outside');
    const dest = path.join(root, 'dest');
    await mkdir(outside, { recursive: true });
    await mkdir(dest, { recursive: true });
    await symlink(outside, path.join(dest, 'x_agent-02'));
    const bucket = new HostileBucket(['artifacts/checkpoints/x_agent-02/ok.bin']);
    const err = new Capture();
    expect(await runPull(ctx, { bucketPath: 'artifacts/checkpoints/x_agent-02', dest, force: true, bucket, out: new Capture(), err })).toBe(1);
    expect(err.text).toMatch(/is a symlink; refusing to write through it/);
    expect(treeHashes(outside)).toEqual({});
  });

  it('leaves no temp file behind when a download is shorter than listed', async () => {
    const root = tmpDir();
    const { ctx } = await contextWith({ bucket: path.join(root, 'bucket'), agentId: 'agent-01', stateDir: path.join(root, 'state') });
    const bucket = new HostileBucket(['artifacts/checkpoints/x_agent-02/big.bin']);
    (bucket.entries[0] as RemoteEntry).sizeBytes = 1000;
    const err = new Capture();
    const dest = path.join(root, 'dest');
    expect(await runPull(ctx, { bucketPath: 'artifacts/checkpoints/x_agent-02', dest, force: false, bucket, out: new Capture(), err })).toBe(1);
    expect(err.text).toMatch(/got 4 bytes but the bucket lists 1000/);
    expect(treeHashes(dest)).toEqual({});
  });
});

async function waitFor(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
