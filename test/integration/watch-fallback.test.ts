/**
 * The watcher can give up (inotify limits): the daemon must not die, must log the sysctl to raise,
 * and must keep finding files by rescanning.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/log.js';
import type { WatchOptions } from '../../src/pipeline/watch.js';
import { treeHashes, writeTree } from '../helpers/tmp.js';
import { localWorkspace } from '../helpers/local-workspace.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('watcher failure', () => {
  it('on ENOSPC: logs the sysctl to raise, keeps running, and rescans the outbox every 30 s instead', async () => {
    const ws = localWorkspace();
    const { outbox, bucketDir } = ws;
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    let watchOptions: WatchOptions | undefined;
    const { daemon: outboxDaemon, state } = ws.open({
      logger: createLogger({ level: 'debug', destination: sink }),
      watch: (_root, options) => {
        watchOptions = options;
        return { ready: Promise.resolve(), close: async () => undefined };
      },
    });
    try {
      await outboxDaemon.prepare();
      await outboxDaemon.watch();
      await outboxDaemon.scan();
      const enospc = Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' });
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      watchOptions?.onError(enospc);
      expect(lines.find((l) => l['code'] === 'ENOSPC')?.['msg']).toMatch(/sysctl fs\.inotify\.max_user_watches=/);
      // No more events will come: the outbox is rescanned every 30 s instead.
      const rescans = () => lines.filter((l) => l['msg'] === 'rescanning the outbox' && l['why'] === 'fallback').length;
      await vi.advanceTimersByTimeAsync(29_000);
      expect(rescans()).toBe(0);
      await vi.advanceTimersByTimeAsync(2_000);
      expect(rescans()).toBe(1);
      await vi.advanceTimersByTimeAsync(30_000);
      expect(rescans()).toBe(2);
      vi.useRealTimers();
      // What a rescan finds is published like anything else.
      await writeTree(outbox, { 'scripts/late.py': 'found by a rescan' });
      await outboxDaemon.scan();
      await outboxDaemon.drain();
      expect(Object.keys(treeHashes(bucketDir))).toEqual(['artifacts/scripts/late_agent-01.py']);
    } finally {
      vi.useRealTimers();
      await outboxDaemon.stop();
      state.close();
    }
  });
});
