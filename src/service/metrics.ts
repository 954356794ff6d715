/**
 * Prometheus metrics and a health endpoint for the daemon, on a small loopback HTTP server.
 *
 * Metrics (all prefixed `hf_outbox_`; the Node process metrics of prom-client's
 * `collectDefaultMetrics` carry the same prefix: `hf_outbox_process_cpu_seconds_total`,
 * `hf_outbox_nodejs_eventloop_lag_seconds`, `hf_outbox_process_resident_memory_bytes`, ...):
 *
 * | metric | type | meaning |
 * |---|---|---|
 * | `hf_outbox_files_uploaded_total` | counter | files delivered to the bucket |
 * | `hf_outbox_bytes_uploaded_total` | counter | bytes of those files (file sizes, not wire bytes) |
 * | `hf_outbox_failures_total{reason}` | counter | files that failed; `reason` is an `HFO_*` code or a state (`rejected`, `conflict`, `failed`), anything else `other` |
 * | `hf_outbox_hub_requests_total{class}` | counter | HTTP requests to the Hub that finished, by `2xx`/`3xx`/`4xx`/`5xx`, or `error` (no response) |
 * | `hf_outbox_hub_retries_total` | counter | requests retried after a network error, 408, 429 or 5xx |
 * | `hf_outbox_hub_rate_limited_total` | counter | 429 responses |
 * | `hf_outbox_queue_waiting`, `hf_outbox_queue_running` | gauge | files waiting for an upload call; upload calls in flight |
 * | `hf_outbox_settling` | gauge | artifacts waiting to stop changing |
 * | `hf_outbox_breaker_open` | gauge | 1 while the circuit breaker holds requests back |
 * | `hf_outbox_ready` | gauge | 1 once start-up is done (what /healthz reports) |
 *
 * Count requests with {@link countRequests} around the fetch that really sends (under hub-fetch), so
 * retries and probes are requests too. The request rate is derived from the counter, as Prometheus intends:
 * `sum(rate(hf_outbox_hub_requests_total[5m]))` (requests per second), by class with `sum by (class)`,
 * and the error ratio as `sum(rate(hf_outbox_hub_requests_total{class=~"5xx|error"}[5m])) /
 * sum(rate(hf_outbox_hub_requests_total[5m]))`. Every label value is created at zero, so `rate()`
 * sees the first failure instead of a series that appears out of nowhere.
 *
 * Why prom-client: it is the Prometheus client for Node (maintained under siimon/prom-client, used by
 * most Node services), renders the text exposition format correctly (escaping, HELP/TYPE lines),
 * and brings the standard process metrics; writing those by hand is where exporters go wrong.
 * Each `createMetrics()` has its own Registry, never the global one, so tests and embedders do not collide.
 *
 * The server answers GET and HEAD only: `/metrics` (text exposition) and `/healthz` (JSON, 200 when
 * ready, 503 before); any other path is 404, any other method 405. It listens on the host given
 * (127.0.0.1 by default) and nowhere else; metrics carry no secrets, but nothing needs them off the host.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ErrorCode } from '../core/errors.js';

export interface OutboxMetrics {
  registry: Registry;
  /** One file delivered, of `bytes` bytes. */
  fileUploaded(bytes: number): void;
  /** One file failed: `reason` is an `HFO_*` code or a state (rejected/conflict/failed); others count as `other`. */
  fileFailed(reason: string): void;
  /** One Hub request finished with this status, or threw (`'error'`). */
  request(status: number | 'error'): void;
  retry(): void;
  rateLimited(): void;
  setQueue(waiting: number, running: number, settling: number): void;
  setBreakerOpen(open: boolean): void;
  /** /healthz answers 200 once ready, 503 until then (and again after `setReady(false)`). */
  setReady(ready: boolean): void;
}

export interface MetricsOptions {
  /**
   * Register prom-client's default Node process metrics (CPU, memory, event loop lag, GC, handles),
   * prefixed `hf_outbox_`.
   * @default true
   */
  collectDefault?: boolean;
}

const PREFIX = 'hf_outbox_';

/** Every error code, spelt out so the compiler notices a new one (a Record must name them all). */
const ERROR_CODES: Record<ErrorCode, true> = {
  HFO_CONFIG_INVALID: true,
  HFO_STATE_INVALID: true,
  HFO_AUTH: true,
  HFO_BUCKET_NOT_FOUND: true,
  HFO_BUCKET_PATH_REFUSED: true,
  HFO_FILE_CHANGED: true,
  HFO_FILE_UNREADABLE: true,
  HFO_UPLOAD_FAILED: true,
  HFO_UPLOAD_REJECTED: true,
  HFO_RATE_LIMITED: true,
  HFO_NETWORK: true,
  HFO_CONFLICT: true,
  HFO_INTERNAL: true,
};
/** The bounded set of `reason` label values: a free-text reason would make one series per message. */
export const FAILURE_REASONS: readonly string[] = [...Object.keys(ERROR_CODES), 'rejected', 'conflict', 'failed', 'other'];
const KNOWN_REASONS = new Set(FAILURE_REASONS);

export const REQUEST_CLASSES = ['2xx', '3xx', '4xx', '5xx', 'error'] as const;
export type RequestClass = (typeof REQUEST_CLASSES)[number];

/** 200–599 by hundreds; anything else (no response, or a status fetch never returns) is `error`. */
export function requestClass(status: number | 'error'): RequestClass {
  if (status === 'error' || !Number.isInteger(status) || status < 200 || status > 599) return 'error';
  return `${Math.floor(status / 100)}xx` as RequestClass;
}

export function createMetrics(options: MetricsOptions = {}): OutboxMetrics {
  const registry = new Registry();
  if (options.collectDefault ?? true) collectDefaultMetrics({ register: registry, prefix: PREFIX });

  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name: PREFIX + name, help, labelNames, registers: [registry] });
  const gauge = (name: string, help: string) => new Gauge({ name: PREFIX + name, help, registers: [registry] });

  const filesUploaded = counter('files_uploaded_total', 'Files delivered to the bucket.');
  const bytesUploaded = counter('bytes_uploaded_total', 'Bytes of the files delivered to the bucket (file sizes).');
  const failures = counter(
    'failures_total',
    'Files that failed, by reason: an HFO_* error code, or the state rejected/conflict/failed; anything else is other.',
    ['reason'],
  );
  const requests = counter(
    'hub_requests_total',
    'HTTP requests to the Hub that finished, by status class (2xx/3xx/4xx/5xx), or error when no response came. Rate: rate(hf_outbox_hub_requests_total[5m]).',
    ['class'],
  );
  const retries = counter('hub_retries_total', 'Hub requests retried after a network error, 408, 429 or 5xx.');
  const rateLimited = counter('hub_rate_limited_total', 'Hub responses with status 429.');
  const queueWaiting = gauge('queue_waiting', 'Files waiting for an upload call.');
  const queueRunning = gauge('queue_running', 'Upload calls in flight.');
  const settling = gauge('settling', 'Artifacts waiting to stop changing before they are sent.');
  const breakerOpen = gauge('breaker_open', '1 while the circuit breaker holds Hub requests back, else 0.');
  const ready = gauge('ready', '1 once start-up is done and the daemon is working, else 0.');

  // Every label value exists from the start, at zero.
  for (const reason of FAILURE_REASONS) failures.inc({ reason }, 0);
  for (const cls of REQUEST_CLASSES) requests.inc({ class: cls }, 0);
  for (const g of [queueWaiting, queueRunning, settling, breakerOpen, ready]) g.set(0);

  return {
    registry,
    fileUploaded(bytes) {
      filesUploaded.inc();
      if (Number.isFinite(bytes) && bytes > 0) bytesUploaded.inc(bytes);
    },
    fileFailed(reason) {
      failures.inc({ reason: KNOWN_REASONS.has(reason) ? reason : 'other' });
    },
    request(status) {
      requests.inc({ class: requestClass(status) });
    },
    retry() {
      retries.inc();
    },
    rateLimited() {
      rateLimited.inc();
    },
    setQueue(waiting, running, settlingCount) {
      queueWaiting.set(count(waiting));
      queueRunning.set(count(running));
      settling.set(count(settlingCount));
    },
    setBreakerOpen(open) {
      breakerOpen.set(open ? 1 : 0);
    },
    setReady(isReady) {
      ready.set(isReady ? 1 : 0);
    },
  };
}

/**
 * Wraps the fetch that really sends (below hub-fetch's retries, so every attempt, retry and breaker
 * probe is one request) to count each finished request by status class. A request the caller
 * aborted is not counted: it did not finish, and the Hub did nothing wrong.
 */
export function countRequests(base: typeof fetch, metrics: Pick<OutboxMetrics, 'request'>): typeof fetch {
  return async (input, init) => {
    try {
      const response = await base(input, init);
      metrics.request(response.status);
      return response;
    } catch (error) {
      const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
      if (!signal?.aborted) metrics.request('error');
      throw error;
    }
  };
}

function count(n: number): number {
  return Number.isFinite(n) && n > 0 ? n : 0;
}

export interface MetricsServerOptions {
  /** 0 picks a free port (see the returned `port`). */
  port: number;
  /**
   * The only address listened on. Give `0.0.0.0` or `::` explicitly to expose it to the network.
   * @default '127.0.0.1'
   */
  host?: string;
}

export interface MetricsServer {
  /** http://host:port, no trailing slash. */
  url: string;
  port: number;
  /** Stops listening and drops open connections (a scraper's keep-alive must not hold up shutdown). */
  close(): Promise<void>;
}

export async function serveMetrics(metrics: OutboxMetrics, options: MetricsServerOptions): Promise<MetricsServer> {
  const { port } = options;
  const host = options.host ?? '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`metrics port must be an integer from 0 to 65535, got ${String(port)} (${typeof port})`);
  }
  if (typeof host !== 'string' || host.trim() === '') {
    // node would listen on every interface for an empty host: never do that by accident.
    throw new TypeError(`metrics host must be a non-empty address, got ${JSON.stringify(host)}`);
  }

  const server = http.createServer((req, res) => {
    handle(metrics, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('internal error\n');
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${urlHost}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function handle(metrics: OutboxMetrics, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (pathname !== '/metrics' && pathname !== '/healthz') {
    return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
  }
  if (pathname === '/healthz') {
    const ok = await isReady(metrics.registry);
    return send(res, ok ? 200 : 503, 'application/json', `${JSON.stringify({ status: ok ? 'ok' : 'not ready' })}\n`);
  }
  const body = await metrics.registry.metrics();
  return send(res, 200, metrics.registry.contentType, body);
}

/** /healthz reads the `hf_outbox_ready` gauge itself: one source of truth for both. */
async function isReady(registry: Registry): Promise<boolean> {
  const gauge = registry.getSingleMetric(`${PREFIX}ready`);
  const value = (await gauge?.get())?.values[0]?.value;
  return value === 1;
}

/** Node leaves the body out of a HEAD response itself; content-length still tells its size. */
function send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}
