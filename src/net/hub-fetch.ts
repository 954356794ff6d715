/**
 * The one door every HTTP request to the Hub goes through (API, Xet CAS, signed xorb URLs).
 *
 * Neither `@huggingface/hub` (reads) nor the Xet writer (uploads, src/adapters/xet/) retries on its
 * own; both are handed this `fetch`, which adds:
 * a sliding-window request limiter, an upload-bytes token bucket, retries with full-jitter
 * exponential backoff that honour `Retry-After` and the Hub's `RateLimit` header, and a circuit
 * breaker shared by all requests so an outage sees a trickle of probes instead of a retry storm.
 *
 * What is never retried: responses other than 408/429/5xx (the caller gets them as they are), a 429
 * to a request marked optional (src/net/request-policy.ts; it does not count towards the breaker either),
 * errors that are not network errors, anything after the caller's signal aborted, and requests
 * whose body cannot be replayed (a `ReadableStream`/async-iterable body or a `Request` object
 * with a body): those are sent exactly once, though they still pass the limiters and the breaker.
 */
import type { Clock } from '../core/ports.js';
import { OutboxError } from '../core/errors.js';
import { policyOf } from './request-policy.js';

export interface RetryPolicy {
  /**
   * Attempts per request, the first one included. `1` disables retries.
   * @default 8
   */
  maxAttempts: number;
  /**
   * Backoff ceiling for the first retry, in ms; it doubles on every further attempt.
   * @default 1000
   */
  baseDelayMs: number;
  /**
   * Upper bound of any backoff, in ms. A server that asks for a longer wait than this gets its
   * response handed back to the caller instead: waiting longer inside one fetch is what this cap forbids.
   * @default 300000
   */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 8,
  baseDelayMs: 1000,
  maxDelayMs: 300_000,
});

export interface HubFetchOptions {
  /**
   * The fetch that really sends requests. Tests inject a scripted one.
   * @default globalThis.fetch
   */
  fetch?: typeof fetch;
  /** Time source for every wait (backoff, limiters, breaker); `setTimer` and `now` are used. */
  clock: Clock;
  /**
   * At most this many requests (retries and probes included) are *started* in any sliding window
   * of 1100 ms (one second plus a margin for the delay before the server sees them), window ends
   * included, so the server never counts more in any second. `0` or undefined means no limit.
   * @default 0
   */
  maxRequestsPerSecond?: number;
  /**
   * Token bucket on request body bytes, in bytes per second; it holds one second's budget.
   * A request starts once the bucket holds its body's size (a full bucket, for a body larger
   * than that) and then takes its whole size, so an oversized body still goes and the requests
   * after it wait in proportion to its size. Retries pay again. Bodies of unknown size
   * (FormData, streams) are not throttled. `0` or undefined means no limit.
   * @default 0
   */
  maxUploadBytesPerSecond?: number;
  /** Retry policy; missing fields take their defaults from {@link DEFAULT_RETRY_POLICY}. */
  retry?: Partial<RetryPolicy>;
  /**
   * Consecutive failed attempts (network error, 408, 429, 5xx), counted across all requests, that
   * open the circuit breaker. While open, no request starts except one probe at a time, after a
   * backoff that grows with each failed probe; the first success closes it. `0` disables it.
   * @default 5
   */
  breakerThreshold?: number;
  /**
   * Random source in [0, 1) for jitter.
   * @default Math.random
   */
  random?: () => number;
  /** Observer for logs and metrics. Events never carry headers, tokens or query strings. */
  onEvent?: (event: HubFetchEvent) => void;
}

/**
 * What happened, for logs and metrics. `url` is always stripped of its query string and
 * credentials (signed CAS URLs carry them); `error` is an error code (`ECONNRESET`,
 * `UND_ERR_SOCKET`, `TypeError`), never a message.
 */
export type HubFetchEvent =
  | {
      type: 'retry';
      method: string;
      url: string;
      /** The attempt that failed, 1-based. */
      attempt: number;
      status?: number;
      error?: string;
      delayMs: number;
    }
  | { type: 'rate-limited'; method: string; url: string; status: number; retryAfterMs?: number }
  | { type: 'breaker-open'; consecutiveFailures: number; probeInMs: number }
  | { type: 'breaker-closed'; openForMs: number }
  | {
      type: 'done';
      method: string;
      url: string;
      /** The final response's status, absent when the request threw. */
      status?: number;
      error?: string;
      attempts: number;
      durationMs: number;
      /** Body bytes sent over all attempts. */
      bytesSent: number;
    };

export interface HubFetchStats {
  /** Underlying requests started, retries and probes included. */
  requests: number;
  /** Retries scheduled. */
  retries: number;
  /** 429 responses received. */
  rateLimited: number;
  breakerOpen: boolean;
  /** Body bytes handed to the underlying fetch, over all attempts. */
  bytesSent: number;
  /** Calls that have not settled yet, including those waiting on a limiter, a backoff or the breaker. */
  inFlight: number;
}

export interface HubFetch {
  (input: string | URL | Request, init?: RequestInit): Promise<Response>;
  stats(): HubFetchStats;
  /** Rejects every waiting call and every later call with an `HFO_NETWORK` error; requests already sent finish. */
  close(): void;
}

/**
 * The limiter's window: one second plus a margin, because the server counts arrivals, and a
 * request reaches it a few milliseconds after it is started here (connection set-up, queueing).
 */
const WINDOW_MS = 1100;

export function createHubFetch(options: HubFetchOptions): HubFetch {
  const baseFetch = options.fetch ?? globalThis.fetch;
  const { clock, onEvent } = options;
  const random = options.random ?? Math.random;
  const maxPerSecond = nonNegative('maxRequestsPerSecond', options.maxRequestsPerSecond ?? 0, true);
  const bytesPerSecond = nonNegative('maxUploadBytesPerSecond', options.maxUploadBytesPerSecond ?? 0, false);
  const breakerThreshold = nonNegative('breakerThreshold', options.breakerThreshold ?? 5, true);
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
    throw new TypeError(`retry.maxAttempts must be an integer >= 1, got ${String(policy.maxAttempts)}`);
  }
  nonNegative('retry.baseDelayMs', policy.baseDelayMs, false);
  nonNegative('retry.maxDelayMs', policy.maxDelayMs, false);

  const stats = { requests: 0, retries: 0, rateLimited: 0, bytesSent: 0, inFlight: 0 };
  const emit = (event: HubFetchEvent): void => {
    try {
      onEvent?.(event);
    } catch {
      // A broken logger must not fail an upload.
    }
  };

  // ---- waiting: every wait is cancellable by the caller's signal and by close() ----
  let closed = false;
  const closedError = () => new OutboxError('HFO_NETWORK', 'hub fetch is closed');
  interface Waiter {
    resolve(): void;
    reject(error: unknown): void;
    /** Breaker waiters re-check the breaker whenever its state changes. */
    onBreaker: boolean;
  }
  const waiters = new Set<Waiter>();

  function wait(ms: number, signal: AbortSignal | undefined, onBreaker = false): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (closed) return reject(closedError());
      if (signal?.aborted) return reject(signal.reason);
      let cancelTimer: (() => void) | undefined;
      const onAbort = () => waiter.reject(signal?.reason);
      const cleanup = () => {
        waiters.delete(waiter);
        cancelTimer?.();
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        resolve: () => (cleanup(), resolve()),
        reject: (error) => (cleanup(), reject(error)),
        onBreaker,
      };
      waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      // Infinity means "until woken": a breaker waiter behind a probe that is still out.
      if (Number.isFinite(ms)) cancelTimer = clock.setTimer(waiter.resolve, Math.max(0, ms));
    });
  }
  const wakeBreakerWaiters = () => {
    for (const waiter of waiters) if (waiter.onBreaker) waiter.resolve();
  };

  // ---- circuit breaker ----
  let consecutiveFailures = 0;
  let breakerOpen = false;
  let openedAt = 0;
  let reopenCount = 0;
  /** Earliest time the next probe may start. */
  let probeAt = 0;
  /** Only one probe at a time, so a dead Hub sees one request per backoff step. */
  let probeOut = false;

  /** 0 = may start now; otherwise ms to wait (Infinity = until a probe reports back). */
  function breakerWaitMs(now: number): number {
    if (!breakerOpen) return 0;
    if (probeOut) return Infinity;
    return Math.max(0, probeAt - now);
  }

  function scheduleProbe(serverDelayMs: number): number {
    // Equal jitter, not full jitter: the delay must really grow, or a string of small random
    // draws would let a burst of probes through during an outage. Capped like any backoff, even
    // when a server asks for longer: no caller should wait more than maxDelayMs for one probe.
    const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** reopenCount);
    const delayMs = Math.min(policy.maxDelayMs, Math.max(serverDelayMs, ceiling / 2 + (random() * ceiling) / 2));
    probeAt = clock.now() + delayMs;
    probeOut = false;
    wakeBreakerWaiters(); // so they wait for the new probe time
    return delayMs;
  }

  function onAttemptSettled(outcome: 'healthy' | 'failed' | 'neutral', wasProbe: boolean, serverDelayMs = 0): void {
    if (wasProbe) {
      probeOut = false;
      wakeBreakerWaiters(); // the probe slot is free again, whatever happens next
    }
    if (outcome === 'healthy') {
      consecutiveFailures = 0;
      if (breakerOpen) {
        breakerOpen = false;
        wakeBreakerWaiters();
        emit({ type: 'breaker-closed', openForMs: clock.now() - openedAt });
      }
    } else if (outcome === 'failed') {
      consecutiveFailures++;
      if (breakerOpen && wasProbe) {
        reopenCount++;
        scheduleProbe(serverDelayMs);
      } else if (!breakerOpen && breakerThreshold > 0 && consecutiveFailures >= breakerThreshold) {
        breakerOpen = true;
        openedAt = clock.now();
        reopenCount = 0;
        const probeInMs = scheduleProbe(serverDelayMs);
        emit({ type: 'breaker-open', consecutiveFailures, probeInMs });
      }
    }
  }

  // ---- sliding-window request limiter ----
  /** Start times inside the current window, oldest first; never longer than maxPerSecond. */
  const starts: number[] = [];

  function windowWaitMs(now: number): number {
    if (maxPerSecond === 0) return 0;
    while (starts.length > 0 && (starts[0] ?? 0) < now - WINDOW_MS) starts.shift();
    if (starts.length < maxPerSecond) return 0;
    // The window counts both ends, so the oldest start must be more than WINDOW_MS old.
    return (starts[0] ?? now) + WINDOW_MS + 1 - now;
  }

  // ---- upload-bytes token bucket (holds one second's budget) ----
  let tokens = bytesPerSecond;
  let refilledAt = clock.now();

  /**
   * A body may start once the bucket holds its size, or is full when the body is larger than the
   * bucket. Its whole size is then taken, so an oversized body leaves a debt that the requests
   * after it wait out: the long-run rate holds and nothing waits forever.
   */
  function bytesWaitMs(now: number, bytes: number): number {
    if (bytesPerSecond === 0 || bytes === 0) return 0;
    tokens = Math.min(bytesPerSecond, tokens + ((now - refilledAt) * bytesPerSecond) / 1000);
    refilledAt = now;
    const missing = Math.min(bytes, bytesPerSecond) - tokens;
    return missing <= 0 ? 0 : Math.ceil((missing * 1000) / bytesPerSecond);
  }

  /**
   * Waits until the breaker, the request window and the byte bucket all let this attempt start,
   * then claims all three (and the probe slot, when the breaker is open) in one synchronous step,
   * so nothing can change between the check and the start. Claiming nothing while waiting means
   * an outage does not bank budget that would all be spent in one burst when it ends.
   * Returns whether this attempt is the breaker's probe.
   */
  async function admit(bodyBytes: number, signal: AbortSignal | undefined): Promise<boolean> {
    for (;;) {
      if (closed) throw closedError();
      signal?.throwIfAborted();
      const now = clock.now();
      const breakerMs = breakerWaitMs(now);
      if (breakerMs !== 0) {
        await wait(breakerMs, signal, true);
        continue;
      }
      const limiterMs = Math.max(windowWaitMs(now), bytesWaitMs(now, bodyBytes));
      if (limiterMs !== 0) {
        await wait(limiterMs, signal);
        continue;
      }
      if (maxPerSecond > 0) starts.push(now);
      if (bytesPerSecond > 0) tokens -= bodyBytes;
      if (breakerOpen) probeOut = true;
      return breakerOpen;
    }
  }

  // ---- the fetch ----
  async function hubFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    if (closed) throw closedError();
    const request = input instanceof Request ? input : undefined;
    const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
    const url = redactUrl(request ? request.url : String(input));
    const signal = init?.signal ?? request?.signal ?? undefined;
    const body = init?.body ?? request?.body ?? null;
    const bodyBytes = bodySize(body) ?? 0;
    const maxAttempts = isReplayable(body) ? policy.maxAttempts : 1;

    const startedAt = clock.now();
    let attempts = 0;
    let sentBytes = 0;
    const done = (status: number | undefined, error: unknown) =>
      emit({
        type: 'done',
        method,
        url,
        ...(status === undefined ? { error: errorCode(error) } : { status }),
        attempts,
        durationMs: clock.now() - startedAt,
        bytesSent: sentBytes,
      });

    stats.inFlight++;
    try {
      for (;;) {
        const probe = await admit(bodyBytes, signal);
        attempts++;
        stats.requests++;
        stats.bytesSent += bodyBytes;
        sentBytes += bodyBytes;

        let response: Response;
        try {
          response = await baseFetch(input, init);
        } catch (error) {
          const retryable = !signal?.aborted && isNetworkError(error);
          onAttemptSettled(retryable ? 'failed' : 'neutral', probe);
          if (!retryable || attempts >= maxAttempts) throw error;
          const delayMs = backoffDelayMs(attempts, 0, policy, random);
          stats.retries++;
          emit({ type: 'retry', method, url, attempt: attempts, error: errorCode(error), delayMs });
          await wait(delayMs, signal);
          continue;
        }

        if (!isRetryableStatus(response.status)) {
          onAttemptSettled('healthy', probe);
          done(response.status, undefined);
          return response;
        }
        const serverDelayMs = serverDelayFromHeaders(response.headers, clock.now());
        if (response.status === 429 && policyOf(init).optional) {
          // The caller can do without it (request-policy.ts): back to it at once, the breaker untouched.
          onAttemptSettled('neutral', probe);
          stats.rateLimited++;
          emit({ type: 'rate-limited', method, url, status: 429, ...(serverDelayMs === undefined ? {} : { retryAfterMs: serverDelayMs }) });
          done(response.status, undefined);
          return response;
        }
        onAttemptSettled('failed', probe, serverDelayMs);
        if (response.status === 429) {
          stats.rateLimited++;
          emit({
            type: 'rate-limited',
            method,
            url,
            status: response.status,
            ...(serverDelayMs === undefined ? {} : { retryAfterMs: serverDelayMs }),
          });
        }
        // Hand back the last response as it is, so the client's own error parsing reports the
        // server's message (HubApiError).
        if (attempts >= maxAttempts || (serverDelayMs ?? 0) > policy.maxDelayMs) {
          done(response.status, undefined);
          return response;
        }
        const delayMs = backoffDelayMs(attempts, serverDelayMs, policy, random);
        stats.retries++;
        emit({ type: 'retry', method, url, attempt: attempts, status: response.status, delayMs });
        // Free the connection: an unread body would keep it busy.
        await response.body?.cancel().catch(() => undefined);
        await wait(delayMs, signal);
      }
    } catch (error) {
      done(undefined, error);
      throw error;
    } finally {
      stats.inFlight--;
    }
  }

  return Object.assign(hubFetch, {
    stats: (): HubFetchStats => ({ ...stats, breakerOpen }),
    close(): void {
      closed = true;
      const error = closedError();
      for (const waiter of [...waiters]) waiter.reject(error);
    },
  });
}

// ---- pure helpers (exported for tests and for the retry layer above) ----

/** 408, 429 and every 5xx: the same request may succeed later. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
]);

/**
 * Network failures: undici reports each one as `TypeError('fetch failed')` with the cause
 * attached; other stacks surface the errno or `UND_ERR_*` code directly, or "socket hang up".
 */
export function isNetworkError(error: unknown): boolean {
  for (const e of causeChain(error)) {
    if (e.name === 'AbortError') return false;
    if (e instanceof TypeError) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || code.startsWith('UND_ERR_'))) return true;
    if (/socket hang up|other side closed/i.test(e.message)) return true;
  }
  return false;
}

/**
 * Full-jitter exponential backoff after the `attempt`-th failure (1-based), never shorter than
 * what the server asked for: random(0, min(maxDelayMs, baseDelayMs * 2^(attempt-1))).
 */
export function backoffDelayMs(
  attempt: number,
  serverDelayMs: number | undefined,
  policy: RetryPolicy,
  random: () => number,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.max(serverDelayMs ?? 0, Math.floor(random() * ceiling));
}

/**
 * The wait the server asked for, in ms: the larger of `Retry-After` (seconds or HTTP-date) and
 * the `t` (seconds to reset) of the Hub's `RateLimit: "api";r=0;t=<s>` header. Undefined when neither says.
 */
export function serverDelayFromHeaders(headers: Headers, nowMs: number): number | undefined {
  let delayMs: number | undefined;
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) delayMs = Number(retryAfter) * 1000;
    else {
      const at = Date.parse(retryAfter);
      if (!Number.isNaN(at)) delayMs = Math.max(0, at - nowMs);
    }
  }
  for (const match of (headers.get('ratelimit') ?? '').matchAll(/(?:^|;)\s*t=(\d+)/g)) {
    delayMs = Math.max(delayMs ?? 0, Number(match[1]) * 1000);
  }
  return delayMs === undefined ? undefined : Math.ceil(delayMs);
}

/** Origin and path only: query strings of signed URLs and userinfo carry credentials. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return url.split(/[?#]/, 1)[0] ?? '';
  }
}

/** The error and its causes, outermost first (bounded: cause chains can be cyclic). */
function causeChain(error: unknown): Error[] {
  const chain: Error[] = [];
  for (let e = error; e instanceof Error && chain.length < 5; e = (e as Error).cause) chain.push(e);
  return chain;
}

/** A code safe to log: the first errno/undici code in the cause chain, else the error's name. Never a message. */
function errorCode(error: unknown): string {
  const chain = causeChain(error);
  for (const e of chain) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return chain[0]?.name ?? typeof error;
}

type FetchBody = RequestInit['body'] | ReadableStream;

/** Byte length of a body, when it can be known without reading it. */
function bodySize(body: FetchBody): number | undefined {
  if (body == null) return 0;
  if (typeof body === 'string') return Buffer.byteLength(body);
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return body.byteLength;
  if (body instanceof Blob) return body.size;
  if (body instanceof URLSearchParams) return Buffer.byteLength(body.toString());
  return undefined;
}

/** Bodies fetch re-reads from scratch on every call; streams and iterables are consumed once. */
function isReplayable(body: FetchBody): boolean {
  return bodySize(body) !== undefined || body instanceof FormData;
}

function nonNegative(name: string, value: number, integer: boolean): number {
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new TypeError(
      `${name} must be a finite ${integer ? 'integer' : 'number'} >= 0, got ${String(value)} (${typeof value})`,
    );
  }
  return value;
}
