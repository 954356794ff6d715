/**
 * BucketClient over @huggingface/hub: a Hugging Face Storage Bucket (Xet-backed). Files are
 * streamed from disk through a Blob whose stream verifies at its last byte that the file did
 * not change, so a file rewritten mid-upload fails *before* the batch commit and a torn mix is
 * never added. Every request goes through the `fetch` handed in (throttling and retries live there).
 */
import { Readable } from 'node:stream';
import {
  HubApiError,
  commitIter,
  checkRepoAccess,
  createRepo,
  downloadFile,
  listFiles,
  pathsInfo,
  type CommitOperation,
} from '@huggingface/hub';
import type { BucketTarget, Config } from '../config/parse.js';
import { OutboxError, toOutboxError } from '../core/errors.js';
import type { BucketClient, OutboxFs, RemoteEntry, UploadProgress, UploadResult, UploadSource } from '../core/ports.js';
import type { Fingerprint } from '../core/types.js';
import { findToken } from './hub-token.js';

export interface HubBucketOptions {
  target: Extract<BucketTarget, { kind: 'hf' }>;
  hubUrl: string;
  token: string;
  fs: OutboxFs;
  fetch?: typeof fetch;
}

/** The bucket batch API takes at most this many operations per call (the client chunks at 100 too). */
const MAX_PATHS_PER_CALL = 100;
/** Files below this size skip the remote dedup lookup (see #uploadFetch). */
const DEDUP_MIN_FILE_BYTES = 1024 * 1024;
/** Characters the client does not percent-encode in URLs: such a path would land under another name. */
const UNSAFE_PATH = /[?#%\\\u0000-\u001f]/u;

export async function openHubBucket(
  config: Config,
  target: Extract<BucketTarget, { kind: 'hf' }>,
  fs: OutboxFs,
  fetchImpl?: typeof fetch,
): Promise<BucketClient> {
  const { token } = await findToken(config.tokenFile);
  return new HubBucket({ target, hubUrl: config.hubUrl, token, fs, ...(fetchImpl ? { fetch: fetchImpl } : {}) });
}

export class HubBucket implements BucketClient {
  readonly description: string;
  readonly #o: HubBucketOptions;
  readonly #repo: { type: 'bucket'; name: string };

  constructor(options: HubBucketOptions) {
    this.#o = options;
    this.#repo = { type: 'bucket', name: options.target.id };
    this.description = options.target.uri;
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
    try {
      await createRepo({ repo: this.#repo, visibility: 'private', hubUrl: this.#o.hubUrl, accessToken: this.#o.token, ...(this.#o.fetch ? { fetch: this.#o.fetch } : {}) });
    } catch (error) {
      // Another agent may have created it meanwhile: 409 means it exists now, which is all we wanted.
      if (error instanceof HubApiError && error.statusCode === 409) return;
      throw this.#mapError(error, `creating ${this.#o.target.uri}`);
    }
  }

  async upload(
    sources: readonly UploadSource[],
    options: { signal?: AbortSignal; onProgress?: (p: UploadProgress) => void } = {},
  ): Promise<UploadResult[]> {
    const results = new Map<string, UploadResult>();
    let remaining: UploadSource[] = [];
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
    for (let i = 0; i < remaining.length; i += MAX_PATHS_PER_CALL) {
      let group = remaining.slice(i, i + MAX_PATHS_PER_CALL);
      // A file that changed while read aborts the whole call before its commit: drop it and send the rest.
      while (group.length > 0) {
        const outcome = await this.#uploadGroup(group, options);
        if (outcome.kind === 'done') {
          for (const r of outcome.results) results.set(r.bucketPath, r);
          break;
        }
        if (outcome.kind === 'changed') {
          results.set(outcome.bucketPath, { bucketPath: outcome.bucketPath, ok: false, error: outcome.error });
          group = group.filter((s) => s.bucketPath !== outcome.bucketPath);
          continue;
        }
        for (const s of group) results.set(s.bucketPath, { bucketPath: s.bucketPath, ok: false, error: outcome.error });
        break;
      }
    }
    remaining = [];
    return sources.map((s) => results.get(s.bucketPath) as UploadResult);
  }

  async #uploadGroup(
    group: readonly UploadSource[],
    options: { signal?: AbortSignal; onProgress?: (p: UploadProgress) => void },
  ): Promise<
    | { kind: 'done'; results: UploadResult[] }
    | { kind: 'changed'; bucketPath: string; error: OutboxError }
    | { kind: 'error'; error: OutboxError }
  > {
    const operations: CommitOperation[] = group.map((s) => ({
      operation: 'addOrUpdate',
      path: s.bucketPath,
      content: s.local
        ? new VerifiedFileBlob(this.#o.fs, s.local.absPath, s.local.fingerprint, s.bucketPath)
        : new Blob([s.content ?? new Uint8Array()]),
    }));
    const sizes = new Map(group.map((s) => [s.bucketPath, s.sizeBytes]));
    const failed = new Set<string>();
    try {
      const events = commitIter({
        repo: this.#repo,
        operations,
        title: 'hf-outbox upload',
        useXet: true,
        ...this.#common,
        fetch: this.#uploadFetch(group, options.signal),
        ...(options.signal ? { abortSignal: options.signal } : {}),
      });
      for await (const event of events) {
        if (event.event !== 'fileProgress') continue;
        if (event.state === 'error') failed.add(event.path);
        else {
          const total = sizes.get(event.path) ?? 0;
          options.onProgress?.({ bucketPath: event.path, bytesDone: Math.round(event.progress * total), bytesTotal: total });
        }
      }
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const changedPath = changedFiles.get(error as object);
      if (changedPath !== undefined) return { kind: 'changed', bucketPath: changedPath, error: error as OutboxError };
      return { kind: 'error', error: this.#mapError(error, `uploading to ${this.#o.target.uri}`) };
    }
    return {
      kind: 'done',
      results: group.map((s) =>
        failed.has(s.bucketPath)
          ? {
              bucketPath: s.bucketPath,
              ok: false,
              error: new OutboxError(
                'HFO_UPLOAD_FAILED',
                `the bucket did not add ${s.bucketPath} (listed as failed in its batch report); it has not landed`,
              ),
            }
          : { bucketPath: s.bucketPath, ok: true },
      ),
    };
  }

  /**
   * The fetch one upload call uses. The client passes its abortSignal to the batch request only, so
   * the signal is bound to every request here (xorbs, shards too). And for a call of small files
   * only, the client's per-file dedup lookup (one GET per file) is answered "not found" without a
   * request: it can save at most the file itself, and it is most of the requests of such a call.
   */
  #uploadFetch(group: readonly UploadSource[], signal: AbortSignal | undefined): typeof fetch {
    const base = this.#o.fetch ?? fetch;
    const skipDedup = group.every((s) => s.sizeBytes < DEDUP_MIN_FILE_BYTES);
    return (input, init) => {
      if (skipDedup && (init?.method ?? 'GET') === 'GET' && /\/v1\/chunks\//.test(String(input instanceof Request ? input.url : input))) {
        return Promise.resolve(new Response(null, { status: 404 }));
      }
      return base(input, signal ? { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal } : init);
    };
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
    const stream = Readable.fromWeb(blob.stream() as import('node:stream/web').ReadableStream<Uint8Array>);
    options.signal?.addEventListener('abort', () => stream.destroy(options.signal?.reason as Error), { once: true });
    return stream;
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

/** Errors raised by a VerifiedFileBlob, mapped to the bucket path whose file changed. */
const changedFiles = new WeakMap<object, string>();

/**
 * A Blob over a file on disk that is read lazily (never whole into memory) and checked at its
 * last byte: size, mtime and inode must still be those the file had when it settled.
 */
class VerifiedFileBlob extends Blob {
  readonly #fs: OutboxFs;
  readonly #absPath: string;
  readonly #fingerprint: Fingerprint;
  readonly #bucketPath: string;

  constructor(fs: OutboxFs, absPath: string, fingerprint: Fingerprint, bucketPath: string) {
    super([]);
    this.#fs = fs;
    this.#absPath = absPath;
    this.#fingerprint = fingerprint;
    this.#bucketPath = bucketPath;
    // Blob's size is an accessor on its prototype; this own property reports the file's size instead.
    Object.defineProperty(this, 'size', { value: fingerprint.sizeBytes, enumerable: true });
  }

  override stream(): ReturnType<Blob['stream']> {
    const source = this.#fs.openVerified(this.#absPath, this.#fingerprint);
    const bucketPath = this.#bucketPath;
    source.on('error', (error) => {
      if (error instanceof OutboxError && error.code === 'HFO_FILE_CHANGED') changedFiles.set(error, bucketPath);
    });
    return Readable.toWeb(source) as unknown as ReturnType<Blob['stream']>;
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of this.#fs.openVerified(this.#absPath, this.#fingerprint)) chunks.push(chunk as Uint8Array);
    const all = Buffer.concat(chunks);
    return all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  }

  override async text(): Promise<string> {
    return new TextDecoder().decode(await this.arrayBuffer());
  }

  override slice(start = 0, end = this.size): Blob {
    // The client slices only spliced/edited blobs; a plain upload never reaches here. Keep it correct anyway.
    const lo = Math.max(0, start < 0 ? this.size + start : start);
    const hi = Math.min(this.size, end < 0 ? this.size + end : end);
    return new LazyRangeBlob(this, lo, Math.max(lo, hi));
  }
}

class LazyRangeBlob extends Blob {
  readonly #parent: Blob;
  readonly #start: number;
  readonly #end: number;
  constructor(parent: Blob, start: number, end: number) {
    super([]);
    this.#parent = parent;
    this.#start = start;
    this.#end = end;
    Object.defineProperty(this, 'size', { value: end - start, enumerable: true });
  }
  override async arrayBuffer(): Promise<ArrayBuffer> {
    return (await this.#parent.arrayBuffer()).slice(this.#start, this.#end);
  }
  override stream(): ReturnType<Blob['stream']> {
    const bytes = this.arrayBuffer().then((b) => new Uint8Array(b));
    return new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(await bytes);
        controller.close();
      },
    }) as unknown as ReturnType<Blob['stream']>;
  }
}
