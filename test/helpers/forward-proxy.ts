/** A forward proxy on loopback for tests (absolute-URI requests and CONNECT), counting what it forwards. */
import http from 'node:http';
import net from 'node:net';
import { onTestFinished } from 'vitest';

export interface TestProxy {
  url: string;
  port: number;
  /** Absolute-URI requests forwarded (plain http:// targets). */
  requests: number;
  /** CONNECT tunnels opened (https:// targets). */
  tunnels: number;
  /** host:port of every request and tunnel, in order. */
  hosts: string[];
  /** Proxy-Authorization header of every request and tunnel (undefined when absent). */
  auth: Array<string | undefined>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
const HOP_BY_HOP = ['proxy-authorization', 'proxy-connection', 'connection', 'keep-alive', 'te', 'trailer', 'upgrade'];

/**
 * A minimal forward proxy: absolute-URI requests for http:// targets and CONNECT for tunnels. It only
 * ever forwards to loopback addresses (anything else gets 403), so a test can never reach the network.
 */
export async function startForwardProxy(): Promise<TestProxy> {
  const upstream = new http.Agent({ keepAlive: true });
  const sockets = new Set<net.Socket>();
  const state = { requests: 0, tunnels: 0, hosts: [] as string[], auth: [] as Array<string | undefined> };

  const server = http.createServer((req, res) => {
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute-URI required\n');
      return;
    }
    if (target.protocol !== 'http:' || !LOOPBACK.has(target.hostname)) {
      res.writeHead(403).end('loopback http:// targets only\n');
      return;
    }
    state.requests++;
    state.hosts.push(target.host);
    state.auth.push(req.headers['proxy-authorization']);
    const headers = { ...req.headers };
    for (const name of HOP_BY_HOP) delete headers[name];
    const out = http.request(
      { host: target.hostname, port: target.port || 80, method: req.method, path: `${target.pathname}${target.search}`, headers, agent: upstream },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(out);
  });

  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const [host = '', port = '443'] = (req.url ?? '').split(/:(?=\d+$)/);
    if (!LOOPBACK.has(host)) {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    state.tunnels++;
    state.hosts.push(`${host}:${port}`);
    state.auth.push(req.headers['proxy-authorization']);
    const remote = net.connect({ host, port: Number(port) }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) remote.write(head);
      remote.pipe(client);
      client.pipe(remote);
    });
    for (const s of [client, remote]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => (client.destroy(), remote.destroy()));
    }
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  onTestFinished(async () => {
    for (const s of sockets) s.destroy();
    upstream.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return Object.assign(state, { url: `http://127.0.0.1:${port}`, port });
}

