/**
 * The hashing work of an upload on worker threads, so it runs on more than one core: where chunks
 * may end (the rolling hash, see cutsFromCandidates in xet-chunker.ts), the chunk hashes (BLAKE3 keyed
 * with the Xet data key: the same native or hash-wasm code as xet-chunker.ts, see chunk-blake3.ts)
 * and a file's sha256.
 *
 * The caller's bytes sit in SharedArrayBuffers: the workers read them where they are (never
 * copied over, nor moved), and the caller reuses a buffer once every task on it is answered. A task
 * goes to the worker with the least work in hand (bytes weighted by each task's cost); callers keep
 * their own order. A file's sha256 runs on the first worker, fed in file order (one thread's
 * messages are handled in the order sent), so the main thread computes none of the hashes.
 *
 * Workers hold the process open only while they have work: idle, they are unref'd, and close()
 * terminates them. A worker that throws or exits fails every task it held, and every later call,
 * with an error naming what happened.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { nativeBlake3Path } from './chunk-blake3.js';
import { DATA_KEY, GEAR_MASK, SCAN_STEP } from './xet-chunker.js';

/**
 * The worker's code (CommonJS, run with eval): the packages are required by the absolute paths the
 * parent resolved. Three tasks: `cuts` (every place the Xet rolling hash allows a chunk to end, in a
 * region; see cutsFromCandidates in xet-chunker.ts), `blake` (chunk hashes), `sha`/`digest` (a file's sha256).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { Hasher: Gear } = require(workerData.gearhash);
const ready = workerData.native
  ? Promise.resolve(require(workerData.native).Blake3Hasher.newKeyed(Buffer.from(workerData.key))).then((h) => ({
      hash(data) { h.reset(); h.update(data); return h.digestBuffer(); },
    }))
  : require(workerData.hashWasm).createBLAKE3(256, workerData.key).then((h) => ({
      hash(data) { h.init(); h.update(data); return h.digest('binary'); },
    }));
const gear = new Gear(BigInt(workerData.mask));
const STEP = workerData.scanStep;
const files = new Map();
// The rolling hash copies its input into its own memory; a copy out of shared memory is made word by
// word with atomics (slow), so each step is first copied here with Buffer#fill (one memcpy).
const local = Buffer.allocUnsafe(STEP);
function cuts(bytes, from, to, primed) {
  const out = [];
  gear.resetHash();
  let pos = primed ? Math.max(0, from - 64) : from;
  while (pos < to) {
    const step = Math.min(to, pos + STEP);
    const input = local.subarray(0, step - pos);
    input.fill(bytes.subarray(pos, step));
    let at = 0;
    while (at < input.length) {
      const found = gear.nextMatch(input.subarray(at));
      if (found === -1) break;
      at += found;
      if (pos + at > from) out.push(pos + at);
    }
    pos = step;
  }
  return Uint32Array.from(out);
}
parentPort.on('message', (task) => {
  ready.then((blake) => {
    if (task.kind === 'sha') {
      let h = files.get(task.file);
      if (!h) files.set(task.file, (h = createHash('sha256')));
      h.update(new Uint8Array(task.buf, task.start, task.length));
      parentPort.postMessage({ id: task.id });
    } else if (task.kind === 'digest') {
      const h = files.get(task.file) || createHash('sha256');
      files.delete(task.file);
      const digest = new Uint8Array(h.digest());
      parentPort.postMessage({ id: task.id, result: digest.buffer }, [digest.buffer]);
    } else if (task.kind === 'cuts') {
      const found = cuts(new Uint8Array(task.buf), task.from, task.to, task.primed);
      parentPort.postMessage({ id: task.id, result: found.buffer }, [found.buffer]);
    } else {
      const hashes = new Uint8Array(32 * task.lengths.length);
      let offset = task.start;
      for (let i = 0; i < task.lengths.length; i++) {
        const length = task.lengths[i];
        hashes.set(blake.hash(new Uint8Array(task.buf, offset, length)), 32 * i);
        offset += length;
      }
      parentPort.postMessage({ id: task.id, result: hashes.buffer }, [hashes.buffer]);
    }
  }).catch((error) => {
    parentPort.postMessage({ id: task.id, error: String(error && error.stack || error) });
  });
});
`;

/**
 * CPU cost of a task per byte, relative (measured on this project's machine, CPU s per GiB: rolling
 * hash 0.6, sha256 0.7, native BLAKE3 0.25): tasks go to the thread with the least work in hand, so
 * the thread that carries a file's sha256 gets fewer of the others.
 */
const COST = { cuts: 6, sha: 7, blake: 3 } as const;

/** The default number of hashing threads: half the cores this process may use (the rest stay with training), at least 1. */
export function defaultUploadThreads(): number {
  return Math.max(1, Math.floor(availableParallelism() / 2));
}

interface Task {
  id: number;
  resolve: (result: ArrayBuffer | undefined) => void;
  reject: (error: Error) => void;
}

interface Answer {
  id: number;
  result?: ArrayBuffer;
  error?: string;
}

interface Slot {
  worker: Worker;
  tasks: Map<number, Task & { cost: number }>;
  /** Work in hand: the sum of its tasks' costs. */
  load: number;
}

export class ChunkHashPool {
  readonly threads: number;
  readonly #slots: Slot[] = [];
  #nextId = 0;
  #broken: Error | undefined;
  #closed = false;

  /** `source` replaces the worker's code (tests use it to make a worker fail). */
  constructor(threads: number, source: string = WORKER_SOURCE) {
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`upload threads must be a whole number of at least 1, not ${threads}`);
    this.threads = threads;
    const require = createRequire(import.meta.url);
    const workerData = {
      hashWasm: require.resolve('hash-wasm'),
      gearhash: require.resolve('gearhash-jit'),
      native: nativeBlake3Path(),
      key: DATA_KEY,
      mask: GEAR_MASK.toString(),
      scanStep: SCAN_STEP,
    };
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(source, { eval: true, workerData, name: `hf-outbox chunk hashing ${i + 1}` });
      const slot: Slot = { worker, tasks: new Map(), load: 0 };
      worker.on('message', (m: Answer) => this.#answer(slot, m));
      worker.on('error', (error) => this.#fail(new Error(`a chunk-hashing worker thread failed: ${error.message}`, { cause: error })));
      worker.on('exit', (code) => {
        if (!this.#closed) this.#fail(new Error(`a chunk-hashing worker thread exited unexpectedly (exit code ${code})`));
      });
      // After the listeners: while the worker starts, a listener added after unref() holds the process open again.
      worker.unref();
      this.#slots.push(slot);
    }
  }

  /**
   * Where a chunk may end in `buf`'s bytes [from, to): every end offset e (from < e ≤ to) whose 64
   * bytes before it make the rolling hash match. `primed`: the 64 bytes before `from` are the file's
   * bytes before it (else `from` is the file's start). See cutsFromCandidates in xet-chunker.ts.
   */
  async cuts(buf: SharedArrayBuffer, from: number, to: number, primed: boolean): Promise<Uint32Array> {
    return new Uint32Array((await this.#send(this.#leastLoaded(), COST.cuts * (to - from), { kind: 'cuts', buf, from, to, primed })) as ArrayBuffer);
  }

  /** The chunk hashes (32 bytes each, in order) of the chunks laid end to end in `buf` from `start`, with these lengths. */
  async hash(buf: SharedArrayBuffer, start: number, lengths: readonly number[]): Promise<Uint8Array> {
    let bytes = 0;
    for (const l of lengths) bytes += l;
    return new Uint8Array((await this.#send(this.#leastLoaded(), COST.blake * bytes, { kind: 'blake', buf, start, lengths: Uint32Array.from(lengths) })) as ArrayBuffer);
  }

  /** Feeds `length` bytes of `buf` from `start` to file `file`'s sha256 (calls for one file are applied in the order made). */
  async sha256(file: number, buf: SharedArrayBuffer, start: number, length: number): Promise<void> {
    await this.#send(this.#slots[0] as Slot, COST.sha * length, { kind: 'sha', file, buf, start, length });
  }

  /** File `file`'s sha256 of everything fed so far (32 bytes); the file is forgotten. */
  async sha256Digest(file: number): Promise<Uint8Array> {
    return new Uint8Array((await this.#send(this.#slots[0] as Slot, 0, { kind: 'digest', file })) as ArrayBuffer);
  }

  #leastLoaded(): Slot {
    let slot = this.#slots[0] as Slot;
    for (const s of this.#slots) if (s.load < slot.load) slot = s;
    return slot;
  }

  #send(slot: Slot, cost: number, message: Record<string, unknown>): Promise<ArrayBuffer | undefined> {
    if (this.#broken) return Promise.reject(this.#broken);
    if (this.#closed) return Promise.reject(new Error('the chunk-hashing threads were already stopped'));
    const id = this.#nextId++;
    return new Promise<ArrayBuffer | undefined>((resolve, reject) => {
      if (slot.tasks.size === 0) slot.worker.ref();
      slot.tasks.set(id, { id, resolve, reject, cost });
      slot.load += cost;
      slot.worker.postMessage({ ...message, id });
    });
  }

  /** Stops every worker; batches still out fail. Safe to call more than once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#rejectAll(new Error('the chunk-hashing threads were stopped'));
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }

  #answer(slot: Slot, m: Answer): void {
    const task = slot.tasks.get(m.id);
    if (!task) return;
    slot.tasks.delete(m.id);
    slot.load -= task.cost;
    if (slot.tasks.size === 0) slot.worker.unref();
    if (m.error !== undefined) {
      this.#fail(new Error(`hashing chunks in a worker thread failed: ${m.error}`));
      task.reject(this.#broken as Error);
      return;
    }
    task.resolve(m.result);
  }

  /** A worker failed: every batch out and every later call fails with this error, and the workers stop. */
  #fail(error: Error): void {
    if (this.#broken || this.#closed) return;
    this.#broken = error;
    this.#rejectAll(error);
    this.#closed = true;
    for (const s of this.#slots) void s.worker.terminate();
  }

  #rejectAll(error: Error): void {
    for (const s of this.#slots) {
      for (const t of s.tasks.values()) t.reject(error);
      s.tasks.clear();
      s.load = 0;
      s.worker.unref();
    }
  }
}
