/**
 * The scan backlog, between scan and settle: units a scan found wait here as a list of paths and
 * are released to the settle stage only while fewer than a few batches' worth of work wait in the
 * settle stage and the queue. A backlog of 100,000 files waits as paths, not as 100,000 settle
 * checks and queued jobs (each pending check held ~5 KB: a stat in flight and its promises).
 * Released highest priority first: notes, results, scripts, then the rest, heavy categories last.
 */
import { DEFAULT_FILES_PER_CALL } from '../core/ports.js';
import { isNote, type CompiledRules } from './naming.js';

/** Categories announced and used first: cheap, and what other agents wait for. */
const CATEGORY_PRIORITY: Record<string, number> = { results: 0, scripts: 1 };
const DEFAULT_PRIORITY = 2;
const HEAVY_PRIORITY = 3;
const HEAVY_CATEGORIES = new Set(['checkpoints', 'data']);
/** Notes go before everything: they are tiny and say what the rest is. */
const NOTE_PRIORITY = -1;
/** The backlog keeps this many upload calls' worth of units in the settle stage and the queue. */
export const BACKLOG_BATCHES_AHEAD = 4;

/**
 * Units let ahead of the backlog for a queue sending `batchFiles` files per call: a few calls'
 * worth, never fewer than for calls of the default size (a bucket taking small calls still keeps
 * the settle stage busy).
 */
export function backlogHighWater(batchFiles: number): number {
  return BACKLOG_BATCHES_AHEAD * Math.max(batchFiles, DEFAULT_FILES_PER_CALL);
}

/** The priority class (lower first) of everything under a path's category (its first segment). */
export function categoryPriority(relPath: string): number {
  const category = relPath.split('/')[0] ?? '';
  if (category in CATEGORY_PRIORITY) return CATEGORY_PRIORITY[category] as number;
  if (HEAVY_CATEGORIES.has(category)) return HEAVY_PRIORITY;
  return DEFAULT_PRIORITY;
}

export interface BacklogOptions {
  /** Units allowed in the settle stage and the queue together before the backlog holds back. */
  highWater: number;
  /** Units in the settle stage and waiting in the queue now. */
  ahead(): number;
  /** The naming rules now (a reload may change them): a note is released before every artifact. */
  rules(): CompiledRules;
  /** Hands a unit to the settle stage. */
  release(unitPath: string): void;
}

export interface Backlog {
  /** A scan found this unit (kept once, in the order found within its priority class). */
  add(unitPath: string): void;
  /** A watcher event handles the unit now: it no longer waits here. */
  drop(unitPath: string): void;
  /** Releases units while there is room ahead; call whenever the settle stage or queue shrinks. */
  feed(): void;
  size(): number;
  /** Drops every waiting unit and releases no more (the daemon is stopping). */
  clear(): void;
}

export function createBacklog(options: BacklogOptions): Backlog {
  /** Units by priority class, each in the order found. */
  const classes = new Map<number, Set<string>>();
  let size = 0;
  let closed = false;
  return {
    add(unitPath) {
      const cls = isNote(unitPath, options.rules()) ? NOTE_PRIORITY : categoryPriority(unitPath);
      let units = classes.get(cls);
      if (units === undefined) classes.set(cls, (units = new Set()));
      if (units.has(unitPath)) return;
      units.add(unitPath);
      size++;
    },
    drop(unitPath) {
      if (size === 0) return;
      for (const units of classes.values()) {
        if (units.delete(unitPath)) {
          size--;
          return;
        }
      }
    },
    feed() {
      if (size === 0 || closed) return;
      let room = options.highWater - options.ahead();
      if (room <= 0) return;
      for (const cls of [...classes.keys()].sort((a, b) => a - b)) {
        const units = classes.get(cls) as Set<string>;
        for (const unit of units) {
          if (room <= 0) return;
          units.delete(unit);
          size--;
          room--;
          options.release(unit);
        }
        classes.delete(cls);
      }
    },
    size: () => size,
    clear() {
      closed = true;
      classes.clear();
      size = 0;
    },
  };
}
