/**
 * Stage "queue": turns settled files into upload calls. Items wait in a pending list; each
 * p-queue task, when it *starts*, takes the best batch available then (the highest priority,
 * oldest first: many small files together, a large file alone). Pulling at start rather than
 * at enqueue is what lets a burst of small files share one call while `concurrency` calls run.
 * A short linger (debounced, capped) lets files that settle a few milliseconds apart meet in one call.
 */
import PQueue from 'p-queue';
import { DEFAULT_FILES_PER_CALL, type Clock } from '../core/ports.js';
import { categoryPriority } from './backlog.js';
import { LARGE_FILE_BYTES, type UploadJob } from './upload.js';

/** Files settling within this long of each other share an upload call (at most the max after the first). */
const BATCH_LINGER_MS = 100;
const BATCH_MAX_LINGER_MS = 1_000;

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
  /**
   * Items with the same group (a checkpoint folder's files) go in one call of their own, all of
   * them, in the order added, whatever the item and byte limits: the bucket registers them together.
   */
  group?(item: T): string | undefined;
  run(batch: T[]): Promise<void>;
  onError(error: unknown, batch: T[]): void;
}

export interface BatchQueue<T> {
  /** Adds an item; an item with the same key still waiting is replaced (newer version wins). */
  add(item: T): void;
  /** Adds items at once (a group is complete before any call can take part of it). */
  addMany(items: readonly T[]): void;
  /** Items waiting, not yet taken by a call. */
  waiting(): number;
  /** Calls running now. */
  running(): number;
  onIdle(): Promise<void>;
  /** Drops every waiting item (they are still recorded as pending in the state store). */
  clear(): T[];
}

export function createBatchQueue<T>(options: BatchQueueOptions<T>): BatchQueue<T> {
  const queue = new PQueue({ concurrency: options.concurrency });
  /**
   * Waiting items per priority class, each Map in arrival order (oldest first). No sort on the hot
   * path: taking a batch walks the classes in order, so it stays cheap with 100,000 items waiting.
   */
  const classes = new Map<number, Map<string, T>>();
  /** Which class an item key waits in, so a newer version replaces it wherever it is. */
  const classOf = new Map<string, number>();
  let large = 0;
  let cancelLinger: (() => void) | undefined;
  let lingerStartedAt = 0;
  /** Resolvers of onIdle() callers waiting for a linger to end. */
  let lingerWaiters: Array<() => void> = [];

  /**
   * Keys inside a running call. A newer version of such an item waits until that call ends: two
   * calls writing one path at once could land the older version last, and the newer one's
   * conflict check would see the older one's write as someone else's.
   */
  const busy = new Set<string>();
  const isBusy = (item: T) => busy.has(options.key(item));
  const isLarge = (item: T) => options.sizeBytes(item) >= options.maxBatchBytes;
  const waitingCount = () => classOf.size;

  const remove = (key: string): void => {
    const cls = classOf.get(key);
    if (cls === undefined) return;
    const items = classes.get(cls);
    const item = items?.get(key);
    if (item !== undefined && isLarge(item)) large--;
    items?.delete(key);
    classOf.delete(key);
  };

  const ordered = function* (): Generator<T> {
    for (const cls of [...classes.keys()].sort((a, b) => a - b)) yield* (classes.get(cls) as Map<string, T>).values();
  };

  const takeBatch = (): T[] => {
    const batch: T[] = [];
    let bytes = 0;
    for (const item of ordered()) {
      if (isBusy(item)) continue;
      const group = options.group?.(item);
      if (group !== undefined) {
        if (batch.length > 0) continue;
        // The whole group, in the order it was added, alone in its call.
        const members = [...ordered()].filter((other) => options.group?.(other) === group);
        if (members.some(isBusy)) continue;
        batch.push(...members);
        break;
      }
      if (batch.length === 0 && isLarge(item)) {
        batch.push(item);
        break;
      }
      if (isLarge(item)) continue;
      const size = options.sizeBytes(item);
      if (batch.length >= options.maxBatchItems || bytes + size > options.maxBatchBytes) break;
      batch.push(item);
      bytes += size;
    }
    for (const item of batch) remove(options.key(item));
    return batch;
  };

  const task = async () => {
    const batch = takeBatch();
    if (batch.length === 0) return;
    const keys = batch.map(options.key);
    for (const k of keys) busy.add(k);
    try {
      await options.run(batch);
    } catch (error) {
      options.onError(error, batch);
    } finally {
      for (const k of keys) busy.delete(k);
      // Whatever arrived meanwhile (a newer version of this call's files too): start the next call.
      queueMicrotask(() => {
        if (waitingCount() > 0 && cancelLinger === undefined && queue.size === 0) flush();
      });
    }
  };

  /** Starts enough calls for what waits (calls pull their batch when they start). */
  const flush = () => {
    cancelLinger?.();
    cancelLinger = undefined;
    const wanted = Math.min(options.concurrency, large + Math.ceil((waitingCount() - large) / options.maxBatchItems));
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

  const put = (item: T) => {
    const key = options.key(item);
    remove(key);
    const cls = options.priority(item);
    let items = classes.get(cls);
    if (items === undefined) classes.set(cls, (items = new Map()));
    items.set(key, item);
    classOf.set(key, cls);
    if (isLarge(item)) large++;
  };

  const addMany = (items: readonly T[]) => {
    for (const item of items) put(item);
    if (items.length === 0) return;
    if (waitingCount() >= options.maxBatchItems) flush();
    else linger();
  };

  return {
    addMany,
    add: (item) => addMany([item]),
    waiting: waitingCount,
    running: () => queue.pending,
    onIdle: async () => {
      // Items may still linger, or a call may have taken only one batch: loop until all is empty.
      while (waitingCount() > 0 || queue.size > 0 || queue.pending > 0) {
        if (cancelLinger !== undefined) await new Promise<void>((resolve) => lingerWaiters.push(resolve));
        else if (waitingCount() > 0 && queue.size === 0 && queue.pending === 0) flush();
        await queue.onIdle();
      }
    },
    clear() {
      const items = [...ordered()];
      classes.clear();
      classOf.clear();
      large = 0;
      queue.clear();
      flush();
      return items;
    },
  };
}

export interface UploadQueueOptions {
  clock: Clock;
  /** Upload calls at once. */
  concurrency: number;
  /** Most files the bucket takes per call (DEFAULT_FILES_PER_CALL when it names none). */
  maxFilesPerCall: number | undefined;
  run(batch: UploadJob[]): Promise<void>;
  onError(error: unknown, batch: UploadJob[]): void;
  /** A job entered the queue (each one, before any call can take it). */
  onQueued?(job: UploadJob): void;
  /** A call took a batch off the waiting list, before it runs: there is room for more. */
  onTaken?(): void;
}

export interface UploadQueue extends BatchQueue<UploadJob> {
  /** Most files one call carries. */
  readonly batchFiles: number;
}

/**
 * The queue of upload jobs: up to the bucket's files per call of small files together, a large
 * file (LARGE_FILE_BYTES) alone, a unit folder's files as one call; results and scripts before the
 * rest, heavy categories last; a newer version of a waiting file replaces it.
 */
export function createUploadQueue(options: UploadQueueOptions): UploadQueue {
  const batchFiles = options.maxFilesPerCall ?? DEFAULT_FILES_PER_CALL;
  const queue = createBatchQueue<UploadJob>({
    clock: options.clock,
    concurrency: options.concurrency,
    lingerMs: BATCH_LINGER_MS,
    maxLingerMs: BATCH_MAX_LINGER_MS,
    maxBatchItems: batchFiles,
    maxBatchBytes: LARGE_FILE_BYTES,
    key: (job) => job.file.localPath,
    sizeBytes: (job) => job.file.sizeBytes,
    priority: (job) => categoryPriority(job.file.localPath),
    group: (job) => (job.unitBucketPath === undefined ? undefined : job.file.unitPath),
    run: (batch) => {
      options.onTaken?.();
      return options.run(batch);
    },
    onError: options.onError,
  });
  const addMany = (jobs: readonly UploadJob[]) => {
    if (options.onQueued !== undefined) for (const job of jobs) options.onQueued(job);
    queue.addMany(jobs);
  };
  return { ...queue, addMany, add: (job) => addMany([job]), batchFiles };
}
