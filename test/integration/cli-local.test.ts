/**
 * The real CLI against a local-folder bucket: what a user sees after `npm start`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Daemon, cleanEnv, runCli, waitFor } from '../helpers/cli.js';
import { outboxIn, sha256, tmpDir, treeHashes, writeTree } from '../helpers/tmp.js';

function setup() {
  const root = tmpDir();
  const outbox = outboxIn(root);
  const bucket = path.join(root, 'bucket');
  const state = path.join(root, 'state');
  const args = ['--outbox', outbox, '--bucket', bucket, '--state-dir', state, '--agent-id', 'agent-01'];
  return { root, outbox, bucket, state, args };
}

/** The table of issue #2: every outbox path and the bucket path it must land at (or null: ignored). */
const TABLE: Array<[string, string | null]> = [
  ['scripts/train_lora.py', 'artifacts/scripts/train_lora_agent-01.py'],
  ['results/eval_baseline.json', 'artifacts/results/eval_baseline_agent-01.json'],
  ['results/gsm8k/eval.json', 'artifacts/results/gsm8k/eval_agent-01.json'],
  ['data/shards.tar.gz', 'artifacts/data/shards_agent-01.tar.gz'],
  ['checkpoints/lora_r16_ep3/adapter_model.safetensors', 'artifacts/checkpoints/lora_r16_ep3_agent-01/adapter_model.safetensors'],
  ['checkpoints/lora_r16_ep3/adapter_config.json', 'artifacts/checkpoints/lora_r16_ep3_agent-01/adapter_config.json'],
  ['checkpoints/merged.gguf', 'artifacts/checkpoints/merged_agent-01.gguf'],
  ['scripts/Makefile', 'artifacts/scripts/Makefile_agent-01'],
  ['scripts/prep_data_agent-01.py', 'artifacts/scripts/prep_data_agent-01.py'],
  ['scripts/.env', null],
  ['x.tmp', null],
  ['x.part', null],
  ['x.partial', null],
  ['x.swp', null],
  ['x~', null],
  ['.DS_Store', null],
];

async function dropTable(outbox: string): Promise<Record<string, string>> {
  const expected: Record<string, string> = {};
  const files: Record<string, Uint8Array> = {};
  for (const [local, remote] of TABLE) {
    // Distinct random bytes per file so a mix-up between files cannot pass.
    const bytes = local.endsWith('.json')
      ? Buffer.from(JSON.stringify({ agent_id: 'agent-01', timestamp: '2026-11-27T00:00:00Z', experiment: local, score: Math.random(), noise: randomBytes(500).toString('hex') }))
      : randomBytes(local.endsWith('.safetensors') ? 300_000 : 1000 + local.length);
    files[local] = bytes;
    if (remote) expected[remote] = sha256(bytes);
  }
  await writeTree(outbox, files);
  return expected;
}

describe('hf-outbox sync on a local-folder bucket', () => {
  it('lands every row of the naming table at its agent-id path, byte-identical, and nothing else', async () => {
    const t = setup();
    const expected = await dropTable(t.outbox);
    const r = await runCli(['sync', ...t.args, '--settle-ms', '200']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(treeHashes(t.bucket)).toEqual(expected);
    const uploaded = r.logs.filter((l) => l.msg === 'uploaded');
    expect(uploaded).toHaveLength(Object.keys(expected).length);
    for (const line of uploaded) {
      expect(line).toMatchObject({ local: expect.any(String), remote: expect.any(String), bytes: expect.any(Number), durationMs: expect.any(Number) });
    }
  });

  it('uploads nothing on a second pass, and only the changed file after an edit', async () => {
    const t = setup();
    await writeTree(t.outbox, { 'scripts/a.py': 'a', 'scripts/b.py': 'b' });
    expect((await runCli(['sync', ...t.args, '--settle-ms', '0'])).code).toBe(0);
    const again = await runCli(['sync', ...t.args, '--settle-ms', '0']);
    expect(again.code).toBe(0);
    expect(again.logs.filter((l) => l.msg === 'uploaded')).toHaveLength(0);
    await writeFile(path.join(t.outbox, 'scripts/b.py'), 'b2');
    const third = await runCli(['sync', ...t.args, '--settle-ms', '0']);
    expect(third.logs.filter((l) => l.msg === 'uploaded').map((l) => l.remote)).toEqual(['artifacts/scripts/b_agent-01.py']);
    expect(await readFile(path.join(t.bucket, 'artifacts/scripts/b_agent-01.py'), 'utf8')).toBe('b2');
  });

  it('rejects the second of two files that map to the same bucket path, naming both', async () => {
    const t = setup();
    await writeTree(t.outbox, { 'scripts/train_lora.py': 'first' });
    expect((await runCli(['sync', ...t.args, '--settle-ms', '0'])).code).toBe(0);
    await writeTree(t.outbox, { 'scripts/train_lora_agent-01.py': 'second' });
    const r = await runCli(['sync', ...t.args, '--settle-ms', '0']);
    expect(r.code).toBe(1);
    expect(r.logs.find((l) => l['state'] === 'rejected')?.msg).toMatch(
      /scripts\/train_lora_agent-01\.py and scripts\/train_lora\.py both map to artifacts\/scripts\/train_lora_agent-01\.py/,
    );
    expect(await readFile(path.join(t.bucket, 'artifacts/scripts/train_lora_agent-01.py'), 'utf8')).toBe('first');
  });

  it('exits 1 and names the file when an artifact is rejected, and still lands the rest', async () => {
    const t = setup();
    await writeTree(t.outbox, { 'data/what?.csv': 'x', 'data/ok.csv': 'y' });
    const r = await runCli(['sync', ...t.args, '--settle-ms', '0']);
    expect(r.code).toBe(1);
    expect(r.logs.find((l) => l['state'] === 'rejected')).toMatchObject({ local: 'data/what?.csv', msg: expect.stringMatching(/rename the file/) });
    expect(Object.keys(treeHashes(t.bucket))).toEqual(['artifacts/data/ok_agent-01.csv']);
  });

  it('logs the size the bucket holds for a results JSON whose copy was filled in, beside the local size', async () => {
    const t = setup();
    const local = JSON.stringify({ experiment: 'lora r16', score: 0.72 });
    await writeTree(t.outbox, { 'results/eval.json': local });
    const r = await runCli(['sync', ...t.args, '--settle-ms', '0']);
    expect(r.code, r.stderr).toBe(0);
    const held = await readFile(path.join(t.bucket, 'artifacts/results/eval_agent-01.json'));
    expect(held.byteLength).toBeGreaterThan(local.length); // agent_id and timestamp were added
    const line = r.logs.find((l) => l.msg === 'uploaded' && l['local'] === 'results/eval.json');
    expect(line).toMatchObject({ bytes: held.byteLength, localBytes: local.length });
    expect(r.logs.find((l) => l.msg === 'sync finished')).toMatchObject({ bytes: held.byteLength });
  });

  it('publishes files outside the category folders, with one notice per category they create', async () => {
    const t = setup();
    await writeTree(t.outbox, { 'notes.txt': 'n', 'todo.txt': 't', 'mystuff/x.bin': 'x', 'mystuff/sub/y.bin': 'y', 'scripts/a.py': 'a' });
    const r = await runCli(['sync', ...t.args, '--settle-ms', '0']);
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys(treeHashes(t.bucket)).sort()).toEqual([
      'artifacts/mystuff/sub/y_agent-01.bin',
      'artifacts/mystuff/x_agent-01.bin',
      'artifacts/notes_agent-01.txt',
      'artifacts/scripts/a_agent-01.py',
      'artifacts/todo_agent-01.txt',
    ]);
    const notices = r.logs.filter((l) => 'category' in l);
    expect(notices.map((l) => l['category']).sort()).toEqual(['mystuff', null]);
    expect(notices.find((l) => l['category'] === 'mystuff')?.msg).toMatch(/new category, artifacts\/mystuff\//);
    expect(notices.find((l) => l['category'] === null)?.msg).toMatch(/directly in the outbox.*directly under artifacts\//);
  });

  it('reports a file that never stops changing and does not upload it half-written', async () => {
    const t = setup();
    await writeTree(t.outbox, { 'data/growing.log': 'start\n', 'data/done.txt': 'done' });
    const file = path.join(t.outbox, 'data/growing.log');
    const writer = setInterval(() => void appendFile(file, 'more\n'), 100);
    try {
      const r = await runCli(['sync', ...t.args, '--settle-ms', '1000', '--settle-timeout-ms', '2500']);
      expect(r.code).toBe(1);
      expect(r.logs.some((l) => l['unit'] === 'data/growing.log' && /never settled/.test(l.msg))).toBe(true);
      expect(Object.keys(treeHashes(t.bucket))).toEqual(['artifacts/data/done_agent-01.txt']);
    } finally {
      clearInterval(writer);
    }
  });

  it('exits 2 on an unknown flag and 78 on a bad setting, naming the key, value and expectation', async () => {
    const t = setup();
    const usage = await runCli(['sync', '--bogus-flag']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/bogus-flag/);
    const bad = await runCli(['sync', ...t.args, '--settle-ms', 'soon', '--agent-id', 'bad id!']);
    expect(bad.code).toBe(78);
    expect(bad.stderr).toMatch(/settle-ms: got "soon" \(from --settle-ms\), expected a whole number/);
    expect(bad.stderr).toMatch(/agent-id: got "bad id!"/);
    const env = await runCli(['sync', ...t.args.slice(0, 6)], { env: cleanEnv({ HF_OUTBOX_CONCURRENCY: '0', AGENT_ID: 'agent-02' }) });
    expect(env.code).toBe(78);
    expect(env.stderr).toMatch(/concurrency: got 0 \(from HF_OUTBOX_CONCURRENCY\), expected at least 1/);
  });

  it('refuses an agent id holding "_" (exit 78), saying it could take another agent\'s names', async () => {
    const t = setup();
    await writeTree(t.outbox, { 'scripts/train.py': 'x' });
    const r = await runCli(['sync', ...t.args, '--agent-id', 'a_b']);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/agent-id: got "a_b".*no "_".*another agent's names/);
    expect(treeHashes(t.bucket)).toEqual({});
  });

  it('reads settings from a YAML file, with flags and environment taking precedence', async () => {
    const t = setup();
    const configFile = path.join(t.root, 'hf-outbox.yaml');
    await writeFile(configFile, `outbox: ${t.outbox}\nbucket: ${t.bucket}\nstate-dir: ${t.state}\nagent-id: from-file\nsettle-ms: 0\n`);
    await writeTree(t.outbox, { 'scripts/a.py': 'a' });
    const fromFile = await runCli(['plan', '--config', configFile, '--json']);
    expect(fromFile.stdout).toMatch(/a_from-file\.py/);
    const fromEnv = await runCli(['plan', '--config', configFile, '--json'], { env: cleanEnv({ HF_OUTBOX_AGENT_ID: 'from-env' }) });
    expect(fromEnv.stdout).toMatch(/a_from-env\.py/);
    const fromFlag = await runCli(['plan', '--config', configFile, '--json', '--agent-id', 'from-flag'], { env: cleanEnv({ HF_OUTBOX_AGENT_ID: 'from-env' }) });
    expect(fromFlag.stdout).toMatch(/a_from-flag\.py/);
    await writeFile(configFile, 'agent-id: x\nsettle: 5\n');
    const unknown = await runCli(['plan', '--config', configFile]);
    expect(unknown.code).toBe(78);
    expect(unknown.stderr).toMatch(/settle: unknown setting in .*hf-outbox\.yaml/);
  });
});

describe('hf-outbox plan', () => {
  it('prints each path, its bucket path and the action with its reason, and writes nothing', async () => {
    const t = setup();
    await dropTable(t.outbox);
    const before = treeHashes(t.outbox);
    const human = await runCli(['plan', ...t.args]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/upload +scripts\/train_lora\.py → artifacts\/scripts\/train_lora_agent-01\.py .*\[new\]/);
    expect(human.stdout).toMatch(/ignored +x\.tmp +\[temporary file/);
    const json = await runCli(['plan', ...t.args, '--json']);
    const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { action: string; local: string; remote?: string; reason: string });
    for (const [local, remote] of TABLE) {
      const line = lines.find((l) => l.local === local);
      expect(line, local).toBeDefined();
      expect(line?.action).toBe(remote ? 'upload' : 'ignored');
      if (remote) expect(line?.remote).toBe(remote);
      expect(line?.reason).toBeTruthy();
    }
    expect(existsSync(t.bucket)).toBe(false);
    expect(existsSync(t.state)).toBe(false);
    expect(treeHashes(t.outbox)).toEqual(before);
  });

  it('shows a results JSON that sync would reject, with the reason', async () => {
    const t = setup();
    await writeTree(t.outbox, { 'results/eval.json': '{"experiment":"x"}', 'results/ok.json': '{"experiment":"x","score":1}' });
    const r = await runCli(['plan', ...t.args, '--json']);
    expect(r.code).toBe(1); // as sync would exit: something is rejected
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { local: string; action: string; reason: string });
    expect(lines.find((l) => l.local === 'results/eval.json')).toMatchObject({ action: 'rejected', reason: expect.stringMatching(/score/) });
    expect(lines.find((l) => l.local === 'results/ok.json')?.action).toBe('upload');
  });

  it('shows up-to-date after a sync, and conflict for a path another writer put in the bucket', async () => {
    const t = setup();
    await writeTree(t.outbox, { 'scripts/a.py': 'a', 'scripts/b.py': 'b' });
    expect((await runCli(['sync', ...t.args, '--settle-ms', '0'])).code).toBe(0);
    await writeTree(t.outbox, { 'scripts/c.py': 'c' });
    await writeTree(t.bucket, { 'artifacts/scripts/c_agent-01.py': 'someone else' });
    const r = await runCli(['plan', ...t.args, '--json']);
    const actions = Object.fromEntries(r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { local: string; action: string }).map((l) => [l.local, l.action]));
    expect(actions).toEqual({ 'scripts/a.py': 'up-to-date', 'scripts/b.py': 'up-to-date', 'scripts/c.py': 'conflict' });
  });
});

describe('hf-outbox watch on a local-folder bucket', () => {
  it('creates the category folders, picks up files dropped while it was down, then new ones', async () => {
    const t = setup();
    await writeTree(t.outbox, { 'scripts/early.py': 'early' });
    const d = new Daemon(['watch', ...t.args, '--settle-ms', '300']);
    await d.waitForLog((l) => l.msg === 'uploaded' && l['local'] === 'scripts/early.py');
    for (const c of ['scripts', 'results', 'checkpoints', 'data']) expect(existsSync(path.join(t.outbox, c))).toBe(true);
    await writeTree(t.outbox, { 'results/late.json': '{"experiment":"x","score":1}' });
    await d.waitForLog((l) => l.msg === 'uploaded' && l['local'] === 'results/late.json');
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(Object.keys(treeHashes(t.bucket)).sort()).toEqual(['artifacts/results/late_agent-01.json', 'artifacts/scripts/early_agent-01.py']);
  });

  it('lands a file written slowly over 5 s in 64 KiB pieces once, complete', async () => {
    const t = setup();
    // The settle time is 30 times the gap between writes, so a loaded machine pausing the writer does not split it.
    const d = new Daemon(['watch', ...t.args, '--settle-ms', '3000']);
    await d.waitForLog((l) => /^watching the outbox/.test(l.msg));
    const file = path.join(t.outbox, 'data', 'slow.bin');
    const pieces: Buffer[] = [];
    for (let i = 0; i < 50; i++) {
      const piece = randomBytes(64 * 1024);
      pieces.push(piece);
      await appendFile(file, piece);
      await new Promise((r) => setTimeout(r, 100));
    }
    const whole = sha256(Buffer.concat(pieces));
    await d.waitForLog((l) => l.msg === 'uploaded' && l['local'] === 'data/slow.bin');
    await new Promise((r) => setTimeout(r, 2000));
    expect(d.logs.filter((l) => l.msg === 'uploaded' && l['local'] === 'data/slow.bin')).toHaveLength(1);
    expect(treeHashes(t.bucket)).toEqual({ 'artifacts/data/slow_agent-01.bin': whole });
    await d.stop();
  });

  it('uploads a file written as x.tmp then renamed to x under the final name only', async () => {
    const t = setup();
    const d = new Daemon(['watch', ...t.args, '--settle-ms', '300']);
    await d.waitForLog((l) => /^watching the outbox/.test(l.msg));
    const tmp = path.join(t.outbox, 'results', 'eval.json.tmp');
    await writeFile(tmp, '{"experiment":"e","score":0.5}');
    await rename(tmp, path.join(t.outbox, 'results', 'eval.json'));
    await d.waitForLog((l) => l.msg === 'uploaded' && l['local'] === 'results/eval.json');
    expect(Object.keys(treeHashes(t.bucket))).toEqual(['artifacts/results/eval_agent-01.json']);
    await d.stop();
  });

  it('sends a checkpoint directory once all its files stopped changing', async () => {
    const t = setup();
    // The settle time is 8 times the gap between writes, so a loaded machine pausing the writer does not split the folder.
    const d = new Daemon(['watch', ...t.args, '--settle-ms', '2500']);
    await d.waitForLog((l) => /^watching the outbox/.test(l.msg));
    const dir = path.join(t.outbox, 'checkpoints', 'step_100');
    const files: Record<string, Buffer> = {};
    for (const name of ['model.safetensors', 'optimizer.pt', 'config.json']) {
      files[name] = randomBytes(200_000);
      await writeTree(dir, { [name]: files[name] });
      await new Promise((r) => setTimeout(r, 300));
    }
    await waitFor(() => d.logs.filter((l) => l.msg === 'uploaded').length === 3, 20_000, 'checkpoint files');
    const hashes = treeHashes(t.bucket);
    for (const [name, bytes] of Object.entries(files)) expect(hashes[`artifacts/checkpoints/step_100_agent-01/${name}`]).toBe(sha256(bytes));
    // All three went up together after the last write, not one by one as they appeared.
    const batchSizes = d.logs.filter((l) => l.msg === 'uploaded').map((l) => l['batch']);
    expect(batchSizes).toEqual([3, 3, 3]);
    await d.stop();
  });
});
