/**
 * Stage "settle": decides when an artifact has stopped changing. The watcher only says that
 * something happened; this stage waits until the unit's size/mtime signature has been quiet for
 * `settleMs`, measured from the newest mtime (so files that were already old go at once) and
 * from the last change we saw. A unit folder is also judged by its layout (./completeness.ts):
 * one a known layout shows incomplete is never released, however long its writer pauses; one no
 * layout recognises waits `unitSettleMs` of quiet instead. A unit still changing (or incomplete)
 * after `settleTimeoutMs` is reported (a warning that says what it waits for), never released half-written.
 */
import type { Clock } from '../core/ports.js';
import type { SettledFile, SettledUnit } from '../core/types.js';
import type { Logger } from '../log.js';
import type { Completeness } from './completeness.js';

/** What the unit looks like on disk right now. */
export interface UnitSnapshot {
  unitKind: 'file' | 'directory';
  unitBucketPath: string;
  files: SettledFile[];
  /** For a unit folder: what its layout says (undefined for a single file). */
  completeness?: Completeness;
}

export interface SettleTiming {
  settleMs: number;
  /** Quiet period of a unit folder whose layout is unknown (the longer of this and settleMs applies). */
  unitSettleMs?: number;
  settleTimeoutMs: number;
}

export interface SettlerOptions {
  clock: Clock;
  logger: Logger;
  /** Read at every check: a configuration reload (SIGHUP) may change them. */
  timing(): SettleTiming;
  /** Reads the unit from disk; undefined when it is gone or holds no artifact file. */
  snapshot(unitPath: string): Promise<UnitSnapshot | undefined>;
  onSettled(unit: SettledUnit): void;
  /** A unit stopped waiting (settled, vanished, unreadable or forgotten): the stage has room for another. */
  onReleased?(unitPath: string): void;
  /**
   * Called once per unit that is still changing after settleTimeoutMs, or (with `waitingFor`) whose
   * layout shows it incomplete that long — at once when its files have been quiet that long already.
   * The stage has logged a warning saying so.
   */
  onUnsettled(unitPath: string, changingForMs: number, waitingFor?: string): void;
  /** The unit could not be read (logged as an error); it no longer waits. */
  onError?(unitPath: string, error: unknown): void;
}

export interface Settler {
  /** Something under the unit changed (`changed`: a watcher event) or was found by a scan. */
  touch(unitPath: string, how: { changed: boolean }): void;
  /** Units still waiting to settle. */
  waiting(): string[];
  /** How many units wait to settle (waiting().length without the copy). */
  count(): number;
  /** Stops waiting for a unit (sync gives up on one that never settles). */
  forget(unitPath: string): void;
  /** Resolves when no unit is waiting. */
  whenIdle(): Promise<void>;
  close(): void;
}

interface Entry {
  firstSeenAt: number;
  lastChangeAt: number;
  signature: string | undefined;
  /** Newest mtime in the current signature, and when that signature was first seen. */
  newestMtimeMs: number;
  signatureSeenAt: number;
  cancelTimer: (() => void) | undefined;
  /** When the scheduled check runs. */
  dueAt: number;
  /** The last check found the unit incomplete: a change makes the next check come soon. */
  incomplete: boolean;
  checking: boolean;
  /** A touch arrived while a check was reading the disk: look again before releasing. */
  dirty: boolean;
  reportedUnsettled: boolean;
}

/** Between re-checks of a unit whose quiet period has not elapsed (bounded so huge settleMs still polls). */
const MAX_RECHECK_MS = 5_000;
const MIN_RECHECK_MS = 50;
/** An incomplete unit is looked at again this soon after a change (the completing file may have arrived). */
const INCOMPLETE_RECHECK_MS = 200;

export function createSettler(options: SettlerOptions): Settler {
  const { clock } = options;
  const entries = new Map<string, Entry>();
  let idleWaiters: Array<() => void> = [];
  let closed = false;

  const unsettled = (unitPath: string, changingForMs: number, waitingFor?: string) => {
    if (waitingFor === undefined) {
      options.logger.warn({ unit: unitPath, changingForMs }, 'still being written; it is not sent until it stops changing for the settle time');
    } else {
      options.logger.warn(
        { unit: unitPath, waitingForMs: changingForMs, waitingFor },
        `incomplete (${waitingFor}); it is not sent until it is complete (a file named COMPLETE in the folder publishes it as it is)`,
      );
    }
    options.onUnsettled(unitPath, changingForMs, waitingFor);
  };

  const notifyIdle = (released?: string) => {
    if (released !== undefined && !closed) options.onReleased?.(released);
    if (entries.size > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  };

  const schedule = (unitPath: string, entry: Entry, delayMs: number) => {
    entry.cancelTimer?.();
    entry.dueAt = clock.now() + delayMs;
    entry.cancelTimer = clock.setTimer(() => {
      entry.cancelTimer = undefined;
      void check(unitPath, entry);
    }, delayMs);
  };

  const check = async (unitPath: string, entry: Entry): Promise<void> => {
    if (closed) return;
    entry.checking = true;
    entry.dirty = false;
    let snap: UnitSnapshot | undefined;
    try {
      snap = await options.snapshot(unitPath);
    } catch (error) {
      entry.checking = false;
      options.logger.error({ unit: unitPath, err: error }, 'cannot read artifact');
      options.onError?.(unitPath, error);
      entries.delete(unitPath);
      notifyIdle(unitPath);
      return;
    }
    entry.checking = false;
    if (closed || entries.get(unitPath) !== entry) return;
    const now = clock.now();
    const { settleMs, unitSettleMs, settleTimeoutMs } = options.timing();
    if (snap === undefined) {
      entries.delete(unitPath);
      notifyIdle(unitPath);
      return;
    }
    const signature = signatureOf(snap.files);
    const rawNewest = Math.max(0, ...snap.files.map((f) => f.mtimeMs));
    if (signature !== entry.signature) {
      if (entry.signature !== undefined) {
        // It changed since the last look. A forward-moving mtime says when; otherwise (a rename,
        // a preserved or skewed mtime) the change is dated to this look.
        const mtimeMoved = rawNewest > entry.newestMtimeMs && rawNewest <= now;
        entry.lastChangeAt = Math.max(entry.lastChangeAt, mtimeMoved ? rawNewest : now);
      }
      entry.signature = signature;
      entry.newestMtimeMs = rawNewest;
      entry.signatureSeenAt = now;
    }
    // An mtime in the future (clock skew, NFS) counts from when we first saw it, so it cannot block forever.
    const newest = rawNewest > now ? entry.signatureSeenAt : rawNewest;
    const verdict = snap.completeness;
    const quietMs = verdict?.state === 'unknown' ? Math.max(settleMs, unitSettleMs ?? 0) : settleMs;
    const quietSince = Math.max(newest, entry.lastChangeAt);
    entry.incomplete = verdict?.state === 'incomplete';
    if (verdict?.state === 'incomplete') {
      // A layout says files are still to come: no quiet period releases it. A folder already quiet
      // for the whole timeout (a crashed run's leftover) is reported at once.
      const waitingMs = Math.max(now - entry.firstSeenAt, now - quietSince);
      if (!entry.reportedUnsettled && waitingMs >= settleTimeoutMs) {
        entry.reportedUnsettled = true;
        unsettled(unitPath, waitingMs, `${verdict.rule}: waiting for ${verdict.waitingFor}`);
      }
      schedule(unitPath, entry, entry.dirty ? INCOMPLETE_RECHECK_MS : MAX_RECHECK_MS);
      return;
    }
    const readyAt = quietSince + quietMs;
    if (now >= readyAt && !entry.dirty) {
      entries.delete(unitPath);
      options.onSettled({ unitPath, unitKind: snap.unitKind, unitBucketPath: snap.unitBucketPath, files: snap.files, settledAtMs: now });
      notifyIdle(unitPath);
      return;
    }
    if (!entry.reportedUnsettled && now - entry.firstSeenAt >= settleTimeoutMs) {
      entry.reportedUnsettled = true;
      unsettled(unitPath, now - entry.firstSeenAt);
    }
    schedule(unitPath, entry, Math.min(MAX_RECHECK_MS, Math.max(MIN_RECHECK_MS, readyAt - now)));
  };

  return {
    touch(unitPath, how) {
      if (closed) return;
      const now = clock.now();
      let entry = entries.get(unitPath);
      if (entry === undefined) {
        entry = {
          firstSeenAt: now,
          lastChangeAt: how.changed ? now : 0,
          signature: undefined,
          newestMtimeMs: 0,
          signatureSeenAt: now,
          cancelTimer: undefined,
          dueAt: now,
          incomplete: false,
          checking: false,
          dirty: false,
          reportedUnsettled: false,
        };
        entries.set(unitPath, entry);
        schedule(unitPath, entry, 0);
        return;
      }
      if (how.changed) entry.lastChangeAt = now;
      if (entry.checking) entry.dirty = true;
      else if (how.changed && entry.incomplete && entry.dueAt > now + INCOMPLETE_RECHECK_MS) schedule(unitPath, entry, INCOMPLETE_RECHECK_MS);
    },
    waiting: () => [...entries.keys()],
    count: () => entries.size,
    forget(unitPath) {
      entries.get(unitPath)?.cancelTimer?.();
      const had = entries.delete(unitPath);
      notifyIdle(had ? unitPath : undefined);
    },
    whenIdle: () => (entries.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
    close() {
      closed = true;
      for (const e of entries.values()) e.cancelTimer?.();
      entries.clear();
      notifyIdle();
    },
  };
}

function signatureOf(files: readonly SettledFile[]): string {
  return files
    .map((f) => `${f.localPath}\0${f.sizeBytes}\0${f.mtimeMs}\0${f.ino}`)
    .sort()
    .join('\n');
}
