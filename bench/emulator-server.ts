/**
 * The Hub emulator in its own process, for benchmarks: its CPU and memory stay out of the measured
 * client's numbers. Besides the Hub/CAS listener it serves a small admin API on a second loopback
 * port so the bench process can read counters and stored files:
 *
 *   GET  /counters[?log=1]        request counts, bytes received, error responses (requestLog only with log=1)
 *   POST /reset                   reset the counters
 *   GET  /files?bucket=ns/name    [{ path, size, xetHash, uploadedAt }] for every stored file
 *   GET  /sha256?bucket=&path=    sha256 of the emulator's own rebuild of a stored file
 *   GET  /usage                   this process's cpuUsage() and memoryUsage()
 *   POST /hold?endpoint=&after=N  hold requests to an endpoint once N of them were answered (one hold at a time)
 *   GET  /hold                    { waiting }: requests held right now
 *   POST /release                 let the held requests and every later one through
 *
 * Usage: node --import tsx bench/emulator-server.ts --token hf_... --bucket ns/name
 * Prints one JSON line {"url": ..., "adminUrl": ...} once both listeners are up.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { startHubEmulator, type EndpointName, type RequestHold } from '../test/hub-emulator/index.js';

const { values } = parseArgs({
  options: {
    token: { type: 'string', multiple: true },
    bucket: { type: 'string', multiple: true },
    'tree-page-size': { type: 'string' },
  },
  strict: true,
});

const tokens = Object.fromEntries((values.token ?? []).map((t) => [t, { write: true }]));
const emulator = await startHubEmulator({
  host: '127.0.0.1',
  port: 0,
  ...(values.token?.length ? { tokens } : {}),
  buckets: values.bucket ?? [],
  ...(values['tree-page-size'] ? { treePageSize: Number(values['tree-page-size']) } : {}),
});

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

let hold: RequestHold | undefined;

function admin(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const bucket = url.searchParams.get('bucket') ?? '';
  try {
    if (req.method === 'GET' && url.pathname === '/counters') {
      const c = emulator.counters();
      const { requestLog, ...rest } = c;
      const errorResponses: Record<string, number> = {};
      for (const e of requestLog) {
        if (e.status < 400 && e.status !== 0) continue;
        // An unknown route names its path: it is a call the emulator does not implement.
        const key = e.endpoint === 'not-found' ? `${e.method} ${e.path} ${e.status}` : `${e.endpoint} ${e.status}`;
        errorResponses[key] = (errorResponses[key] ?? 0) + 1;
      }
      send(res, 200, url.searchParams.get('log') === '1' ? c : { ...rest, errorResponses, requestLogLength: requestLog.length });
    } else if (req.method === 'POST' && url.pathname === '/reset') {
      emulator.resetCounters();
      send(res, 200, { ok: true });
    } else if (req.method === 'GET' && url.pathname === '/files') {
      const files = emulator.listPaths(bucket).map((p) => ({ path: p, ...emulator.fileInfo(bucket, p) }));
      send(res, 200, files);
    } else if (req.method === 'GET' && url.pathname === '/sha256') {
      const data = emulator.readFile(bucket, url.searchParams.get('path') ?? '');
      if (data === undefined) send(res, 404, { error: 'no such file' });
      else {
        // hash.update() refuses a single buffer of 2 GiB or more ("data is too long"): feed it in slices.
        const hash = createHash('sha256');
        for (let at = 0; at < data.byteLength; at += 256 * 1024 * 1024) hash.update(data.subarray(at, at + 256 * 1024 * 1024));
        send(res, 200, { size: data.byteLength, sha256: hash.digest('hex') });
      }
    } else if (req.method === 'POST' && url.pathname === '/hold') {
      hold?.release();
      hold = emulator.hold(url.searchParams.get('endpoint') as EndpointName, { after: Number(url.searchParams.get('after') ?? 0) });
      send(res, 200, { ok: true });
    } else if (req.method === 'GET' && url.pathname === '/hold') {
      send(res, 200, { waiting: hold?.waiting ?? 0 });
    } else if (req.method === 'POST' && url.pathname === '/release') {
      hold?.release();
      hold = undefined;
      send(res, 200, { ok: true });
    } else if (req.method === 'GET' && url.pathname === '/usage') {
      send(res, 200, { cpu: process.cpuUsage(), memory: process.memoryUsage() });
    } else {
      send(res, 404, { error: `no admin route ${req.method ?? ''} ${url.pathname}` });
    }
  } catch (error) {
    send(res, 500, { error: String(error) });
  }
}

const adminServer = createServer((req, res) => {
  req.resume();
  req.on('end', () => admin(req, res));
});
await new Promise<void>((resolve) => adminServer.listen(0, '127.0.0.1', resolve));
const adminPort = (adminServer.address() as AddressInfo).port;
console.log(JSON.stringify({ url: emulator.url, adminUrl: `http://127.0.0.1:${adminPort}`, pid: process.pid }));

const stop = () => {
  adminServer.close();
  void emulator.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
