/**
 * The config file watcher, on a real file system: every way a config file gets replaced is
 * reported once, after the replacement is complete; an event that leaves the bytes as they were
 * is not. Then the daemon: `watch --config FILE` applies an edit without a signal, refuses an
 * invalid one (keeping the old config, logging why), and a Kubernetes ConfigMap swap.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { watchConfigFile, type ConfigFileWatcher } from '../../src/config/watch-file.js';
import { Daemon, waitFor } from '../helpers/cli.js';
import { tmpDir, writeTree } from '../helpers/tmp.js';

async function watching(file: string): Promise<{ changes: () => number; errors: Error[]; watcher: ConfigFileWatcher }> {
  let n = 0;
  const errors: Error[] = [];
  const watcher = watchConfigFile(file, { onChange: () => n++, onError: (e) => errors.push(e), debounceMs: 100 });
  await watcher.ready;
  return { changes: () => n, errors, watcher };
}

/** A ConfigMap volume as the kubelet lays it out: FILE → ..data/FILE, ..data → ..<timestamp>/. */
async function configMap(dir: string, version: string, content: string): Promise<void> {
  const stamp = `..2026_12_01_${version}`;
  await mkdir(path.join(dir, stamp), { recursive: true });
  await writeFile(path.join(dir, stamp, 'hf-outbox.yaml'), content);
  await symlink(stamp, path.join(dir, '..data_tmp'));
  // The swap is one rename of the symlink over the old one.
  await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
}

describe('config file watcher', () => {
  it('reports an in-place write, a rename-over (vim, sed -i) and a removal, once each; a touch with the same bytes is no change', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'hf-outbox.yaml');
    await writeFile(file, 'settle-ms: 100\n');
    const w = await watching(file);
    try {
      await writeFile(file, 'settle-ms: 200\n');
      await waitFor(() => w.changes() === 1, 10_000, 'the in-place write');

      // sed -i writes a temp file in the same folder and renames it over the original.
      await writeFile(path.join(dir, 'sedXYZ'), 'settle-ms: 300\n');
      await rename(path.join(dir, 'sedXYZ'), file);
      await waitFor(() => w.changes() === 2, 10_000, 'the rename-over');
      execFileSync('sed', ['-i', 's/300/400/', file]);
      await waitFor(() => w.changes() === 3, 10_000, 'sed -i');

      // Same bytes, new mtime; another file in the folder: nothing to reload.
      await utimes(file, new Date(), new Date());
      await writeFile(path.join(dir, 'other.yaml'), 'x: 1\n');
      await sleep(600);
      expect(w.changes()).toBe(3);

      await rm(file);
      await waitFor(() => w.changes() === 4, 10_000, 'the removal');
      await writeFile(file, 'settle-ms: 400\n');
      await waitFor(() => w.changes() === 5, 10_000, 'the file made again');
      expect(w.errors).toEqual([]);
    } finally {
      await w.watcher.close();
    }
  });

  it('reports a Kubernetes ConfigMap update (..data symlink swap, old folder removed) once', async () => {
    const dir = tmpDir();
    await configMap(dir, 'v1', 'settle-ms: 100\n');
    const file = path.join(dir, 'hf-outbox.yaml');
    await symlink('..data/hf-outbox.yaml', file);
    const w = await watching(file);
    try {
      await configMap(dir, 'v2', 'settle-ms: 200\n');
      await rm(path.join(dir, '..2026_12_01_v1'), { recursive: true });
      await waitFor(() => w.changes() === 1, 10_000, 'the swap');
      await sleep(600);
      expect(w.changes()).toBe(1);
      await configMap(dir, 'v3', 'settle-ms: 300\n');
      await rm(path.join(dir, '..2026_12_01_v2'), { recursive: true });
      await waitFor(() => w.changes() === 2, 10_000, 'the second swap');
      expect(w.errors).toEqual([]);
    } finally {
      await w.watcher.close();
    }
  });
});

describe('watch --config FILE applies edits without a signal', () => {
  it('applies an edit delivered by a ConfigMap swap, refuses an invalid one and keeps running on the old config', async () => {
    const root = tmpDir();
    const outbox = path.join(root, 'outbox');
    const cm = path.join(root, 'cm');
    const base = `outbox: ${outbox}\nbucket: ${path.join(root, 'bucket')}\nstate-dir: ${path.join(root, 'state')}\nagent-id: agent-01\nsettle-ms: 100\n`;
    await configMap(cm, 'v1', base);
    await mkdir(outbox);
    const file = path.join(cm, 'hf-outbox.yaml');
    await symlink('..data/hf-outbox.yaml', file);
    const d = new Daemon(['watch', '--config', file]);
    await d.waitForLog((l) => /watching the outbox/.test(l.msg));

    // Invalid: refused, with the reason; the daemon keeps publishing on the old config.
    await configMap(cm, 'v2', `${base}concurrency: lots\n`);
    await d.waitForLog((l) => /config file changed: the new configuration is invalid; still running on the previous one/.test(l.msg));
    expect(String(d.logs.find((l) => /invalid; still running/.test(l.msg))?.['err'])).toMatch(/concurrency: got "lots"/);
    await writeTree(outbox, { 'scripts/a.py': 'a', 'scripts/b.tmpl': 'b' });
    await d.waitForLog((l) => l.msg === 'uploaded' && l['local'] === 'scripts/b.tmpl');

    // Valid, by the ConfigMap swap: applied.
    await configMap(cm, 'v3', `${base}ignore: ["*.tmpl"]\n`);
    await d.waitForLog((l) => l.msg === 'config file changed: configuration reloaded');
    await writeTree(outbox, { 'scripts/c.tmpl': 'ignored now', 'scripts/d.py': 'd' });
    await d.waitForLog((l) => l.msg === 'uploaded' && l['local'] === 'scripts/d.py');
    expect(d.logs.some((l) => l.msg === 'uploaded' && l['local'] === 'scripts/c.tmpl')).toBe(false);
    expect(d.child.exitCode).toBeNull();
    expect(await d.stop()).toBe(0);
  });

  it('watch-config: false leaves the file alone until SIGHUP', async () => {
    const root = tmpDir();
    const file = path.join(root, 'hf-outbox.yaml');
    const base = `outbox: ${path.join(root, 'outbox')}\nbucket: ${path.join(root, 'bucket')}\nstate-dir: ${path.join(root, 'state')}\nagent-id: agent-01\nwatch-config: false\n`;
    await writeFile(file, base);
    await mkdir(path.join(root, 'outbox'));
    const d = new Daemon(['watch', '--config', file]);
    await d.waitForLog((l) => /watching the outbox/.test(l.msg));
    await writeFile(path.join(root, 'tmp.yaml'), `${base}settle-ms: 50\n`);
    await rename(path.join(root, 'tmp.yaml'), file);
    await sleep(1_500);
    expect(d.logs.some((l) => /configuration reloaded/.test(l.msg))).toBe(false);
    d.child.kill('SIGHUP');
    await d.waitForLog((l) => l.msg === 'SIGHUP: configuration reloaded');
    expect(await d.stop()).toBe(0);
  });
});
