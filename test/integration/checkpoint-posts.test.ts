/**
 * One post per checkpoint of a training run: the real CLI against the Hub emulator, a simulated
 * Trainer writing checkpoints (with rotation) into a run folder of the outbox.
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { parse as parseYaml } from 'yaml';
import { Daemon, runCli, waitFor } from '../helpers/cli.js';
import { hubWorkspace } from '../helpers/hub.js';
import { sha256, tmpDir } from '../helpers/tmp.js';
import { TrainerWriter, type WrittenCheckpoint } from '../helpers/trainer-writer.js';

const BUCKET = 'team/shared';
const RUN = 'artifacts/checkpoints/run1_agent-01';

type Emu = Awaited<ReturnType<typeof hubWorkspace>>['emu'];

interface Post {
  path: string;
  text: string;
  meta: {
    title: string;
    supersedes?: string;
    artifacts: Array<{ path: string; size_bytes: number; file_count: number }>;
    checkpoint: { name: string; step: number; metrics?: Record<string, unknown>; run_checkpoints: string[]; replaces?: { published_at: string; message?: string } };
  };
}

function posts(emu: Emu): Post[] {
  return emu
    .listPaths(BUCKET)
    .filter((p) => p.startsWith('message_board/'))
    .map((p) => {
      const text = Buffer.from(emu.readFile(BUCKET, p) ?? new Uint8Array()).toString('utf8');
      const fm = /^---\n([\s\S]*?)\n---\n/.exec(text);
      return { path: p, text, meta: parseYaml(fm?.[1] ?? '') as Post['meta'] };
    });
}

/** What the bucket holds under a checkpoint folder: total bytes and file count. */
function inBucket(emu: Emu, name: string): { bytes: number; files: number } {
  const paths = emu.listPaths(BUCKET).filter((p) => p.startsWith(`${RUN}/${name}/`));
  return { bytes: paths.reduce((n, p) => n + (emu.fileInfo(BUCKET, p)?.size ?? 0), 0), files: paths.length };
}

function expectByteExact(emu: Emu, c: WrittenCheckpoint): void {
  for (const [rel, bytes] of Object.entries(c.files)) {
    const stored = emu.readFile(BUCKET, `${RUN}/${c.name}/${rel}`);
    expect(stored && sha256(stored), `${c.name}/${rel}`).toBe(sha256(bytes));
  }
}

describe('a training run publishes each checkpoint with its own post', () => {
  it('three checkpoints with save_total_limit=2: each lands byte-exact and gets exactly one post naming it, its step and its size in the bucket; the run note, written before the trainer created the run folder, is only quoted; a rotated checkpoint stays listed', async () => {
    const t = await hubWorkspace(BUCKET);
    const runDir = path.join(t.outbox, 'checkpoints/run1');
    // As a user does: the description first; the Trainer creates its output_dir when it starts.
    await mkdir(path.join(t.outbox, 'checkpoints'), { recursive: true });
    await writeFile(path.join(t.outbox, 'checkpoints/run1.note.md'), '---\ntitle: Qwen LoRA r16 on GSM8K\ntags: [lora]\n---\nCoT prompts, lr 5e-5.\n');
    const d = new Daemon(['watch', ...t.args()]);
    await d.waitForLog((l) => /^watching the outbox/.test(l.msg));
    // The note has settled and been read before the run folder exists.
    const noteState = async () =>
      (JSON.parse((await runCli(['status', '--json', ...t.args()])).stdout) as { announcements: Array<{ source: string; state: string; reason?: string }> }).announcements.find(
        (a) => a.source === 'checkpoints/run1.note.md',
      );
    await waitFor(async () => (await noteState()) !== undefined, 60_000, 'the run note to be read');
    expect(await noteState()).toMatchObject({ state: 'waiting', reason: expect.stringContaining('checkpoints/run1/ to appear') });

    const writer = new TrainerWriter({ runDir, saveTotalLimit: 2 });
    const written: WrittenCheckpoint[] = [];
    for (const step of [100, 200, 300]) {
      const c = await writer.save(step);
      written.push(c);
      await waitFor(() => posts(t.emu).some((p) => p.meta.checkpoint?.name === c.name), 60_000, `the post for ${c.name}`);
    }
    expect(written[2]?.rotated).toEqual(['checkpoint-100']);
    // Nothing else is posted: not the run note on its own, not the run folder.
    await d.waitForLog((l) => l.msg === 'announced' && l['source'] === 'checkpoint:checkpoints/run1/checkpoint-300');
    const all = posts(t.emu);
    expect(all.map((p) => p.meta.checkpoint?.name).sort()).toEqual(['checkpoint-100', 'checkpoint-200', 'checkpoint-300']);

    for (const c of written) {
      expectByteExact(t.emu, c);
      const post = all.find((p) => p.meta.checkpoint.name === c.name) as Post;
      const bucket = inBucket(t.emu, c.name);
      expect(bucket.files).toBe(Object.keys(c.files).length);
      expect(post.meta.artifacts).toEqual([expect.objectContaining({ path: `${RUN}/${c.name}`, size_bytes: bucket.bytes, file_count: bucket.files })]);
      expect(post.meta.checkpoint).toMatchObject({ step: c.step, metrics: { global_step: c.step, loss: 2 / Math.sqrt(c.step) } });
      expect(post.meta.title).toBe(`Qwen LoRA r16 on GSM8K: ${c.name} (step ${c.step})`);
      expect(post.text).toContain(`step ${c.step}, ${bucket.files} files`);
      expect(post.text).toContain('> CoT prompts, lr 5e-5.');
      expect(post.text).toContain(`hf buckets sync hf://buckets/${BUCKET}/${RUN}/${c.name}/ ./${c.name}/`);
    }
    // checkpoint-100 was deleted locally by the rotation before checkpoint-300's post: still listed from the bucket.
    const last = all.find((p) => p.meta.checkpoint.name === 'checkpoint-300') as Post;
    expect(last.meta.checkpoint.run_checkpoints).toEqual(['checkpoint-100', 'checkpoint-200', 'checkpoint-300']);
    expect(last.text).toContain('| checkpoint-100 | 100 | 8 |');

    const status = JSON.parse((await runCli(['status', '--json', ...t.args()])).stdout) as { announcements: Array<{ source: string; state: string }> };
    expect(status.announcements).toContainEqual(expect.objectContaining({ source: 'checkpoints/run1.note.md', state: 'quoted' }));
    await d.stop();
  });

  it('a second run writing checkpoint-100 again: plan shows replace, and its post says what it replaces', async () => {
    const t = await hubWorkspace(BUCKET);
    const runDir = path.join(t.outbox, 'checkpoints/run1');
    const args = t.args(['--auto-announce', 'checkpoints']);
    const first = await new TrainerWriter({ runDir }).save(100, { loss: 1.5 });
    expect((await runCli(['sync', ...args])).code).toBe(0);
    const [firstPost] = posts(t.emu);
    expect(firstPost?.meta.checkpoint).toMatchObject({ name: 'checkpoint-100', step: 100 });
    expect(firstPost?.meta.checkpoint.replaces).toBeUndefined();
    const publishedAt = t.emu.fileInfo(BUCKET, `${RUN}/checkpoint-100/model.safetensors`)?.uploadedAt;

    const second = await new TrainerWriter({ runDir }).save(100, { loss: 0.9 });
    const plan = (await runCli(['plan', '--json', ...args])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string; local: string; replaces?: { publishedAt: string } });
    const ckptLines = plan.filter((l) => l.local.startsWith('checkpoints/run1/checkpoint-100/'));
    expect(ckptLines.map((l) => l.action)).toEqual(Array(Object.keys(second.files).length).fill('replace'));

    const sync = await runCli(['sync', ...args]);
    expect(sync.code, sync.stdout).toBe(0);
    expect(sync.logs.filter((l) => typeof l['replacedPublishedAt'] === 'string')).toHaveLength(Object.keys(second.files).length);
    expectByteExact(t.emu, second);
    expect(sha256(t.emu.readFile(BUCKET, `${RUN}/checkpoint-100/model.safetensors`) ?? new Uint8Array())).not.toBe(sha256(first.files['model.safetensors'] as Buffer));

    const all = posts(t.emu);
    expect(all).toHaveLength(2);
    const update = all.find((p) => p.path !== firstPost?.path) as Post;
    const replacedAt = update.meta.checkpoint.replaces?.published_at ?? '';
    expect(update.meta.checkpoint).toMatchObject({ name: 'checkpoint-100', metrics: { loss: 0.9 }, replaces: { message: firstPost?.path } });
    expect(update.meta.supersedes).toBe(firstPost?.path);
    expect(Math.abs(Date.parse(replacedAt) - Date.parse(publishedAt ?? ''))).toBeLessThan(2_000);
    expect(update.text).toContain(`**This replaces the checkpoint-100 published at ${replacedAt}** (announced in \`${firstPost?.path}\`)`);
  });

  it('across crashes: a post prepared but not recorded is written once at the same path, and a checkpoint rotated away before its post still gets it', async () => {
    const root = tmpDir();
    const outbox = path.join(root, 'outbox');
    const bucket = path.join(root, 'bucket');
    const state = path.join(root, 'state');
    const args = ['--outbox', outbox, '--bucket', bucket, '--state-dir', state, '--agent-id', 'agent-01', '--settle-ms', '0', '--auto-announce', 'checkpoints'];
    const writer = new TrainerWriter({ runDir: path.join(outbox, 'checkpoints/run1') });
    await writer.save(100);
    await writer.save(200);
    expect((await runCli(['sync', ...args])).code).toBe(0);
    const board = path.join(bucket, 'message_board');
    const first = readdirSync(board).sort();
    expect(first).toHaveLength(2);
    const texts = first.map((n) => readFileSync(path.join(board, n), 'utf8'));

    // kill -9 between the write of checkpoint-100's post and its record: 'posting', same path and bytes.
    const db = new Database(path.join(state, 'state.sqlite'));
    db.prepare(`UPDATE announcements SET state = 'posting', posted_at = NULL WHERE source = 'checkpoint:checkpoints/run1/checkpoint-100'`).run();
    db.close();
    expect((await runCli(['sync', ...args])).code).toBe(0);
    expect(readdirSync(board).sort()).toEqual(first);
    expect(first.map((n) => readFileSync(path.join(board, n), 'utf8'))).toEqual(texts);

    // kill -9 after checkpoint-200 was recorded as uploaded, before its post was prepared; then the
    // trainer's rotation deleted it locally before hf-outbox started again.
    const db2 = new Database(path.join(state, 'state.sqlite'));
    db2.prepare(`UPDATE announcements SET state = 'waiting', message_path = NULL, message_text = NULL, posted_at = NULL WHERE source = 'checkpoint:checkpoints/run1/checkpoint-200'`).run();
    db2.close();
    const lost = first.find((n) => n.includes('checkpoint-200')) as string;
    rmSync(path.join(board, lost));
    await rm(path.join(outbox, 'checkpoints/run1/checkpoint-200'), { recursive: true });
    const r = await runCli(['sync', ...args]);
    expect(r.code, r.stdout).toBe(0);
    const after = readdirSync(board).sort();
    expect(after).toHaveLength(2);
    const again = readFileSync(path.join(board, after.find((n) => n.includes('checkpoint-200')) as string), 'utf8');
    expect(again).toContain('step 200, 8 files');
    expect(again).toContain('| **checkpoint-200** (this post) | 200 | 8 |');
    expect((await runCli(['sync', ...args])).code).toBe(0);
    expect(readdirSync(board)).toHaveLength(2);
  });
});
