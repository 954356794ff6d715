/**
 * The metrics server on a real loopback port: the API drives the counters and gauges, /metrics is
 * parsed line by line as a scraper would, /healthz follows readiness, and nothing listens off 127.0.0.1.
 */
import http from 'node:http';
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { countRequests, createMetrics, serveMetrics, type OutboxMetrics } from '../../src/service/metrics.js';

async function start(metrics: OutboxMetrics = createMetrics()) {
  const server = await serveMetrics(metrics, { port: 0 });
  onTestFinished(() => server.close());
  return { metrics, server };
}

/** The exposition text as { 'name{labels}': value }, skipping # HELP / # TYPE lines. */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)(?: \d+)?$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

async function scrape(url: string): Promise<Map<string, number>> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await response.text());
}

/** Resolves to whether a TCP connection to host:port was accepted. */
function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(2000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

describe('metrics', () => {
  it('exposes every counter and gauge, at zero before anything happened', async () => {
    const { server } = await start();
    const samples = await scrape(server.url);
    for (const name of [
      'hf_outbox_files_uploaded_total',
      'hf_outbox_bytes_uploaded_total',
      'hf_outbox_hub_retries_total',
      'hf_outbox_hub_rate_limited_total',
      'hf_outbox_queue_waiting',
      'hf_outbox_queue_running',
      'hf_outbox_settling',
      'hf_outbox_breaker_open',
      'hf_outbox_ready',
    ]) {
      expect(samples.get(name), name).toBe(0);
    }
    for (const cls of ['2xx', '3xx', '4xx', '5xx', 'error']) {
      expect(samples.get(`hf_outbox_hub_requests_total{class="${cls}"}`), cls).toBe(0);
    }
    for (const reason of ['HFO_NETWORK', 'HFO_UPLOAD_REJECTED', 'rejected', 'conflict', 'failed', 'other']) {
      expect(samples.get(`hf_outbox_failures_total{reason="${reason}"}`), reason).toBe(0);
    }
  });

  it('counts what the API reports and shows the last gauge values', async () => {
    const { metrics, server } = await start();
    metrics.fileUploaded(1000);
    metrics.fileUploaded(24);
    metrics.fileFailed('conflict');
    metrics.fileFailed('HFO_UPLOAD_REJECTED');
    metrics.fileFailed('HFO_UPLOAD_REJECTED');
    metrics.fileFailed('a free-text message that must not become a label');
    metrics.fileFailed('HFO_NOT_A_CODE');
    for (const status of [200, 201, 204, 302, 404, 429, 500, 503, 'error' as const, 0, 99, 600]) metrics.request(status);
    metrics.retry();
    metrics.retry();
    metrics.rateLimited();
    metrics.setQueue(7, 2, 3);
    metrics.setQueue(5, 1, 4);
    metrics.setBreakerOpen(true);

    const samples = await scrape(server.url);
    expect(samples.get('hf_outbox_files_uploaded_total')).toBe(2);
    expect(samples.get('hf_outbox_bytes_uploaded_total')).toBe(1024);
    expect(samples.get('hf_outbox_failures_total{reason="conflict"}')).toBe(1);
    expect(samples.get('hf_outbox_failures_total{reason="HFO_UPLOAD_REJECTED"}')).toBe(2);
    expect(samples.get('hf_outbox_failures_total{reason="other"}')).toBe(2);
    expect([...samples.keys()].filter((k) => k.startsWith('hf_outbox_failures_total')).length).toBe(17);
    expect(samples.get('hf_outbox_hub_requests_total{class="2xx"}')).toBe(3);
    expect(samples.get('hf_outbox_hub_requests_total{class="3xx"}')).toBe(1);
    expect(samples.get('hf_outbox_hub_requests_total{class="4xx"}')).toBe(2);
    expect(samples.get('hf_outbox_hub_requests_total{class="5xx"}')).toBe(2);
    expect(samples.get('hf_outbox_hub_requests_total{class="error"}')).toBe(4);
    expect(samples.get('hf_outbox_hub_retries_total')).toBe(2);
    expect(samples.get('hf_outbox_hub_rate_limited_total')).toBe(1);
    expect(samples.get('hf_outbox_queue_waiting')).toBe(5);
    expect(samples.get('hf_outbox_queue_running')).toBe(1);
    expect(samples.get('hf_outbox_settling')).toBe(4);
    expect(samples.get('hf_outbox_breaker_open')).toBe(1);

    metrics.setBreakerOpen(false);
    expect((await scrape(server.url)).get('hf_outbox_breaker_open')).toBe(0);
  });

  it('includes the Node process metrics under the same prefix, unless turned off', async () => {
    const withDefaults = await start();
    const samples = await scrape(withDefaults.server.url);
    expect(samples.get('hf_outbox_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(samples.has('hf_outbox_process_cpu_user_seconds_total')).toBe(true);
    expect([...samples.keys()].some((k) => k.startsWith('hf_outbox_nodejs_eventloop_lag'))).toBe(true);

    const bare = await start(createMetrics({ collectDefault: false }));
    const bareSamples = await scrape(bare.server.url);
    expect([...bareSamples.keys()].some((k) => k.includes('process_') || k.includes('nodejs_'))).toBe(false);
  });

  it('answers /healthz 503 until ready, 200 {"status":"ok"} once ready, 503 again after', async () => {
    const { metrics, server } = await start();
    const health = async () => {
      const response = await fetch(`${server.url}/healthz`);
      expect(response.headers.get('content-type')).toBe('application/json');
      return { status: response.status, body: (await response.json()) as { status: string } };
    };
    expect((await health()).status).toBe(503);
    metrics.setReady(true);
    expect(await health()).toEqual({ status: 200, body: { status: 'ok' } });
    expect((await scrape(server.url)).get('hf_outbox_ready')).toBe(1);
    metrics.setReady(false);
    expect((await health()).status).toBe(503);
  });

  it('answers 404 on other paths, 405 on other methods, and HEAD without a body', async () => {
    const { server } = await start();
    for (const path of ['/', '/metric', '/metrics/x', '/healthz/', '/favicon.ico']) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(404);
      await response.body?.cancel();
    }
    // A query string does not change the path.
    expect((await fetch(`${server.url}/metrics?name[]=x`)).status).toBe(200);

    for (const method of ['POST', 'PUT', 'DELETE']) {
      const response = await fetch(`${server.url}/metrics`, { method });
      expect(response.status, method).toBe(405);
      expect(response.headers.get('allow')).toBe('GET, HEAD');
      await response.body?.cancel();
    }
    const head = await fetch(`${server.url}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
    expect(await head.text()).toBe('');
  });

  it('listens on 127.0.0.1 only by default', async () => {
    const { server } = await start();
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(await canConnect('127.0.0.1', server.port)).toBe(true);
    // Other loopback addresses reach the same host but not this listener.
    expect(await canConnect('127.0.0.2', server.port)).toBe(false);
    expect(await canConnect('::1', server.port)).toBe(false);
  });

  it('refuses a port or host that would not mean what it says', async () => {
    const metrics = createMetrics({ collectDefault: false });
    await expect(serveMetrics(metrics, { port: -1 })).rejects.toThrow(/port must be an integer/);
    await expect(serveMetrics(metrics, { port: 1.5 })).rejects.toThrow(/port must be an integer/);
    await expect(serveMetrics(metrics, { port: 0, host: '' })).rejects.toThrow(/host must be a non-empty address/);
  });

  it('stops listening on close, even with a keep-alive connection open', async () => {
    const metrics = createMetrics({ collectDefault: false });
    const server = await serveMetrics(metrics, { port: 0 });
    const socket = net.connect({ host: '127.0.0.1', port: server.port });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    await new Promise((resolve) => socket.once('data', resolve));
    await server.close();
    expect(await canConnect('127.0.0.1', server.port)).toBe(false);
    socket.destroy();
  });

  it('countRequests counts each real request by class, errors included, aborts not', async () => {
    const origin = http.createServer((req, res) => {
      res.statusCode = Number(req.url?.slice(1)) || 200;
      res.end();
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => (origin.closeAllConnections(), origin.close(() => resolve()))));
    const base = `http://127.0.0.1:${(origin.address() as net.AddressInfo).port}`;
    const { metrics, server } = await start(createMetrics({ collectDefault: false }));
    const counted = countRequests(fetch, metrics);

    for (const status of [200, 204, 404, 429, 503]) expect((await counted(`${base}/${status}`)).status).toBe(status);
    await expect(counted('http://127.0.0.1:9/refused')).rejects.toThrow(TypeError);
    await expect(counted(`${base}/200`, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });

    const samples = await scrape(server.url);
    expect(samples.get('hf_outbox_hub_requests_total{class="2xx"}')).toBe(2);
    expect(samples.get('hf_outbox_hub_requests_total{class="4xx"}')).toBe(2);
    expect(samples.get('hf_outbox_hub_requests_total{class="5xx"}')).toBe(1);
    expect(samples.get('hf_outbox_hub_requests_total{class="error"}')).toBe(1);
  });
});
