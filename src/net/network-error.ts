/**
 * fetch reports every network failure as `TypeError: fetch failed`, the reason hidden in `cause`
 * (undici's `connect ECONNREFUSED 127.0.0.1:8080`, `getaddrinfo ENOTFOUND huggingface.invalid`,
 * `bad port`, a TLS error). This turns it into an error whose message says what failed and for which
 * server, once, where every request to the Hub is sent (src/net/proxy.ts), so each command's
 * messages name it. It stays a TypeError carrying the errno/undici `code` of its cause, so every
 * check for a network error (retries, the breaker, error mapping) still recognises it.
 */

export class NetworkError extends TypeError {
  override readonly name = 'NetworkError';
  /** The errno or undici code of the cause (`ECONNREFUSED`, `ENOTFOUND`, `UND_ERR_SOCKET`), when it has one. */
  readonly code: string | undefined;

  constructor(message: string, cause: unknown, code: string | undefined) {
    super(message, { cause });
    this.code = code;
  }
}

/**
 * A fetch failure rethrown with its cause and server in the message
 * (`connect ECONNREFUSED 127.0.0.1:8080 (reaching http://127.0.0.1:8080)`); anything else (an abort, a timeout,
 * an error of the caller's own) is returned unchanged. Only the URL's origin is named: a signed
 * URL's path and query carry credentials.
 */
export function describeNetworkError(error: unknown, url: string): unknown {
  if (!(error instanceof TypeError) || error instanceof NetworkError || !(error.cause instanceof Error)) return error;
  const cause = error.cause as Error & { code?: unknown; errors?: unknown };
  const code = typeof cause.code === 'string' ? cause.code : undefined;
  // The cause is fetch's own cause (the errno or undici error), as it was one level down before.
  return new NetworkError(`${reasonOf(cause, url)} (reaching ${originOf(url)})`, cause, code);
}

function reasonOf(cause: Error & { errors?: unknown }, url: string): string {
  // Several addresses tried (IPv6 and IPv4): an AggregateError with an empty message of its own.
  if (Array.isArray(cause.errors) && cause.errors.length > 0) {
    const each = [...new Set(cause.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).filter((m) => m !== ''))];
    if (each.length > 0) return each.join('; ');
  }
  if (cause.message === 'bad port') {
    // fetch refuses some ports outright (9, 25, 6000, …: the Fetch standard's list), before connecting.
    let port = '';
    try {
      port = new URL(url).port;
    } catch {
      /* port unknown */
    }
    return `fetch refuses to connect to port ${port || '?'} (a port the Fetch standard blocks); use another port`;
  }
  return cause.message || cause.name;
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'an unparsable URL';
  }
}
