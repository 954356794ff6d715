/**
 * Stage "watch", polling variant: for outboxes on network file systems (NFS, Lustre, GPFS,
 * CIFS, FUSE…), where inotify never hears of what jobs on other hosts write.
 *
 * It reports the same events as the inotify watcher (`change`, `addDir`, `unlinkDir`), so the
 * rest of the pipeline does not know which one runs. The cost is bounded in two tiers:
 *
 * - Every `intervalMs`: one stat per FOLDER (not per file). A folder's mtime moves whenever an
 *   entry is created, removed or renamed in it; only such a folder is listed again, and its new
 *   listing is compared with the last one. A new file is reported at once and the settle stage
 *   takes it from there (it re-reads the unit until it stops changing, as with inotify). When a
 *   pass costs more CPU than `passCpuShare` of one core at that interval (very many folders, a
 *   slow machine), the next one waits longer, so polling never takes more than its share.
 * - Less often, the full pass (`fullPass`, the daemon's scan: one stat per file, compared with
 *   what was delivered): it finds what the folder pass cannot, a file rewritten in place under
 *   the same name. It runs every `fullPassMinMs` at most, and is spaced further so that it
 *   takes at most `fullPassCpuShare` of one core (measured on the previous pass).
 *
 * Folder mtimes can be coarse (1 s on some servers, 2 s on FAT): two changes within one tick of
 * the mtime clock leave the same mtime. So a folder that changed is listed again on every tick
 * for RACY_MS after the change was seen, which catches a second change that the first listing
 * raced with. A network file system may also cache folder attributes (NFS: acdirmin/acdirmax,
 * 30-60 s by default), which delays what any poller can see; see the README.
 */
import path from 'node:path';
import type { Clock, OutboxFs } from '../core/ports.js';
import type { FileKind } from '../core/types.js';
import type { WatchOptions, Watcher } from './watch.js';

export interface PollOptions extends WatchOptions {
  fs: OutboxFs;
  clock: Clock;
  /** Between the end of a folder pass and the start of the next (longer when a pass is costly, see passCpuShare). */
  intervalMs: number;
  /** @default 0.03 (3% of one core): the folder passes are spaced so they take at most this. */
  passCpuShare?: number;
  /** The full pass (every file stat'ed); the first one runs `fullPassMinMs` after the start. */
  fullPass?: () => Promise<unknown>;
  /** @default 60000 */
  fullPassMinMs?: number;
  /** @default 0.02 (2% of one core) */
  fullPassCpuShare?: number;
  /** CPU microseconds used by this process so far (user + system); injected by tests. */
  cpuMicros?: () => number;
}

export interface PollWatcher extends Watcher {
  /** What the passes cost so far, for the log and the bench. */
  stats(): PollStats;
}

export interface PollStats {
  folders: number;
  passes: number;
  /** Folders listed again because they changed (or were still within RACY_MS of a change). */
  relisted: number;
  /** CPU time of the folder passes, in µs (process-wide during each pass, so an upper bound). */
  passCpuMicros: number;
  fullPasses: number;
  /** Delay before the next full pass, as last computed. */
  fullPassEveryMs: number;
  /** Delay before the next folder pass, as last computed (intervalMs unless a pass was costly). */
  passEveryMs: number;
}

interface Folder {
  mtimeMs: number;
  ino: number;
  entries: Map<string, FileKind>;
  /** When (our clock) a change of this folder was last seen; 0: never. */
  changedAt: number;
}

/** A folder that changed is listed again for this long (coarse mtimes, see above). */
export const RACY_MS = 2_000;
/** Folder stats in flight at once. */
const STAT_CONCURRENCY = 16;

export function pollOutbox(root: string, options: PollOptions): PollWatcher {
  const { fs, clock } = options;
  const folders = new Map<string, Folder>();
  const fullPassMinMs = options.fullPassMinMs ?? 60_000;
  const cpuShare = options.fullPassCpuShare ?? 0.02;
  const cpuMicros = options.cpuMicros ?? (() => {
    const u = process.cpuUsage();
    return u.user + u.system;
  });
  const stats: PollStats = { folders: 0, passes: 0, relisted: 0, passCpuMicros: 0, fullPasses: 0, fullPassEveryMs: fullPassMinMs, passEveryMs: options.intervalMs };
  const passShare = options.passCpuShare ?? 0.03;
  let closed = false;
  let cancelTick: (() => void) | undefined;
  let cancelFull: (() => void) | undefined;
  /** An error is reported once per streak, not on every pass while a server is unreachable. */
  let failing = false;

  const abs = (rel: string) => (rel === '' ? root : path.join(root, ...rel.split('/')));
  const child = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);
  const emit: WatchOptions['onEvent'] = (event) => {
    if (!closed) options.onEvent(event);
  };

  const read = async (rel: string): Promise<Folder | undefined> => {
    const s = await fs.stat(abs(rel));
    if (s?.kind !== 'directory') return undefined;
    const entries = new Map<string, FileKind>();
    for (const e of await fs.list(abs(rel))) entries.set(e.name, e.kind);
    return { mtimeMs: s.mtimeMs, ino: s.ino, entries, changedAt: 0 };
  };

  /** Records `rel` and every folder under it; `announce`: report each one as a new folder. */
  const addTree = async (rel: string, announce: boolean): Promise<void> => {
    if (closed || folders.has(rel)) return;
    const folder = await read(rel);
    if (folder === undefined || closed) return;
    // A folder that just appeared may still be filling: look at it again on the next passes.
    if (announce) folder.changedAt = clock.now();
    folders.set(rel, folder);
    if (announce && rel !== '') emit({ type: 'addDir', relPath: rel });
    const subs = [...folder.entries].filter(([, kind]) => kind === 'directory').map(([name]) => name).sort();
    for (const name of subs) {
      const sub = child(rel, name);
      if (!options.isIgnored(sub)) await addTree(sub, announce);
    }
  };

  const removeTree = (rel: string) => {
    const prefix = `${rel}/`;
    for (const dir of [...folders.keys()]) {
      if (dir !== rel && !dir.startsWith(prefix)) continue;
      folders.delete(dir);
      emit({ type: 'unlinkDir', relPath: dir });
    }
  };

  /** Compares a folder's new listing with the one recorded, and reports the difference. */
  const diff = async (rel: string, before: Map<string, FileKind>, after: Map<string, FileKind>) => {
    for (const [name, kind] of before) {
      const now = after.get(name);
      if (now === kind) continue;
      const sub = child(rel, name);
      if (options.isIgnored(sub)) continue;
      if (kind === 'directory') removeTree(sub);
      else emit({ type: 'change', relPath: sub });
    }
    for (const [name, kind] of after) {
      if (before.get(name) === kind) continue;
      const sub = child(rel, name);
      if (options.isIgnored(sub)) continue;
      if (kind === 'directory') await addTree(sub, true);
      else emit({ type: 'change', relPath: sub });
    }
  };

  const visit = async (rel: string, now: number): Promise<void> => {
    const known = folders.get(rel);
    if (known === undefined || closed) return;
    const s = await fs.stat(abs(rel));
    // Gone or replaced: its parent's listing reports that (the outbox itself is never removed).
    if (s?.kind !== 'directory' || closed || folders.get(rel) !== known) return;
    const moved = s.mtimeMs !== known.mtimeMs || s.ino !== known.ino;
    if (!moved && (known.changedAt === 0 || now - known.changedAt > RACY_MS + options.intervalMs)) return;
    stats.relisted++;
    const entries = new Map<string, FileKind>();
    for (const e of await fs.list(abs(rel))) entries.set(e.name, e.kind);
    if (closed || folders.get(rel) !== known) return;
    const before = known.entries;
    known.entries = entries;
    known.mtimeMs = s.mtimeMs;
    known.ino = s.ino;
    if (moved) known.changedAt = now;
    await diff(rel, before, entries);
  };

  const pass = async (): Promise<void> => {
    const now = clock.now();
    const cpu0 = cpuMicros();
    // Parents before children: a removed parent drops its children from the map before they are visited.
    const order = [...folders.keys()].sort();
    let next = 0;
    let error: unknown;
    const worker = async () => {
      while (next < order.length && !closed) {
        const rel = order[next++] as string;
        try {
          await visit(rel, now);
        } catch (e) {
          error ??= e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(STAT_CONCURRENCY, order.length) }, worker));
    stats.passes++;
    const cpu = cpuMicros() - cpu0;
    stats.passCpuMicros += cpu;
    stats.passEveryMs = Math.max(options.intervalMs, Math.round(cpu / 1000 / passShare));
    stats.folders = folders.size;
    if (error !== undefined && !failing) options.onError(error instanceof Error ? error : new Error(String(error)));
    failing = error !== undefined;
  };

  const scheduleTick = () => {
    if (closed) return;
    cancelTick = clock.setTimer(() => {
      cancelTick = undefined;
      void pass().finally(scheduleTick);
    }, stats.passEveryMs);
  };

  const scheduleFull = (delayMs: number) => {
    const run = options.fullPass;
    if (closed || run === undefined) return;
    stats.fullPassEveryMs = delayMs;
    cancelFull = clock.setTimer(() => {
      cancelFull = undefined;
      const cpu0 = cpuMicros();
      void run()
        .catch((e: unknown) => options.onError(e instanceof Error ? e : new Error(String(e))))
        .finally(() => {
          stats.fullPasses++;
          const cpuMs = (cpuMicros() - cpu0) / 1000;
          scheduleFull(Math.max(fullPassMinMs, Math.round(cpuMs / cpuShare)));
        });
    }, delayMs);
  };

  // Started on the next tick: an error is never reported before the caller holds the watcher.
  const ready = Promise.resolve()
    .then(() => addTree('', false))
    .catch((e: unknown) => options.onError(e instanceof Error ? e : new Error(String(e))))
    .then(() => {
      stats.folders = folders.size;
      scheduleTick();
      scheduleFull(fullPassMinMs);
    });
  return {
    ready,
    stats: () => ({ ...stats }),
    close: async () => {
      closed = true;
      cancelTick?.();
      cancelFull?.();
      folders.clear();
    },
  };
}
