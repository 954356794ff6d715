/**
 * Announcements as agents see them on message_board/: after the artifact landed, once per note
 * version, across crashes; results checked; notes that cannot be matched rejected with a reason.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { Daemon, runCli } from '../helpers/cli.js';
import { startEmulator, writeTokenFile } from '../helpers/hub.js';
import { outboxIn, tmpDir, writeTree } from '../helpers/tmp.js';

function local(extra: string[] = []) {
  const root = tmpDir();
  const outbox = outboxIn(root);
  const bucket = path.join(root, 'bucket');
  const state = path.join(root, 'state');
  return { root, outbox, bucket, state, args: ['--outbox', outbox, '--bucket', bucket, '--state-dir', state, '--agent-id', 'agent-01', '--settle-ms', '0', ...extra] };
}

function messages(bucket: string): Array<{ name: string; text: string; meta: Record<string, unknown> }> {
  let names: string[] = [];
  try {
    names = readdirSync(path.join(bucket, 'message_board')).filter((n) => n.endsWith('.md')).sort();
  } catch {
    return [];
  }
  return names.map((name) => {
    const text = readFileSync(path.join(bucket, 'message_board', name), 'utf8');
    const meta = parseYaml(text.split('\n---\n')[0]?.replace(/^---\n/, '') ?? '') as Record<string, unknown>;
    return { name, text, meta };
  });
}

const CHECKPOINT = {
  'checkpoints/lora_r16_ep3/adapter_model.safetensors': randomBytes(300_000),
  'checkpoints/lora_r16_ep3/adapter_config.json': Buffer.from('{"r":16}'),
  'checkpoints/lora_r16_ep3.note.md': Buffer.from('---\ntitle: LoRA r16, 3 epochs\ntags: [lora]\n---\nTrained on GSM8K with CoT.\n'),
};

describe('announcements on a local-folder bucket', () => {
  it('a checkpoint folder and its note: all files land, then exactly one message naming the folder, size and count', async () => {
    const t = local();
    await writeTree(t.outbox, CHECKPOINT);
    const r = await runCli(['sync', ...t.args]);
    expect(r.code, r.stdout).toBe(0);
    const posted = messages(t.bucket);
    expect(posted).toHaveLength(1);
    const [m] = posted;
    expect(m?.name).toMatch(/^\d{8}T\d{6}Z_lora-r16-3-epochs_agent-01\.md$/);
    expect(m?.meta).toMatchObject({
      agent_id: 'agent-01',
      title: 'LoRA r16, 3 epochs',
      artifacts: [{ path: 'artifacts/checkpoints/lora_r16_ep3_agent-01', kind: 'directory', size_bytes: 300_008, file_count: 2 }],
    });
    expect(m?.text).toMatch(/Trained on GSM8K with CoT\./);
    // Posted after the files: the announcement line comes after every upload line.
    const lines = r.logs.map((l) => l.msg);
    expect(lines.lastIndexOf('uploaded')).toBeLessThan(lines.indexOf('announced'));
    const again = await runCli(['sync', ...t.args]);
    expect(again.code).toBe(0);
    expect(messages(t.bucket)).toHaveLength(1);
  });

  it('an edited note posts one update that names the earlier message', async () => {
    const t = local();
    await writeTree(t.outbox, { 'scripts/train.py': 'print(1)', 'scripts/train.note.md': 'First version of the script.\n' });
    await runCli(['sync', ...t.args]);
    const [first] = messages(t.bucket);
    await new Promise((r) => setTimeout(r, 1100));
    await writeFile(path.join(t.outbox, 'scripts/train.note.md'), 'Now with gradient clipping.\n');
    await runCli(['sync', ...t.args]);
    const all = messages(t.bucket);
    expect(all).toHaveLength(2);
    const update = all.find((m) => m.name !== first?.name);
    expect(update?.meta['supersedes']).toBe(`message_board/${first?.name}`);
    expect(update?.text).toMatch(/Now with gradient clipping/);
  });

  it('an ambiguous note is rejected naming both candidates; an orphan note is posted alone', async () => {
    const t = local();
    await writeTree(t.outbox, {
      'scripts/train.py': 'a',
      'scripts/train.sh': 'b',
      'scripts/train.note.md': 'Which one?\n',
      'hello.note.md': '# Starting on GSM8K\nI will post LoRA results tonight.\n',
    });
    const r = await runCli(['sync', ...t.args]);
    const rejected = r.logs.find((l) => l['note'] === 'scripts/train.note.md');
    expect(rejected?.msg).toMatch(/scripts\/train\.py/);
    expect(rejected?.msg).toMatch(/scripts\/train\.sh/);
    const posted = messages(t.bucket);
    expect(posted).toHaveLength(1);
    expect(posted[0]?.meta).toMatchObject({ title: 'Starting on GSM8K', artifacts: [] });
  });

  it('a malformed front matter is a clear error, not a crash', async () => {
    const t = local();
    await writeTree(t.outbox, { 'scripts/a.py': 'a', 'scripts/a.note.md': '---\ntitle: [unclosed\n---\nbody\n' });
    const r = await runCli(['sync', ...t.args]);
    expect(r.logs.find((l) => l['note'] === 'scripts/a.note.md')?.msg).toMatch(/scripts\/a\.note\.md/);
    expect(Object.keys(messages(t.bucket))).toHaveLength(0);
  });

  it('checks results: rejects a missing score, a foreign agent_id and invalid JSON with the reason, fills missing fields in the uploaded copy', async () => {
    const t = local();
    await writeTree(t.outbox, {
      'results/no_score.json': '{"experiment":"x"}',
      'results/foreign.json': '{"agent_id":"agent-02","experiment":"x","score":1}',
      'results/broken.json': '{"experiment": "x", "score": ',
      'results/good.json': '{"experiment":"LoRA r16","score":0.72}',
      'results/good.note.md': 'Eval of the LoRA.\n',
    });
    const r = await runCli(['sync', ...t.args]);
    expect(r.code).toBe(1);
    const reasons = Object.fromEntries(r.logs.filter((l) => l['state'] === 'rejected').map((l) => [l['local'], l.msg]));
    expect(reasons['results/no_score.json']).toMatch(/score/);
    expect(reasons['results/foreign.json']).toMatch(/agent-02/);
    expect(reasons['results/broken.json']).toMatch(/line 1/);
    const uploaded = JSON.parse(readFileSync(path.join(t.bucket, 'artifacts/results/good_agent-01.json'), 'utf8')) as Record<string, unknown>;
    expect(uploaded).toMatchObject({ agent_id: 'agent-01', experiment: 'LoRA r16', score: 0.72, timestamp: expect.any(String) });
    expect(readFileSync(path.join(t.outbox, 'results/good.json'), 'utf8')).toBe('{"experiment":"LoRA r16","score":0.72}');
    expect(messages(t.bucket)).toHaveLength(1);
    // Fixing a file clears its rejection.
    await writeFile(path.join(t.outbox, 'results/no_score.json'), '{"experiment":"x","score":0.5}');
    await writeFile(path.join(t.outbox, 'results/foreign.json'), '{"experiment":"x","score":1}');
    await writeFile(path.join(t.outbox, 'results/broken.json'), '{"experiment":"x","score":2}');
    expect((await runCli(['sync', ...t.args])).code).toBe(0);
  });

  it('holds a note back while its artifact is rejected, and status says why', async () => {
    const t = local();
    await writeTree(t.outbox, { 'results/eval.json': '{"experiment":"x"}', 'results/eval.note.md': 'My eval.\n' });
    await runCli(['sync', ...t.args]);
    expect(messages(t.bucket)).toHaveLength(0);
    const status = JSON.parse((await runCli(['status', '--json', ...t.args])).stdout) as { announcements: Array<{ source: string; state: string; reason: string }> };
    expect(status.announcements).toEqual([
      expect.objectContaining({ source: 'results/eval.note.md', state: 'held', reason: expect.stringMatching(/held back: results\/eval\.json is rejected/) }),
    ]);
    await writeFile(path.join(t.outbox, 'results/eval.json'), '{"experiment":"x","score":3}');
    await runCli(['sync', ...t.args]);
    expect(messages(t.bucket)).toHaveLength(1);
  });

  it('a crash after the message was prepared and before it was recorded as posted: still exactly one message', async () => {
    const t = local();
    await writeTree(t.outbox, CHECKPOINT);
    await runCli(['sync', ...t.args]);
    const [m] = messages(t.bucket);
    // Put the state back to what a kill -9 between the write and its record leaves: posting, same path and bytes.
    const db = new Database(path.join(t.state, 'state.sqlite'));
    db.prepare(`UPDATE announcements SET state = 'posting', posted_at = NULL`).run();
    db.close();
    await runCli(['sync', ...t.args]);
    const after = messages(t.bucket);
    expect(after.map((x) => x.name)).toEqual([m?.name]);
    expect(after[0]?.text).toBe(m?.text);
  });

  it('kill -9 at random moments while a checkpoint and its note go up: exactly one message in the end', async () => {
    const t = local();
    await writeTree(t.outbox, { ...CHECKPOINT, 'checkpoints/lora_r16_ep3/big.bin': randomBytes(20 * 1024 * 1024) });
    for (let round = 0; round < 6; round++) {
      const d = new Daemon(['watch', ...t.args]);
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 600));
      d.child.kill('SIGKILL');
      await d.exited;
    }
    await runCli(['sync', ...t.args]);
    expect(messages(t.bucket)).toHaveLength(1);
  });

  it('--auto-announce checkpoints posts a generated message for a checkpoint without a note', async () => {
    const t = local(['--auto-announce', 'checkpoints']);
    await writeTree(t.outbox, { 'checkpoints/step_1000/model.safetensors': randomBytes(1000), 'scripts/x.py': 'x' });
    await runCli(['sync', ...t.args]);
    const posted = messages(t.bucket);
    expect(posted).toHaveLength(1);
    expect(posted[0]?.meta).toMatchObject({ artifacts: [{ path: 'artifacts/checkpoints/step_1000_agent-01', file_count: 1 }] });
  });
});

describe('announcements on an hf:// bucket (Hub emulator)', () => {
  it('posts the message after the checkpoint landed, readable by board', async () => {
    const root = tmpDir();
    const outbox = outboxIn(root);
    const emu = await startEmulator();
    const tokenFile = await writeTokenFile(root);
    const args = ['--outbox', outbox, '--bucket', 'hf://buckets/team/shared', '--state-dir', path.join(root, 'state'), '--agent-id', 'agent-01', '--hub-url', emu.url, '--token-file', tokenFile, '--settle-ms', '0'];
    await writeTree(outbox, CHECKPOINT);
    expect((await runCli(['sync', ...args])).code).toBe(0);
    const boardPaths = emu.listPaths('team/shared').filter((p) => p.startsWith('message_board/'));
    expect(boardPaths).toHaveLength(1);
    const writes = emu.writes('team/shared').map((w) => w.path);
    expect(writes.indexOf(boardPaths[0] as string)).toBe(writes.length - 1);
    const board = await runCli(['board', '--json', ...args]);
    expect(board.code).toBe(0);
    expect(JSON.parse(board.stdout.trim().split('\n')[0] as string)).toMatchObject({ agent_id: 'agent-01', title: 'LoRA r16, 3 epochs' });
  });
});
