/**
 * A `fetch` that honours HTTPS_PROXY / HTTP_PROXY / NO_PROXY, for networks where the Hub is only
 * reachable through a forward proxy.
 *
 * Why this exists: Node 20's global `fetch` ignores the proxy variables, and the `dispatcher` of the
 * `undici` npm package cannot be handed to it (Node bundles its own, older undici; mixing the two is
 * unsupported). So when a proxy is set we use the npm package's own `fetch` with its
 * `EnvHttpProxyAgent`; with no proxy set, the global `fetch` is returned untouched.
 *
 * Which proxy a request takes (undici's `EnvHttpProxyAgent` rules, read from the `env` given, never
 * from `process.env` behind our back):
 * - `https://` targets use `https_proxy`/`HTTPS_PROXY`, falling back to `http_proxy`/`HTTP_PROXY`;
 *   `http://` targets use `http_proxy`/`HTTP_PROXY` only. The lowercase name wins when both are set;
 *   an empty value counts as unset.
 * - `https://` targets go through a CONNECT tunnel (TLS is end to end: the proxy never sees the token).
 *   `http://` targets are sent to the proxy as absolute-URI requests, as curl does, since many proxies
 *   refuse CONNECT to ports other than 443.
 * - `no_proxy`/`NO_PROXY`: comma- or space-separated host names, each matching itself and its
 *   sub-domains (`example.com`, `.example.com` and `*.example.com` are the same), optionally with a
 *   `:port`; `*` turns the proxy off. Entries are compared with the URL's host as written: there are
 *   no CIDR ranges, `localhost` does not cover `127.0.0.1`, and IPv6 needs brackets (`[::1]`).
 * - Credentials in the proxy URL (`http://user:pass@proxy:3128`) are sent as `Proxy-Authorization:
 *   Basic`; they never appear in `proxy` (the string for logs) or in an error message.
 *
 * Custom CA bundles (a TLS-inspecting proxy, a private Hub): undici connects with `node:tls` and passes
 * no `ca` of its own, so every TLS connection (to the Hub through a tunnel, or to an `https://` proxy)
 * is verified against Node's default store, which includes the PEM file named by NODE_EXTRA_CA_CERTS
 * (test/integration/proxy.test.ts proves it through a CONNECT tunnel). Node reads that variable once,
 * when the process starts: it must be in the service's environment (`Environment=` in the unit), not
 * set later by us; it is ignored when node runs setuid or with file capabilities.
 *
 * A request marked `noReadTimeout` (src/net/request-policy.ts: Xet shard registration) goes through
 * an agent of its own without undici's 300 s headers and body timeouts, through the proxy or not.
 */
import { Agent, EnvHttpProxyAgent, FormData as UndiciFormData, Pool, fetch as undiciFetch, type Dispatcher } from 'undici';
import { OutboxError } from '../core/errors.js';
import { describeNetworkError } from './network-error.js';
import { policyOf } from './request-policy.js';

export interface ProxyAwareFetch {
  /**
   * Routes through the proxy when one is set; through `globalThis.fetch` otherwise (a request marked
   * `noReadTimeout` always takes undici's own fetch, with an agent without read timeouts). The undici one
   * takes what the global one takes (string/URL/Request; string, bytes, Blob, stream, FormData,
   * URLSearchParams bodies) and fails the same way: a network failure as a `TypeError` (a
   * `NetworkError`, src/net/network-error.ts, whose message names the cause and the server), an
   * abort as `AbortError`. Its Response is undici's own class: the same API, though
   * `instanceof Response` is false.
   */
  fetch: typeof fetch;
  /**
   * The proxy `https://` requests take (the Hub's scheme), as `scheme://host:port` for logs: never
   * credentials, path or query. Undefined when no proxy variable is set.
   */
  proxy: string | undefined;
  /** Closes the proxy agent's pooled connections (a no-op without a proxy). */
  close(): Promise<void>;
}

/** Proxy variables in the order they are looked up: lowercase first, as undici and curl do. */
const HTTPS_VARS = ['https_proxy', 'HTTPS_PROXY'] as const;
const HTTP_VARS = ['http_proxy', 'HTTP_PROXY'] as const;
const NO_PROXY_VARS = ['no_proxy', 'NO_PROXY'] as const;

export interface ProxyAwareFetchOptions {
  /**
   * Headers and body timeout of ordinary requests, in ms; undefined: the transport's default (300 s).
   * Set by tests, to show that a `noReadTimeout` request is not cut off.
   */
  readTimeoutMs?: number;
}

export function proxyAwareFetch(env: NodeJS.ProcessEnv = process.env, options: ProxyAwareFetchOptions = {}): ProxyAwareFetch {
  const https = readProxy(env, HTTPS_VARS);
  const http = readProxy(env, HTTP_VARS);
  // Without an HTTPS proxy, https:// targets use the HTTP one (undici's rule, spelt out here).
  const forHttps = https ?? http;
  const made: Dispatcher[] = [];
  const agent = (timeouts: { headersTimeout: number; bodyTimeout: number } | undefined): Dispatcher => {
    const dispatcher =
      forHttps === undefined
        ? new Agent(timeouts ?? {})
        : new EnvHttpProxyAgent({
            // Every value explicit ('' = none), so undici never falls back to process.env for one missing from `env`.
            httpProxy: http?.href ?? '',
            httpsProxy: forHttps.href,
            noProxy: firstSet(env, NO_PROXY_VARS) ?? '',
            // http:// targets as absolute-URI requests; https:// targets always tunnel (CONNECT).
            proxyTunnel: false,
            // Through the proxy the timeouts only reach the connections if every pool is made with them
            // (undici's absolute-URI proxy client takes no options of its own).
            ...(timeouts ? { ...timeouts, factory: (origin: string | URL, opts: object) => new Pool(origin, { ...opts, ...timeouts }) } : {}),
          });
    made.push(dispatcher);
    return dispatcher;
  };
  const timeout = options.readTimeoutMs;
  // Ordinary requests: the global fetch untouched unless a proxy or a timeout is set.
  const ordinary = forHttps !== undefined || timeout !== undefined ? agent(timeout === undefined ? undefined : { headersTimeout: timeout, bodyTimeout: timeout }) : undefined;
  let patient: Dispatcher | undefined;

  const send = async (dispatcher: Dispatcher, input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const fromRequest = input instanceof Request;
    const url = fromRequest ? input.url : String(input);
    const merged: Record<string, unknown> = { ...(fromRequest ? requestInit(input) : {}), ...init };
    if (merged['body'] instanceof FormData) merged['body'] = toUndiciFormData(merged['body']);
    if (isStream(merged['body'])) merged['duplex'] = 'half';
    merged['dispatcher'] = dispatcher;
    // undici's Response has the same shape as the global one (it is the same code, another copy):
    // status, headers, body (a WHATWG ReadableStream), json(), text(), arrayBuffer().
    return (await undiciFetch(url, merged as Parameters<typeof undiciFetch>[1])) as unknown as Response;
  };
  const fetchFn = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const sent = policyOf(init).noReadTimeout
      ? send((patient ??= agent({ headersTimeout: 0, bodyTimeout: 0 })), input, init)
      : ordinary
        ? send(ordinary, input, init)
        : globalThis.fetch(input, init);
    // A network failure names its cause and server here, once, for every request of every command.
    return sent.catch((error: unknown) => {
      throw describeNetworkError(error, input instanceof Request ? input.url : String(input));
    });
  };
  return {
    fetch: fetchFn as typeof fetch,
    proxy: forHttps?.display,
    close: async () => {
      await Promise.all(made.map((d) => d.close()));
    },
  };
}

interface ProxySetting {
  /** Normalised URL handed to undici (may carry credentials). */
  href: string;
  /** scheme://host:port, for logs. */
  display: string;
}

function readProxy(env: NodeJS.ProcessEnv, names: readonly string[]): ProxySetting | undefined {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return parseProxy(name, value);
  }
  return undefined;
}

function firstSet(env: NodeJS.ProcessEnv, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') return value;
  }
  return undefined;
}

/** `proxy:3128` means `http://proxy:3128`, as for curl. Only http:// and https:// proxies are supported. */
export function parseProxy(name: string, value: string): ProxySetting {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new OutboxError('HFO_CONFIG_INVALID', `${name} is not a valid proxy URL: ${redactUserinfo(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OutboxError(
      'HFO_CONFIG_INVALID',
      `${name} uses ${url.protocol.slice(0, -1)}://, but only http:// and https:// proxies are supported`,
    );
  }
  if (url.hostname === '') throw new OutboxError('HFO_CONFIG_INVALID', `${name} names no proxy host: ${redactUserinfo(value)}`);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  // undici takes an origin only: a path, query or fragment in the variable is dropped (curl ignores them too).
  url.pathname = '/';
  url.search = '';
  url.hash = '';
  return { href: url.href, display: `${url.protocol}//${url.hostname}:${port}` };
}

/** For error messages about a value that did not parse: drops anything that looks like user:pass@. */
function redactUserinfo(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^/@]*@/i, (_m, scheme: string | undefined) => `${scheme ?? ''}***@`);
}

/**
 * A global `Request` is not recognised by the npm undici (another copy of the class): it would be
 * turned into the string "[object Request]". Its parts are passed instead.
 */
function requestInit(request: Request): Record<string, unknown> {
  return {
    method: request.method,
    headers: request.headers,
    body: request.body,
    signal: request.signal,
    redirect: request.redirect,
  };
}

/** A global FormData would be sent as the text "[object FormData]"; copy it into undici's own class. */
function toUndiciFormData(form: FormData): UndiciFormData {
  const copy = new UndiciFormData();
  for (const [key, value] of form) {
    if (typeof value === 'string') copy.append(key, value);
    else copy.append(key, value, value.name);
  }
  return copy;
}

function isStream(body: unknown): boolean {
  return body instanceof ReadableStream || (typeof body === 'object' && body !== null && Symbol.asyncIterator in body);
}
