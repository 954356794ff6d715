/**
 * The xorbs this agent stored in earlier runs, kept in the state directory as small CAS-only
 * shards (48 bytes per 64 KiB chunk), so the next checkpoint of a training run dedups against
 * the previous one even from a new process. xet-core keeps the same kind of cache. The CAS stays
 * the judge: if a shard that points at a cached xorb is refused, the cache is cleared and the
 * call is made again without it (HubBucket).
 */
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ChunkIndex } from './chunk-index.js';
import { parseShardXorbs, serializeShard, type ShardXorb } from './format.js';

/** Kept at most this much (about 87 GB of uploaded data); the oldest files go first. */
const MAX_CACHE_BYTES = 64 * 1024 * 1024;
/** Older entries are dropped: the bucket may have deleted the files, and the CAS its xorbs. */
const MAX_AGE_MS = 14 * 24 * 3600 * 1000;

export class ShardCache {
  readonly #dir: string;
  #savedSincePrune = 0;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Loads the newest cached shards into the index (as `cache` xorbs), after pruning the rest. */
  async load(into: ChunkIndex, now = Date.now()): Promise<{ xorbs: number; chunks: number }> {
    let xorbs = 0;
    let chunks = 0;
    for (const file of await this.prune(now)) {
      try {
        for (const x of parseShardXorbs(await readFile(file)).xorbs) {
          into.addXorb({ hash: x.hash, origin: 'cache' }, x.chunkHashes);
          xorbs++;
          chunks += x.chunkLengths.length;
        }
      } catch {
        await rm(file, { force: true }); // torn or foreign: it only ever saves bytes, never needed
      }
    }
    return { xorbs, chunks };
  }

  /** Deletes entries past the age and size limits (oldest first); returns the kept files, newest first. */
  async prune(now = Date.now()): Promise<string[]> {
    this.#savedSincePrune = 0;
    let names: string[];
    try {
      names = (await readdir(this.#dir)).filter((n) => n.endsWith('.shard'));
    } catch {
      return [];
    }
    const files = (
      await Promise.all(names.map(async (n) => ({ file: path.join(this.#dir, n), st: await stat(path.join(this.#dir, n)).catch(() => undefined) })))
    )
      .filter((f) => f.st !== undefined)
      .sort((a, b) => (b.st?.mtimeMs ?? 0) - (a.st?.mtimeMs ?? 0));
    const kept: string[] = [];
    let bytes = 0;
    for (const { file, st } of files) {
      const size = st?.size ?? 0;
      if (bytes + size > MAX_CACHE_BYTES || now - (st?.mtimeMs ?? 0) > MAX_AGE_MS) {
        await rm(file, { force: true });
        continue;
      }
      bytes += size;
      kept.push(file);
    }
    return kept;
  }

  /** Records xorbs the CAS accepted (after their shard was accepted), written whole or not at all. */
  async save(xorbs: readonly ShardXorb[]): Promise<void> {
    if (xorbs.length === 0) return;
    await mkdir(this.#dir, { recursive: true });
    const file = path.join(this.#dir, `${(xorbs[0] as ShardXorb).hash}.shard`);
    const tmp = `${file}.${process.pid}.tmp`;
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(serializeShard([], xorbs));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
    // A daemon that runs for weeks saves after every checkpoint: keep the folder within its limits as it goes.
    this.#savedSincePrune += (await stat(file)).size;
    if (this.#savedSincePrune > MAX_CACHE_BYTES / 8) await this.prune();
  }

  async clear(): Promise<void> {
    await rm(this.#dir, { recursive: true, force: true });
  }
}
