import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/adapters/system-clock.js';
import type { FileRecord } from '../../src/state/store.js';
import type { Config } from '../../src/config/parse.js';
import { createLogger } from '../../src/log.js';
import { compileRules } from '../../src/pipeline/naming.js';
import { FALLBACK_RESCAN_MS, createWatchIntake, type WatchIntakeDeps } from '../../src/pipeline/watch-events.js';
import type { WatchOptions } from '../../src/pipeline/watch.js';
import { MemoryFs } from '../fakes/memory-fs.js';

const ROOT = '/outbox';
const rules = compileRules({ agentId: 'agent-01', unitCategories: ['checkpoints'], ignore: [] });
const localFs = { name: 'ext4', magic: 0xef53, remote: false };

function harness(over: Partial<WatchIntakeDeps> = {}, config: Partial<Pick<Config, 'rescanIntervalMs' | 'watchMode'>> = {}) {
  const fs = new MemoryFs();
  const changed: string[] = [];
  const rejected: string[] = [];
  const goneLocally: string[] = [];
  const present = new Set<string>();
  let scans = 0;
  let watcher: WatchOptions | undefined;
  let closed = 0;
  const source = (_root: string, options: WatchOptions) => {
    watcher = options;
    return { ready: Promise.resolve(), close: async () => void closed++ };
  };
  const intake = createWatchIntake({
    fs,
    state: {
      get: (p) => (present.has(p) ? ({ localPresent: true } as FileRecord) : undefined),
      markGoneUnder: (dir) => [...present].filter((p) => p.startsWith(`${dir}/`)),
      markLocalGone: (p) => void goneLocally.push(p),
    },
    clock: systemClock,
    logger: createLogger({ level: 'silent' }),
    watch: source,
    poll: () => {
      throw new Error('not polling');
    },
    fsType: async () => localFs,
    live: { config: { outbox: ROOT, rescanIntervalMs: 3_600_000, watchMode: 'events', pollIntervalMs: 5_000, ...config }, rules },
    changed: (u) => void changed.push(u),
    rejected: async (p) => void rejected.push(p),
    scan: async () => void scans++,
    random: () => 0.5,
    ...over,
  });
  return {
    fs,
    intake,
    changed,
    rejected,
    goneLocally,
    present,
    scans: () => scans,
    closed: () => closed,
    emit: (type: 'change' | 'addDir' | 'unlinkDir', relPath: string) => watcher!.onEvent({ type, relPath }),
    fail: (code: string) => watcher!.onError(Object.assign(new Error(code), { code })),
  };
}

describe('watch events', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('restarts the settle wait of the unit an event touches (a file of a unit folder: the folder; a note: itself) and reports a refused name', async () => {
    const h = harness();
    await h.intake.start();
    h.emit('change', 'scripts/a.py');
    h.emit('change', 'checkpoints/run1/model.safetensors');
    h.emit('change', 'scripts/a.py.note.md');
    h.emit('change', 'scripts/bad?.py');
    h.emit('change', 'scripts/x.tmp');
    expect(h.changed).toEqual(['scripts/a.py', 'checkpoints/run1', 'scripts/a.py.note.md']);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.rejected).toEqual(['scripts/bad?.py']);
  });

  it('records a delivered file as gone locally when the event was its removal, and not while it is still there', async () => {
    const h = harness();
    await h.intake.start();
    h.present.add('scripts/gone.py');
    h.present.add('scripts/kept.py');
    h.fs.write(`${ROOT}/scripts/kept.py`, 'x');
    h.emit('change', 'scripts/gone.py');
    h.emit('change', 'scripts/kept.py');
    await vi.advanceTimersByTimeAsync(0);
    expect(h.goneLocally).toEqual(['scripts/gone.py']);
  });

  it('walks a folder that appeared, so files that came with it are settled, and asks the state about a removed one', async () => {
    const h = harness();
    await h.intake.start();
    h.fs.write(`${ROOT}/scripts/new/a.py`, 'a');
    h.fs.write(`${ROOT}/scripts/new/deep/b.py`, 'b');
    h.emit('addDir', 'scripts/new');
    await vi.advanceTimersByTimeAsync(0);
    expect(h.changed.sort()).toEqual(['scripts/new/a.py', 'scripts/new/deep/b.py']);
    h.emit('unlinkDir', 'scripts/new');
    expect(h.changed).toHaveLength(2);
  });

  it('out of inotify watches: closes the watcher, rescans at once and then every 30 s', async () => {
    const h = harness();
    await h.intake.start();
    h.intake.startRescans();
    h.fail('ENOSPC');
    expect(h.closed()).toBe(1);
    expect(h.scans()).toBe(1);
    await vi.advanceTimersByTimeAsync(FALLBACK_RESCAN_MS * 3);
    expect(h.scans()).toBe(4);
    await h.intake.close();
    await vi.advanceTimersByTimeAsync(FALLBACK_RESCAN_MS * 3);
    expect(h.scans()).toBe(4);
  });

  it('another watcher error rescans once and keeps the watcher', async () => {
    const h = harness();
    await h.intake.start();
    h.fail('EACCES');
    expect(h.scans()).toBe(1);
    expect(h.closed()).toBe(0);
    await vi.advanceTimersByTimeAsync(FALLBACK_RESCAN_MS * 3);
    expect(h.scans()).toBe(1);
  });

  it('rescans on the jittered interval (±25% of --rescan-interval-ms) once started', async () => {
    const h = harness({ random: () => 0 }, { rescanIntervalMs: 1_000 });
    await h.intake.start();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(h.scans()).toBe(0);
    h.intake.startRescans();
    await vi.advanceTimersByTimeAsync(749);
    expect(h.scans()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.scans()).toBe(1);
    await vi.advanceTimersByTimeAsync(750);
    expect(h.scans()).toBe(2);
  });

  it('polls instead of watching when the outbox is on a network file system', async () => {
    const polled: string[] = [];
    const h = harness({
      fsType: async () => ({ name: 'nfs', magic: 0x6969, remote: true }),
      poll: (root) => {
        polled.push(root);
        return { ready: Promise.resolve(), close: async () => undefined } as unknown as ReturnType<WatchIntakeDeps['poll']>;
      },
    }, { watchMode: 'auto' });
    await h.intake.start();
    expect(polled).toEqual([ROOT]);
  });
});
