/**
 * Credentials: Hub tokens (hf_...), CAS access tokens, and signed xorb URLs.
 *
 * CAS tokens and URL signatures are HMACs under a fixed secret rather than a per-start random one:
 * the client caches CAS tokens process-wide (write tokens per token URL), so tokens issued before a
 * restart on the same port, or by a previous emulator that had the same port, must keep validating.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { HttpError } from './http.js';
import type { TokenGrant } from './types.js';

const SECRET = 'hf-outbox hub emulator signing secret';

export type HubAuth = { kind: 'anonymous' } | { kind: 'invalid' } | { kind: 'token'; grant: TokenGrant };

/** Resolves `Authorization: Bearer hf_...`. A present but unknown token is 'invalid' (401 everywhere, like the Hub). */
export function hubAuth(header: string | undefined, tokens: Record<string, TokenGrant>): HubAuth {
  if (header === undefined) return { kind: 'anonymous' };
  const match = /^Bearer\s+(\S+)$/iu.exec(header.trim());
  const token = match?.[1];
  const grant = token !== undefined && Object.hasOwn(tokens, token) ? tokens[token] : undefined;
  return grant ? { kind: 'token', grant } : { kind: 'invalid' };
}

function mac(text: string): string {
  return createHmac('sha256', SECRET).update(text).digest('base64url');
}

function sameMac(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export type CasScope = 'read' | 'write';

export interface CasToken {
  bucket: string;
  scope: CasScope;
  /** Unix seconds. */
  exp: number;
}

export function issueCasToken(token: CasToken): string {
  const payload = Buffer.from(JSON.stringify({ b: token.bucket, s: token.scope, e: token.exp })).toString('base64url');
  return `xet_${payload}.${mac(payload)}`;
}

/** Checks the Bearer CAS token and its scope; throws the 401/403 the CAS would answer. */
export function requireCasToken(header: string | undefined, scope: CasScope): CasToken {
  const match = /^Bearer\s+xet_([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/u.exec(header?.trim() ?? '');
  if (!match?.[1] || !match[2] || !sameMac(mac(match[1]), match[2])) {
    throw new HttpError(401, 'Missing or invalid CAS access token');
  }
  const raw = JSON.parse(Buffer.from(match[1], 'base64url').toString('utf8')) as { b: string; s: CasScope; e: number };
  if (raw.e <= Date.now() / 1000) throw new HttpError(401, 'CAS access token expired');
  if (scope === 'write' && raw.s !== 'write') throw new HttpError(403, 'CAS access token is read-only');
  return { bucket: raw.b, scope: raw.s, exp: raw.e };
}

/**
 * Query string for a signed xorb URL: the xorb hash, the allowed byte ranges (written like a Range
 * header) and the expiry, with an HMAC over the three. The client sends nothing but `Range` there.
 */
export function signXorbUrlQuery(xorbHash: string, ranges: string, exp: number): string {
  const params = new URLSearchParams({ 'X-Xet-Signed-Range': ranges, Expires: String(exp) });
  params.set('Signature', mac(`${xorbHash}\n${ranges}\n${exp}`));
  return params.toString();
}

/** Returns the signed ranges, or throws 403 for a bad or expired signature. */
export function verifyXorbUrlQuery(xorbHash: string, query: URLSearchParams): string {
  const ranges = query.get('X-Xet-Signed-Range') ?? '';
  const exp = Number(query.get('Expires'));
  const signature = query.get('Signature') ?? '';
  if (!sameMac(mac(`${xorbHash}\n${ranges}\n${exp}`), signature)) throw new HttpError(403, 'Invalid signature');
  if (!(exp > Date.now() / 1000)) throw new HttpError(403, 'Signed URL expired');
  return ranges;
}
