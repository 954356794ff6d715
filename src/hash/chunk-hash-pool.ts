/**
 * Xet chunk hashes (BLAKE3 keyed with the Xet data key, the same hash-wasm code as
 * src/hash/xet-chunker.ts) computed on worker threads, so an upload hashes on more than one core.
 *
 * A batch is one SharedArrayBuffer holding consecutive chunks, and their lengths: the workers read
 * the caller's bytes where they are (never copied, nor moved), and the caller packs the same bytes
 * and reuses the buffer once the batch is answered. Each batch goes to the worker with the fewest
 * tasks in hand; callers keep their own order (the writer awaits batches in the order it sent them).
 * A file's sha256 runs on the first worker, fed the same batches in file order (one thread's messages
 * are handled in the order sent), so the main thread computes none of the hashes.
 *
 * Workers hold the process open only while they have work: idle, they are unref'd, and close()
 * terminates them. A worker that throws or exits fails every batch it held, and every later call,
 * with an error naming what happened.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DATA_KEY } from './xet-chunker.js';

/** The worker's code (CommonJS, run with eval): hash-wasm is required by the absolute path the parent resolved. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { createBLAKE3 } = require(workerData.hashWasm);
const ready = createBLAKE3(256, workerData.key);
const files = new Map();
parentPort.on('message', (task) => {
  ready.then((blake) => {
    if (task.kind === 'sha') {
      let h = files.get(task.file);
      if (!h) files.set(task.file, (h = createHash('sha256')));
      h.update(new Uint8Array(task.buf, 0, task.used));
      parentPort.postMessage({ id: task.id });
    } else if (task.kind === 'digest') {
      const h = files.get(task.file) || createHash('sha256');
      files.delete(task.file);
      const digest = new Uint8Array(h.digest());
      parentPort.postMessage({ id: task.id, result: digest.buffer }, [digest.buffer]);
    } else {
      const hashes = new Uint8Array(32 * task.lengths.length);
      let offset = 0;
      for (let i = 0; i < task.lengths.length; i++) {
        const length = task.lengths[i];
        blake.init();
        blake.update(new Uint8Array(task.buf, offset, length));
        hashes.set(blake.digest('binary'), 32 * i);
        offset += length;
      }
      parentPort.postMessage({ id: task.id, result: hashes.buffer }, [hashes.buffer]);
    }
  }).catch((error) => {
    parentPort.postMessage({ id: task.id, error: String(error && error.stack || error) });
  });
});
`;

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
  tasks: Map<number, Task>;
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
    const hashWasm = createRequire(import.meta.url).resolve('hash-wasm');
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(source, { eval: true, workerData: { hashWasm, key: DATA_KEY }, name: `hf-outbox chunk hashing ${i + 1}` });
      const slot: Slot = { worker, tasks: new Map() };
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

  /** The chunk hashes (32 bytes each, in order) of the chunks laid end to end in `buf` with these lengths. */
  async hash(buf: SharedArrayBuffer, lengths: readonly number[]): Promise<Uint8Array> {
    let slot = this.#slots[0] as Slot;
    for (const s of this.#slots) if (s.tasks.size < slot.tasks.size) slot = s;
    return new Uint8Array((await this.#send(slot, { kind: 'blake', buf, lengths: Uint32Array.from(lengths) })) as ArrayBuffer);
  }

  /** Feeds the first `used` bytes of `buf` to file `file`'s sha256 (calls for one file are applied in the order made). */
  async sha256(file: number, buf: SharedArrayBuffer, used: number): Promise<void> {
    await this.#send(this.#slots[0] as Slot, { kind: 'sha', file, buf, used });
  }

  /** File `file`'s sha256 of everything fed so far (32 bytes); the file is forgotten. */
  async sha256Digest(file: number): Promise<Uint8Array> {
    return new Uint8Array((await this.#send(this.#slots[0] as Slot, { kind: 'digest', file })) as ArrayBuffer);
  }

  #send(slot: Slot, message: Record<string, unknown>): Promise<ArrayBuffer | undefined> {
    if (this.#broken) return Promise.reject(this.#broken);
    if (this.#closed) return Promise.reject(new Error('the chunk-hashing threads were already stopped'));
    const id = this.#nextId++;
    return new Promise<ArrayBuffer | undefined>((resolve, reject) => {
      if (slot.tasks.size === 0) slot.worker.ref();
      slot.tasks.set(id, { id, resolve, reject });
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
      s.worker.unref();
    }
  }
}
