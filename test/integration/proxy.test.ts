/**
 * proxyAwareFetch against a real forward proxy on loopback: a bucket upload with the unmodified
 * @huggingface/hub client goes through the proxy request for request, NO_PROXY bypasses it, the
 * fetch behaves like the global one for the shapes the client and hub-fetch use, and a TLS tunnel
 * through the proxy trusts NODE_EXTRA_CA_CERTS.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { downloadFile, uploadFiles } from '@huggingface/hub';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { OutboxError } from '../../src/core/errors.js';
import { systemClock } from '../../src/adapters/system-clock.js';
import { createHubFetch, isNetworkError } from '../../src/net/hub-fetch.js';
import { proxyAwareFetch } from '../../src/net/proxy.js';
import { withPolicy } from '../../src/net/request-policy.js';
import { startForwardProxy } from '../helpers/forward-proxy.js';
import { startEmulator, WRITE_TOKEN } from '../helpers/hub.js';
import { sha256, tmpDir } from '../helpers/tmp.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BUCKET = 'team/shared';

/** An origin that answers every request with what it received, as JSON. */
async function startEchoOrigin(): Promise<string> {
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-echo', 'yes');
    res.end(
      JSON.stringify({
        method: req.method,
        url: req.url,
        contentType: req.headers['content-type'] ?? null,
        xTest: req.headers['x-test'] ?? null,
        proxyAuth: req.headers['proxy-authorization'] ?? null,
        body: body.toString('latin1'),
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

function proxied(env: NodeJS.ProcessEnv) {
  const result = proxyAwareFetch(env);
  onTestFinished(() => result.close());
  return result;
}

interface Echo {
  method: string;
  url: string;
  contentType: string | null;
  xTest: string | null;
  proxyAuth: string | null;
  body: string;
}

describe('proxyAwareFetch with the Hub client', () => {
  it('sends every request of a bucket upload through HTTP_PROXY, and the bytes land', async () => {
    const emu = await startEmulator();
    const proxy = await startForwardProxy();
    const px = proxied({ HTTP_PROXY: proxy.url });
    expect(px.fetch).not.toBe(globalThis.fetch);
    expect(px.proxy).toBe(proxy.url);

    const files = {
      'artifacts/data/shard_agent-01.bin': randomBytes(300 * 1024),
      'artifacts/scripts/train_agent-01.py': Buffer.from('print("through the proxy")\n'),
    };
    const common = { repo: { type: 'bucket' as const, name: BUCKET }, hubUrl: emu.url, accessToken: WRITE_TOKEN, fetch: px.fetch };
    await uploadFiles({ ...common, files: Object.entries(files).map(([p, bytes]) => ({ path: p, content: new Blob([bytes]) })) });

    const hubRequests = emu.counters().totalRequests;
    expect(hubRequests).toBeGreaterThan(0);
    expect(proxy.requests).toBe(hubRequests);
    expect(proxy.tunnels).toBe(0);
    expect(new Set(proxy.hosts)).toEqual(new Set([`127.0.0.1:${emu.port}`]));
    for (const [p, bytes] of Object.entries(files)) {
      expect(sha256(emu.readFile(BUCKET, p) ?? Buffer.alloc(0)), p).toBe(sha256(bytes));
    }

    // Reading back streams the response bodies through the proxy too.
    const before = proxy.requests;
    const blob = await downloadFile({ ...common, path: 'artifacts/data/shard_agent-01.bin' });
    expect(sha256(new Uint8Array(await blob!.arrayBuffer()))).toBe(sha256(files['artifacts/data/shard_agent-01.bin']));
    expect(proxy.requests).toBeGreaterThan(before);
    expect(proxy.requests).toBe(emu.counters().totalRequests);
  });

  it('works under createHubFetch, the way openBucket will layer it', async () => {
    const emu = await startEmulator();
    const proxy = await startForwardProxy();
    const px = proxied({ http_proxy: proxy.url });
    const events: string[] = [];
    const hubFetch = createHubFetch({ clock: systemClock, fetch: px.fetch, onEvent: (e) => events.push(e.type) });
    const bytes = randomBytes(64 * 1024);
    await uploadFiles({
      repo: { type: 'bucket', name: BUCKET },
      hubUrl: emu.url,
      accessToken: WRITE_TOKEN,
      fetch: hubFetch,
      files: [{ path: 'artifacts/results/eval_agent-01.bin', content: new Blob([bytes]) }],
    });
    expect(sha256(emu.readFile(BUCKET, 'artifacts/results/eval_agent-01.bin') ?? Buffer.alloc(0))).toBe(sha256(bytes));
    expect(proxy.requests).toBe(emu.counters().totalRequests);
    expect(hubFetch.stats().requests).toBe(proxy.requests);
    expect(events.filter((t) => t === 'done').length).toBe(proxy.requests);
  });

  it('bypasses the proxy for hosts in NO_PROXY', async () => {
    const emu = await startEmulator();
    const proxy = await startForwardProxy();
    const px = proxied({ HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' });
    expect(px.proxy).toBe(proxy.url);
    const bytes = randomBytes(32 * 1024);
    await uploadFiles({
      repo: { type: 'bucket', name: BUCKET },
      hubUrl: emu.url,
      accessToken: WRITE_TOKEN,
      fetch: px.fetch,
      files: [{ path: 'artifacts/data/direct_agent-01.bin', content: new Blob([bytes]) }],
    });
    expect(emu.counters().totalRequests).toBeGreaterThan(0);
    expect(proxy.requests + proxy.tunnels).toBe(0);
    expect(sha256(emu.readFile(BUCKET, 'artifacts/data/direct_agent-01.bin') ?? Buffer.alloc(0))).toBe(sha256(bytes));
  });
});

describe('proxyAwareFetch settings', () => {
  it('sends ordinary requests through the global fetch when no proxy variable is set (NO_PROXY alone changes nothing)', async () => {
    for (const env of [{}, { NO_PROXY: '*' }, { HTTP_PROXY: '', https_proxy: '  ' }]) {
      const spy = vi.spyOn(globalThis, 'fetch').mockResolvedValue(new Response('direct'));
      const result = proxyAwareFetch(env);
      await result.fetch('http://127.0.0.1:9/x');
      expect(spy).toHaveBeenCalledTimes(1);
      spy.mockRestore();
      expect(result.proxy).toBeUndefined();
    }
  });

  it('reads only the env it is given, never process.env', async () => {
    const origin = await startEchoOrigin();
    const proxy = await startForwardProxy();
    const saved = process.env['HTTP_PROXY'];
    process.env['HTTP_PROXY'] = 'http://127.0.0.1:9'; // would fail every request if it were used
    onTestFinished(() => {
      if (saved === undefined) delete process.env['HTTP_PROXY'];
      else process.env['HTTP_PROXY'] = saved;
    });
    expect(proxyAwareFetch({}).proxy).toBeUndefined();
    // Only an HTTPS proxy given: http:// targets go direct, and do not pick up process.env's HTTP_PROXY.
    const onlyHttps = proxied({ HTTPS_PROXY: proxy.url });
    expect((await onlyHttps.fetch(`${origin}/direct`)).status).toBe(200);
    expect(proxy.requests).toBe(0);
  });

  it('shows only scheme://host:port of the proxy, and sends its credentials to the proxy alone', async () => {
    const origin = await startEchoOrigin();
    const proxy = await startForwardProxy();
    const px = proxied({ HTTP_PROXY: `http://agent:s3cr%40t@127.0.0.1:${proxy.port}/ignored?x=1` });
    expect(px.proxy).toBe(`http://127.0.0.1:${proxy.port}`);
    const echo = (await (await px.fetch(`${origin}/x`)).json()) as Echo;
    expect(proxy.auth).toEqual([`Basic ${Buffer.from('agent:s3cr@t').toString('base64')}`]);
    expect(echo.proxyAuth).toBeNull();
  });

  it('prefers the lowercase variable, adds http:// to a bare host:port, and names the default port', () => {
    expect(proxyAwareFetch({ http_proxy: 'http://127.0.0.1:1111', HTTP_PROXY: 'http://127.0.0.1:2222' }).proxy).toBe('http://127.0.0.1:1111');
    expect(proxyAwareFetch({ HTTP_PROXY: 'proxy.internal:3128' }).proxy).toBe('http://proxy.internal:3128');
    expect(proxyAwareFetch({ HTTPS_PROXY: 'https://proxy.internal' }).proxy).toBe('https://proxy.internal:443');
    // https:// (the Hub) takes HTTPS_PROXY when both are set.
    expect(proxyAwareFetch({ HTTP_PROXY: 'http://a:1', HTTPS_PROXY: 'http://b:2' }).proxy).toBe('http://b:2');
  });

  it('refuses an unusable proxy value with a config error that leaks no credentials', () => {
    const attempt = (env: NodeJS.ProcessEnv) => {
      try {
        proxyAwareFetch(env);
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const bad = attempt({ HTTPS_PROXY: 'http://user:hunter2@[bad' });
    expect(bad).toBeInstanceOf(OutboxError);
    expect((bad as OutboxError).code).toBe('HFO_CONFIG_INVALID');
    expect((bad as Error).message).toMatch(/^HTTPS_PROXY is not a valid proxy URL/);
    expect((bad as Error).message).not.toContain('hunter2');
    const socks = attempt({ HTTP_PROXY: 'socks5://user:hunter2@127.0.0.1:1080' }) as Error;
    expect(socks.message).toMatch(/only http:\/\/ and https:\/\/ proxies/);
    expect(socks.message).not.toContain('hunter2');
  });

  it('carries the request shapes fetch callers use: URL, Request, Headers, bytes, streams, FormData', async () => {
    const origin = await startEchoOrigin();
    const proxy = await startForwardProxy();
    const { fetch: f } = proxied({ HTTP_PROXY: proxy.url });
    const echo = async (input: string | URL | Request, init?: RequestInit) => {
      const response = await f(input, init);
      expect(response.status).toBe(200);
      expect(response.headers.get('x-echo')).toBe('yes');
      return (await response.json()) as Echo;
    };

    expect(await echo(new URL(`${origin}/a?b=1`))).toMatchObject({ method: 'GET', url: '/a?b=1', body: '' });
    expect(await echo(`${origin}/s`, { method: 'POST', body: 'text body', headers: new Headers({ 'x-test': 'h' }) })).toMatchObject({
      method: 'POST',
      body: 'text body',
      xTest: 'h',
    });
    expect(await echo(`${origin}/u8`, { method: 'PUT', body: new Uint8Array([104, 105]), headers: { 'x-test': 'rec' } })).toMatchObject({
      body: 'hi',
      xTest: 'rec',
    });
    expect(await echo(new Request(`${origin}/req`, { method: 'POST', body: 'from a Request', headers: { 'x-test': 'r' } }))).toMatchObject({
      method: 'POST',
      url: '/req',
      body: 'from a Request',
      xTest: 'r',
    });
    expect(await echo(`${origin}/stream`, { method: 'POST', body: new Blob(['streamed']).stream(), duplex: 'half' } as RequestInit)).toMatchObject({
      body: 'streamed',
    });
    const form = new FormData();
    form.append('field', 'value');
    form.append('file', new Blob(['file bytes']), 'a.txt');
    const multipart = await echo(`${origin}/form`, { method: 'POST', body: form });
    expect(multipart.contentType).toMatch(/^multipart\/form-data; boundary=/);
    expect(multipart.body).toContain('value');
    expect(multipart.body).toContain('filename="a.txt"');
    expect(multipart.body).toContain('file bytes');

    // Body as a stream, and an abort that rejects like the global fetch's.
    const streamed = await f(`${origin}/body`);
    const reader = streamed.body!.getReader();
    let text = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += Buffer.from(r.value).toString();
    expect(JSON.parse(text)).toMatchObject({ url: '/body' });
    await expect(f(`${origin}/aborted`, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(proxy.requests).toBe(7); // the aborted one never left
  });

  it('reports a dead proxy as a network error that hub-fetch retries', async () => {
    const origin = await startEchoOrigin();
    const deadPort = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as net.AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const { fetch: f } = proxied({ HTTP_PROXY: `http://127.0.0.1:${deadPort}` });
    const error = await f(`${origin}/x`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(((error as Error).cause as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNREFUSED');
    expect(isNetworkError(error)).toBe(true);
  });
});

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('custom CA bundle', () => {
  /** A throw-away CA and a certificate for 127.0.0.1 signed by it. */
  function makeCertificates(dir: string): { ca: string; key: string; cert: string } {
    const f = (name: string) => path.join(dir, name);
    const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'),
      '-days', '2', '-subj', '/CN=hf-outbox test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
    run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/CN=127.0.0.1');
    writeFileSync(f('leaf.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
    run('x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('leaf.pem'), '-days', '2', '-extfile', f('leaf.ext'));
    return { ca: f('ca.pem'), key: readFileSync(f('leaf.key'), 'utf8'), cert: readFileSync(f('leaf.pem'), 'utf8') };
  }

  /** Runs proxyAwareFetch in a fresh node (NODE_EXTRA_CA_CERTS is read at start-up only). */
  async function fetchInChild(dir: string, url: string, env: Record<string, string>): Promise<{ status?: number; text?: string; codes?: string[] }> {
    const script = path.join(dir, 'child.mts');
    writeFileSync(
      script,
      `import { proxyAwareFetch } from ${JSON.stringify(pathToFileURL(path.join(REPO_ROOT, 'src/net/proxy.ts')).href)};
const px = proxyAwareFetch(process.env);
try {
  const response = await px.fetch(process.argv[2]);
  console.log(JSON.stringify({ status: response.status, text: await response.text() }));
} catch (error) {
  const codes = [];
  for (let e = error; e; e = e.cause) codes.push(e.code ?? e.name);
  console.log(JSON.stringify({ codes }));
}
await px.close();
`,
    );
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script, url], {
      cwd: REPO_ROOT,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, ...env },
      timeout: 60_000,
    });
    return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { status?: number; text?: string; codes?: string[] };
  }

  it.skipIf(!hasOpenssl)('a CONNECT tunnel through HTTPS_PROXY trusts NODE_EXTRA_CA_CERTS, and fails without it', async () => {
    const dir = tmpDir('hfo-ca-');
    const { ca, key, cert } = makeCertificates(dir);
    const origin = https.createServer({ key, cert }, (_req, res) => res.end('secure hello'));
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    onTestFinished(async () => {
      origin.closeAllConnections();
      await new Promise((resolve) => origin.close(resolve));
    });
    const url = `https://127.0.0.1:${(origin.address() as net.AddressInfo).port}/`;
    const proxy = await startForwardProxy();

    const trusted = await fetchInChild(dir, url, { HTTPS_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: ca });
    expect(trusted).toEqual({ status: 200, text: 'secure hello' });
    expect(proxy.tunnels).toBe(1);

    const untrusted = await fetchInChild(dir, url, { HTTPS_PROXY: proxy.url });
    expect(untrusted.codes?.join(' ')).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT/);
    expect(proxy.tunnels).toBe(2);
    expect(proxy.requests).toBe(0);
  });
});

describe('requests without a read timeout (shard registration)', () => {
  /** An origin that thinks for `ms` before it sends the headers. */
  async function slowOrigin(ms: number): Promise<string> {
    const server = http.createServer((req, res) => {
      req.resume();
      setTimeout(() => res.end('registered'), ms);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  }

  it.each([
    ['direct', {}],
    ['through the proxy', 'proxy'],
  ] as const)('waits past the ordinary timeout for a request marked noReadTimeout (%s)', async (_name, how) => {
    const origin = await slowOrigin(1500);
    const env = how === 'proxy' ? { HTTP_PROXY: (await startForwardProxy()).url } : {};
    const px = proxyAwareFetch(env, { readTimeoutMs: 400 });
    onTestFinished(() => px.close());
    // An ordinary request is cut off by the headers timeout...
    await expect(px.fetch(`${origin}/v1/xorbs`, { method: 'POST', body: 'x' })).rejects.toThrow(/^Headers Timeout Error \(reaching http:\/\/127\.0\.0\.1:\d+\)$/u);
    // ...one marked noReadTimeout waits for the answer.
    const response = await px.fetch(`${origin}/v1/shards`, withPolicy({ method: 'POST', body: 'x' }, { noReadTimeout: true }));
    expect(await response.text()).toBe('registered');
  });
});
