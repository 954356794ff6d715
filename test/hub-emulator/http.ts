/** Request/response plumbing shared by all routes: body reading, JSON and error responses, streaming. */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Thrown by handlers; turned into a JSON error response by the server. */
export class HttpError extends Error {
  readonly status: number;
  readonly errorCode: string | undefined;
  readonly headers: Record<string, string>;

  constructor(status: number, message: string, errorCode?: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.errorCode = errorCode;
    this.headers = headers;
  }
}

/** Header values must stay ASCII; user-supplied text (paths) is percent-encoded. */
function asciiHeader(text: string): string {
  return text.replace(/[^\x20-\x7e]/gu, (c) => encodeURIComponent(c));
}

/**
 * Sees a request body while it arrives (e.g. to hash a xorb's chunks as they complete, while the
 * data is still in cache, instead of after the whole 64 MiB is in). Called only when the body goes
 * into one buffer allocated up front from Content-Length: `body` is that buffer, of which
 * [0, received) is final; bytes are never rewritten. It must not throw.
 */
export interface BodyObserver {
  update(body: Buffer, received: number): void;
}

export class Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** http://host:port as the client addressed us, used for every absolute URL handed out. */
  readonly origin: string;
  readonly segments: string[];
  readonly query: URLSearchParams;
  body: Buffer = Buffer.alloc(0);
  /** Whatever watched the body arrive (see Route.observeBody); `body` is its buffer or a prefix view of it. */
  bodyObserver: BodyObserver | undefined = undefined;

  constructor(req: IncomingMessage, res: ServerResponse, origin: string, segments: string[], query: URLSearchParams) {
    this.req = req;
    this.res = res;
    this.origin = origin;
    this.segments = segments;
    this.query = query;
  }

  header(name: string): string | undefined {
    const value = this.req.headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(', ') : value;
  }

  /** Set by a 'corrupt' fault: the body goes out with its middle byte flipped. */
  corrupt = false;

  send(status: number, headers: Record<string, string | number>, body?: Buffer | string): void {
    if (this.res.headersSent || this.res.destroyed) return;
    if (this.corrupt && body !== undefined && body.length > 0) {
      const copy = Buffer.from(body);
      copy[copy.length >> 1] = (copy[copy.length >> 1] ?? 0) ^ 0xff;
      body = copy;
    }
    this.res.writeHead(status, headers);
    this.res.end(this.req.method === 'HEAD' ? undefined : body);
  }

  json(status: number, body: unknown, headers: Record<string, string | number> = {}): void {
    const text = JSON.stringify(body);
    this.send(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers }, text);
  }

  /** The error shape the client's createApiError parses: JSON {"error"} plus X-Error-Code/-Message. */
  error(err: HttpError): void {
    this.json(err.status, { error: err.message }, {
      ...(err.errorCode ? { 'X-Error-Code': err.errorCode } : {}),
      'X-Error-Message': asciiHeader(err.message),
      ...err.headers,
    });
  }

  /** Streams slices with backpressure; a client that goes away just ends the loop. */
  async stream(status: number, headers: Record<string, string | number>, slices: Iterable<Uint8Array>): Promise<void> {
    const res = this.res;
    res.writeHead(status, headers);
    if (this.req.method === 'HEAD') {
      res.end();
      return;
    }
    for (const slice of slices) {
      if (res.destroyed) return;
      if (!res.write(slice)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    }
    res.end();
  }
}

/**
 * Reads the whole body before any response is sent (a status sent mid-upload reaches the client as
 * a network error, not as the status). Past `limit` bytes the rest is drained and dropped and
 * `tooLarge` is set. With a Content-Length the buffer is allocated once, so a 64 MiB xorb is copied once.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  onBytes: (n: number) => void,
  observer?: BodyObserver,
): Promise<{ body: Buffer; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    const known = Number.isSafeInteger(declared) && declared >= 0 && declared <= limit;
    const buffer = known ? Buffer.allocUnsafe(declared) : undefined;
    const parts: Buffer[] = [];
    let received = 0;
    let tooLarge = Number.isSafeInteger(declared) && declared > limit;
    req.on('data', (chunk: Buffer) => {
      onBytes(chunk.byteLength);
      if (!tooLarge && received + chunk.byteLength > limit) tooLarge = true;
      if (!tooLarge) {
        if (buffer) chunk.copy(buffer, received);
        else parts.push(chunk);
      }
      received += chunk.byteLength;
      if (buffer && !tooLarge) observer?.update(buffer, received);
    });
    let ended = false;
    req.on('end', () => {
      ended = true;
      if (tooLarge) resolve({ body: Buffer.alloc(0), tooLarge });
      else resolve({ body: buffer ? buffer.subarray(0, received) : Buffer.concat(parts), tooLarge });
    });
    req.on('error', reject);
    // An aborted upload may close without 'end' or 'error'; don't leave the exchange hanging.
    req.on('close', () => {
      if (!ended) reject(new Error('request closed before its body ended'));
    });
  });
}

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

/**
 * Parses `bytes=a-b[,c-d...]` against a resource size. Returns undefined for a syntactically invalid
 * header (callers then ignore it, as RFC 9110 allows), 'unsatisfiable' when no range fits.
 */
export function parseRangeHeader(header: string, size: number): ByteRange[] | 'unsatisfiable' | undefined {
  const match = /^bytes=(.+)$/u.exec(header.trim());
  if (!match?.[1]) return undefined;
  const ranges: ByteRange[] = [];
  for (const spec of match[1].split(',')) {
    const m = /^\s*(\d*)-(\d*)\s*$/u.exec(spec);
    if (!m || (m[1] === '' && m[2] === '')) return undefined;
    if (m[1] === '') {
      const suffix = Number(m[2]);
      if (suffix === 0 || size === 0) continue;
      ranges.push({ start: Math.max(0, size - suffix), end: size - 1 });
      continue;
    }
    const start = Number(m[1]);
    const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
    if (start >= size) continue;
    ranges.push({ start, end });
  }
  return ranges.length ? ranges : 'unsatisfiable';
}
