/**
 * The HTTP calls of a bucket upload, made directly (shared/docs/hub-bucket-api.md): the Xet write
 * token (H6), xorbs (C1), shards (C2), dedup queries (C3) and the addFile batch (H8). Every request
 * goes through the `fetch` handed in, which throttles and retries. The hf token and the CAS token
 * are only ever sent as headers; no message names them.
 */
import { OutboxError } from '../../core/errors.js';
import { withPolicy, type RequestPolicy } from '../../net/request-policy.js';
import type { CasWrites } from './writer.js';

export interface CasClientOptions {
  hubUrl: string;
  /** `owner/name` of the bucket. */
  bucketId: string;
  uri: string;
  token: string;
  fetch: typeof fetch;
}

interface CasToken {
  accessToken: string;
  casUrl: string;
  /** Unix ms after which a fresh token is fetched (60 s before the server's expiry). */
  refreshAt: number;
}

/** A dedup query answered 429: dedup is skipped (the chunks are sent) until `until` (ms). */
export class DedupRateLimited extends Error {
  readonly until: number;
  constructor(until: number) {
    super('dedup queries are rate limited');
    this.until = until;
  }
}

/** How long dedup queries are skipped after a 429 that names no wait. */
const DEDUP_PAUSE_MS = 60_000;

/** Failed paths of one batch call, with the server's reason. */
export type BatchFailures = Map<string, string>;

export class CasClient {
  readonly #o: CasClientOptions;
  #token: Promise<CasToken> | undefined;
  #tokenRefreshAt = 0;
  /** Dedup queries are skipped until then (ms), after a 429: they are optional, uploads are not. */
  #dedupPausedUntil = 0;

  constructor(options: CasClientOptions) {
    this.#o = options;
  }

  /** The CAS calls for one upload call, every request bound to its abort signal. */
  writes(signal: AbortSignal | undefined): CasWrites {
    return {
      putXorb: (hash, body) => this.#cas('POST', `/v1/xorbs/default/${hash}`, new BytesBlob(body), signal, `storing xorb ${hash.slice(0, 12)}…`).then(drain),
      // The CAS checks every file entry before it answers: no read timeout (request-policy.ts).
      putShard: (body) => this.#cas('POST', '/v1/shards', body, signal, 'registering the uploaded files (shard)', false, { noReadTimeout: true }).then(drain),
      queryChunk: async (hash) => {
        if (Date.now() < this.#dedupPausedUntil) throw new DedupRateLimited(this.#dedupPausedUntil);
        const response = await this.#cas('GET', `/v1/chunks/default/${hash}`, undefined, signal, 'dedup query', true, { optional: true });
        if (response.status === 429) {
          await response.body?.cancel();
          const retryAfter = Number(response.headers.get('retry-after'));
          this.#dedupPausedUntil = Date.now() + (Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : DEDUP_PAUSE_MS);
          throw new DedupRateLimited(this.#dedupPausedUntil);
        }
        if (!response.ok) {
          await response.body?.cancel();
          return undefined;
        }
        return Buffer.from(await response.arrayBuffer());
      },
    };
  }

  /** H8: one addFile per path, as NDJSON. 200 (or 422: all failed) carries the per-path report. */
  async addFiles(files: ReadonlyArray<{ path: string; xetHash: string }>, signal: AbortSignal | undefined): Promise<BatchFailures> {
    const body = files.map((f) => JSON.stringify({ type: 'addFile', path: f.path, xetHash: f.xetHash })).join('\n');
    const url = `${this.#o.hubUrl}/api/buckets/${this.#o.bucketId}/batch`;
    const response = await this.#send(
      url,
      { method: 'POST', headers: { Authorization: `Bearer ${this.#o.token}`, 'Content-Type': 'application/x-ndjson' }, body, ...(signal ? { signal } : {}) },
      `adding ${files.length} file(s) to ${this.#o.uri}`,
    );
    if (!response.ok && response.status !== 422) throw await httpError(response, `adding ${files.length} file(s) to ${this.#o.uri}`);
    const report = (await response.json().catch(() => undefined)) as { failed?: Array<{ path?: unknown; error?: unknown }> } | undefined;
    if (!report || !Array.isArray(report.failed)) {
      throw new OutboxError('HFO_UPLOAD_FAILED', `adding files to ${this.#o.uri}: the batch answer (HTTP ${response.status}) has no "failed" list`);
    }
    const failures: BatchFailures = new Map();
    for (const f of report.failed) if (typeof f.path === 'string') failures.set(f.path, typeof f.error === 'string' ? f.error : 'failed');
    return failures;
  }

  async #cas(
    method: string,
    path: string,
    body: Uint8Array | Blob | undefined,
    signal: AbortSignal | undefined,
    doing: string,
    tolerant = false,
    policy: RequestPolicy = {},
  ): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.#casToken();
      const response = await this.#send(
        `${token.casUrl}${path}`,
        withPolicy({ method, headers: { Authorization: `Bearer ${token.accessToken}` }, ...(body ? { body } : {}), ...(signal ? { signal } : {}) }, policy),
        doing,
      );
      // A CAS token can lapse before its stated expiry (clock skew, revocation): fetch a new one once.
      if (response.status === 401 && attempt === 0) {
        await response.body?.cancel();
        this.#token = undefined;
        continue;
      }
      if (!response.ok && !tolerant) throw await httpError(response, `${doing} in ${this.#o.uri}`);
      return response;
    }
  }

  #casToken(): Promise<CasToken> {
    if (this.#token && Date.now() < this.#tokenRefreshAt) return this.#token;
    const pending = this.#fetchToken();
    this.#token = pending;
    this.#tokenRefreshAt = Number.POSITIVE_INFINITY;
    pending.then(
      (t) => {
        if (this.#token === pending) this.#tokenRefreshAt = t.refreshAt;
      },
      () => {
        if (this.#token === pending) this.#token = undefined;
      },
    );
    return pending;
  }

  async #fetchToken(): Promise<CasToken> {
    const doing = `getting an upload token for ${this.#o.uri}`;
    const response = await this.#send(`${this.#o.hubUrl}/api/buckets/${this.#o.bucketId}/xet-write-token`, { headers: { Authorization: `Bearer ${this.#o.token}` } }, doing);
    if (!response.ok) throw await httpError(response, doing);
    const json = (await response.json().catch(() => undefined)) as { accessToken?: unknown; casUrl?: unknown; exp?: unknown } | undefined;
    if (!json || typeof json.accessToken !== 'string' || typeof json.casUrl !== 'string' || typeof json.exp !== 'number') {
      throw new OutboxError('HFO_UPLOAD_FAILED', `${doing}: the answer lacks accessToken, casUrl or exp`);
    }
    return { accessToken: json.accessToken, casUrl: json.casUrl.replace(/\/+$/, ''), refreshAt: json.exp * 1000 - 60_000 };
  }

  async #send(url: string, init: RequestInit, doing: string): Promise<Response> {
    try {
      return await this.#o.fetch(url, init);
    } catch (error) {
      if (init.signal?.aborted) throw error;
      if (error instanceof OutboxError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new OutboxError('HFO_NETWORK', `${doing}: network error: ${message}`, { cause: error });
    }
  }
}

async function drain(response: Response): Promise<void> {
  await response.body?.cancel();
}

/** A non-2xx answer as a coded error: status, what we were doing and the server's own words (never a token). */
async function httpError(response: Response, doing: string): Promise<OutboxError> {
  const text = (await response.text().catch(() => '')).replace(/\s+/g, ' ').trim().slice(0, 300);
  const s = response.status;
  const detail = `${doing}: HTTP ${s}${text ? `: ${text}` : ''}`;
  const retryAfter = Number(response.headers.get('retry-after'));
  if (s === 401) return new OutboxError('HFO_AUTH', `${doing}: the token is invalid or expired (HTTP 401)`);
  if (s === 403) return new OutboxError('HFO_AUTH', `${doing}: the token lacks write access (HTTP 403)`);
  if (s === 429) return new OutboxError('HFO_RATE_LIMITED', detail, Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {});
  if (s >= 500 || s === 408) return new OutboxError('HFO_UPLOAD_FAILED', detail);
  return new OutboxError('HFO_UPLOAD_REJECTED', detail, { cause: { status: s } });
}

/**
 * A request body over bytes we hold, streamed from them without a copy. fetch copies a plain
 * Uint8Array body (the spec's "extract a body"), which for a 64 MiB xorb is 64 MiB more per
 * request in flight; a Blob body is read through its stream() instead. Re-readable, so a retry
 * sends the same bytes.
 */
class BytesBlob extends Blob {
  readonly #bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    super([]);
    this.#bytes = bytes;
    Object.defineProperty(this, 'size', { value: bytes.byteLength, enumerable: true });
  }

  override stream(): ReturnType<Blob['stream']> {
    const bytes = this.#bytes;
    const piece = 1 << 20;
    let at = 0;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (at >= bytes.byteLength) {
          controller.close();
          return;
        }
        const end = Math.min(bytes.byteLength, at + piece);
        // A view, not a copy: the bytes stay ours and unchanged until the request has settled.
        controller.enqueue(bytes.subarray(at, end));
        at = end;
      },
    }) as unknown as ReturnType<Blob['stream']>;
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    return this.#bytes.slice().buffer as ArrayBuffer;
  }
}
