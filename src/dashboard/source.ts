/**
 * One thing the dashboard reads (the board, the results, the artifacts listing, this agent's
 * state), cached: it is read again at most once per `minIntervalMs` however many pages ask, one
 * read at a time. A failed read keeps the last good data and reports the error beside it.
 */
import { createHash } from 'node:crypto';

export interface Snapshot<T> {
  data: T | undefined;
  /** Bumped whenever the data changes; the page refetches when it sees a new version. */
  version: number;
  /** When the last read finished (epoch ms), successful or not. */
  readAt: number;
  /** When the data was last read successfully. */
  okAt: number | undefined;
  error: string | undefined;
}

export class Source<T> {
  readonly name: string;
  readonly minIntervalMs: number;
  readonly #load: () => Promise<T>;
  readonly #signature: (data: T) => string;
  #snapshot: Snapshot<T> = { data: undefined, version: 0, readAt: 0, okAt: undefined, error: undefined };
  #signatureOf: string | undefined;
  #inFlight: Promise<boolean> | undefined;
  #neverRead = true;
  readonly #now: () => number;

  constructor(name: string, minIntervalMs: number, load: () => Promise<T>, signature: (data: T) => string, now: () => number = Date.now) {
    this.name = name;
    this.minIntervalMs = minIntervalMs;
    this.#load = load;
    this.#signature = signature;
    this.#now = now;
  }

  get snapshot(): Snapshot<T> {
    return this.#snapshot;
  }

  get stale(): boolean {
    return this.#neverRead || this.#now() - this.#snapshot.readAt >= this.minIntervalMs;
  }

  /** The data, read again first when older than the interval. */
  async get(): Promise<Snapshot<T>> {
    if (this.#inFlight !== undefined) await this.#inFlight;
    else if (this.stale) await this.refresh();
    return this.#snapshot;
  }

  /** Reads now unless a read is running (then waits for it); true when the data changed. */
  refresh(): Promise<boolean> {
    this.#inFlight ??= this.#read().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #read(): Promise<boolean> {
    this.#neverRead = false;
    const before = this.#snapshot;
    try {
      const data = await this.#load();
      const sig = this.#signature(data);
      const changed = sig !== this.#signatureOf || before.error !== undefined;
      this.#signatureOf = sig;
      const now = this.#now();
      this.#snapshot = { data, version: changed ? before.version + 1 : before.version, readAt: now, okAt: now, error: undefined };
      return changed;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const changed = message !== before.error;
      this.#snapshot = { ...before, version: changed ? before.version + 1 : before.version, readAt: this.#now(), error: message };
      return changed;
    }
  }
}

/** A short digest of many strings, to tell whether a listing changed. */
export function digest(parts: Iterable<string>): string {
  const h = createHash('sha1');
  for (const p of parts) h.update(p).update('\n');
  return h.digest('hex');
}
