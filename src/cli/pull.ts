/**
 * `hf-outbox pull BUCKET_PATH [DEST]`: downloads a file, or every file of a folder (a directory
 * artifact), from the bucket into DEST (`./inbox` by default), keeping the folder's structure:
 *   artifacts/scripts/train_lora_agent-02.py          → inbox/train_lora_agent-02.py
 *   artifacts/checkpoints/lora_r16_ep3_agent-02/a/b   → inbox/lora_r16_ep3_agent-02/a/b
 * `hf://buckets/OWNER/NAME/path` names its bucket (read unless another one was given). Local files
 * with the bucket's bytes are up to date (not an error); one that differs is never overwritten
 * without --force (it lists them and writes nothing). Every file goes into a staging folder in
 * DEST and is verified there (size, and Xet hash when listed); only when all arrived intact are
 * they moved into place, so a failed file leaves nothing half-pulled. Remote names that could
 * escape DEST (`..`, absolute, backslash, control characters) are refused.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, link, mkdir, mkdtemp, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { openBucket } from '../adapters/bucket.js';
import { NodeOutboxFs } from '../adapters/node-fs.js';
import { lineWriter } from '../core/terminal-text.js';
import { systemClock } from '../adapters/system-clock.js';
import { formatBytes } from '../conventions/message.js';
import { isErrnoException } from '../core/errors.js';
import type { BucketClient, RemoteEntry } from '../core/ports.js';
import { parseBucket, type BucketTarget, type Config } from '../config/parse.js';
import { sha256Of } from '../hash/sha256.js';
import { matchXetHash } from '../hash/xet-hash.js';
import type { CommandContext } from './context.js';

export interface PullOptions {
  /** A bucket path (`artifacts/…`) or a full URI (`hf://buckets/o/n/artifacts/…`, which names the bucket to read). */
  bucketPath: string;
  /** Local folder to download into; relative to `cwd`. */
  dest?: string;
  force: boolean;
  out?: Writable | NodeJS.WritableStream;
  err?: Writable | NodeJS.WritableStream;
  bucket?: BucketClient;
  cwd?: string;
  signal?: AbortSignal;
}

export interface PulledFile {
  remote: string;
  local: string;
  sizeBytes: number;
  sha256: string;
}

export const DEFAULT_PULL_DEST = './inbox';
const TEMP_PREFIX = '.hf-outbox-pull-';

export async function runPull(ctx: CommandContext, options: PullOptions): Promise<number> {
  const out = lineWriter(options.out ?? process.stdout);
  const err = lineWriter(options.err ?? process.stderr);
  const fail = (message: string) => {
    err(`hf-outbox pull: ${message}\n`);
    return 1;
  };

  const remote = resolvePullTarget(options.bucketPath, ctx.config);
  if (!remote.ok) return fail(remote.error);
  const problem = remotePathProblem(remote.path);
  if (problem !== undefined) return fail(`refusing "${options.bucketPath}": ${problem}`);

  const config = remote.bucket === ctx.config.bucket ? ctx.config : { ...ctx.config, bucket: remote.bucket };
  const bucket = options.bucket ?? (await openBucket(config, { fs: new NodeOutboxFs(), clock: systemClock, logger: ctx.logger }));
  const cwd = options.cwd ?? process.cwd();
  const dest = path.resolve(cwd, options.dest ?? DEFAULT_PULL_DEST);
  const name = remote.path.slice(remote.path.lastIndexOf('/') + 1);

  // A file at that path, else every file under it as a folder.
  const plan: PlanItem[] = [];
  const asFile = (await bucket.stat([remote.path])).get(remote.path);
  if (asFile !== undefined) {
    plan.push({ entry: asFile, rel: name });
  } else {
    const refused: string[] = [];
    for await (const e of bucket.list(remote.path)) {
      const rel = e.path.startsWith(`${remote.path}/`) ? e.path.slice(remote.path.length + 1) : undefined;
      const why = rel === undefined ? 'it is not inside the folder asked for' : remotePathProblem(rel);
      if (rel === undefined || why !== undefined) {
        refused.push(`  ${JSON.stringify(e.path)}: ${why}`);
        continue;
      }
      plan.push({ entry: e, rel: `${name}/${rel}` });
    }
    if (refused.length > 0) {
      return fail(`refusing to pull ${remote.path}/: these remote names could write outside ${dest}:\n${refused.join('\n')}`);
    }
    if (plan.length === 0) return fail(`nothing at ${remote.path} in ${bucket.description} (no such file or folder)`);
  }

  // Check everything before writing anything: a half-pulled checkpoint is worse than none.
  const blocked: string[] = [];
  const differing: string[] = [];
  const upToDate = new Set<PlanItem>();
  for (const item of plan) {
    const local = localOf(dest, item);
    const parentProblem = await ancestorProblem(dest, path.dirname(local));
    if (parentProblem !== undefined) {
      blocked.push(`  ${local}: ${parentProblem}`);
      continue;
    }
    const s = await lstatOrUndefined(local);
    if (s === undefined) continue;
    if (s.isDirectory()) blocked.push(`  ${local}: a folder is there`);
    else if (!s.isFile()) blocked.push(`  ${local}: not a regular file`);
    else if (await sameAsRemote(local, item.entry, bucket, options.signal)) upToDate.add(item);
    else differing.push(`  ${local}`);
  }
  if (blocked.length > 0) return fail(`cannot write these files; nothing was pulled:\n${blocked.join('\n')}`);
  if (differing.length > 0 && !options.force) {
    return fail(
      `${differing.length} local file${differing.length === 1 ? '' : 's'} differ${differing.length === 1 ? 's' : ''} from the bucket and would be overwritten; ` +
        `nothing was pulled (pass --force to overwrite them):\n${differing.join('\n')}`,
    );
  }
  const shown = (p: string) => path.relative(cwd, p) || p;
  for (const item of upToDate) out(`up to date: ${shown(localOf(dest, item))} is identical to ${item.entry.path}\n`);
  const wanted = plan.filter((item) => !upToDate.has(item));
  if (wanted.length === 0) {
    out(`${plan.length === 1 ? 'the file is' : `all ${plan.length} files are`} up to date in ${dest}; nothing to pull\n`);
    return 0;
  }

  // Every file goes into a staging folder beside its place and is verified there; only when all of
  // them arrived intact are they moved into place (a new folder in one rename), so a failed file
  // leaves no half-pulled folder and an existing one is not partly overwritten.
  const createdDest = (await lstatOrUndefined(dest)) === undefined;
  await mkdir(dest, { recursive: true });
  const staging = await mkdtemp(path.join(dest, TEMP_PREFIX));
  const pulled: PulledFile[] = [];
  try {
    let failures = 0;
    for (const item of wanted) {
      try {
        pulled.push(await downloadVerified(bucket, item, path.join(staging, ...item.rel.split('/')), localOf(dest, item), options.signal));
      } catch (error) {
        if (options.signal?.aborted) throw error;
        failures++;
        err(`hf-outbox pull: ${item.entry.path}: ${(error as Error).message}\n`);
      }
    }
    if (failures > 0) {
      if (createdDest) await rm(dest, { recursive: true, force: true });
      return fail(`${failures} of ${wanted.length} file${wanted.length === 1 ? '' : 's'} failed; nothing was pulled into ${dest} (run the pull again)`);
    }
    await placeAll(staging, dest, name, asFile === undefined && upToDate.size === 0, wanted, options.force);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  for (const p of pulled) out(`pulled ${p.remote} → ${shown(p.local)} (${formatBytes(p.sizeBytes)})\n`);
  const total = pulled.reduce((n, p) => n + p.sizeBytes, 0);
  const fresh = upToDate.size > 0 ? `; ${upToDate.size} already up to date` : '';
  out(`${pulled.length} file${pulled.length === 1 ? '' : 's'}, ${formatBytes(total)} into ${dest}${fresh}\n`);
  ctx.logger.debug({ pulled: pulled.length, upToDate: upToDate.size, dest }, 'pull finished');
  return 0;
}

interface PlanItem {
  entry: RemoteEntry;
  /** '/'-separated path below the destination (the file's or the folder's name first). */
  rel: string;
}

function localOf(dest: string, item: PlanItem): string {
  return path.join(dest, ...item.rel.split('/'));
}

/**
 * The bucket path to pull, and which bucket it is in. `hf://buckets/OWNER/NAME/path` names its
 * bucket: that bucket is read unless another one was given (then they must agree).
 */
export function resolvePullTarget(
  input: string,
  config: Pick<Config, 'bucket' | 'bucketSource'>,
): { ok: true; path: string; bucket: BucketTarget } | { ok: false; error: string } {
  const uri = /^hf:\/\/buckets\/([^/]+)\/([^/]+)(\/.*)?$/.exec(input.trim());
  if (uri !== null) {
    const named = parseBucket(`hf://buckets/${uri[1]}/${uri[2]}`, '/');
    if (typeof named === 'string') return { ok: false, error: `"${input}": ${named}` };
    const sameAsGiven = config.bucket.uri === named.uri;
    if (!sameAsGiven && config.bucketSource === 'given') {
      return {
        ok: false,
        error:
          `"${input}" is not in the configured bucket ${config.bucket.uri} (--bucket, HF_OUTBOX_BUCKET or the config file) but in ${named.uri}; ` +
          `leave the bucket setting out to read ${named.uri}, or give a path inside ${config.bucket.uri}`,
      };
    }
    const rest = normaliseBucketPath(uri[3] ?? '', named.uri);
    return rest.ok ? { ok: true, path: rest.path, bucket: sameAsGiven ? config.bucket : named } : rest;
  }
  const rest = normaliseBucketPath(input, config.bucket.uri);
  return rest.ok ? { ...rest, bucket: config.bucket } : rest;
}

/** Accepts `artifacts/x`, `/artifacts/x/`, or the configured bucket's own URI followed by a path. */
export function normaliseBucketPath(input: string, bucketUri: string): { ok: true; path: string } | { ok: false; error: string } {
  let p = input.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(p)) {
    const base = `${bucketUri.replace(/\/+$/, '')}/`;
    if (!p.startsWith(base)) {
      return { ok: false, error: `"${input}" is not in the configured bucket ${bucketUri}; pass --bucket to read another bucket` };
    }
    p = p.slice(base.length);
  }
  p = p.replace(/^\/+/, '').replace(/\/+$/, '');
  if (p === '') return { ok: false, error: 'give a bucket path, e.g. artifacts/scripts/train_lora_agent-02.py' };
  return { ok: true, path: p };
}

/** Why a remote path (or a part of one) may not become a local path, or undefined when it may. */
export function remotePathProblem(p: string): string | undefined {
  if (p === '') return 'empty path';
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return 'absolute path';
  if (p.includes('\\')) return 'backslash in the name';
  if (/[\u0000-\u001f\u007f-\u009f]/u.test(p)) return 'control character in the name';
  if (/[\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u.test(p)) return 'bidi control character in the name';
  // The Hub client puts the path in a URL unencoded: `real.bin#x` would fetch `real.bin`'s bytes.
  if (/[?#]/u.test(p)) return '"?" or "#" in the name (the Hub client would cut the name there and fetch another file)';
  for (const segment of p.split('/')) {
    if (segment === '..') return '".." segment';
    if (segment === '.' || segment === '') return 'empty or "." segment';
  }
  return undefined;
}

/** Every existing folder between `dest` (exclusive) and `dir` must be a real folder, not a link or a file. */
async function ancestorProblem(dest: string, dir: string): Promise<string | undefined> {
  const rel = path.relative(dest, dir);
  if (rel === '') return undefined;
  let current = dest;
  for (const part of rel.split(path.sep)) {
    current = path.join(current, part);
    const s = await lstatOrUndefined(current);
    if (s === undefined) return undefined;
    if (s.isSymbolicLink()) return `${current} is a symlink; refusing to write through it`;
    if (!s.isDirectory()) return `${current} is a file, not a folder`;
  }
  return undefined;
}

async function lstatOrUndefined(p: string) {
  try {
    return await lstat(p);
  } catch (error) {
    if (isErrnoException(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return undefined;
    throw error;
  }
}

/** Whether the local file holds the bucket file's bytes: by Xet hash when listed (no download), else by sha256 of both. */
async function sameAsRemote(local: string, entry: RemoteEntry, bucket: BucketClient, signal: AbortSignal | undefined): Promise<boolean> {
  const s = await lstat(local);
  if (s.size !== entry.sizeBytes) return false;
  const read = () => createReadStream(local);
  if (entry.xetHash) return (await matchXetHash(read, entry.xetHash, entry.sizeBytes)) !== undefined;
  const [mine, theirs] = await Promise.all([sha256Of(read()), bucket.download(entry.path, signal ? { signal } : {}).then(sha256Of)]);
  return mine === theirs;
}

/**
 * Downloads one file into the staging folder and checks it: the size the bucket lists, and the
 * Xet hash when the bucket lists one (either chunking rule). Returns what it will become.
 */
async function downloadVerified(bucket: BucketClient, item: PlanItem, staged: string, local: string, signal: AbortSignal | undefined): Promise<PulledFile> {
  const { entry } = item;
  await mkdir(path.dirname(staged), { recursive: true });
  const handle = await open(staged, 'wx', 0o644);
  const hash = createHash('sha256');
  let size = 0;
  try {
    const stream = await bucket.download(entry.path, signal ? { signal } : {});
    for await (const chunk of stream) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
      await handle.write(bytes);
      hash.update(bytes);
      size += bytes.length;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  if (size !== entry.sizeBytes) {
    throw new Error(`got ${size} bytes but the bucket lists ${entry.sizeBytes}; the file may have changed, pull it again`);
  }
  if (entry.xetHash && (await matchXetHash(() => createReadStream(staged), entry.xetHash, size)) === undefined) {
    throw new Error(`the bytes received do not have the Xet hash the bucket lists (${entry.xetHash}); the file may have changed, pull it again`);
  }
  return { remote: entry.path, local, sizeBytes: size, sha256: hash.digest('hex') };
}

/**
 * Moves the verified files from the staging folder into place: a folder that is not there yet in
 * one rename; else file by file, a file that is in the way only with --force (a hard link
 * otherwise, which fails on an existing name).
 */
async function placeAll(staging: string, dest: string, name: string, wholeFolder: boolean, items: readonly PlanItem[], force: boolean): Promise<void> {
  if (wholeFolder && (await lstatOrUndefined(path.join(dest, name))) === undefined) {
    try {
      await rename(path.join(staging, name), path.join(dest, name));
      return;
    } catch (error) {
      // Something appeared there meanwhile: place file by file, never over a local file without --force.
      if (!isErrnoException(error) || (error.code !== 'EEXIST' && error.code !== 'ENOTEMPTY')) throw error;
    }
  }
  for (const item of items) {
    const staged = path.join(staging, ...item.rel.split('/'));
    const local = localOf(dest, item);
    await mkdir(path.dirname(local), { recursive: true });
    if (force) await rename(staged, local);
    else await linkNoClobber(staged, local);
  }
}

/** Puts `temp` at `local` only if nothing is there: a hard link fails on an existing name, atomically. */
async function linkNoClobber(temp: string, local: string): Promise<void> {
  try {
    await link(temp, local);
    return;
  } catch (error) {
    if (isErrnoException(error) && error.code === 'EEXIST') throw new Error(`${local} appeared meanwhile; not overwritten (use --force)`);
    // Filesystems without hard links: check, then rename (a small race, but never a torn file).
    if (!isErrnoException(error) || !['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV'].includes(error.code ?? '')) throw error;
  }
  if ((await lstatOrUndefined(local)) !== undefined) throw new Error(`${local} appeared meanwhile; not overwritten (use --force)`);
  await rename(temp, local);
}
