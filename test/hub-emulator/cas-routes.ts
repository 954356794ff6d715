/**
 * Xet CAS endpoints (C1-C6 in shared/docs/hub-bucket-api.md) plus the signed xorb-data URLs that
 * reconstructions point at. Everything is verified against recomputed hashes before it is stored.
 */
import { randomUUID } from 'node:crypto';
import { casUrl, type App } from './app.js';
import { requireCasToken, signXorbUrlQuery, verifyXorbUrlQuery } from './auth.js';
import { isHashHex } from './hash.js';
import { HttpError, parseRangeHeader, type BodyObserver, type ByteRange, type Exchange } from './http.js';
import { parseShard, ShardFormatError } from './shard.js';
import { CasValidationError } from './store.js';
import { StreamingChunkHasher, verifyXorb, XorbFormatError } from './xorb.js';

function hashParam(ex: Exchange, index: number): string {
  const hash = ex.segments[index];
  if (!isHashHex(hash)) throw new HttpError(400, `Invalid hash ${String(hash)}`);
  return hash;
}

/**
 * C1, while the body arrives: hash chunks as they complete, unless the upload will not be verified
 * at all (bad token or hash, xorb already stored). Only saves work; uploadXorb decides everything.
 */
export function observeXorbUpload(app: App, ex: Exchange): BodyObserver | undefined {
  try {
    requireCasToken(ex.header('authorization'), 'write');
    const hash = ex.segments[4];
    return isHashHex(hash) && !app.store.xorbs.has(hash) ? new StreamingChunkHasher() : undefined;
  } catch {
    return undefined;
  }
}

/** C1: POST /v1/xorbs/{prefix}/{hash}. The body must hash (after decompression) to the URL hash. */
export async function uploadXorb(app: App, ex: Exchange): Promise<void> {
  requireCasToken(ex.header('authorization'), 'write');
  const hash = hashParam(ex, 4);
  if (app.store.xorbs.has(hash)) {
    ex.json(200, { was_inserted: false });
    return;
  }
  try {
    const streamed = ex.bodyObserver instanceof StreamingChunkHasher ? ex.bodyObserver : undefined;
    const { layout, chunkHashes } = await verifyXorb(ex.body, hash, streamed);
    const inserted = app.store.addXorb(hash, { data: ex.body, layout, chunkHashes });
    ex.json(200, { was_inserted: inserted });
  } catch (err) {
    if (err instanceof XorbFormatError) throw new HttpError(400, err.message);
    throw err;
  }
}

/** C2: POST /v1/shards. Registers files (and indexes xorbs for dedup) only if every check passes. */
export async function uploadShard(app: App, ex: Exchange): Promise<void> {
  requireCasToken(ex.header('authorization'), 'write');
  try {
    await app.store.registerShard(parseShard(ex.body));
  } catch (err) {
    if (err instanceof ShardFormatError || err instanceof CasValidationError) throw new HttpError(400, err.message);
    throw err;
  }
  ex.json(200, { result: 1 });
}

/** C3: GET /v1/chunks/{prefix}/{chunkHash}. Any prefix: the client says `default`, the spec `default-merkledb`. */
export function dedupQuery(app: App, ex: Exchange): void {
  requireCasToken(ex.header('authorization'), 'read');
  const shard = app.store.dedupShard(hashParam(ex, 4), app.dedupKeyTtlSeconds);
  if (!shard) throw new HttpError(404, 'Chunk not found');
  ex.send(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': shard.byteLength }, shard);
}

/** C4: GET /v2/reconstructions/{fileHash} with an inclusive `Range`. */
export function reconstruction(app: App, ex: Exchange): void {
  requireCasToken(ex.header('authorization'), 'read');
  const hash = hashParam(ex, 3);
  const recon = app.store.files.get(hash);
  if (!recon) throw new HttpError(404, `File ${hash} not found`);
  const rangeHeader = ex.header('range');
  let range: ByteRange = { start: 0, end: recon.size - 1 };
  if (rangeHeader !== undefined) {
    const parsed = parseRangeHeader(rangeHeader, recon.size);
    if (parsed === undefined) throw new HttpError(400, `Invalid Range ${rangeHeader}`);
    if (parsed === 'unsatisfiable') throw new HttpError(416, 'Range not satisfiable', undefined, { 'Content-Range': `bytes */${recon.size}` });
    if (parsed.length !== 1 || !parsed[0]) throw new HttpError(400, 'Only a single range is supported');
    range = parsed[0];
  }
  const plan = app.store.planReconstruction(recon, range.start, range.end + 1);
  const exp = Math.floor(Date.now() / 1000) + app.casTokenTtlSeconds;
  const xorbs: Record<string, unknown[]> = {};
  for (const [xorbHash, span] of plan.xorbSpans) {
    const signed = `bytes=${span.byteStart}-${span.byteEnd}`;
    xorbs[xorbHash] = [{
      url: `${casUrl(ex.origin)}/xorb-data/${xorbHash}?${signXorbUrlQuery(xorbHash, signed, exp)}`,
      ranges: [{ chunks: { start: span.chunkStart, end: span.chunkEnd }, bytes: { start: span.byteStart, end: span.byteEnd } }],
    }];
  }
  ex.json(200, { offset_into_first_range: plan.offsetIntoFirstRange, terms: plan.terms, xorbs });
}

/** C6: used only by `edit` operations; a 404 makes the client fall back to re-chunking the whole file. */
export function fileChunkHashes(_app: App, ex: Exchange): void {
  throw new HttpError(404, `No chunk hashes for ${ex.segments[3] ?? ''}`);
}

/** `bytes=a-b[,c-d]` with nothing open-ended: what signed URLs carry and what the client requests. */
function parseExactRanges(text: string): ByteRange[] | undefined {
  const match = /^bytes=(\d+-\d+(?:,\d+-\d+)*)$/u.exec(text.replace(/\s+/gu, ''));
  if (!match?.[1]) return undefined;
  const ranges = match[1].split(',').map((spec) => {
    const [start, end] = spec.split('-').map(Number);
    return { start: start ?? 0, end: end ?? -1 };
  });
  return ranges.every((r) => r.start <= r.end) ? ranges : undefined;
}

/**
 * C5: GET /xorb-data/{hash}?X-Xet-Signed-Range=..&Expires=..&Signature=.. with only a Range header.
 * Exactly the requested bytes: 206 for one range, multipart/byteranges for several. Without Range,
 * the signed ranges themselves are served.
 */
export function xorbRead(app: App, ex: Exchange): void {
  const hash = hashParam(ex, 2);
  const signed = parseExactRanges(verifyXorbUrlQuery(hash, ex.query));
  if (!signed) throw new HttpError(403, 'Malformed signed range');
  const xorb = app.store.xorbs.get(hash);
  if (!xorb) throw new HttpError(404, `Xorb ${hash} not found`);
  const rangeHeader = ex.header('range');
  const requested = rangeHeader === undefined ? signed : parseExactRanges(rangeHeader);
  if (!requested) throw new HttpError(400, `Invalid Range ${String(rangeHeader)}`);
  for (const r of requested) {
    if (!signed.some((s) => s.start <= r.start && r.end <= s.end)) {
      throw new HttpError(403, `Range ${r.start}-${r.end} is outside the signed ranges`);
    }
  }
  const size = xorb.data.byteLength;
  if (requested.some((r) => r.end >= size)) {
    throw new HttpError(416, 'Range not satisfiable', undefined, { 'Content-Range': `bytes */${size}` });
  }
  const [only] = requested;
  if (requested.length === 1 && only) {
    const body = xorb.data.subarray(only.start, only.end + 1);
    ex.send(206, {
      'Content-Type': 'application/octet-stream',
      'Content-Range': `bytes ${only.start}-${only.end}/${size}`,
      'Content-Length': body.byteLength,
    }, body);
    return;
  }
  const boundary = randomUUID().replaceAll('-', '');
  const pieces: Buffer[] = [];
  for (const r of requested) {
    pieces.push(
      Buffer.from(`--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes ${r.start}-${r.end}/${size}\r\n\r\n`),
      xorb.data.subarray(r.start, r.end + 1),
      Buffer.from('\r\n'),
    );
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  const body = Buffer.concat(pieces);
  ex.send(206, { 'Content-Type': `multipart/byteranges; boundary=${boundary}`, 'Content-Length': body.byteLength }, body);
}
