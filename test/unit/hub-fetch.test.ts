import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/adapters/system-clock.js';
import {
  backoffDelayMs,
  createHubFetch,
  DEFAULT_RETRY_POLICY,
  redactUrl,
  serverDelayFromHeaders,
} from '../../src/net/hub-fetch.js';
import type { HubFetchEvent, HubFetchOptions } from '../../src/net/hub-fetch.js';

/** One recorded call to the fake underlying fetch. */
interface Call {
  at: number;
  url: string;
  init: RequestInit | undefined;
  /** Calls in progress when this one started, itself included. */
  concurrent: number;
}

type Reply = Response | Error;

/**
 * A fake underlying fetch: `reply(callIndex, url)` scripts each response (or rejection).
 * Each call takes `latencyMs` of fake time and honours the caller's signal like real fetch does.
 */
function scriptedFetch(reply: (n: number, url: string) => Reply, latencyMs = 0) {
  const calls: Call[] = [];
  let active = 0;
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    active++;
    calls.push({ at: Date.now(), url, init, concurrent: active });
    try {
      const answer = reply(calls.length, url);
      const signal = init?.signal ?? undefined;
      await new Promise<void>((resolve, reject) => {
        signal?.throwIfAborted();
        const timer = latencyMs > 0 ? setTimeout(resolve, latencyMs) : undefined;
        signal?.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
        if (latencyMs === 0 && !hangs.has(answer)) resolve();
      });
      if (answer instanceof Error) throw answer;
      return answer;
    } finally {
      active--;
    }
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

/** Replies in this set never arrive (until the caller aborts). */
const hangs = new WeakSet<object>();
const hang = (): Response => {
  const r = new Response(null, { status: 200 });
  hangs.add(r);
  return r;
};

const res = (status: number, headers: Record<string, string> = {}, body: string | null = null) =>
  new Response(body, { status, headers });

function setup(reply: (n: number, url: string) => Reply, options: Partial<HubFetchOptions> = {}, latencyMs = 0) {
  const underlying = scriptedFetch(reply, latencyMs);
  const events: HubFetchEvent[] = [];
  const hubFetch = createHubFetch({
    fetch: underlying.fetch,
    clock: systemClock,
    random: () => 0.5,
    onEvent: (e) => events.push(e),
    ...options,
  });
  return { hubFetch, calls: underlying.calls, events };
}

/** Lets pending promise callbacks run without moving time. */
const flush = () => vi.advanceTimersByTimeAsync(0);
const T0 = Date.parse('2026-01-01T00:00:00Z');
const elapsed = (call: Call | undefined) => (call?.at ?? NaN) - T0;

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('createHubFetch retries', () => {
  it('retries a 503 after a jittered backoff, then returns the success', async () => {
    let discarded = false;
    const unreadBody = new ReadableStream({ cancel: () => void (discarded = true) });
    const { hubFetch, calls, events } = setup((n) => (n === 1 ? new Response(unreadBody, { status: 503 }) : res(200, {}, 'ok')));
    const pending = hubFetch('https://hub.example/api/buckets/o/b');
    await vi.advanceTimersByTimeAsync(499);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    const response = await pending;
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ok');
    expect(calls.map(elapsed)).toEqual([0, 500]); // random 0.5 × base 1000
    expect(events).toContainEqual({
      type: 'retry',
      method: 'GET',
      url: 'https://hub.example/api/buckets/o/b',
      attempt: 1,
      status: 503,
      delayMs: 500,
    });
    expect(hubFetch.stats()).toMatchObject({ requests: 2, retries: 1, inFlight: 0, breakerOpen: false });
    expect(discarded).toBe(true); // the failed response's body was released, freeing its connection
  });

  it('sends no request before the Retry-After deadline of a 429', async () => {
    const { hubFetch, calls, events } = setup((n) => (n === 1 ? res(429, { 'Retry-After': '5' }) : res(200)));
    const pending = hubFetch('https://hub.example/api/x');
    await vi.advanceTimersByTimeAsync(4999);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect((await pending).status).toBe(200);
    expect(elapsed(calls[1])).toBe(5000);
    expect(events).toContainEqual({
      type: 'rate-limited',
      method: 'GET',
      url: 'https://hub.example/api/x',
      status: 429,
      retryAfterMs: 5000,
    });
    expect(hubFetch.stats().rateLimited).toBe(1);
  });

  it('honours a Retry-After given as an HTTP-date', async () => {
    const at = new Date(T0 + 12_000).toUTCString();
    const { hubFetch, calls } = setup((n) => (n === 1 ? res(503, { 'Retry-After': at }) : res(200)));
    const pending = hubFetch('https://hub.example/api/x');
    await vi.advanceTimersByTimeAsync(12_000);
    expect((await pending).status).toBe(200);
    expect(calls.map(elapsed)).toEqual([0, 12_000]);
  });

  it('waits the t= seconds of the Hub RateLimit header', async () => {
    const { hubFetch, calls } = setup((n) =>
      n === 1 ? res(429, { RateLimit: '"api";r=0;t=7', 'RateLimit-Policy': '"fixed window";"api";q=1000;w=300' }) : res(200),
    );
    const pending = hubFetch('https://hub.example/api/x');
    await vi.advanceTimersByTimeAsync(6999);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect((await pending).status).toBe(200);
    expect(elapsed(calls[1])).toBe(7000);
  });

  it('hands a 429 back at once when the server asks for a longer wait than maxDelayMs', async () => {
    const { hubFetch, calls } = setup(() => res(429, { 'Retry-After': '3600' }), { retry: { maxDelayMs: 60_000 } });
    expect((await hubFetch('https://hub.example/api/x')).status).toBe(429);
    expect(calls).toHaveLength(1);
  });

  it('gives up after maxAttempts and returns the last response with its body', async () => {
    const { hubFetch, calls } = setup((n) => res(503, {}, `down #${n}`), { retry: { maxAttempts: 3 } });
    const pending = hubFetch('https://hub.example/api/x');
    await vi.advanceTimersByTimeAsync(60_000);
    const response = await pending;
    expect(response.status).toBe(503);
    expect(await response.text()).toBe('down #3');
    expect(calls).toHaveLength(3);
  });

  it.each([400, 401, 403, 404, 409, 422])('does not retry a %i', async (status) => {
    const { hubFetch, calls } = setup(() => res(status, {}, '{"error":"no"}'));
    const response = await hubFetch('https://hub.example/api/x', { method: 'POST', body: '{}' });
    expect(response.status).toBe(status);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(1);
  });

  it('retries a network TypeError and reports its errno code', async () => {
    const reset = new TypeError('fetch failed', {
      cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
    });
    const { hubFetch, calls, events } = setup((n) => (n === 1 ? reset : res(200)));
    const pending = hubFetch('https://hub.example/api/x');
    await vi.advanceTimersByTimeAsync(500);
    expect((await pending).status).toBe(200);
    expect(calls).toHaveLength(2);
    expect(events).toContainEqual(expect.objectContaining({ type: 'retry', error: 'ECONNRESET', attempt: 1 }));
  });

  it('rethrows the last network error once attempts run out', async () => {
    const hangUp = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const { hubFetch, calls } = setup(() => hangUp, { retry: { maxAttempts: 2 } });
    const outcome = hubFetch('https://hub.example/api/x').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await outcome).toBe(hangUp);
    expect(calls).toHaveLength(2);
  });

  it('does not retry an AbortError, even one the caller did not cause', async () => {
    const aborted = new DOMException('This operation was aborted', 'AbortError');
    const { hubFetch, calls } = setup(() => aborted);
    await expect(hubFetch('https://hub.example/api/x')).rejects.toBe(aborted);
    expect(calls).toHaveLength(1);
  });

  it('does not retry an error that is not a network error', async () => {
    const bug = new RangeError('bad');
    const { hubFetch, calls } = setup(() => bug);
    await expect(hubFetch('https://hub.example/api/x')).rejects.toBe(bug);
    expect(calls).toHaveLength(1);
  });

  it('sends a ReadableStream body once and does not retry it', async () => {
    const { hubFetch, calls } = setup(() => res(503));
    const body = new ReadableStream({ start: (c) => (c.enqueue(new Uint8Array([1])), c.close()) });
    const response = await hubFetch('https://hub.example/api/x', { method: 'POST', body, duplex: 'half' } as RequestInit);
    expect(response.status).toBe(503);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(1);
  });

  it('re-sends the same Uint8Array body on every attempt', async () => {
    const { hubFetch, calls } = setup((n) => (n < 3 ? res(500) : res(200)));
    const body = new Uint8Array([1, 2, 3, 4]);
    const pending = hubFetch('https://cas.example/v1/xorbs/default/abc', { method: 'POST', body });
    await vi.advanceTimersByTimeAsync(10_000);
    expect((await pending).status).toBe(200);
    expect(calls.map((c) => c.init?.body)).toEqual([body, body, body]);
    expect(hubFetch.stats().bytesSent).toBe(12);
  });
});

describe('createHubFetch and the caller signal', () => {
  it('does not retry when the caller aborts a request in flight', async () => {
    const { hubFetch, calls, events } = setup(() => hang());
    const controller = new AbortController();
    const outcome = hubFetch('https://hub.example/api/x', { signal: controller.signal }).catch((e: unknown) => e);
    await flush();
    const reason = new Error('shutting down');
    controller.abort(reason);
    expect(await outcome).toBe(reason);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(1);
    expect(events.filter((e) => e.type === 'retry')).toEqual([]);
    expect(hubFetch.stats().inFlight).toBe(0);
  });

  it('rejects promptly with the signal reason when aborted during a backoff wait', async () => {
    const { hubFetch, calls } = setup(() => res(503), { random: () => 0.99 });
    const controller = new AbortController();
    let settled: unknown = 'pending';
    void hubFetch('https://hub.example/api/x', { signal: controller.signal }).catch((e: unknown) => (settled = e));
    await vi.advanceTimersByTimeAsync(100); // inside the ~990 ms backoff
    expect(calls).toHaveLength(1);
    const reason = new Error('user cancelled');
    controller.abort(reason);
    await flush();
    expect(settled).toBe(reason);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(1);
  });

  it('close() rejects waiting calls and refuses new ones', async () => {
    const { hubFetch } = setup(() => res(503));
    const outcome = hubFetch('https://hub.example/api/x').catch((e: unknown) => e);
    await flush();
    hubFetch.close();
    expect(await outcome).toMatchObject({ code: 'HFO_NETWORK' });
    await expect(hubFetch('https://hub.example/api/y')).rejects.toMatchObject({ code: 'HFO_NETWORK' });
  });
});

describe('createHubFetch limiters', () => {
  it('never starts more than N requests in any sliding 1000 ms window, retries included', async () => {
    const N = 10;
    const seen = new Set<string>();
    // Every third request fails once, so retries compete for the same budget.
    const { hubFetch, calls } = setup(
      (_n, url) => {
        const first = !seen.has(url);
        seen.add(url);
        return first && Number(url.split('/').pop()) % 3 === 0 ? res(503) : res(200);
      },
      { maxRequestsPerSecond: N, breakerThreshold: 0, random: () => 0.3 },
      7,
    );
    const all = Promise.all(Array.from({ length: 50 }, (_, i) => hubFetch(`https://hub.example/api/r/${i}`)));
    await vi.advanceTimersByTimeAsync(20_000);
    expect((await all).map((r) => r.status)).toEqual(Array(50).fill(200));

    const starts = calls.map(elapsed).sort((a, b) => a - b);
    expect(starts).toHaveLength(50 + 17);
    // Any window holding the most starts can be shifted to begin at one of them, so checking
    // the windows [s, s + 1000] (both ends included) for every start s covers them all.
    const peak = Math.max(...starts.map((s) => starts.filter((t) => t >= s && t <= s + 1000).length));
    expect(peak).toBe(N);
  });

  it('spaces request bodies to the upload byte budget; a body over budget goes, the next waits its debt', async () => {
    const { hubFetch, calls } = setup(() => res(200), { maxUploadBytesPerSecond: 1000 });
    const post = (size: number) =>
      hubFetch('https://cas.example/v1/xorbs/default/x', { method: 'POST', body: new Uint8Array(size) });
    const first = Promise.all([post(1000), post(1000), post(2500)]);
    await vi.advanceTimersByTimeAsync(2000);
    await first;
    // A full bucket lets the first go at once; the next waits a second; 2500 bytes wait for a full bucket.
    expect(calls.map(elapsed)).toEqual([0, 1000, 2000]);
    const next = post(1000); // the bucket is 1500 bytes in debt now
    await vi.advanceTimersByTimeAsync(2499);
    expect(calls).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    await next;
    expect(elapsed(calls[3])).toBe(4500);
    expect(hubFetch.stats().bytesSent).toBe(5500);
  });
});

describe('createHubFetch circuit breaker', () => {
  it('lets one probe at a time through an outage, then releases every caller when the Hub recovers', async () => {
    let down = true;
    const { hubFetch, calls, events } = setup(() => (down ? res(503) : res(200)), {}, 100);
    const all = Promise.all(Array.from({ length: 20 }, (_, i) => hubFetch(`https://hub.example/api/f/${i}`)));

    await vi.advanceTimersByTimeAsync(60_000);
    const duringOutage = calls.length;
    expect(hubFetch.stats().breakerOpen).toBe(true);
    // The 20 first attempts went out together; after that only probes, one at a time, spaced by
    // a growing backoff (about 0.75, 2.25, 5.25, 11.25, 23.25, 47.25 s).
    expect(duringOutage).toBeGreaterThan(20);
    expect(duringOutage).toBeLessThanOrEqual(20 + 8);
    expect(calls.slice(20).map((c) => c.concurrent)).toEqual(Array(duringOutage - 20).fill(1));

    down = false;
    await vi.advanceTimersByTimeAsync(DEFAULT_RETRY_POLICY.maxDelayMs);
    expect((await all).map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(hubFetch.stats()).toMatchObject({ breakerOpen: false, inFlight: 0 });
    expect(events.filter((e) => e.type === 'breaker-open')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'breaker-closed')).toHaveLength(1);
    // After recovery: the successful probe, then each of the other callers exactly once.
    expect(calls.length - duringOutage).toBe(20);
  });

  it('holds a new request while open and sends it as the probe', async () => {
    let down = true;
    const { hubFetch, calls } = setup(() => (down ? res(502) : res(200)), { breakerThreshold: 2 });
    const first = [hubFetch('https://hub.example/api/a'), hubFetch('https://hub.example/api/b')];
    await flush();
    expect(hubFetch.stats().breakerOpen).toBe(true); // two failures in a row; next probe in 750 ms
    down = false;
    await vi.advanceTimersByTimeAsync(100);
    const late = hubFetch('https://hub.example/api/c');
    await vi.advanceTimersByTimeAsync(649);
    expect(calls).toHaveLength(2); // c waits although the Hub is already back
    await vi.advanceTimersByTimeAsync(1);
    expect((await Promise.all([...first, late])).map((r) => r.status)).toEqual([200, 200, 200]);
    expect(calls.map((c) => [c.url.split('/').pop(), elapsed(c)])).toEqual([
      ['a', 0],
      ['b', 0],
      ['c', 750],
      ['a', 750],
      ['b', 750],
    ]);
  });

  it('frees the probe slot when the caller aborts the probe', async () => {
    const { hubFetch, calls } = setup((n) => (n === 1 ? res(503) : n === 2 ? hang() : res(200)), { breakerThreshold: 1 });
    const a = hubFetch('https://hub.example/api/a'); // fails at 0 and opens the breaker
    await vi.advanceTimersByTimeAsync(10);
    const controller = new AbortController();
    const b = hubFetch('https://hub.example/api/b', { signal: controller.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(790); // b, waiting longest, became the probe at 750 and hangs
    expect(calls.map((c) => c.url.split('/').pop())).toEqual(['a', 'b']);
    controller.abort(new Error('stop'));
    await flush();
    expect((await a).status).toBe(200);
    expect(calls.map((c) => [c.url.split('/').pop(), elapsed(c)])).toEqual([
      ['a', 0],
      ['b', 750],
      ['a', 800],
    ]);
    expect(await b).toMatchObject({ message: 'stop' });
  });

  it('banks no upload budget while the breaker is open, so recovery is not a burst', async () => {
    let down = true;
    const { hubFetch, calls } = setup(() => (down ? res(503) : res(200)), {
      breakerThreshold: 1,
      maxUploadBytesPerSecond: 1000,
    });
    const post = (name: string) =>
      hubFetch(`https://cas.example/v1/xorbs/default/${name}`, { method: 'POST', body: new Uint8Array(1000) });
    const all = Promise.all([post('a'), post('b'), post('c')]);
    await vi.advanceTimersByTimeAsync(5000);
    down = false;
    await vi.advanceTimersByTimeAsync(20_000);
    await all;
    expect(calls.map((c) => [c.url.split('/').pop(), elapsed(c)])).toEqual([
      ['a', 0], // fails, opens the breaker
      ['b', 1000], // probe, held back by the byte budget too
      ['c', 2500], // probe
      ['a', 5500], // probe, succeeds and closes the breaker
      ['b', 6500], // the others still go a byte budget apart
      ['c', 7500],
    ]);
  });
});

describe('createHubFetch events', () => {
  it('never carries the Authorization header, tokens or query strings', async () => {
    const { hubFetch, events } = setup((n) => (n === 1 ? res(503) : res(200)));
    const pending = hubFetch('https://cas.example/v1/xorbs/default/abc?X-Amz-Signature=s3cr3t&token=hf_leak#frag', {
      method: 'POST',
      headers: { Authorization: 'Bearer hf_s3cr3t' },
      body: 'x',
    });
    await vi.advanceTimersByTimeAsync(1000);
    await pending;
    const logged = JSON.stringify(events);
    expect(logged).not.toMatch(/s3cr3t|hf_|Bearer|Signature|frag/);
    expect(events.at(-1)).toEqual({
      type: 'done',
      method: 'POST',
      url: 'https://cas.example/v1/xorbs/default/abc',
      status: 200,
      attempts: 2,
      durationMs: 500,
      bytesSent: 2,
    });
  });
});

describe('hub-fetch helpers', () => {
  it('reads the larger of Retry-After and RateLimit t=', () => {
    expect(serverDelayFromHeaders(new Headers({ 'retry-after': '3' }), 0)).toBe(3000);
    expect(serverDelayFromHeaders(new Headers({ ratelimit: '"api";r=0;t=9', 'retry-after': '3' }), 0)).toBe(9000);
    expect(serverDelayFromHeaders(new Headers({ 'retry-after': 'soon' }), 0)).toBeUndefined();
    expect(serverDelayFromHeaders(new Headers(), 0)).toBeUndefined();
  });

  it('caps full-jitter backoff and never undercuts the server', () => {
    const policy = { maxAttempts: 8, baseDelayMs: 1000, maxDelayMs: 5000 };
    expect(backoffDelayMs(1, undefined, policy, () => 0.999)).toBe(999);
    expect(backoffDelayMs(3, undefined, policy, () => 0.5)).toBe(2000);
    expect(backoffDelayMs(10, undefined, policy, () => 0.999)).toBe(4995);
    expect(backoffDelayMs(1, 7000, policy, () => 0)).toBe(7000);
  });

  it('strips query, fragment and userinfo from URLs', () => {
    expect(redactUrl('https://user:pw@h.example/a/b?sig=1#x')).toBe('https://h.example/a/b');
    expect(redactUrl('not a url?token=1')).toBe('not a url');
  });

  it('rejects a bad option with a TypeError naming it', () => {
    expect(() => createHubFetch({ clock: systemClock, maxRequestsPerSecond: -1 })).toThrow(/maxRequestsPerSecond/);
    expect(() => createHubFetch({ clock: systemClock, retry: { maxAttempts: 0 } })).toThrow(/maxAttempts/);
  });

  it('is assignable where @huggingface/hub takes a fetch', () => {
    const f: typeof fetch = createHubFetch({ clock: systemClock });
    expect(typeof f).toBe('function');
  });
});
