/**
 * BucketClient for a Hugging Face Storage Bucket (Xet-backed). Uploads go through hf-outbox's own
 * Xet writer (./xet/); reads (check, list, stat, download) through @huggingface/hub. Files are
 * streamed from disk and verified at their last byte, so a file rewritten mid-upload fails before
 * the batch adds it and a torn mix is never added. Every request goes through the `fetch` handed
 * in (throttling and retries live there).
 */
import path from 'node:path';
import { Readable } from 'node:stream';
import { HubApiError, checkRepoAccess, createRepo, downloadFile, listFiles, pathsInfo } from '@huggingface/hub';
import type { BucketTarget, Config } from '../config/parse.js';
import { OutboxError, toOutboxError } from '../core/errors.js';
import { bytesReader } from '../core/file-reader.js';
import type { BucketClient, OutboxFs, RemoteEntry, UploadProgress, UploadResult, UploadSource } from '../core/ports.js';
import type { Logger } from '../log.js';
import { sha256Of } from '../hash/sha256.js';
import { appearedMeanwhile, compareWritten, type WrittenFile } from './foreign-write.js';
import { findToken } from './hub-token.js';
import { AcceptedXorbs } from './xet/accepted-xorbs.js';
import { CasClient } from './xet/cas-client.js';
import { ChunkIndex } from './xet/chunk-index.js';
import {
  SourceBlob,
  isFormatRefusal,
  saveWriterState,
  sha256ThroughLibrary,
  uploadThroughLibrary,
  type LibraryTarget,
  type WriterState,
  type XetWriterSetting,
} from './xet/library-writer.js';
import { ShardCache } from './xet/shard-cache.js';
import { SourceReadError, XetWriter } from './xet/writer.js';
import { defaultUploadThreads } from '../hash/chunk-hash-pool.js';

export interface HubBucketOptions {
  target: Extract<BucketTarget, { kind: 'hf' }>;
  hubUrl: string;
  token: string;
  fs: OutboxFs;
  fetch?: typeof fetch;
  /** Where the xorbs of earlier runs are remembered for dedup (the state directory's xet-cache); none: this run only. */
  shardCacheDir?: string;
  /** Who writes uploads (see the xet-writer setting). Default auto. */
  xetWriter?: XetWriterSetting;
  /** Chunk-hashing threads of the own writer (see the upload-threads setting); default 1. */
  uploadThreads?: number;
  /** Where the writer in use is recorded for `status` and `doctor`; none: not recorded. */
  stateDir?: string;
  logger?: Logger;
}

/** The own writer's call was refused for its format: the caller switches to the library writer. */
class OwnWriterRefused extends Error {
  readonly refusal: OutboxError;
  constructor(stage: string, refusal: OutboxError) {
    super(`the Hub refused the own Xet writer's ${stage}: ${refusal.message}`);
    this.refusal = refusal;
  }
}

/**
 * paths-info is asked about this many paths per request: huggingface_hub and hf-hub batch 1,000
 * (docs/hub-bucket-api.md H5; the JS client sends all paths in one). At 100, a call of 500 files
 * cost 15 paths-info requests for its three checks (free before, still free, landed as written).
 */
const MAX_PATHS_PER_CALL = 1000;
/** addFile operations per upload call and batch request: huggingface_hub and hf-hub send up to 1,000. */
const MAX_FILES_PER_CALL = 1000;
/**
 * Files from this size ask the CAS about their first chunk (and 1 in 1,024 chunks) and their
 * xorbs are remembered for the next calls; below it a dedup query can save at most the file itself.
 */
const DEDUP_MIN_FILE_BYTES = 1024 * 1024;
/** Characters the client does not percent-encode in URLs: such a path would land under another name. */
const UNSAFE_PATH = /[?#%\\\u0000-\u001f]/u;

export async function openHubBucket(
  config: Config,
  target: Extract<BucketTarget, { kind: 'hf' }>,
  fs: OutboxFs,
  fetchImpl?: typeof fetch,
  logger?: Logger,
): Promise<BucketClient> {
  const { token } = await findToken(config.tokenFile);
  return new HubBucket({
    target,
    hubUrl: config.hubUrl,
    token,
    fs,
    shardCacheDir: path.join(config.stateDir, 'xet-cache'),
    xetWriter: config.xetWriter,
    uploadThreads: config.uploadThreads === 0 ? defaultUploadThreads() : config.uploadThreads,
    stateDir: config.stateDir,
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
    ...(logger ? { logger } : {}),
  });
}

/**
 * The read-back check downloads at most this much: enough for a multi-chunk file through the
 * Hub's reconstruction and the library's decoder, never a second transfer of a large checkpoint.
 */
export const READ_BACK_MAX_BYTES = 16 * 1024 * 1024;

export class HubBucket implements BucketClient {
  readonly description: string;
  readonly maxFilesPerCall = MAX_FILES_PER_CALL;
  readonly #o: HubBucketOptions;
  readonly #repo: { type: 'bucket'; name: string };
  readonly #cas: CasClient;
  /** Chunks stored by this process, the shard cache and dedup answers. */
  readonly #known = new ChunkIndex();
  readonly #shardCache: ShardCache | undefined;
  #cacheLoaded: Promise<void> | undefined;
  /** Xorbs the CAS accepted that no accepted shard registered yet: what the next attempt resumes from. */
  readonly #accepted: AcceptedXorbs;
  #acceptedLoaded: Promise<void> | undefined;
  /** The writer in use for the rest of this run, and the check of the first upload of this start. */
  readonly #writer: WriterState;
  #readBackDone: boolean;
  #stateSaved: Promise<void> | undefined;

  constructor(options: HubBucketOptions) {
    this.#o = options;
    const setting = options.xetWriter ?? 'auto';
    this.#writer = {
      writer: setting === 'library' ? 'library' : 'own',
      setting,
      ...(setting === 'library' ? { reason: 'chosen with --xet-writer library' } : {}),
      ...(setting === 'auto' ? { readBack: 'pending' as const } : {}),
      at: new Date().toISOString(),
      pid: process.pid,
    };
    this.#readBackDone = setting !== 'auto';
    this.#repo = { type: 'bucket', name: options.target.id };
    this.description = options.target.uri;
    this.#cas = new CasClient({ hubUrl: options.hubUrl, bucketId: options.target.id, uri: options.target.uri, token: options.token, fetch: options.fetch ?? fetch });
    this.#shardCache = options.shardCacheDir ? new ShardCache(options.shardCacheDir) : undefined;
    this.#accepted = new AcceptedXorbs(options.shardCacheDir ? { dir: path.join(options.shardCacheDir, 'accepted') } : {});
  }

  get #common() {
    return { hubUrl: this.#o.hubUrl, accessToken: this.#o.token, ...(this.#o.fetch ? { fetch: this.#o.fetch } : {}) };
  }

  async check(options: { create: boolean }): Promise<void> {
    const uri = this.#o.target.uri;
    try {
      await checkRepoAccess({ repo: this.#repo, ...this.#common });
    } catch (error) {
      const status = error instanceof HubApiError ? error.statusCode : undefined;
      if (status === 404 && options.create) {
        await this.#create();
      } else if (status === 404) {
        throw new OutboxError(
          'HFO_BUCKET_NOT_FOUND',
          `bucket ${uri} does not exist at ${this.#o.hubUrl} (or this token cannot see it); create it, or pass --create-bucket`,
          { cause: error },
        );
      } else {
        throw this.#mapError(error, `checking ${uri}`);
      }
    }
    // Write access: the Xet write token is what every upload needs first, and read-only tokens are refused it.
    const fetchImpl = this.#o.fetch ?? fetch;
    let response: Response;
    try {
      response = await fetchImpl(`${this.#o.hubUrl}/api/buckets/${this.#o.target.id}/xet-write-token`, {
        headers: { Authorization: `Bearer ${this.#o.token}` },
      });
    } catch (error) {
      throw this.#mapError(error, `checking write access to ${uri}`);
    }
    await response.body?.cancel();
    if (response.status === 401 || response.status === 403) {
      throw new OutboxError(
        'HFO_AUTH',
        `the token is ${response.status === 401 ? 'invalid' : 'valid but lacks write access to'} bucket ${uri} ` +
          `(HTTP ${response.status}); use a token with write access to ${this.#o.target.owner}`,
      );
    }
    if (!response.ok) {
      throw new OutboxError('HFO_UPLOAD_FAILED', `checking write access to ${uri}: HTTP ${response.status}`);
    }
  }

  async #create(): Promise<void> {
    const uri = this.#o.target.uri;
    try {
      await createRepo({ repo: this.#repo, visibility: 'private', hubUrl: this.#o.hubUrl, accessToken: this.#o.token, ...(this.#o.fetch ? { fetch: this.#o.fetch } : {}) });
    } catch (error) {
      // Another agent may have created it meanwhile: 409 means it exists now, which is all we wanted.
      if (error instanceof HubApiError && error.statusCode === 409) {
        this.#o.logger?.info({ bucket: uri }, `bucket ${uri} exists now (another agent created it meanwhile); using it`);
        return;
      }
      throw this.#mapError(error, `creating ${uri}`);
    }
    this.#o.logger?.info({ bucket: uri, visibility: 'private', hubUrl: this.#o.hubUrl }, `created bucket ${uri} (private) at ${this.#o.hubUrl}, as --create-bucket asked`);
  }

  /**
   * Uploads through hf-outbox's own Xet writer (./xet/): all files of a call share xorbs and one
   * shard, chunks already stored are not sent again (this run, earlier runs via the shard cache,
   * the CAS's dedup answers), and a file that changed while read fails alone.
   */
  async upload(
    sources: readonly UploadSource[],
    options: { signal?: AbortSignal; onProgress?: (p: UploadProgress) => void } = {},
  ): Promise<UploadResult[]> {
    const results = new Map<string, UploadResult>();
    const remaining: UploadSource[] = [];
    const byPath = new Map(sources.map((s) => [s.bucketPath, s]));
    for (const s of sources) {
      if (UNSAFE_PATH.test(s.bucketPath)) {
        results.set(s.bucketPath, {
          bucketPath: s.bucketPath,
          ok: false,
          error: new OutboxError('HFO_BUCKET_PATH_REFUSED', `"${s.bucketPath}" holds ? # % \\ or a control character, which the Hub client cannot carry; rename the file`),
        });
      } else {
        remaining.push(s);
      }
    }
    // A checkpoint folder of more than MAX_FILES_PER_CALL files takes several calls, in the order
    // given (its completion file last): once one of its files failed, the rest is not registered.
    const failedFolders = new Map<string, OutboxError>();
    for (let i = 0; i < remaining.length; i += MAX_FILES_PER_CALL) {
      const slice: UploadSource[] = [];
      for (const s of remaining.slice(i, i + MAX_FILES_PER_CALL)) {
        const cause = s.folder === undefined ? undefined : failedFolders.get(s.folder.id);
        if (cause === undefined) slice.push(s);
        else results.set(s.bucketPath, { bucketPath: s.bucketPath, ok: false, error: heldBack(s, cause) });
      }
      for (const r of await this.#uploadCall(slice, options)) {
        results.set(r.bucketPath, r);
        const folder = byPath.get(r.bucketPath)?.folder;
        if (!r.ok && folder !== undefined && !failedFolders.has(folder.id)) failedFolders.set(folder.id, r.error);
      }
    }
    return sources.map((s) => results.get(s.bucketPath) as UploadResult);
  }

  /** Which writer is in use, and why (for tests and `doctor`). */
  get writer(): Readonly<WriterState> {
    return this.#writer;
  }

  /**
   * One upload call through the writer in use. In auto mode a format refusal of the own writer's
   * call switches to the library for the rest of the run and makes the call through it, and the
   * first call of a start that lands is checked by reading one of its files back through the library.
   */
  async #uploadCall(group: readonly UploadSource[], options: { signal?: AbortSignal; onProgress?: (p: UploadProgress) => void }): Promise<UploadResult[]> {
    if (group.length === 0) return [];
    if (this.#stateSaved === undefined) this.#persist();
    try {
      if (this.#writer.writer === 'library') return await this.#uploadLibrary(group, options);
      let results: UploadResult[];
      try {
        results = await this.#uploadGroup(group, options, true);
      } catch (error) {
        if (!(error instanceof OwnWriterRefused)) throw error;
        this.#switchToLibrary(error.message, 'warn');
        return await this.#uploadLibrary(group, options);
      }
      if (!this.#readBackDone && (await this.#readBack(group, results)) === 'mismatch') return await this.#uploadLibrary(group, options);
      return results;
    } finally {
      await this.#stateSaved; // what status shows is on disk before the call's outcome is recorded
    }
  }

  /**
   * Reads the smallest file of a call that landed back through the library's download path and
   * compares sha256 with the local bytes. Only a small file (READ_BACK_MAX_BYTES): a call of one
   * 2 GiB checkpoint is not downloaded again; the check waits for a call with a small file.
   * Inconclusive (network, file changed) checks wait for the next call.
   */
  async #readBack(group: readonly UploadSource[], results: readonly UploadResult[]): Promise<'ok' | 'mismatch' | 'inconclusive'> {
    const landed = new Set(results.filter((r) => r.ok).map((r) => r.bucketPath));
    const pick = group
      .filter((s) => landed.has(s.bucketPath) && s.sizeBytes > 0 && s.sizeBytes <= READ_BACK_MAX_BYTES)
      .sort((a, b) => a.sizeBytes - b.sizeBytes)[0];
    if (!pick) return 'inconclusive';
    let local: string;
    try {
      local = await sha256Of(pick.local ? this.#o.fs.openVerified(pick.local, pick.local.fingerprint) : once(pick.content ?? new Uint8Array()));
    } catch {
      return 'inconclusive';
    }
    let remote: string;
    try {
      remote = await sha256ThroughLibrary(this.#libraryTarget, pick.bucketPath);
    } catch (error) {
      const mapped = this.#mapError(error, `reading ${pick.bucketPath} back`);
      if (mapped.code === 'HFO_NETWORK' || mapped.code === 'HFO_RATE_LIMITED' || mapped.code === 'HFO_UPLOAD_FAILED') return 'inconclusive';
      remote = `unreadable (${mapped.message})`;
    }
    this.#readBackDone = true;
    const ok = remote === local;
    this.#writer.readBack = { ok, path: pick.bucketPath, at: new Date().toISOString() };
    if (ok) {
      this.#o.logger?.info({ remote: pick.bucketPath }, 'read back through @huggingface/hub: identical; the own Xet writer stays in use');
      this.#persist();
      return 'ok';
    }
    this.#switchToLibrary(
      `${pick.bucketPath} did not read back identical through @huggingface/hub's download (sha256 ${remote}, local ${local}); ` +
        "this call's files are uploaded again through @huggingface/hub",
      'error',
    );
    return 'mismatch';
  }

  #switchToLibrary(reason: string, level: 'warn' | 'error'): void {
    this.#writer.writer = 'library';
    this.#writer.reason = reason;
    this.#writer.at = new Date().toISOString();
    this.#o.logger?.[level]({ xetWriter: 'library', reason }, "switching to @huggingface/hub's upload for the rest of this run");
    this.#persist();
  }

  /** Records the writer state for `status` and `doctor`, one write after another (the last one wins). */
  #persist(): void {
    const dir = this.#o.stateDir;
    if (!dir) return;
    const snapshot = { ...this.#writer };
    this.#stateSaved = (this.#stateSaved ?? Promise.resolve()).then(() =>
      saveWriterState(dir, snapshot).catch((error: unknown) => {
        this.#o.logger?.warn({ err: (error as Error).message }, 'could not record the Xet writer in use');
      }),
    );
  }

  get #libraryTarget(): LibraryTarget {
    return { bucketId: this.#o.target.id, hubUrl: this.#o.hubUrl, token: this.#o.token, ...(this.#o.fetch ? { fetch: this.#o.fetch } : {}) };
  }

  /** The call through @huggingface/hub's own upload: the whole call lands, or fails as one. */
  async #uploadLibrary(all: readonly UploadSource[], options: { signal?: AbortSignal }): Promise<UploadResult[]> {
    // Checked again right before (a file someone wrote meanwhile holds back its checkpoint folder), compared right after.
    const refused = new Map<string, OutboxError>();
    try {
      await this.#recheckFree(all, all.map((s) => ({ path: s.bucketPath })), refused);
    } catch (error) {
      const mapped = this.#mapError(error, `reading ${this.#o.target.uri}`);
      return all.map((s) => ({ bucketPath: s.bucketPath, ok: false, error: mapped }));
    }
    holdBackFolders(all, refused);
    const group = all.filter((s) => !refused.has(s.bucketPath));
    const files = group.map((s) => ({
      path: s.bucketPath,
      content: s.local
        ? new SourceBlob(s.sizeBytes, () => this.#o.fs.openVerified(s.local as NonNullable<UploadSource['local']>, (s.local as NonNullable<UploadSource['local']>).fingerprint))
        : new Blob([s.content ?? new Uint8Array()]),
    }));
    try {
      if (files.length > 0) await uploadThroughLibrary(this.#libraryTarget, files, options.signal);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const mapped = this.#mapError(error, `uploading to ${this.#o.target.uri} through @huggingface/hub`);
      return all.map((s) => ({ bucketPath: s.bucketPath, ok: false, error: refused.get(s.bucketPath) ?? mapped }));
    }
    // The library does not say which hashes it registered: the compare after the batch goes by size.
    const overwritten = await this.#compareAfter(group.map((s) => ({ path: s.bucketPath, sizeBytes: s.sizeBytes })));
    return all.map((s): UploadResult => {
      const error = refused.get(s.bucketPath) ?? overwritten.get(s.bucketPath);
      return error ? { bucketPath: s.bucketPath, ok: false, error } : { bucketPath: s.bucketPath, ok: true };
    });
  }

  async #uploadGroup(
    group: readonly UploadSource[],
    options: { signal?: AbortSignal; onProgress?: (p: UploadProgress) => void },
    useCache: boolean,
  ): Promise<UploadResult[]> {
    const { signal } = options;
    const large = group.some((s) => s.sizeBytes >= DEDUP_MIN_FILE_BYTES);
    if (useCache) await this.#loadAccepted();
    if (large && useCache) await this.#loadShardCache();
    const known = useCache ? this.#known : new ChunkIndex();
    // Progress follows what the CAS acknowledged, file by file, never bytes only read.
    const report = options.onProgress;
    const spans: Array<{ source: UploadSource; start: number; reported: number }> = [];
    const onAcknowledged = report
      ? (acked: number) => {
          for (const span of spans) {
            const done = Math.min(span.source.sizeBytes, Math.max(0, acked - span.start));
            if (done <= span.reported) continue;
            span.reported = done;
            report({ bucketPath: span.source.bucketPath, bytesDone: done, bytesTotal: span.source.sizeBytes });
          }
        }
      : undefined;
    const writer = new XetWriter({
      cas: this.#cas.writes(signal),
      known,
      dedupQueryMinBytes: useCache ? DEDUP_MIN_FILE_BYTES : Number.POSITIVE_INFINITY,
      expectedBytes: group.reduce((n, s) => n + s.sizeBytes, 0),
      threads: this.#o.uploadThreads ?? 1,
      ...(onAcknowledged ? { onAcknowledged } : {}),
      // Each xorb the CAS accepts is recorded and known at once: a later attempt, in this process or
      // the next, sends only what is missing (AcceptedXorbs).
      onXorbStored: async (xorb) => {
        this.#known.addXorb({ hash: xorb.hash, origin: 'accepted' }, xorb.chunkHashes);
        await this.#accepted.record(xorb);
      },
      unregistered: (xorbHash) => this.#accepted.unregistered(xorbHash),
    });
    const failed = new Map<string, OutboxError>();
    const added: Array<{ path: string; xetHash: string }> = [];
    let batchFailures: Map<string, string>;
    let batching = false;
    try {
      for (const s of group) {
        signal?.throwIfAborted();
        // Read straight into the writer's buffers (no block copied on the way).
        const source = s.local ? this.#o.fs.openReader(s.local, s.local.fingerprint) : bytesReader(s.content ?? new Uint8Array());
        spans.push({ source: s, start: writer.takenBytes, reported: 0 });
        try {
          const xetHash = await writer.addFile(source, s.sizeBytes);
          added.push({ path: s.bucketPath, xetHash });
        } catch (error) {
          if (!(error instanceof SourceReadError)) throw error;
          failed.set(s.bucketPath, toOutboxError(error.source, 'HFO_FILE_UNREADABLE'));
        }
      }
      const stored = await writer.finish();
      // No conditional write in the bucket API: a path that was free at the conflict check is checked
      // again right before the batch, so a file someone wrote meanwhile is left alone (a conflict).
      await this.#recheckFree(group, added, failed);
      holdBackFolders(group, failed);
      const register = added.filter((a) => !failed.has(a.path));
      batching = true;
      batchFailures = register.length > 0 ? await this.#cas.addFiles(register, signal) : new Map<string, string>();
      // ... and compared right after it: a path that does not hold what we registered was written by someone else meanwhile.
      const sizes = new Map(group.map((s) => [s.bucketPath, s.sizeBytes]));
      const landed = register.filter((a) => !batchFailures.has(a.path)).map((a) => ({ ...a, sizeBytes: sizes.get(a.path) ?? 0 }));
      for (const [p, error] of await this.#compareAfter(landed)) failed.set(p, error);
      // What this call stored is already known (onXorbStored); for large files the next run keeps it
      // too, through the shard cache: a checkpoint series dedups step to step. Small files' xorbs
      // were known only in case the call had to be made again.
      if (large) await this.#shardCache?.save(stored).catch(() => undefined); // the cache only ever saves bytes
      else this.#known.forget(new Set(stored.map((x) => x.hash)));
      // Registered now (and cached): no longer a resume record.
      await this.#accepted.forget(stored.map((x) => x.hash));
    } catch (error) {
      await writer.close(); // the hashing threads of a call that stopped early
      if (signal?.aborted) throw error;
      if (useCache && writer.usedDedup && writer.failedAt === 'shard' && error instanceof OutboxError && error.code === 'HFO_UPLOAD_REJECTED') {
        // The CAS refused a shard that points at chunks stored before this call (an earlier call, the
        // cache of an earlier run, a dedup answer): one of those xorbs is gone. Every dedup source is
        // forgotten, so later calls do not trip on it again, and this call is made once more without dedup.
        this.#known.clear();
        await this.#shardCache?.clear().catch(() => undefined);
        await this.#accepted.clear().catch(() => undefined);
        return this.#uploadGroup(group, options, false);
      }
      if (this.#writer.setting === 'auto' && isFormatRefusal(error)) {
        throw new OwnWriterRefused(batching ? 'batch' : (writer.failedAt ?? 'upload'), error as OutboxError);
      }
      const mapped = this.#mapError(error, `uploading to ${this.#o.target.uri}`);
      return group.map((s) => ({ bucketPath: s.bucketPath, ok: false, error: failed.get(s.bucketPath) ?? mapped }));
    }
    return group.map((s): UploadResult => {
      const readError = failed.get(s.bucketPath);
      if (readError) return { bucketPath: s.bucketPath, ok: false, error: readError };
      const reason = batchFailures.get(s.bucketPath);
      if (reason === undefined) return { bucketPath: s.bucketPath, ok: true };
      return {
        bucketPath: s.bucketPath,
        ok: false,
        error: new OutboxError('HFO_UPLOAD_FAILED', `the bucket did not add ${s.bucketPath} (its batch report says: ${reason}); it has not landed`),
      };
    });
  }

  async #recheckFree(group: readonly UploadSource[], added: ReadonlyArray<{ path: string }>, failed: Map<string, OutboxError>): Promise<void> {
    const ready = new Set(added.map((a) => a.path));
    const paths = group.filter((s) => s.mustBeFree && ready.has(s.bucketPath) && !failed.has(s.bucketPath)).map((s) => s.bucketPath);
    if (paths.length === 0) return;
    for (const [p, entry] of await this.stat(paths)) failed.set(p, appearedMeanwhile(p, this.#o.target.uri, entry));
  }

  /**
   * One paths-info for the paths a batch registered: each must hold what we wrote (Xet hash when
   * known, else size). A failed check is logged and changes nothing (the files did land).
   */
  async #compareAfter(written: readonly WrittenFile[]): Promise<Map<string, OutboxError>> {
    if (written.length === 0) return new Map();
    try {
      return compareWritten(written, await this.stat(written.map((w) => w.path)), this.#o.target.uri);
    } catch (error) {
      this.#o.logger?.warn({ err: (error as Error).message, files: written.length }, 'could not compare the bucket with what this upload wrote');
      return new Map();
    }
  }

  /** The records of xorbs an earlier process had sent when it was stopped (once per process). */
  #loadAccepted(): Promise<void> {
    this.#acceptedLoaded ??= this.#accepted.load(this.#known).then(
      (n) => {
        if (n > 0) this.#o.logger?.info({ xorbs: n }, 'resuming: xorbs an interrupted upload had sent are not sent again');
      },
      () => undefined,
    );
    return this.#acceptedLoaded;
  }

  #loadShardCache(): Promise<void> {
    if (!this.#shardCache) return Promise.resolve();
    this.#cacheLoaded ??= this.#shardCache.load(this.#known).then(
      () => undefined,
      () => undefined,
    );
    return this.#cacheLoaded;
  }

  async stat(paths: readonly string[]): Promise<Map<string, RemoteEntry>> {
    const found = new Map<string, RemoteEntry>();
    const safe = paths.filter((p) => !UNSAFE_PATH.test(p));
    for (let i = 0; i < safe.length; i += MAX_PATHS_PER_CALL) {
      let infos;
      try {
        infos = await pathsInfo({ repo: this.#repo, paths: safe.slice(i, i + MAX_PATHS_PER_CALL), expand: false, ...this.#common });
      } catch (error) {
        throw this.#mapError(error, `reading ${this.#o.target.uri}`);
      }
      for (const info of infos) {
        if (info.type !== 'file') continue;
        const x = info as typeof info & { xetHash?: string; uploadedAt?: string };
        found.set(info.path, { path: info.path, sizeBytes: info.size, ...(x.xetHash ? { xetHash: x.xetHash } : {}), ...(x.uploadedAt ? { uploadedAt: x.uploadedAt } : {}) });
      }
    }
    return found;
  }

  async *list(prefix: string): AsyncIterable<RemoteEntry> {
    const clean = prefix.replace(/^\/+|\/+$/g, '');
    try {
      for await (const entry of listFiles({ repo: this.#repo, recursive: true, ...(clean ? { path: clean } : {}), ...this.#common })) {
        // The server filters by string prefix (`sub` also matches `submarine.txt`): keep only the folder.
        if (entry.type !== 'file' || (clean !== '' && !entry.path.startsWith(`${clean}/`))) continue;
        const x = entry as typeof entry & { xetHash?: string; uploadedAt?: string };
        yield { path: entry.path, sizeBytes: entry.size, ...(x.xetHash ? { xetHash: x.xetHash } : {}), ...(x.uploadedAt ? { uploadedAt: x.uploadedAt } : {}) };
      }
    } catch (error) {
      if (error instanceof HubApiError && error.statusCode === 404) return;
      throw this.#mapError(error, `listing ${this.#o.target.uri}/${clean}`);
    }
  }

  async download(path: string, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    let blob: Blob | null;
    try {
      blob = await downloadFile({ repo: this.#repo, path, ...this.#common });
    } catch (error) {
      throw this.#mapError(error, `downloading ${path}`);
    }
    if (blob === null) {
      throw new OutboxError('HFO_UPLOAD_REJECTED', `"${path}" does not exist in ${this.#o.target.uri}`, { retry: 'fail' });
    }
    const source = Readable.fromWeb(blob.stream() as import('node:stream/web').ReadableStream<Uint8Array>);
    // The library fails a blob's stream with a bare message string (its Xet read-token and
    // reconstruction errors among them): each becomes an OutboxError saying which request failed and what to do.
    const mapError = (reason: unknown) => this.#downloadError(reason, path);
    const stream = Readable.from(
      (async function* () {
        try {
          yield* source;
        } catch (error) {
          throw mapError(error);
        }
      })(),
      { objectMode: false },
    );
    options.signal?.addEventListener('abort', () => stream.destroy(options.signal?.reason as Error), { once: true });
    return stream;
  }

  #downloadError(reason: unknown, path: string): OutboxError {
    if (reason instanceof OutboxError) return reason;
    const text = reason instanceof Error ? reason.message : String(reason);
    const token = /^Failed to get JWT token: (\d+) ?([\s\S]*)$/.exec(text);
    if (token === null) return this.#mapError(reason instanceof Error ? reason : new Error(text), `downloading ${path}`);
    const status = Number(token[1]);
    const body = (token[2] ?? '').trim().slice(0, 300);
    const { uri, owner } = this.#o.target;
    const advice =
      status === 401
        ? 'the token is invalid or expired: give a valid one (--token-file, $HF_TOKEN or `hf auth login`)'
        : status === 403
          ? `the token may not read ${uri}: use a token with read access to ${owner}'s buckets`
          : status === 404
            ? `${uri} or the file is gone, or this token cannot see it`
            : status === 429
              ? 'the Hub is rate limiting this token: try again in a minute'
              : 'the Hub failed to answer: try again later';
    return new OutboxError(
      status === 401 || status === 403 ? 'HFO_AUTH' : status === 404 ? 'HFO_UPLOAD_REJECTED' : 'HFO_UPLOAD_FAILED',
      `downloading ${path}: the Xet read-token request (GET ${this.#o.hubUrl}/api/buckets/${this.#o.target.id}/xet-read-token) ` +
        `answered HTTP ${status}${body ? ` (${body})` : ' with an empty body'}; ${advice}`,
      { retry: status === 401 || status === 403 || status === 404 ? 'fail' : 'retry' },
    );
  }

  /** Hub errors → coded OutboxErrors. The token never reaches a message: only status, URL and server text. */
  #mapError(error: unknown, doing: string): OutboxError {
    if (error instanceof OutboxError) return error;
    if (error instanceof HubApiError) {
      const s = error.statusCode;
      const base = `${doing}: ${error.message}`;
      if (s === 401) return new OutboxError('HFO_AUTH', `${doing}: the token is invalid or expired (HTTP 401)`, { cause: error });
      if (s === 403) {
        return new OutboxError('HFO_AUTH', `${doing}: the token lacks write access to ${this.#o.target.uri} (HTTP 403)`, { cause: error });
      }
      if (s === 429) return new OutboxError('HFO_RATE_LIMITED', base, { cause: error });
      if (s >= 500 || s === 408) return new OutboxError('HFO_UPLOAD_FAILED', base, { cause: error });
      return new OutboxError('HFO_UPLOAD_REJECTED', base, { cause: error });
    }
    if (error instanceof TypeError || (error instanceof Error && /fetch failed|ECONN|socket|network/i.test(error.message))) {
      return new OutboxError('HFO_NETWORK', `${doing}: network error: ${error.message}`, { cause: error });
    }
    return toOutboxError(error, 'HFO_UPLOAD_FAILED');
  }
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** A checkpoint folder is registered whole or not at all: a file that failed holds back the rest of its folder. */
function holdBackFolders(group: readonly UploadSource[], failed: Map<string, OutboxError>): void {
  const brokenFolders = new Map<string, OutboxError>();
  for (const s of group) {
    const error = failed.get(s.bucketPath);
    if (error !== undefined && s.folder !== undefined && !brokenFolders.has(s.folder.id)) brokenFolders.set(s.folder.id, error);
  }
  for (const s of group) {
    const cause = s.folder === undefined ? undefined : brokenFolders.get(s.folder.id);
    if (cause !== undefined && !failed.has(s.bucketPath)) failed.set(s.bucketPath, heldBack(s, cause));
  }
}

/** The error of a file not registered because another file of its checkpoint folder failed (same code, so it is retried the same way). */
export function heldBack(source: UploadSource, cause: OutboxError): OutboxError {
  return new OutboxError(
    cause.code,
    `not registered: another file of ${source.folder?.bucketPath ?? 'its folder'} failed (${cause.message}); the folder goes up whole, later`,
    { retry: cause.retry, ...(cause.retryAfterMs === undefined ? {} : { retryAfterMs: cause.retryAfterMs }) },
  );
}
