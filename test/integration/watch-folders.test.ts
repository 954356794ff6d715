/**
 * The watcher on a real file system, in both watch modes (events: one inotify watch per folder;
 * poll: folder stats every interval, as on a network file system): it must see files in folders
 * that appear after it started (created, moved in, nested), follow renamed and removed folders,
 * leave ignored folders alone, and stay quiet once closed. Then the daemon on it: a checkpoint
 * folder moved in whole lands, and a removed folder is recorded as gone locally.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { NodeOutboxFs } from '../../src/adapters/node-fs.js';
import { systemClock } from '../../src/adapters/system-clock.js';
import { pollOutbox } from '../../src/pipeline/poll.js';
import { watchOutbox, type WatchEvent, type WatchOptions, type Watcher } from '../../src/pipeline/watch.js';
import { outboxIn, tmpDir, treeHashes, writeTree } from '../helpers/tmp.js';
import { localWorkspace } from '../helpers/local-workspace.js';

async function until(what: string, ok: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

type Mode = 'events' | 'poll';
/** Poll interval of these tests: short, so the waits stay short. */
const POLL_MS = 100;

function recorder(root: string, mode: Mode): { events: WatchEvent[]; errors: Error[]; watcher: Watcher; has(type: WatchEvent['type'], relPath: string): boolean } {
  const events: WatchEvent[] = [];
  const errors: Error[] = [];
  const options: WatchOptions = {
    isIgnored: (rel) => rel.split('/').some((s) => s.startsWith('.')),
    onEvent: (e) => events.push(e),
    onError: (e) => errors.push(e),
  };
  const watcher =
    mode === 'events'
      ? watchOutbox(root, options)
      : pollOutbox(root, { ...options, fs: new NodeOutboxFs(), clock: systemClock, intervalMs: POLL_MS });
  return { events, errors, watcher, has: (type, relPath) => events.some((e) => e.type === type && e.relPath === relPath) };
}

describe.each(['events', 'poll'] as const)('watching folders (watch mode %s)', (mode) => {
  it('reports files in folders that existed, were created later (nested), or were moved in', async () => {
    const root = tmpDir();
    const outbox = outboxIn(root);
    await writeTree(outbox, { 'data/old/a.bin': 'a', '.git/x': 'x' });
    const w = recorder(outbox, mode);
    try {
      await w.watcher.ready;
      expect(w.events).toEqual([]);

      await writeFile(path.join(outbox, 'data/old/b.bin'), 'b');
      await until('a file in an existing folder', () => w.has('change', 'data/old/b.bin'));

      await mkdir(path.join(outbox, 'data/new/deep/er'), { recursive: true });
      await until('the new folder', () => w.has('addDir', 'data/new'));
      await until('its nested folder', () => w.has('addDir', 'data/new/deep/er'));
      await writeFile(path.join(outbox, 'data/new/deep/er/c.bin'), 'c');
      await until('a file in the nested new folder', () => w.has('change', 'data/new/deep/er/c.bin'));

      // A tree prepared elsewhere and moved in: announced (its files came without events), then watched.
      await writeTree(root, { 'staging/ck/sub/w.bin': 'w' });
      await rename(path.join(root, 'staging/ck'), path.join(outbox, 'data/ck'));
      await until('the moved-in folder', () => w.has('addDir', 'data/ck') && w.has('addDir', 'data/ck/sub'));
      await writeFile(path.join(outbox, 'data/ck/sub/later.bin'), 'later');
      await until('a file written into the moved-in folder', () => w.has('change', 'data/ck/sub/later.bin'));

      await writeFile(path.join(outbox, '.git/y'), 'y');
      await sleep(200);
      expect(w.events.some((e) => e.relPath.startsWith('.git'))).toBe(false);
      expect(w.errors).toEqual([]);
    } finally {
      await w.watcher.close();
    }
  });

  it('follows a renamed folder under its new name, reports removed folders, and watches one made again', async () => {
    const root = tmpDir();
    const outbox = outboxIn(root);
    await writeTree(outbox, { 'data/x/in/a.bin': 'a' });
    const w = recorder(outbox, mode);
    try {
      await w.watcher.ready;
      await rename(path.join(outbox, 'data/x'), path.join(outbox, 'data/y'));
      await until('the old name gone', () => w.has('unlinkDir', 'data/x') && w.has('unlinkDir', 'data/x/in'));
      await until('the new name', () => w.has('addDir', 'data/y') && w.has('addDir', 'data/y/in'));
      w.events.length = 0;
      await writeFile(path.join(outbox, 'data/y/in/b.bin'), 'b');
      await until('a write under the new name', () => w.has('change', 'data/y/in/b.bin'));
      expect(w.events.some((e) => e.relPath.startsWith('data/x/'))).toBe(false);

      await rm(path.join(outbox, 'data/y'), { recursive: true });
      await until('the removed folder', () => w.has('unlinkDir', 'data/y'));
      await mkdir(path.join(outbox, 'data/y'));
      await until('the folder made again', () => w.has('addDir', 'data/y'));
      await writeFile(path.join(outbox, 'data/y/c.bin'), 'c');
      await until('a file in the folder made again', () => w.has('change', 'data/y/c.bin'));
      expect(w.errors).toEqual([]);
    } finally {
      await w.watcher.close();
    }
    const after = w.events.length;
    await writeFile(path.join(outbox, 'data/y/d.bin'), 'd');
    await sleep(200);
    expect(w.events.length).toBe(after);
  });

  it('the daemon publishes a checkpoint folder moved in whole, and records a removed folder as gone locally', async () => {
    const ws = localWorkspace({ watchMode: mode, pollIntervalMs: POLL_MS });
    const { root, outbox, bucketDir } = ws;
    await writeTree(outbox, { 'data/old/keep.bin': 'keep' });
    const { daemon, state } = ws.open();
    try {
      await daemon.prepare();
      await daemon.watch();
      await daemon.scan();
      await daemon.drain();
      expect(state.get('data/old/keep.bin')?.state).toBe('uploaded');

      await writeTree(root, { 'staging/lora/adapter.safetensors': 'weights', 'staging/lora/cfg/config.json': '{}' });
      await rename(path.join(root, 'staging/lora'), path.join(outbox, 'checkpoints/lora'));
      await until('the moved-in checkpoint to land', () => state.get('checkpoints/lora/cfg/config.json')?.state === 'uploaded' && state.get('checkpoints/lora/adapter.safetensors')?.state === 'uploaded', 10_000);
      expect(Object.keys(treeHashes(bucketDir)).sort()).toEqual([
        'artifacts/checkpoints/lora_agent-01/adapter.safetensors',
        'artifacts/checkpoints/lora_agent-01/cfg/config.json',
        'artifacts/data/old/keep_agent-01.bin',
      ]);

      await rm(path.join(outbox, 'data/old'), { recursive: true });
      await until('the removed folder to be recorded', () => state.get('data/old/keep.bin')?.localPresent === false);
      expect(Object.keys(treeHashes(bucketDir))).toContain('artifacts/data/old/keep_agent-01.bin');
    } finally {
      await daemon.stop();
      state.close();
    }
  });
});
