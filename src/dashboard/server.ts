/**
 * The dashboard's HTTP layer (node:http): a read-only JSON API over the shared readers, server-sent
 * events that tell an open page when what it shows changed, and the page's static files (web/ and a
 * few browser modules served from node_modules). It writes nothing anywhere.
 *
 * Everything shown comes from other agents and is hostile: every string of the API passes through
 * `visible()`, the page inserts text only (Markdown through marked + DOMPurify, raw HTML shown as
 * text), and every response carries a strict Content-Security-Policy with Trusted Types: no inline
 * script, no script but these files, no request to anywhere but this server.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/parse.js';
import type { BoardMessage } from '../conventions/message.js';
import type { BucketClient } from '../core/ports.js';
import type { Logger } from '../log.js';
import { BoardReader } from '../read/board.js';
import { ResultsReader, type ResultsRead } from '../read/results.js';
import { digest, Source, type Snapshot } from './source.js';
import { visibleDeep } from './text.js';
import { artifactsView, boardView, indexArtifacts, resultsView, type ArtifactsIndex } from './views.js';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  'trusted-types dompurify',
].join('; ');

/** The artifacts listing is the costly one (100,000 files is 100 listing pages on the Hub): read at most this often. */
export const ARTIFACTS_MIN_INTERVAL_MS = 15_000;
const MAX_EVENT_CLIENTS = 32;
const HEARTBEAT_MS = 15_000;

export interface AgentStatus {
  /** False when no state database is in stateDir (nothing published from this machine with these settings). */
  found: boolean;
  stateDir: string;
  /** Whatever `status --json` reports, without the per-file list. */
  report: Record<string, unknown> | null;
  /** Files failed, rejected or in conflict, with the reason (at most 200). */
  problems: Array<{ local: string; remote: string; state: string; error: string | null }>;
  problemCount: number;
  /** Files in the `uploading` state (at most 200), also those with no bytes acknowledged yet. */
  uploadingFiles: Array<{ local: string; remote: string }>;
}

export interface DashboardDeps {
  config: Config;
  bucket: BucketClient;
  logger: Logger;
  /** Reads this agent's state (read-only). */
  agentStatus: () => AgentStatus;
  /** Board and results are read again at most this often (artifacts: at most every 15 s, this agent: every second). */
  refreshMs: number;
}

export interface DashboardServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** What the event loop needs of a source, whatever its data. */
interface Refreshing {
  readonly stale: boolean;
  readonly snapshot: Snapshot<unknown>;
  refresh(): Promise<boolean>;
}

type View = 'board' | 'results' | 'artifacts' | 'agent';
const VIEWS: readonly View[] = ['board', 'results', 'artifacts', 'agent'];

const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));
const STATIC: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: `${WEB_ROOT}index.html`, type: 'text/html; charset=utf-8' },
  '/app.js': { file: `${WEB_ROOT}app.js`, type: 'text/javascript; charset=utf-8' },
  '/render.js': { file: `${WEB_ROOT}render.js`, type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: `${WEB_ROOT}style.css`, type: 'text/css; charset=utf-8' },
  '/vendor/marked.js': { file: fileURLToPath(import.meta.resolve('marked')), type: 'text/javascript; charset=utf-8' },
  '/vendor/purify.js': { file: fileURLToPath(import.meta.resolve('dompurify')), type: 'text/javascript; charset=utf-8' },
  '/vendor/uplot.js': { file: fileURLToPath(import.meta.resolve('uplot/dist/uPlot.esm.js')), type: 'text/javascript; charset=utf-8' },
  '/vendor/uplot.css': { file: fileURLToPath(import.meta.resolve('uplot/dist/uPlot.min.css')), type: 'text/css; charset=utf-8' },
};

export async function startDashboard(deps: DashboardDeps, listen: { host: string; port: number }): Promise<DashboardServer> {
  const { bucket, config, logger } = deps;
  const boardReader = new BoardReader(bucket, logger);
  const resultsReader = new ResultsReader(bucket);
  const keyOf = (m: BoardMessage) => `${m.path}\n${m.timestamp?.getTime() ?? ''}\n${m.body.length}`;
  const sources = {
    board: new Source<BoardMessage[]>('board', deps.refreshMs, () => boardReader.read(), (d) => digest(d.map(keyOf))),
    results: new Source<ResultsRead>('results', deps.refreshMs, () => resultsReader.read(), (d) => digest([JSON.stringify(d)])),
    artifacts: new Source<ArtifactsIndex>('artifacts', Math.max(deps.refreshMs, ARTIFACTS_MIN_INTERVAL_MS), () => indexArtifacts(bucket.list('artifacts')), (d) =>
      digest(d.units.map((u) => `${u.path} ${u.files} ${u.bytes} ${u.updated ?? ''}`)),
    ),
    agent: new Source<AgentStatus>('agent', Math.min(deps.refreshMs, 1000), async () => deps.agentStatus(), (d) => JSON.stringify(d)),
  } satisfies Record<View, Refreshing>;

  const clients = new Map<ServerResponse, View>();
  const allowedHosts = loopbackHosts(listen.host);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    setCommonHeaders(res);
    // A page on another site can resolve its own name to 127.0.0.1 (DNS rebinding): answer only to our own name.
    const hostHeader = (req.headers.host ?? '').toLowerCase();
    if (allowedHosts !== undefined && !allowedHosts.some((h) => hostHeader === `${h}:${port()}`)) {
      return sendText(res, 421, `hf-outbox dashboard answers only at http://127.0.0.1:${port()}/ (Host "${hostHeader.slice(0, 100)}" refused)\n`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendText(res, 405, 'the dashboard is read-only: only GET and HEAD\n');
    }
    const q = url.searchParams;
    switch (url.pathname) {
      case '/api/meta':
        return sendJson(res, {
          bucket: bucket.description,
          bucketUri: config.bucket.uri,
          agentId: config.agentId,
          stateDir: config.stateDir,
          refreshMs: deps.refreshMs,
        });
      case '/api/board': {
        const snap = await sources.board.get();
        const view = boardView(
          snap.data ?? [],
          { agent: param(q, 'agent'), tag: param(q, 'tag'), offset: int(q, 'offset', 0), limit: int(q, 'limit', 50) },
          config.bucket,
        );
        return sendJson(res, { ...view, source: sourceInfo(snap) });
      }
      case '/api/results': {
        const snap = await sources.results.get();
        const view = resultsView(snap.data ?? { rows: [], skipped: [] }, q.get('ascending') === '1');
        return sendJson(res, { ...view, source: sourceInfo(snap) });
      }
      case '/api/artifacts': {
        const snap = await sources.artifacts.get();
        const posts = sources.board.snapshot.data ?? (await sources.board.get()).data ?? [];
        const view = artifactsView(
          snap.data ?? { totalFiles: 0, totalBytes: 0, units: [], runs: [] },
          { category: param(q, 'category'), agent: param(q, 'agent'), offset: int(q, 'offset', 0), limit: int(q, 'limit', 100) },
          posts,
          config.bucket,
        );
        return sendJson(res, { ...view, source: sourceInfo(snap) });
      }
      case '/api/agent': {
        const snap = await sources.agent.get();
        return sendJson(res, { status: snap.data ?? null, source: sourceInfo(snap) });
      }
      case '/events':
        return openEvents(req, res, q.get('view'));
      case '/favicon.ico':
        res.writeHead(204).end();
        return;
      default: {
        const file = STATIC[url.pathname];
        if (file === undefined) return sendText(res, 404, 'not found\n');
        return sendFile(req, res, file.file, file.type);
      }
    }
  };

  const openEvents = (req: IncomingMessage, res: ServerResponse, viewParam: string | null) => {
    const view = VIEWS.find((v) => v === viewParam);
    if (view === undefined) return sendText(res, 400, `events: view must be one of ${VIEWS.join(', ')}\n`);
    if (clients.size >= MAX_EVENT_CLIENTS) return sendText(res, 503, `at most ${MAX_EVENT_CLIENTS} pages may follow the dashboard at once\n`);
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
    res.write(`retry: 2000\n\n`);
    sendEvent(res, view, sources[view].snapshot);
    clients.set(res, view);
    req.on('close', () => clients.delete(res));
  };

  const sendEvent = (res: ServerResponse, view: View, snap: Snapshot<unknown>) => {
    res.write(`event: changed\ndata: ${JSON.stringify({ view, version: snap.version, readAt: snap.readAt, error: snap.error ?? null })}\n\n`);
  };

  // While a page follows a view, its source is read again whenever it is stale (at most once per interval).
  const tick = () => {
    const watched = new Set(clients.values());
    for (const view of watched) {
      const source: Refreshing = sources[view];
      if (!source.stale) continue;
      source.refresh().then(
        (changed) => {
          if (!changed) return;
          for (const [res, v] of clients) if (v === view) sendEvent(res, view, source.snapshot);
        },
        (error: unknown) => logger.warn({ err: (error as Error).message }, `dashboard: reading ${view} failed`),
      );
    }
  };
  const ticker = setInterval(tick, Math.max(100, Math.min(500, deps.refreshMs / 4)));
  const heartbeat = setInterval(() => {
    for (const res of clients.keys()) res.write(': ping\n\n');
  }, HEARTBEAT_MS);

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.warn({ err: (error as Error).message, url: req.url }, 'dashboard: request failed');
      if (!res.headersSent) sendText(res, 500, `the dashboard could not answer: ${(error as Error).message}\n`);
      else res.destroy();
    });
  });
  const port = () => (server.address() as AddressInfo | null)?.port ?? listen.port;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const shownHost = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return {
    url: `http://${shownHost}:${port()}/`,
    port: port(),
    close: async () => {
      clearInterval(ticker);
      clearInterval(heartbeat);
      for (const res of clients.keys()) res.end();
      clients.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}

/** The Host header values a loopback-bound dashboard answers to; undefined (any) when bound elsewhere with --host. */
function loopbackHosts(host: string): string[] | undefined {
  if (host === '127.0.0.1' || host === 'localhost' || host === '::1') return ['127.0.0.1', 'localhost', '[::1]'];
  return undefined;
}

function setCommonHeaders(res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Cache-Control', 'no-store');
}

function sourceInfo(snap: Snapshot<unknown>) {
  return {
    version: snap.version,
    readAt: snap.readAt === 0 ? null : new Date(snap.readAt).toISOString(),
    okAt: snap.okAt === undefined ? null : new Date(snap.okAt).toISOString(),
    error: snap.error ?? null,
  };
}

function sendJson(res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(visibleDeep(body));
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, type: string): Promise<void> {
  const s = await stat(file);
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': s.size });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(file).on('error', () => res.destroy()).pipe(res);
}

function param(q: URLSearchParams, name: string): string | undefined {
  const v = q.get(name);
  return v === null || v === '' ? undefined : v;
}

function int(q: URLSearchParams, name: string, fallback: number): number {
  const n = Number(q.get(name) ?? Number.NaN);
  return Number.isSafeInteger(n) && n >= 0 ? n : fallback;
}
