import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { link, lstat, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { OutboxError, isErrnoException, toOutboxError } from '../core/errors.js';
import type { BucketClient, OutboxFs, RemoteEntry, UploadProgress, UploadResult, UploadSource } from '../core/ports.js';
import { appearedMeanwhile, goneRightAfter, overwrittenRightAfter } from './foreign-write.js';

/** The only top-level folders a bucket writer may touch (shared/reference/artifacts-conventions.txt). */
export const WRITABLE_ROOTS = ['artifacts', 'message_board'] as const;

const TEMP_PREFIX = '.hf-outbox-tmp-';
const PARALLEL_WRITES = 4;
const STAT_BATCH = 64;

/**
 * A bucket that is a plain local folder: the embedded default, needing no token and no network.
 * Every write goes to a temp file in the target folder, is fsynced, then renamed into place, so a
 * reader (or a crash) never sees a torn file.
 */
export class LocalFolderBucket implements BucketClient {
  readonly description: string;
  readonly root: string;
  readonly #fs: OutboxFs;

  constructor(root: string, fs: OutboxFs) {
    this.root = path.resolve(root);
    this.description = `file://${this.root}`;
    this.#fs = fs;
  }

  async check(): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true });
      const probe = path.join(this.root, `${TEMP_PREFIX}probe-${randomBytes(4).toString('hex')}`);
      await (await open(probe, 'w')).close();
      await rm(probe, { force: true });
    } catch (error) {
      throw new OutboxError(
        'HFO_CONFIG_INVALID',
        `bucket folder ${this.root} is not writable (${isErrnoException(error) ? error.code : String(error)}); ` +
          'choose another --bucket or fix its permissions',
        { cause: error },
      );
    }
  }

  async upload(
    sources: readonly UploadSource[],
    options: { signal?: AbortSignal; onProgress?: (p: UploadProgress) => void } = {},
  ): Promise<UploadResult[]> {
    const results = new Map<string, UploadResult>();
    const folders = new Map<string, UploadSource[]>();
    const loose: UploadSource[] = [];
    for (const s of sources) {
      if (s.folder === undefined) loose.push(s);
      else folders.set(s.folder.id, [...(folders.get(s.folder.id) ?? []), s]);
    }
    for (const r of await this.#writeAll(loose, options)) results.set(r.bucketPath, r);
    for (const group of folders.values()) for (const r of await this.#writeFolder(group, options)) results.set(r.bucketPath, r);
    return sources.map((s) => results.get(s.bucketPath) as UploadResult);
  }

  /**
   * A checkpoint folder's files appear together: a folder not in the bucket yet is written into a
   * hidden staging folder beside it and renamed into place; into an existing folder, the files go
   * first and the last one given (the completion file) only once all of them landed.
   */
  async #writeFolder(group: UploadSource[], options: { signal?: AbortSignal; onProgress?: (p: UploadProgress) => void }): Promise<UploadResult[]> {
    const folderPath = (group[0] as UploadSource).folder?.bucketPath as string;
    const target = this.resolveWritable(folderPath);
    if (!existsSync(target)) {
      const parent = path.dirname(target);
      await mkdir(parent, { recursive: true });
      const staging = path.join(parent, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
      const inStaging = (s: UploadSource) => path.join(staging, ...s.bucketPath.slice(folderPath.length + 1).split('/'));
      try {
        const written = new Map<string, number>();
        const results = await this.#writeAll(group, options, inStaging, written);
        const failed = results.find((r): r is Extract<UploadResult, { ok: false }> => !r.ok);
        if (failed !== undefined) return results.map((r) => (r.ok ? { bucketPath: r.bucketPath, ok: false as const, error: heldBack(folderPath, failed.error) } : r));
        try {
          await rename(staging, target);
          await syncDir(parent);
          const after = await Promise.all(group.map((s) => this.#compareAfter(s, written.get(s.bucketPath) ?? -1)));
          return results.map((r, i) => (after[i] === undefined ? r : { bucketPath: r.bucketPath, ok: false as const, error: after[i] as OutboxError }));
        } catch (error) {
          // Another writer created the folder meanwhile: fall through to writing into it.
          if (!isErrnoException(error) || (error.code !== 'EEXIST' && error.code !== 'ENOTEMPTY')) throw error;
        }
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
    }
    const last = group[group.length - 1] as UploadSource;
    const results = await this.#writeAll(group.slice(0, -1), options);
    const failed = results.find((r): r is Extract<UploadResult, { ok: false }> => !r.ok);
    if (failed !== undefined) return [...results, { bucketPath: last.bucketPath, ok: false, error: heldBack(folderPath, failed.error) }];
    return [...results, ...(await this.#writeAll([last], options))];
  }

  /** Writes each source; with `placeOf` into a staging place (their inodes are kept in `written`), else into the bucket. */
  async #writeAll(
    sources: readonly UploadSource[],
    options: { signal?: AbortSignal; onProgress?: (p: UploadProgress) => void },
    placeOf?: (s: UploadSource) => string,
    written?: Map<string, number>,
  ): Promise<UploadResult[]> {
    // A few writes at once: each waits on fsync, so overlapping them keeps the disk busy.
    const results: UploadResult[] = new Array(sources.length);
    let next = 0;
    const worker = async () => {
      while (next < sources.length) {
        const index = next++;
        const source = sources[index] as UploadSource;
        try {
          options.signal?.throwIfAborted();
          const ino = await this.#write(source, options, placeOf?.(source));
          written?.set(source.bucketPath, ino);
          const foreign = placeOf === undefined ? await this.#compareAfter(source, ino) : undefined;
          results[index] = foreign ? { bucketPath: source.bucketPath, ok: false, error: foreign } : { bucketPath: source.bucketPath, ok: true };
        } catch (error) {
          if (options.signal?.aborted) throw error;
          results[index] = { bucketPath: source.bucketPath, ok: false, error: toOutboxError(error, 'HFO_UPLOAD_FAILED') };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_WRITES, sources.length) }, worker));
    return results;
  }

  /**
   * Writes one file through a temp file and returns the inode written. A path that must be free is
   * taken with a hard link, which fails when a file is there (a conditional write, unlike the Hub's):
   * a file someone wrote since the conflict check is left untouched and reported.
   */
  async #write(source: UploadSource, options: { signal?: AbortSignal; onProgress?: (p: UploadProgress) => void }, place?: string): Promise<number> {
    const checked = this.resolveWritable(source.bucketPath);
    const target = place ?? checked;
    const dir = path.dirname(target);
    await mkdir(dir, { recursive: true });
    const temp = path.join(dir, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
    const input = source.local
      ? this.#fs.openVerified(source.local, source.local.fingerprint)
      : Readable.from([source.content ?? new Uint8Array()]);
    const handle = await open(temp, 'wx', 0o644);
    try {
      let done = 0;
      for await (const chunk of input as AsyncIterable<Uint8Array>) {
        options.signal?.throwIfAborted();
        await handle.write(chunk);
        done += chunk.length;
        options.onProgress?.({ bucketPath: source.bucketPath, bytesDone: done, bytesTotal: source.sizeBytes });
      }
      await handle.sync();
      const { ino } = await handle.stat();
      await handle.close();
      if (source.mustBeFree && place === undefined) await this.#placeIfFree(temp, target, source.bucketPath);
      else await rename(temp, target);
      await syncDir(dir);
      return ino;
    } catch (error) {
      await handle.close().catch(() => undefined);
      await rm(temp, { force: true });
      throw error;
    }
  }

  /** Puts `temp` at `target` only if nothing is there (a hard link fails on an existing name, atomically). */
  async #placeIfFree(temp: string, target: string, bucketPath: string): Promise<void> {
    try {
      await link(temp, target);
      await rm(temp, { force: true });
      return;
    } catch (error) {
      if (!isErrnoException(error)) throw error;
      if (error.code !== 'EEXIST') {
        // File systems without hard links: check, then rename (a small window, as on the Hub).
        if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes(error.code ?? '')) throw error;
        if ((await this.#fs.stat(target)) === undefined) return rename(temp, target);
      }
    }
    const there = await this.#fs.stat(target);
    throw appearedMeanwhile(bucketPath, this.description, {
      sizeBytes: there?.sizeBytes ?? 0,
      ...(there ? { uploadedAt: new Date(there.mtimeMs).toISOString() } : {}),
    });
  }

  /** Right after the write, the path must still be the inode written; else a foreign writer replaced it. */
  async #compareAfter(source: UploadSource, ino: number): Promise<OutboxError | undefined> {
    const there = await this.#fs.stat(this.resolveWritable(source.bucketPath));
    const written = { path: source.bucketPath, sizeBytes: source.sizeBytes };
    if (there?.kind !== 'file') return goneRightAfter(written, this.description);
    if (there.ino === ino) return undefined;
    return overwrittenRightAfter(written, this.description, { sizeBytes: there.sizeBytes, uploadedAt: new Date(there.mtimeMs).toISOString() });
  }

  /** Maps a bucket path to a path inside the folder, refusing anything outside the writable roots. */
  resolveWritable(bucketPath: string): string {
    const segments = bucketPath.split('/');
    const root = segments[0];
    const bad = segments.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\') || s.includes('\0'));
    if (bad || segments.length < 2 || !WRITABLE_ROOTS.includes(root as (typeof WRITABLE_ROOTS)[number])) {
      throw new OutboxError(
        'HFO_BUCKET_PATH_REFUSED',
        `refusing to write "${bucketPath}": bucket writes are limited to ${WRITABLE_ROOTS.join('/ and ')}/`,
      );
    }
    return path.join(this.root, ...segments);
  }

  async stat(paths: readonly string[]): Promise<Map<string, RemoteEntry>> {
    const found = new Map<string, RemoteEntry>();
    for (const p of paths) {
      const s = await this.#fs.stat(path.join(this.root, ...p.split('/')));
      if (s?.kind === 'file') found.set(p, { path: p, sizeBytes: s.sizeBytes, uploadedAt: new Date(s.mtimeMs).toISOString() });
    }
    return found;
  }

  async *list(prefix: string): AsyncIterable<RemoteEntry> {
    const clean = prefix.replace(/^\/+|\/+$/g, '');
    const start = clean === '' ? this.root : path.join(this.root, ...clean.split('/'));
    yield* this.#walk(start, clean);
  }

  async *#walk(absDir: string, relDir: string): AsyncGenerator<RemoteEntry> {
    let entries;
    try {
      entries = await readdir(absDir, { withFileTypes: true });
    } catch (error) {
      if (isErrnoException(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return;
      throw error;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // Files are stat'ed a batch at a time (a folder of 100,000 files is not 100,000 round trips in a row).
    let batch: Array<{ abs: string; rel: string }> = [];
    const flush = async function* (): AsyncGenerator<RemoteEntry> {
      const stats = await Promise.all(batch.map((f) => lstat(f.abs).catch(() => undefined)));
      for (let i = 0; i < batch.length; i++) {
        const s = stats[i];
        if (s?.isFile()) yield { path: (batch[i] as { rel: string }).rel, sizeBytes: s.size, uploadedAt: s.mtime.toISOString() };
      }
      batch = [];
    };
    for (const e of entries) {
      if (e.name.startsWith(TEMP_PREFIX)) continue;
      const abs = path.join(absDir, e.name);
      const rel = relDir === '' ? e.name : `${relDir}/${e.name}`;
      if (e.isDirectory()) {
        yield* flush();
        yield* this.#walk(abs, rel);
      } else if (e.isFile()) {
        batch.push({ abs, rel });
        if (batch.length >= STAT_BATCH) yield* flush();
      }
    }
    yield* flush();
  }

  async download(bucketPath: string): Promise<Readable> {
    const abs = path.join(this.root, ...bucketPath.split('/'));
    const s = await this.#fs.stat(abs);
    if (s?.kind !== 'file') {
      throw new OutboxError('HFO_UPLOAD_REJECTED', `"${bucketPath}" does not exist in ${this.description}`, { retry: 'fail' });
    }
    return createReadStream(abs);
  }
}

/** A file not written because another file of its checkpoint folder failed (same code: retried the same way). */
function heldBack(folder: string, cause: OutboxError): OutboxError {
  return new OutboxError(cause.code, `not written: another file of ${folder} failed (${cause.message}); the folder goes up whole, later`, {
    retry: cause.retry,
    ...(cause.retryAfterMs === undefined ? {} : { retryAfterMs: cause.retryAfterMs }),
  });
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename durable; some filesystems refuse to fsync a directory, which is harmless.
  try {
    const h = await open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    /* best effort */
  }
}
