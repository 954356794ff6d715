/**
 * Stage "queue": turns settled files into upload calls. Items wait in a pending list; each
 * p-queue task, when it *starts*, takes the best batch available then (the highest priority,
 * oldest first: many small files together, a large file alone). Pulling at start rather than
 * at enqueue is what lets a burst of small files share one call while `concurrency` calls run.
 * A short linger (debounced, capped) lets files that settle a few milliseconds apart meet in one call.
 */
import PQueue from 'p-queue';
import type { Clock } from '../core/ports.js';

export interface BatchQueueOptions<T> {
  clock: Clock;
  concurrency: number;
  /** Wait this long after the last add before starting calls, unless a batch is already full. */
  lingerMs: number;
  /** Never linger longer than this after the first waiting add. */
  maxLingerMs: number;
  /** Most items per call (the bucket batch API takes 100). */
  maxBatchItems: number;
  /** Most bytes per call of small items; an item at least this large goes alone. */
  maxBatchBytes: number;
  key(item: T): string;
  sizeBytes(item: T): number;
  /** Lower runs first. */
  priority(item: T): number;
  run(batch: T[]): Promise<void>;
  onError(error: unknown, batch: T[]): void;
}

export interface BatchQueue<T> {
  /** Adds an item; an item with the same key still waiting is replaced (newer version wins). */
  add(item: T): void;
  /** Items waiting, not yet taken by a call. */
  waiting(): number;
  /** Calls running now. */
  running(): number;
  onIdle(): Promise<void>;
  /** Drops every waiting item (they are still recorded as pending in the state store). */
  clear(): T[];
}

interface Waiting<T> {
  item: T;
  seq: number;
}

export function createBatchQueue<T>(options: BatchQueueOptions<T>): BatchQueue<T> {
  const queue = new PQueue({ concurrency: options.concurrency });
  const waiting = new Map<string, Waiting<T>>();
  let seq = 0;
  let cancelLinger: (() => void) | undefined;
  let lingerStartedAt = 0;
  /** Resolvers of onIdle() callers waiting for a linger to end. */
  let lingerWaiters: Array<() => void> = [];

  const takeBatch = (): T[] => {
    if (waiting.size === 0) return [];
    const ordered = [...waiting.values()].sort(
      (a, b) => options.priority(a.item) - options.priority(b.item) || a.seq - b.seq,
    );
    const first = ordered[0] as Waiting<T>;
    const batch: T[] = [];
    if (options.sizeBytes(first.item) >= options.maxBatchBytes) {
      batch.push(first.item);
    } else {
      let bytes = 0;
      for (const w of ordered) {
        const size = options.sizeBytes(w.item);
        if (size >= options.maxBatchBytes) continue;
        if (batch.length >= options.maxBatchItems || bytes + size > options.maxBatchBytes) break;
        batch.push(w.item);
        bytes += size;
      }
    }
    for (const item of batch) waiting.delete(options.key(item));
    return batch;
  };

  const task = async () => {
    const batch = takeBatch();
    if (batch.length === 0) return;
    try {
      await options.run(batch);
    } catch (error) {
      options.onError(error, batch);
    }
  };

  /** Starts enough calls for what waits (calls pull their batch when they start). */
  const flush = () => {
    cancelLinger?.();
    cancelLinger = undefined;
    let large = 0;
    for (const w of waiting.values()) if (options.sizeBytes(w.item) >= options.maxBatchBytes) large++;
    const wanted = Math.min(options.concurrency, large + Math.ceil((waiting.size - large) / options.maxBatchItems));
    for (let i = queue.size; i < wanted; i++) void queue.add(task);
    const waiters = lingerWaiters;
    lingerWaiters = [];
    for (const w of waiters) w();
  };

  const linger = () => {
    const now = options.clock.now();
    if (cancelLinger === undefined) lingerStartedAt = now;
    cancelLinger?.();
    const delay = Math.min(options.lingerMs, Math.max(0, lingerStartedAt + options.maxLingerMs - now));
    cancelLinger = options.clock.setTimer(flush, delay);
  };

  // A finished call leaves whatever arrived meanwhile: start the next one.
  queue.on('next', () => {
    if (waiting.size > 0 && cancelLinger === undefined && queue.size === 0) flush();
  });

  return {
    add(item) {
      waiting.set(options.key(item), { item, seq: seq++ });
      if (waiting.size >= options.maxBatchItems) flush();
      else linger();
    },
    waiting: () => waiting.size,
    running: () => queue.pending,
    onIdle: async () => {
      // Items may still linger, or a call may have taken only one batch: loop until all is empty.
      while (waiting.size > 0 || queue.size > 0 || queue.pending > 0) {
        if (cancelLinger !== undefined) await new Promise<void>((resolve) => lingerWaiters.push(resolve));
        else if (waiting.size > 0 && queue.size === 0 && queue.pending === 0) flush();
        await queue.onIdle();
      }
    },
    clear() {
      const items = [...waiting.values()].map((w) => w.item);
      waiting.clear();
      queue.clear();
      flush();
      return items;
    },
  };
}
