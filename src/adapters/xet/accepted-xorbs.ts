/**
 * Xorbs the CAS accepted that no accepted shard has registered yet: what an interrupted upload had
 * already sent. Each one is recorded as soon as its upload is acknowledged, so the next attempt (in
 * this process after a failed call, or in the next process after kill -9, SIGTERM or a network
 * loss) dedups against it and sends only the rest; the shard of that attempt carries the CAS
 * blocks of the recorded xorbs its files use, which registers them. xet-core keeps the same kind
 * of record (its session's xorb metadata, written beside its shard cache) for the same reason.
 *
 * On disk: one CAS-only shard per xorb in `<state-dir>/xet-cache/accepted/`, written to a temp file
 * and renamed before the next xorb upload starts. No fsync, as the state database (WAL,
 * synchronous=NORMAL): a killed process keeps every record written, a power cut may lose the last
 * ones, which are then sent again. A torn or foreign file is deleted when read.
 *
 * Bounded: a record goes once a shard that registers its xorb was accepted (and, for large files,
 * the xorb is in the shard cache), after MAX_AGE_MS (a CAS may collect xorbs no shard names), and
 * past MAX_RECORDS (oldest first). The CAS stays the judge: if it lost a recorded xorb, the shard
 * naming it is refused and HubBucket clears these records with every other dedup source.
 */
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ChunkIndex } from './chunk-index.js';
import { parseShardXorbs, serializeShard, type ShardXorb } from './format.js';

/** 1,024 xorbs of 32 MiB: 32 GiB, what the chunk index holds (512 Ki chunks); about 25 KiB each on disk. */
const MAX_RECORDS = 1024;
/** Older records are dropped: a xorb no shard registered may be collected by the CAS. */
const MAX_AGE_MS = 7 * 24 * 3600 * 1000;
const SUFFIX = '.shard';

export interface AcceptedXorbsOptions {
  /** Where records are kept; none: this process only (a failed call's retry still resumes). */
  dir?: string;
  maxRecords?: number;
  maxAgeMs?: number;
  now?: () => number;
}

export class AcceptedXorbs {
  readonly #dir: string | undefined;
  readonly #maxRecords: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  /** By xorb hash, oldest first. */
  readonly #pending = new Map<string, ShardXorb>();

  constructor(options: AcceptedXorbsOptions = {}) {
    this.#dir = options.dir;
    this.#maxRecords = options.maxRecords ?? MAX_RECORDS;
    this.#maxAgeMs = options.maxAgeMs ?? MAX_AGE_MS;
    this.#now = options.now ?? Date.now;
  }

  /** The CAS block of an accepted xorb that no accepted shard has registered yet. */
  unregistered(xorbHash: string): ShardXorb | undefined {
    return this.#pending.get(xorbHash);
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Reads the records of earlier processes (after dropping expired ones) into this list and `into`; returns how many. */
  async load(into: ChunkIndex): Promise<number> {
    let loaded = 0;
    for (const file of await this.#prune()) {
      try {
        const [x, ...more] = parseShardXorbs(await readFile(file)).xorbs;
        if (!x || more.length > 0 || `${x.hash}${SUFFIX}` !== path.basename(file)) throw new Error('not a record');
        this.#add(x);
        into.addXorb({ hash: x.hash, origin: 'accepted' }, x.chunkHashes);
        loaded++;
      } catch {
        await rm(file, { force: true }); // torn or foreign: a record only ever saves bytes
      }
    }
    return loaded;
  }

  /** Records a xorb the CAS has just accepted. Never throws: without the record, the xorb is only sent again. */
  async record(xorb: ShardXorb): Promise<void> {
    this.#add(xorb);
    for (const oldest of this.#pending.keys()) {
      if (this.#pending.size <= this.#maxRecords) break;
      await this.forget([oldest]);
    }
    const dir = this.#dir;
    if (!dir) return;
    const file = path.join(dir, `${xorb.hash}${SUFFIX}`);
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      await mkdir(dir, { recursive: true });
      const handle = await open(tmp, 'w');
      try {
        await handle.writeFile(serializeShard([], [xorb]));
      } finally {
        await handle.close();
      }
      await rename(tmp, file);
    } catch {
      await rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  /** Drops the records of these xorbs (a shard registering them was accepted). */
  async forget(xorbHashes: Iterable<string>): Promise<void> {
    const dir = this.#dir;
    for (const hash of xorbHashes) {
      if (!this.#pending.delete(hash) || !dir) continue;
      await rm(path.join(dir, `${hash}${SUFFIX}`), { force: true }).catch(() => undefined);
    }
  }

  /** Drops every record (the CAS refused a shard that named one of them, or another dedup source). */
  async clear(): Promise<void> {
    this.#pending.clear();
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true });
  }

  #add(xorb: ShardXorb): void {
    const { hash, bytesOnDisk, chunkHashes, chunkLengths } = xorb;
    this.#pending.delete(hash); // re-recorded: now the newest
    this.#pending.set(hash, { hash, bytesOnDisk, chunkHashes, chunkLengths });
  }

  /** Deletes records past the age and count limits; returns the kept files, oldest first. */
  async #prune(): Promise<string[]> {
    const dir = this.#dir;
    if (!dir) return [];
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return [];
    }
    const now = this.#now();
    const files: Array<{ file: string; mtimeMs: number }> = [];
    for (const name of names) {
      const file = path.join(dir, name);
      const st = await stat(file).catch(() => undefined);
      // A temp file is what a process killed mid-write left; it never became a record.
      if (!st?.isFile() || !name.endsWith(SUFFIX) || now - st.mtimeMs > this.#maxAgeMs) await rm(file, { force: true, recursive: true });
      else files.push({ file, mtimeMs: st.mtimeMs });
    }
    files.sort((a, b) => a.mtimeMs - b.mtimeMs);
    const excess = files.length - this.#maxRecords;
    for (const { file } of files.slice(0, Math.max(0, excess))) await rm(file, { force: true });
    return files.slice(Math.max(0, excess)).map((f) => f.file);
  }
}
