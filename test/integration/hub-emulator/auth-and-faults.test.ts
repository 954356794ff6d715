/** Hub auth rules, error shapes, injected faults and request counters, seen through the real client. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createRepo,
  deleteRepo,
  downloadFile,
  HubApiError,
  listFiles,
  repoExists,
  uploadFiles,
} from '@huggingface/hub';
import { startHubEmulator, type HubEmulator } from '../../hub-emulator/index.js';

const WRITE = 'hf_writer';
const READ = 'hf_reader';
const TEAM_ONLY = 'hf_team_writer';

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

async function drain(iterable: AsyncIterable<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe('hub emulator auth, faults and counters', () => {
  let emu: HubEmulator;
  const repo = { type: 'bucket' as const, name: 'agents/board' };
  const upload = (accessToken: string, path = 'note.txt', extra: { fetch?: typeof fetch } = {}) =>
    uploadFiles({ repo, hubUrl: emu.url, accessToken, files: [{ path, content: new Blob([`hello from ${path}`]) }], ...extra });

  beforeEach(async () => {
    // A fresh emulator (and so a fresh port) per test: the client caches CAS write tokens per token URL.
    emu = await startHubEmulator({
      buckets: ['agents/board'],
      tokens: { [WRITE]: { write: true }, [READ]: { write: false }, [TEAM_ONLY]: { write: true, namespaces: ['team'] } },
    });
  });

  afterEach(async () => {
    await emu.close();
  });

  it('rejects a wrong token with a 401 HubApiError carrying the JSON message and request id', async () => {
    const err = await caught(drain(listFiles({ repo, hubUrl: emu.url, accessToken: 'hf_wrong' })));
    expect(err).toBeInstanceOf(HubApiError);
    expect(err).toMatchObject({ statusCode: 401, data: { error: 'Invalid credentials in Authorization header' } });
    expect((err as HubApiError).requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await caught(upload('hf_wrong'))).toMatchObject({ statusCode: 401 });
  });

  it('lets a read-only token list and download but answers 403 to its upload', async () => {
    await upload(WRITE, 'by-writer.txt');
    const err = await caught(upload(READ, 'by-reader.txt'));
    expect(err).toBeInstanceOf(HubApiError);
    expect(err).toMatchObject({ statusCode: 403 });
    expect(emu.listPaths('agents/board')).toEqual(['by-writer.txt']);
    const listed = await drain(listFiles({ repo, hubUrl: emu.url, accessToken: READ }));
    expect(listed).toHaveLength(1);
    const blob = await downloadFile({ repo, hubUrl: emu.url, accessToken: READ, path: 'by-writer.txt' });
    expect(await blob?.text()).toBe('hello from by-writer.txt');
  });

  it('answers 403 to a write token used outside its namespaces', async () => {
    expect(await caught(upload(TEAM_ONLY))).toMatchObject({ statusCode: 403 });
  });

  it('answers 404 RepoNotFound for a missing bucket, and 401 to anonymous callers', async () => {
    const missing = { repo: 'buckets/agents/nope', hubUrl: emu.url };
    expect(await caught(drain(listFiles({ ...missing, accessToken: WRITE })))).toMatchObject({ statusCode: 404 });
    expect(await caught(uploadFiles({ ...missing, accessToken: WRITE, files: [{ path: 'a', content: new Blob(['a']) }] }))).toMatchObject({
      statusCode: 404,
    });
    // EntryNotFound makes downloadFile return null; RepoNotFound must make it throw.
    expect(await caught(downloadFile({ ...missing, accessToken: WRITE, path: 'a' }))).toMatchObject({ statusCode: 404 });
    const raw = await fetch(`${emu.url}/api/buckets/agents/nope`, { headers: { Authorization: `Bearer ${WRITE}` } });
    expect(raw.headers.get('x-error-code')).toBe('RepoNotFound');
    expect((await fetch(`${emu.url}/api/buckets/agents/nope`)).status).toBe(401);
  });

  it('creates, detects and deletes buckets through createRepo, repoExists and deleteRepo', async () => {
    const fresh = { repo: { type: 'bucket' as const, name: 'agents/fresh' }, hubUrl: emu.url, accessToken: WRITE };
    expect(await repoExists(fresh)).toBe(false);
    expect(await createRepo({ ...fresh, private: true })).toEqual({ repoUrl: `${emu.url}/buckets/agents/fresh`, id: 'agents/fresh' });
    expect(await repoExists(fresh)).toBe(true);
    // Private: anonymous callers cannot see it.
    expect(await repoExists({ repo: fresh.repo, hubUrl: emu.url })).toBe(false);
    expect(await caught(createRepo(fresh))).toMatchObject({ statusCode: 409 });
    await deleteRepo(fresh);
    expect(await repoExists(fresh)).toBe(false);
  });

  it('makes the upload reject when a 500 fault hits the batch, then recovers once the rule expires', async () => {
    emu.addFault({ endpoint: 'batch', kind: 'status', status: 500, times: 1 });
    const err = await caught(upload(WRITE));
    expect(err).toBeInstanceOf(HubApiError);
    expect(err).toMatchObject({ statusCode: 500 });
    expect(emu.listPaths('agents/board')).toEqual([]);
    await upload(WRITE);
    expect(emu.listPaths('agents/board')).toEqual(['note.txt']);
  });

  it('holds xorb uploads unanswered until released, then lands the file', async () => {
    const xorbs = emu.hold('xorb');
    let done = false;
    const pending = upload(WRITE).then(() => (done = true));
    await xorbs.arrived();
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBe(false);
    expect(xorbs.waiting).toBe(1);
    expect(emu.listPaths('agents/board')).toEqual([]);
    xorbs.release();
    await pending;
    expect(xorbs.waiting).toBe(0);
    expect(emu.listPaths('agents/board')).toEqual(['note.txt']);
  });

  it('answers a rate-limit fault with 429, Retry-After and RateLimit headers', async () => {
    emu.addFault({ endpoint: 'tree', kind: 'rate-limit', retryAfterSeconds: 7 });
    const res = await fetch(`${emu.url}/api/buckets/agents/board/tree?recursive=true&expand=false`, {
      headers: { Authorization: `Bearer ${WRITE}` },
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(res.headers.get('ratelimit')).toBe('"api";r=0;t=7');
    expect(res.headers.get('ratelimit-policy')).toContain('"fixed window"');
    expect(await caught(drain(listFiles({ repo, hubUrl: emu.url, accessToken: WRITE })))).toMatchObject({ statusCode: 429 });
  });

  it('drops the connection without a response on a drop fault', async () => {
    emu.addFault({ endpoint: 'xorb', kind: 'drop', times: 1 });
    const err = await caught(upload(WRITE));
    expect(err).toBeInstanceOf(TypeError); // undici's "fetch failed"
    expect(emu.counters().requestLog.find((e) => e.endpoint === 'xorb')?.status).toBe(0);
  });

  it('surfaces a batch `failed` entry as "Failed to upload" from uploadFiles, and does not list the file', async () => {
    // Swap the announced hash for one no shard registered: the emulator must refuse to acknowledge it.
    const tamper: typeof fetch = (input, init) => {
      if (String(input).endsWith('/batch') && typeof init?.body === 'string') {
        init = { ...init, body: init.body.replace(/"xetHash":"[0-9a-f]{64}"/u, `"xetHash":"${'ab'.repeat(32)}"`) };
      }
      return fetch(input, init);
    };
    const err = await caught(upload(WRITE, 'lost.txt', { fetch: tamper }));
    expect((err as Error).message).toBe('Failed to upload 1 file(s): lost.txt');
    expect(emu.listPaths('agents/board')).toEqual([]);
  });

  it('counts requests per endpoint, body bytes, peak concurrency and peak rate', async () => {
    await upload(WRITE);
    const afterUpload = emu.counters();
    expect(afterUpload.requests).toMatchObject({ 'write-token': 1, dedup: 1, xorb: 1, shard: 1, batch: 1 });
    expect(afterUpload.bytesReceived).toBeGreaterThan(0);
    // The minimal trace for one small file; the dedup miss is a 404.
    expect(afterUpload.requestLog.map((e) => [e.endpoint, e.method, e.status])).toEqual([
      ['write-token', 'GET', 200],
      ['dedup', 'GET', 404],
      ['xorb', 'POST', 200],
      ['shard', 'POST', 200],
      ['batch', 'POST', 200],
    ]);

    emu.resetCounters();
    emu.addFault({ endpoint: 'bucket-info', kind: 'latency', latencyMs: 300 });
    const started = Date.now();
    const statuses = await Promise.all(
      Array.from({ length: 6 }, () => fetch(`${emu.url}/api/buckets/agents/board`, { headers: { Authorization: `Bearer ${WRITE}` } }).then((r) => r.status)),
    );
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    const counters = emu.counters();
    expect(counters.totalRequests).toBe(6);
    expect(counters.requests['bucket-info']).toBe(6);
    expect(counters.peakConcurrentRequests).toBe(6);
    expect(counters.peakRequestsPerSecond).toBe(6);
  });

  it('puts X-Request-Id on successes and errors alike', async () => {
    const ok = await fetch(`${emu.url}/api/buckets/agents/board`, { headers: { Authorization: `Bearer ${WRITE}` } });
    const missing = await fetch(`${emu.url}/no/such/route`);
    expect(ok.headers.get('x-request-id')).toBeTruthy();
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-request-id')).toBeTruthy();
    expect(await missing.json()).toHaveProperty('error');
  });
});
