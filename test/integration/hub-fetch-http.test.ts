import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/adapters/system-clock.js';
import { createHubFetch } from '../../src/net/hub-fetch.js';
import type { HubFetchEvent } from '../../src/net/hub-fetch.js';

// Real time and the real global fetch (undici) against a loopback server: proves the retry loop
// works with real Response objects, real bodies and real socket errors. Keep each test < 5 s.

type Handler = (n: number, req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

let server: Server | undefined;

async function serve(handler: Handler): Promise<{ url: string; bodies: Buffer[] }> {
  const bodies: Buffer[] = [];
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      bodies.push(body);
      handler(bodies.length, req, body, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, bodies };
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('createHubFetch over real HTTP', () => {
  it('re-sends a Uint8Array body intact after two 429s with Retry-After: 1', async () => {
    const { url, bodies } = await serve((n, _req, body, res) => {
      if (n <= 2) {
        res.writeHead(429, { 'Retry-After': '1', 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: 'rate limited' }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ sha256: sha256(body) }));
    });
    const events: HubFetchEvent[] = [];
    const hubFetch = createHubFetch({ clock: systemClock, random: () => 0, onEvent: (e) => events.push(e) });
    const payload = new Uint8Array(randomBytes(256 * 1024));
    const started = Date.now();

    const response = await hubFetch(`${url}/v1/xorbs/default/abc?sig=secret`, {
      method: 'POST',
      body: payload,
      headers: { Authorization: 'Bearer hf_test' },
    });

    const waited = Date.now() - started;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ sha256: sha256(payload) });
    expect(bodies.map(sha256)).toEqual(Array(3).fill(sha256(payload)));
    expect(waited).toBeGreaterThanOrEqual(2000);
    expect(waited).toBeLessThan(4500);
    expect(hubFetch.stats()).toMatchObject({ requests: 3, retries: 2, rateLimited: 2, bytesSent: 3 * payload.byteLength });
    expect(events.filter((e) => e.type === 'retry').map((e) => e.type === 'retry' && e.delayMs)).toEqual([1000, 1000]);
    expect(JSON.stringify(events)).not.toMatch(/secret|hf_test/);
  });

  it('retries a connection the server drops, and hands back a final 404 untouched', async () => {
    const { url } = await serve((n, _req, _body, res) => {
      if (n === 1) {
        res.socket?.destroy(); // the client sees a real undici "fetch failed" / socket error
        return;
      }
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: 'Bucket not found' }));
    });
    const events: HubFetchEvent[] = [];
    const hubFetch = createHubFetch({ clock: systemClock, random: () => 0, onEvent: (e) => events.push(e) });

    const response = await hubFetch(`${url}/api/buckets/o/b`, { method: 'POST', body: '{"a":1}' });

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: 'Bucket not found' });
    const retry = events.find((e) => e.type === 'retry');
    expect(retry).toMatchObject({ type: 'retry', attempt: 1, url: `${url}/api/buckets/o/b` });
    expect(retry && 'error' in retry && retry.error).toMatch(/^(UND_ERR_|E[A-Z]+)/);
  });
});
