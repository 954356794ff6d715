/**
 * A first scan of a large backlog: the units found wait as a list of paths and are released to the
 * settle stage a few batches ahead of the queue (bounded memory), highest priority first; every
 * file is sent exactly once and `drain()` waits for the whole backlog.
 */
import { describe, expect, it } from 'vitest';
import { writeTree } from '../helpers/tmp.js';
import { localWorkspace, noWatcher } from '../helpers/local-workspace.js';

describe('scan backlog', () => {
  it('holds only a few batches in the settle stage and queue, sends results first and every file once', async () => {
    const ws = localWorkspace();
    const { outbox } = ws;
    const files: Record<string, string> = {};
    for (let i = 0; i < 1500; i++) files[`data/d${i % 5}/f${String(i).padStart(4, '0')}.bin`] = `content ${i}`;
    files['results/run1/eval.json'] = JSON.stringify({ experiment: 'x', score: 1 });
    files['scripts/train.py'] = 'print(1)\n';
    await writeTree(outbox, files);
    const { daemon, state } = ws.open({ watch: noWatcher });
    const uploaded: string[] = [];
    let most = 0;
    const sample = () => {
      const q = daemon.queueStats();
      most = Math.max(most, q.waiting + daemon.unsettled().length);
    };
    daemon.on('queued', sample);
    daemon.on('uploaded', (e) => {
      uploaded.push(e.localPath);
      sample();
    });
    try {
      await daemon.prepare();
      await daemon.watch();
      expect(await daemon.scan()).toEqual({ files: 1502 });
      // Units not yet released still count as settling.
      expect(daemon.queueStats().settling).toBeGreaterThan(1000);
      await daemon.drain();
      expect(uploaded).toHaveLength(1502);
      expect(new Set(uploaded).size).toBe(1502);
      // 4 batches of 100 (the local bucket's call size) ahead, never the whole backlog.
      expect(most).toBeLessThanOrEqual(400);
      // Released first, so in the first batches (two run at once, and a batch may be taken before every check of the first release is back).
      expect(uploaded.indexOf('results/run1/eval.json')).toBeLessThan(200);
      expect(uploaded.indexOf('scripts/train.py')).toBeLessThan(200);
      expect(state.counts().uploaded).toBe(1502);
      expect(daemon.queueStats()).toEqual({ waiting: 0, running: 0, settling: 0 });
    } finally {
      await daemon.stop();
      state.close();
    }
  });
});
