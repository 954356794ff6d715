/**
 * The emulator's HTTP server: one listener serves the Hub API, the CAS (under /cas) and the signed
 * xorb URLs. Every exchange is counted, may be hit by an injected fault, and carries X-Request-Id.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { App } from './app.js';
import { Counters } from './counters.js';
import { FaultSet, HoldGate } from './faults.js';
import { Exchange, HttpError, readBody } from './http.js';
import { matchRoute } from './routes.js';
import { HubStore } from './store.js';
import type { FaultRule, HubEmulator, HubEmulatorOptions } from './types.js';

const DEFAULT_TOKENS = { hf_emulator_write_token: { write: true } };
const HOST_HEADER = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/u;
const BUCKET_ID = /^[^/]+\/[^/]+$/u;

function faultResponse(ex: Exchange, rule: FaultRule): void {
  if (rule.kind === 'rate-limit') {
    const seconds = rule.retryAfterSeconds ?? 1;
    const kind = ex.segments[0] === 'buckets' ? 'resolvers' : 'api';
    const echo = rule.echoAuthorization ? ` (request had Authorization: ${ex.header('authorization') ?? 'none'})` : '';
    ex.error(new HttpError(429, `Too Many Requests (injected fault)${echo}`, undefined, {
      'Retry-After': String(seconds),
      RateLimit: `"${kind}";r=0;t=${seconds}`,
      'RateLimit-Policy': `"fixed window";"${kind}";q=1000;w=300`,
    }));
    return;
  }
  const status = rule.status ?? 500;
  if (rule.body !== undefined) {
    // A proxy or gateway answering with its own page (or nothing at all) instead of the Hub's JSON.
    ex.send(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(rule.body) }, rule.body);
    return;
  }
  // A misconfigured proxy or server that quotes the request back, credentials included.
  const echo = rule.echoAuthorization ? ` (request had Authorization: ${ex.header('authorization') ?? 'none'})` : '';
  ex.error(new HttpError(status, `Injected fault: HTTP ${status}${echo}`));
}

export async function startHubEmulator(opts: HubEmulatorOptions = {}): Promise<HubEmulator> {
  const host = opts.host ?? '127.0.0.1';
  const store = new HubStore();
  for (const id of opts.buckets ?? []) store.createBucket(id);
  const app: App = {
    store,
    tokens: opts.tokens ?? DEFAULT_TOKENS,
    treePageSize: opts.treePageSize ?? 1000,
    casTokenTtlSeconds: opts.casTokenTtlSeconds ?? 3600,
    dedupKeyTtlSeconds: opts.dedupKeyTtlSeconds ?? 24 * 3600,
  };
  const faults = new FaultSet();
  const counters = new Counters();
  const holds = new Set<HoldGate>();
  let port = opts.port ?? 0;
  let server: Server | undefined;
  const wildcard = host === '0.0.0.0' || host === '::';
  const urlHost = wildcard ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('X-Request-Id', randomUUID());
    const method = req.method ?? 'GET';
    const rawUrl = req.url ?? '/';
    const queryAt = rawUrl.indexOf('?');
    const rawPath = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
    // Split first, then decode each segment: a decoded %2F stays inside its segment (Python encodes
    // `/` in paths, the JS client sends them raw, Rust encodes per segment; all three must work).
    let segments: string[] | undefined;
    try {
      segments = rawPath.split('/').slice(1).map(decodeURIComponent);
    } catch {
      segments = undefined;
    }
    const route = matchRoute(method, segments ?? []);
    const entry = counters.arrive(route.endpoint, method, rawPath);
    res.on('close', () => {
      entry.status = res.headersSent ? res.statusCode : 0;
      counters.depart();
    });

    const hostHeader = req.headers.host;
    const origin = `http://${hostHeader && HOST_HEADER.test(hostHeader) ? hostHeader : `${urlHost}:${port}`}`;
    const ex = new Exchange(req, res, origin, segments ?? [], new URLSearchParams(queryAt < 0 ? '' : rawUrl.slice(queryAt + 1)));

    ex.bodyObserver = segments && route.handler ? route.observeBody?.(app, ex) : undefined;
    let tooLarge: boolean;
    try {
      ({ body: ex.body, tooLarge } = await readBody(req, route.bodyLimit, (n) => counters.addBytes(n), ex.bodyObserver));
    } catch {
      return; // the client went away mid-body
    }

    for (const gate of holds) if (gate.endpoint === route.endpoint) await gate.wait();
    const fault = faults.decide(route.endpoint, ex.body);
    if (fault.latencyMs > 0) await sleep(fault.latencyMs);
    if (fault.terminal?.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault.terminal?.kind === 'corrupt') ex.corrupt = true;
    else if (fault.terminal) {
      faultResponse(ex, fault.terminal);
      return;
    }

    try {
      if (!segments) throw new HttpError(400, 'Malformed percent-encoding in URL path');
      if (!route.handler) {
        throw route.endpoint === 'not-found' ? new HttpError(404, `Not found: ${method} ${rawPath}`) : new HttpError(405, `Method ${method} not allowed`);
      }
      if (tooLarge) throw new HttpError(route.tooLargeStatus, `Request body exceeds ${route.bodyLimit} bytes`);
      await route.handler(app, ex);
      if (!res.headersSent) throw new Error(`handler for ${route.endpoint} sent no response`);
    } catch (err) {
      if (res.headersSent) {
        res.destroy(); // mid-stream failure: the client must not mistake a truncated body for a whole one
      } else if (err instanceof HttpError) {
        ex.error(err);
      } else {
        ex.error(new HttpError(500, `Internal emulator error: ${(err as Error).message}`));
      }
    }
  }

  async function listen(): Promise<void> {
    if (server) return;
    // No request timeout: a slow 64 MiB xorb upload must never be cut off.
    const next = createServer({ requestTimeout: 0 }, (req, res) => void handle(req, res));
    // Idle keep-alive sockets stay open far longer than a test waits between requests: with Node's
    // 5 s default, a client on a loaded machine could reuse a socket the emulator was closing at
    // that instant and get ECONNRESET mid-upload (seen once in a suite run under load).
    next.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      next.once('error', reject);
      next.listen(port, host, () => {
        next.off('error', reject);
        resolve();
      });
    });
    port = (next.address() as AddressInfo).port;
    server = next;
  }

  async function stopListening(): Promise<void> {
    for (const gate of holds) gate.release();
    holds.clear();
    const current = server;
    if (!current) return;
    server = undefined;
    await new Promise<void>((resolve) => {
      current.close(() => resolve());
      current.closeAllConnections();
    });
  }

  function storedFile(bucketId: string, path: string) {
    return store.buckets.get(bucketId)?.files.get(path);
  }

  await listen();

  return {
    get url() {
      return `http://${urlHost}:${port}`;
    },
    get port() {
      return port;
    },
    counters: () => counters.snapshot(),
    resetCounters: () => counters.reset(),
    addFault: (rule) => faults.add(rule),
    clearFaults: () => faults.clear(),
    hold(endpoint, options = {}) {
      const gate = new HoldGate(endpoint, options.after);
      holds.add(gate);
      return {
        arrived: () => gate.arrived(),
        get waiting() {
          return gate.waiting;
        },
        release() {
          holds.delete(gate);
          gate.release();
        },
      };
    },
    createBucket(id) {
      if (!BUCKET_ID.test(id)) throw new TypeError(`bucket id must look like ns/name, got ${id}`);
      store.createBucket(id);
    },
    readFile(bucketId, path) {
      const file = storedFile(bucketId, path);
      const recon = file && store.files.get(file.xetHash);
      return recon && store.rebuild(recon);
    },
    verifiedSha256: (xetHash) => store.verifiedSha256(xetHash),
    listPaths: (bucketId) => [...(store.buckets.get(bucketId)?.files.keys() ?? [])].sort(),
    fileInfo(bucketId, path) {
      const file = storedFile(bucketId, path);
      return file && { size: file.size, xetHash: file.xetHash, uploadedAt: file.uploadedAt };
    },
    writes: (bucketId) => [...(store.buckets.get(bucketId)?.writes ?? [])],
    seedFile(bucketId, path, bytes, options = {}) {
      const bucket = store.buckets.get(bucketId);
      if (!bucket) throw new Error(`seedFile: bucket ${bucketId} does not exist`);
      store.upsertFile(bucket, path, store.seedFile(bytes, options.chunking));
    },
    dropXorbs: () => store.dropXorbs(),
    stopListening,
    listen,
    close: stopListening,
  };
}
