/**
 * Xet chunk hashes (BLAKE3 keyed with the Xet data key, the same hash-wasm code as
 * src/hash/xet-chunker.ts) computed on worker threads, so an upload hashes on more than one core.
 *
 * A batch is one ArrayBuffer holding consecutive chunks and their lengths. It is transferred to a
 * worker (not copied), hashed there, and transferred back with the hashes, so the caller packs the
 * same bytes and can reuse the buffer. Each batch goes to the worker with the fewest batches in hand;
 * callers keep their own order (the writer awaits batches in the order it sent them).
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
const { createBLAKE3 } = require(workerData.hashWasm);
const ready = createBLAKE3(256, workerData.key);
parentPort.on('message', (task) => {
  ready.then((blake) => {
    const hashes = new Uint8Array(32 * task.lengths.length);
    let offset = 0;
    for (let i = 0; i < task.lengths.length; i++) {
      const length = task.lengths[i];
      blake.init();
      blake.update(new Uint8Array(task.buf, offset, length));
      hashes.set(blake.digest('binary'), 32 * i);
      offset += length;
    }
    parentPort.postMessage({ id: task.id, buf: task.buf, hashes: hashes.buffer }, [task.buf, hashes.buffer]);
  }).catch((error) => {
    parentPort.postMessage({ id: task.id, error: String(error && error.stack || error) });
  });
});
`;

/** The default number of hashing threads: half the cores this process may use (the rest stay with training), at least 1. */
export function defaultUploadThreads(): number {
  return Math.max(1, Math.floor(availableParallelism() / 2));
}

export interface HashedBatch {
  /** The batch's buffer, back from the worker. */
  buf: ArrayBuffer;
  /** 32 bytes per chunk, in the batch's order. */
  hashes: Uint8Array;
}

interface Task {
  id: number;
  resolve: (batch: HashedBatch) => void;
  reject: (error: Error) => void;
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
      worker.unref();
      worker.on('message', (m: { id: number; buf?: ArrayBuffer; hashes?: ArrayBuffer; error?: string }) => this.#answer(slot, m));
      worker.on('error', (error) => this.#fail(new Error(`a chunk-hashing worker thread failed: ${error.message}`, { cause: error })));
      worker.on('exit', (code) => {
        if (!this.#closed) this.#fail(new Error(`a chunk-hashing worker thread exited unexpectedly (exit code ${code})`));
      });
      this.#slots.push(slot);
    }
  }

  /**
   * Hashes the chunks laid end to end in `buf` (their lengths in order). The buffer is transferred:
   * it is unusable here until the promise gives it back.
   */
  hash(buf: ArrayBuffer, lengths: readonly number[]): Promise<HashedBatch> {
    if (this.#broken) return Promise.reject(this.#broken);
    if (this.#closed) return Promise.reject(new Error('the chunk-hashing threads were already stopped'));
    let slot = this.#slots[0] as Slot;
    for (const s of this.#slots) if (s.tasks.size < slot.tasks.size) slot = s;
    const id = this.#nextId++;
    return new Promise<HashedBatch>((resolve, reject) => {
      if (slot.tasks.size === 0) slot.worker.ref();
      slot.tasks.set(id, { id, resolve, reject });
      slot.worker.postMessage({ id, buf, lengths: Uint32Array.from(lengths) }, [buf]);
    });
  }

  /** Stops every worker; batches still out fail. Safe to call more than once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#rejectAll(new Error('the chunk-hashing threads were stopped'));
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }

  #answer(slot: Slot, m: { id: number; buf?: ArrayBuffer; hashes?: ArrayBuffer; error?: string }): void {
    const task = slot.tasks.get(m.id);
    if (!task) return;
    slot.tasks.delete(m.id);
    if (slot.tasks.size === 0) slot.worker.unref();
    if (m.error !== undefined || !m.buf || !m.hashes) {
      this.#fail(new Error(`hashing chunks in a worker thread failed: ${m.error ?? 'no answer'}`));
      task.reject(this.#broken as Error);
      return;
    }
    task.resolve({ buf: m.buf, hashes: new Uint8Array(m.hashes) });
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
