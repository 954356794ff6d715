/**
 * A rescan (the start-up scan, the periodic one) against what was delivered: unchanged files are
 * skipped without being read, any change of size, mtime or inode (a file replaced by a rename)
 * sends the file again, a new file is sent, and a removed one is recorded as gone locally while
 * the bucket keeps it. No watcher: only the scan can find these changes.
 */
import { rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sha256, treeHashes, writeTree } from '../helpers/tmp.js';
import { localWorkspace, noWatcher } from '../helpers/local-workspace.js';

describe('rescan', () => {
  it('sends exactly the files whose size, mtime or inode changed, and the new ones; records the removed ones', async () => {
    const ws = localWorkspace();
    const { outbox, bucketDir } = ws;
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++) files[`data/d${i % 3}/f${String(i).padStart(3, '0')}.bin`] = `content ${i}`;
    files['checkpoints/ck/w.bin'] = 'weights';
    await writeTree(outbox, files);
    // A whole-second mtime, so a replacement can carry exactly the same one.
    const T = 1_700_000_000;
    await utimes(path.join(outbox, 'data/d0/f000.bin'), T, T);
    const { daemon, state } = ws.open({ watch: noWatcher });
    const uploaded: string[] = [];
    daemon.on('uploaded', (e) => uploaded.push(e.localPath));
    try {
      await daemon.prepare();
      await daemon.watch();
      expect(await daemon.scan()).toEqual({ files: 301 });
      await daemon.drain();
      expect(uploaded).toHaveLength(301);

      // Nothing changed: nothing is sent.
      uploaded.length = 0;
      await daemon.scan();
      await daemon.drain();
      expect(uploaded).toEqual([]);

      const abs = (rel: string) => path.join(outbox, ...rel.split('/'));
      // Same size, same mtime, new inode: replaced by a rename.
      const before = await stat(abs('data/d0/f000.bin'));
      await writeFile(abs('data/d0/f000.tmp'), 'CONTENT 0');
      await utimes(abs('data/d0/f000.tmp'), T, T);
      await rename(abs('data/d0/f000.tmp'), abs('data/d0/f000.bin'));
      const after = await stat(abs('data/d0/f000.bin'));
      expect([after.size, after.mtimeMs, after.ino === before.ino]).toEqual([before.size, before.mtimeMs, false]);
      // Same size, new mtime.
      await writeFile(abs('data/d1/f001.bin'), 'CONTENT 1');
      await utimes(abs('data/d1/f001.bin'), new Date(), new Date(Date.now() + 5_000));
      // New size.
      await writeFile(abs('data/d2/f002.bin'), 'content 2, longer');
      // A file in a unit folder: the whole unit is looked at again.
      await writeFile(abs('checkpoints/ck/w.bin'), 'weights, trained more');
      await writeFile(abs('data/d0/new.bin'), 'new');
      await rm(abs('data/d1/f004.bin'));
      await rm(abs('data/d2'), { recursive: true });

      uploaded.length = 0;
      expect(await daemon.scan()).toEqual({ files: 301 - 1 - 100 + 1 });
      await daemon.drain();
      expect(uploaded.sort()).toEqual(['checkpoints/ck/w.bin', 'data/d0/f000.bin', 'data/d0/new.bin', 'data/d1/f001.bin']);
      expect(state.get('data/d1/f004.bin')?.localPresent).toBe(false);
      expect(state.get('data/d2/f005.bin')?.localPresent).toBe(false);
      expect(state.get('data/d0/f003.bin')?.localPresent).toBe(true);
      const bucket = treeHashes(bucketDir);
      expect(bucket['artifacts/data/d0/f000_agent-01.bin']).toBe(sha256('CONTENT 0'));
      expect(bucket['artifacts/data/d1/f004_agent-01.bin']).toBe(sha256('content 4'));
      expect(Object.keys(bucket)).toHaveLength(302);
    } finally {
      await daemon.stop();
      state.close();
    }
  });
});
