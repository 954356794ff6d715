/**
 * Hub endpoints for buckets (H1-H10 in shared/docs/hub-bucket-api.md): bucket create/info/delete,
 * tree, paths-info, Xet token endpoints, the NDJSON batch and resolve.
 */
import { casUrl, type App } from './app.js';
import { hubAuth, issueCasToken, type CasScope } from './auth.js';
import { HttpError, parseRangeHeader, type Exchange } from './http.js';
import type { Bucket, BucketFile, FileRecon } from './store.js';
import { isHashHex } from './hash.js';
import type { TokenGrant } from './types.js';

const XET_FILEINFO_TYPE = 'application/vnd.xet-fileinfo+json';
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$/u;

function bucketIdOf(ex: Exchange, nsIndex: number): string {
  return `${ex.segments[nsIndex]}/${ex.segments[nsIndex + 1]}`;
}

function canReach(grant: TokenGrant, bucketId: string): boolean {
  const ns = bucketId.split('/')[0] ?? '';
  return !grant.namespaces || grant.namespaces.includes(ns);
}

function notFound(anonymous: boolean, bucketId: string): HttpError {
  // The Hub answers 401 rather than 404 to anonymous callers, so existence does not leak.
  return anonymous
    ? new HttpError(401, `Bucket ${bucketId} not found or requires authentication`, 'RepoNotFound')
    : new HttpError(404, `Bucket ${bucketId} not found`, 'RepoNotFound');
}

/** Read access: public buckets for anyone with no or a valid token, private ones for tokens that reach them. */
function requireReader(app: App, ex: Exchange, bucketId: string): Bucket {
  const auth = hubAuth(ex.header('authorization'), app.tokens);
  if (auth.kind === 'invalid') throw new HttpError(401, 'Invalid credentials in Authorization header');
  const bucket = app.store.buckets.get(bucketId);
  const reachable = bucket && (!bucket.private || (auth.kind === 'token' && canReach(auth.grant, bucketId)));
  if (!bucket || !reachable) throw notFound(auth.kind === 'anonymous', bucketId);
  return bucket;
}

/** Write access needs a write token that reaches the bucket's namespace. */
function requireWriter(app: App, ex: Exchange, bucketId: string): TokenGrant {
  const auth = hubAuth(ex.header('authorization'), app.tokens);
  if (auth.kind === 'invalid') throw new HttpError(401, 'Invalid credentials in Authorization header');
  if (auth.kind === 'anonymous') throw new HttpError(401, 'Authentication required');
  if (!auth.grant.write) throw new HttpError(403, `This token has no write access to ${bucketId}`);
  if (!canReach(auth.grant, bucketId)) {
    throw new HttpError(403, `You don't have the rights to write to the namespace ${bucketId.split('/')[0]}`);
  }
  return auth.grant;
}

function existingBucket(app: App, bucketId: string): Bucket {
  const bucket = app.store.buckets.get(bucketId);
  if (!bucket) throw notFound(false, bucketId);
  return bucket;
}

function parseJson(ex: Exchange): unknown {
  if (ex.body.byteLength === 0) return undefined;
  try {
    return JSON.parse(ex.body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'Request body is not valid JSON');
  }
}

type TreeEntry = Record<string, unknown> & { path: string };

function fileEntry(file: BucketFile): TreeEntry {
  return { type: 'file', path: file.path, size: file.size, xetHash: file.xetHash, mtime: file.mtime, uploadedAt: file.uploadedAt };
}

/** H1 */
export function createBucket(app: App, ex: Exchange): void {
  const bucketId = bucketIdOf(ex, 2);
  requireWriter(app, ex, bucketId);
  const [ns, name] = bucketId.split('/');
  for (const part of [ns, name]) {
    if (!part || !NAME_PATTERN.test(part) || part.includes('..') || part.includes('--')) {
      throw new HttpError(400, `Invalid bucket id ${bucketId}`);
    }
  }
  if (app.store.buckets.has(bucketId)) throw new HttpError(409, 'You already created this bucket');
  const body = (parseJson(ex) ?? {}) as { visibility?: unknown; private?: unknown };
  // The JS client sends `visibility`, Python and Rust send `private`.
  const isPrivate = typeof body.visibility === 'string' ? body.visibility !== 'public' : body.private === true;
  app.store.createBucket(bucketId, isPrivate);
  ex.json(200, { url: `${ex.origin}/buckets/${bucketId}`, id: bucketId, name: bucketId });
}

/** H2 */
export function bucketInfo(app: App, ex: Exchange): void {
  const bucket = requireReader(app, ex, bucketIdOf(ex, 2));
  let size = 0;
  for (const file of bucket.files.values()) size += file.size;
  ex.json(200, { id: bucket.id, private: bucket.private, createdAt: bucket.createdAt, size, totalFiles: bucket.files.size });
}

/** whoami-v2: who a token belongs to (hf-outbox doctor asks). */
export function whoami(app: App, ex: Exchange): void {
  const auth = hubAuth(ex.header('authorization'), app.tokens);
  if (auth.kind !== 'token') {
    ex.json(401, { error: 'Invalid credentials in Authorization header' });
    return;
  }
  const name = auth.grant.namespaces?.[0] ?? 'emulator-user';
  ex.json(200, { type: 'user', name, auth: { type: 'access_token', accessToken: { displayName: 'emulator token', role: auth.grant.write ? 'write' : 'read' } } });
}

/** H3 */
export function deleteBucket(app: App, ex: Exchange): void {
  const bucketId = bucketIdOf(ex, 2);
  requireWriter(app, ex, bucketId);
  existingBucket(app, bucketId);
  app.store.buckets.delete(bucketId);
  ex.json(200, {});
}

function parseBool(value: string | null): boolean | undefined {
  if (value === null) return undefined;
  return value === 'true' || value === '1';
}

/** URL path segments percent-encoded one by one, so any name round-trips through a Link URL. */
function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/**
 * H4. recursive=true (also the default when absent, like the real server): every file whose path
 * starts with the given path as a plain string prefix (the Hub matches `sub` to `submarine.txt`), no
 * directory entries. recursive=false: direct children of the folder, sub-folders as `directory`
 * entries; a folder with nothing under it is a 404 EntryNotFound.
 * Pages are sorted by path; the cursor is the last path served, so concurrent writes don't shift pages.
 */
export function listTree(app: App, ex: Exchange): void {
  const bucket = requireReader(app, ex, bucketIdOf(ex, 2));
  const path = ex.segments.slice(5).join('/');
  const recursive = parseBool(ex.query.get('recursive')) ?? true;
  const expand = parseBool(ex.query.get('expand')) ?? false;
  const cursorParam = ex.query.get('cursor');
  const after = cursorParam ? Buffer.from(cursorParam, 'base64url').toString('utf8') : undefined;

  let entries: TreeEntry[];
  if (recursive) {
    entries = [...bucket.files.values()].filter((f) => f.path.startsWith(path)).map(fileEntry);
  } else {
    const folder = path.replace(/\/+$/u, '');
    const prefix = folder ? `${folder}/` : '';
    const exact = folder ? bucket.files.get(folder) : undefined;
    const children = new Map<string, TreeEntry>();
    for (const file of bucket.files.values()) {
      if (!file.path.startsWith(prefix)) continue;
      const rest = file.path.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash < 0) {
        children.set(file.path, fileEntry(file));
        continue;
      }
      const dirPath = prefix + rest.slice(0, slash);
      const dir = children.get(dirPath);
      const latest = dir && String(dir.uploadedAt) > file.uploadedAt ? String(dir.uploadedAt) : file.uploadedAt;
      children.set(dirPath, { type: 'directory', path: dirPath, uploadedAt: latest });
    }
    if (exact) children.set(exact.path, fileEntry(exact));
    if (folder && children.size === 0) throw new HttpError(404, `Entry not found: ${folder}`, 'EntryNotFound');
    entries = [...children.values()];
  }
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const start = after === undefined ? 0 : entries.findIndex((e) => e.path > after);
  const page = start < 0 ? [] : entries.slice(start, start + app.treePageSize);
  const last = page.at(-1);
  const headers: Record<string, string> = {};
  if (last && start + page.length < entries.length) {
    const params = new URLSearchParams({ recursive: String(recursive), expand: String(expand), cursor: Buffer.from(last.path).toString('base64url') });
    const pathPart = path ? `/${encodePath(path)}` : '';
    headers.Link = `<${ex.origin}/api/buckets/${encodePath(bucket.id)}/tree${pathPart}?${params.toString()}>; rel="next"`;
  }
  ex.json(200, page, headers);
}

/** H5: entries for the file paths that exist, missing ones silently left out. */
export function pathsInfo(app: App, ex: Exchange): void {
  const bucket = requireReader(app, ex, bucketIdOf(ex, 2));
  const body = parseJson(ex) as { paths?: unknown } | undefined;
  if (!Array.isArray(body?.paths) || !body.paths.every((p): p is string => typeof p === 'string')) {
    throw new HttpError(400, 'Body must be {"paths": string[]}');
  }
  const files = [...new Set(body.paths)].flatMap((p) => {
    const file = bucket.files.get(p);
    return file ? [fileEntry(file)] : [];
  });
  ex.json(200, files);
}

function sendXetToken(app: App, ex: Exchange, bucketId: string, scope: CasScope): void {
  const exp = Math.floor(Date.now() / 1000) + app.casTokenTtlSeconds;
  const accessToken = issueCasToken({ bucket: bucketId, scope, exp });
  const cas = casUrl(ex.origin);
  // JSON for the JS client, the same values as headers for Python's hf_xet.
  ex.json(200, { accessToken, casUrl: cas, exp }, {
    'X-Xet-Access-Token': accessToken,
    'X-Xet-Cas-Url': cas,
    'X-Xet-Token-Expiration': exp,
  });
}

/** H6 */
export function writeToken(app: App, ex: Exchange): void {
  const bucketId = bucketIdOf(ex, 2);
  requireWriter(app, ex, bucketId);
  existingBucket(app, bucketId);
  sendXetToken(app, ex, bucketId, 'write');
}

/** H7 */
export function readToken(app: App, ex: Exchange): void {
  const bucketId = bucketIdOf(ex, 2);
  requireReader(app, ex, bucketId);
  sendXetToken(app, ex, bucketId, 'read');
}

/** The S3-gateway object-key rules the Hub applies to bucket paths. */
function invalidPathReason(path: unknown): string | undefined {
  if (typeof path !== 'string' || path === '') return 'path must be a non-empty string';
  if (path.startsWith('/') || path.endsWith('/')) return 'path must not start or end with /';
  if (path.includes('//')) return 'path must not contain //';
  if (path.includes('\\') || path.includes('\0')) return 'path must not contain \\ or NUL';
  if (path.startsWith('./') || path.includes('../') || path.endsWith('..')) return 'path must not contain . or .. segments';
  return undefined;
}

function parseMtime(value: unknown): string | undefined {
  const date = typeof value === 'number' || typeof value === 'string' ? new Date(value) : undefined;
  return date && !Number.isNaN(date.getTime()) ? date.toISOString() : undefined;
}

interface BatchOp {
  type?: unknown;
  path?: unknown;
  xetHash?: unknown;
  mtime?: unknown;
  sourceRepoType?: unknown;
  sourceRepoId?: unknown;
}

/** Strict mode: a file is only acknowledged if its bytes can be rebuilt from stored xorbs. */
async function rebuildable(app: App, hash: unknown): Promise<FileRecon | string> {
  if (!isHashHex(hash)) return 'xetHash must be 64 lowercase hex characters';
  const recon = app.store.files.get(hash);
  if (!recon) return `Unknown xetHash ${hash}: no shard registered this file`;
  try {
    await app.store.checkRebuildable(recon);
  } catch (err) {
    return `File ${hash} cannot be rebuilt from stored xorbs: ${(err as Error).message}`;
  }
  return recon;
}

async function applyOp(app: App, ex: Exchange, bucket: Bucket, op: BatchOp): Promise<string | undefined> {
  switch (op.type) {
    case 'addFile': {
      const bad = invalidPathReason(op.path);
      if (bad) return bad;
      const recon = await rebuildable(app, op.xetHash);
      if (typeof recon === 'string') return recon;
      app.store.upsertFile(bucket, op.path as string, recon, parseMtime(op.mtime));
      return undefined;
    }
    case 'copyFile': {
      const bad = invalidPathReason(op.path);
      if (bad) return bad;
      if (op.sourceRepoType !== 'bucket' || typeof op.sourceRepoId !== 'string') {
        return `Source ${String(op.sourceRepoType)}/${String(op.sourceRepoId)} not found (the emulator only has buckets)`;
      }
      let source: Bucket;
      try {
        source = requireReader(app, ex, op.sourceRepoId);
      } catch {
        return `Source bucket ${op.sourceRepoId} not found`;
      }
      if (![...source.files.values()].some((f) => f.xetHash === op.xetHash)) {
        return `No file with xetHash ${String(op.xetHash)} in ${op.sourceRepoId}`;
      }
      const recon = await rebuildable(app, op.xetHash);
      if (typeof recon === 'string') return recon;
      app.store.upsertFile(bucket, op.path as string, recon, parseMtime(op.mtime));
      return undefined;
    }
    case 'deleteFile':
      if (typeof op.path !== 'string' || !bucket.files.delete(op.path)) return 'Entry not found';
      return undefined;
    default:
      return `Unknown operation type ${JSON.stringify(op.type)}`;
  }
}

/**
 * H8. Non-transactional, in order. Always the JSON report with `failed` (the client iterates it):
 * 200 when anything succeeded, 422 when every operation failed.
 */
export async function batch(app: App, ex: Exchange): Promise<void> {
  const bucketId = bucketIdOf(ex, 2);
  requireWriter(app, ex, bucketId);
  const bucket = existingBucket(app, bucketId);
  const ops: BatchOp[] = [];
  for (const line of ex.body.toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    let op: unknown;
    try {
      op = JSON.parse(line);
    } catch {
      throw new HttpError(400, 'Batch body must be NDJSON: one JSON object per line');
    }
    if (typeof op !== 'object' || op === null || Array.isArray(op)) throw new HttpError(400, 'Each batch line must be a JSON object');
    ops.push(op as BatchOp);
  }
  const failed: Array<{ path: string; error: string }> = [];
  for (const op of ops) {
    const error = await applyOp(app, ex, bucket, op);
    if (error) failed.push({ path: typeof op.path === 'string' ? op.path : '', error });
  }
  const succeeded = ops.length - failed.length;
  const status = ops.length > 0 && succeeded === 0 ? 422 : 200;
  ex.json(status, { success: failed.length === 0, processed: ops.length, succeeded, failed });
}

/**
 * H9/H10. With the Xet Accept header: file info in headers (the JS client reads only those) and
 * Link to the read-token and reconstruction URLs. Otherwise the bytes themselves, with Range support.
 */
export async function resolve(app: App, ex: Exchange): Promise<void> {
  const bucketId = bucketIdOf(ex, 1);
  const bucket = requireReader(app, ex, bucketId);
  const path = ex.segments.slice(4).join('/');
  const file = bucket.files.get(path);
  if (!file) throw new HttpError(404, `Entry not found: ${path}`, 'EntryNotFound');
  const recon = app.store.files.get(file.xetHash);
  if (!recon) throw new HttpError(500, `File ${file.xetHash} lost its reconstruction`);

  const refreshRoute = `/api/buckets/${encodePath(bucketId)}/xet-read-token`;
  const common = {
    ETag: `"${file.xetHash}"`,
    'X-Xet-Hash': file.xetHash,
    'X-Xet-Refresh-Route': refreshRoute,
    'Accept-Ranges': 'bytes',
    Link: `<${ex.origin}${refreshRoute}>; rel="xet-auth", <${casUrl(ex.origin)}/v1/reconstructions/${file.xetHash}>; rel="xet-reconstruction-info"`,
  };

  if ((ex.header('accept') ?? '').includes(XET_FILEINFO_TYPE)) {
    const body = JSON.stringify({ hash: file.xetHash, refreshUrl: `${ex.origin}${refreshRoute}`, size: file.size });
    ex.send(200, {
      ...common,
      'Content-Type': XET_FILEINFO_TYPE,
      'X-Linked-Size': file.size,
      'X-Linked-ETag': `"${file.xetHash}"`,
      // HEAD reports the file size, as Python's get_bucket_file_metadata expects.
      'Content-Length': ex.req.method === 'HEAD' ? file.size : Buffer.byteLength(body),
    }, body);
    return;
  }

  const rangeHeader = ex.header('range');
  const ranges = rangeHeader === undefined ? undefined : parseRangeHeader(rangeHeader, file.size);
  const headers = { ...common, 'Content-Type': 'application/octet-stream' };
  if (ranges === 'unsatisfiable') {
    if (file.size === 0) {
      // A 0-byte file cannot answer any range; 200 with `*/0` is what lets the client learn its size.
      ex.send(200, { ...headers, 'Content-Range': 'bytes */0', 'Content-Length': 0 });
      return;
    }
    throw new HttpError(416, 'Range not satisfiable', undefined, { 'Content-Range': `bytes */${file.size}` });
  }
  // Multi-range requests get the whole file (allowed by RFC 9110); no client here sends them.
  const range = ranges?.length === 1 ? ranges[0] : undefined;
  if (range) {
    await ex.stream(206, {
      ...headers,
      'Content-Range': `bytes ${range.start}-${range.end}/${file.size}`,
      'Content-Length': range.end - range.start + 1,
    }, app.store.fileSlices(recon, range.start, range.end + 1));
    return;
  }
  await ex.stream(200, { ...headers, 'Content-Length': file.size }, app.store.fileSlices(recon));
}
