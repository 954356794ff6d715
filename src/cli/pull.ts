/**
 * `hf-outbox pull BUCKET_PATH [DEST]`: downloads a file, or every file of a folder (a directory
 * artifact), from the bucket into DEST (`./inbox` by default), keeping the folder's structure:
 *   artifacts/scripts/train_lora_agent-02.py          → inbox/train_lora_agent-02.py
 *   artifacts/checkpoints/lora_r16_ep3_agent-02/a/b   → inbox/lora_r16_ep3_agent-02/a/b
 * It never overwrites a local file without --force (it lists them and writes nothing), writes
 * each file atomically (temp file, then link or rename), and refuses remote names that could
 * escape DEST (`..`, absolute, backslash, control characters).
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstat, link, mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { openBucket } from '../adapters/bucket.js';
import { NodeOutboxFs } from '../adapters/node-fs.js';
import { lineWriter } from '../core/terminal-text.js';
import { systemClock } from '../adapters/system-clock.js';
import { formatBytes } from '../conventions/message.js';
import { isErrnoException } from '../core/errors.js';
import type { BucketClient } from '../core/ports.js';
import type { CommandContext } from './context.js';

export interface PullOptions {
  /** A bucket path (`artifacts/…`) or a full URI of the configured bucket (`hf://buckets/o/n/artifacts/…`). */
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
  const out = options.out ?? process.stdout;
  const err = options.err ?? process.stderr;
  const fail = (message: string) => {
    lineWriter(err)(`hf-outbox pull: ${message}\n`);
    return 1;
  };

  const remote = normaliseBucketPath(options.bucketPath, ctx.config.bucket.uri);
  if (!remote.ok) return fail(remote.error);
  const problem = remotePathProblem(remote.path);
  if (problem !== undefined) return fail(`refusing "${options.bucketPath}": ${problem}`);

  const bucket = options.bucket ?? (await openBucket(ctx.config, { fs: new NodeOutboxFs(), clock: systemClock, logger: ctx.logger }));
  const dest = path.resolve(options.cwd ?? process.cwd(), options.dest ?? DEFAULT_PULL_DEST);
  const name = remote.path.slice(remote.path.lastIndexOf('/') + 1);

  // A file at that path, else every file under it as a folder.
  const plan: Array<{ remote: string; local: string; sizeBytes: number | undefined }> = [];
  const asFile = (await bucket.stat([remote.path])).get(remote.path);
  if (asFile !== undefined) {
    plan.push({ remote: remote.path, local: path.join(dest, name), sizeBytes: asFile.sizeBytes });
  } else {
    const refused: string[] = [];
    for await (const e of bucket.list(remote.path)) {
      const rel = e.path.startsWith(`${remote.path}/`) ? e.path.slice(remote.path.length + 1) : undefined;
      const why = rel === undefined ? 'it is not inside the folder asked for' : remotePathProblem(rel);
      if (rel === undefined || why !== undefined) {
        refused.push(`  ${JSON.stringify(e.path)}: ${why}`);
        continue;
      }
      plan.push({ remote: e.path, local: path.join(dest, name, ...rel.split('/')), sizeBytes: e.sizeBytes });
    }
    if (refused.length > 0) {
      return fail(`refusing to pull ${remote.path}/: these remote names could write outside ${dest}:\n${refused.join('\n')}`);
    }
    if (plan.length === 0) return fail(`nothing at ${remote.path} in ${bucket.description} (no such file or folder)`);
  }

  // Check everything before writing anything: a half-pulled checkpoint is worse than none.
  const blocked: string[] = [];
  const existing: string[] = [];
  for (const item of plan) {
    const rel = path.relative(dest, item.local);
    if (rel.startsWith('..') || path.isAbsolute(rel)) {
      blocked.push(`  ${item.local}: outside ${dest}`);
      continue;
    }
    const parentProblem = await ancestorProblem(dest, path.dirname(item.local));
    if (parentProblem !== undefined) {
      blocked.push(`  ${item.local}: ${parentProblem}`);
      continue;
    }
    const s = await lstatOrUndefined(item.local);
    if (s === undefined) continue;
    if (s.isDirectory()) blocked.push(`  ${item.local}: a folder is there`);
    else existing.push(`  ${item.local}`);
  }
  if (blocked.length > 0) return fail(`cannot write these files; nothing was pulled:\n${blocked.join('\n')}`);
  if (existing.length > 0 && !options.force) {
    return fail(
      `${existing.length} local file${existing.length === 1 ? '' : 's'} would be overwritten; nothing was pulled ` +
        `(pass --force to overwrite them):\n${existing.join('\n')}`,
    );
  }

  const pulled: PulledFile[] = [];
  let failures = 0;
  for (const item of plan) {
    try {
      const done = await downloadTo(bucket, item.remote, item.local, item.sizeBytes, options.force, options.signal);
      pulled.push(done);
      lineWriter(out)(`pulled ${item.remote} → ${path.relative(options.cwd ?? process.cwd(), done.local) || done.local} (${formatBytes(done.sizeBytes)})\n`);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      failures++;
      lineWriter(err)(`hf-outbox pull: ${item.remote}: ${(error as Error).message}\n`);
    }
  }
  const total = pulled.reduce((n, p) => n + p.sizeBytes, 0);
  lineWriter(out)(`${pulled.length} file${pulled.length === 1 ? '' : 's'}, ${formatBytes(total)} into ${dest}${failures > 0 ? `; ${failures} failed` : ''}\n`);
  ctx.logger.debug({ pulled: pulled.length, failures, dest }, 'pull finished');
  return failures > 0 ? 1 : 0;
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

/** Downloads into a temp file beside the target, checks the size, then links (no overwrite) or renames (--force) it in. */
async function downloadTo(
  bucket: BucketClient,
  remote: string,
  local: string,
  expectedSize: number | undefined,
  force: boolean,
  signal: AbortSignal | undefined,
): Promise<PulledFile> {
  const dir = path.dirname(local);
  await mkdir(dir, { recursive: true });
  const temp = path.join(dir, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
  const handle = await open(temp, 'wx', 0o644);
  const hash = createHash('sha256');
  let size = 0;
  try {
    const stream = await bucket.download(remote, signal ? { signal } : {});
    for await (const chunk of stream) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
      await handle.write(bytes);
      hash.update(bytes);
      size += bytes.length;
    }
    if (expectedSize !== undefined && size !== expectedSize) {
      throw new Error(`got ${size} bytes but the bucket lists ${expectedSize}; the file may have changed, pull it again`);
    }
    await handle.sync();
    await handle.close();
    if (force) {
      await rename(temp, local);
    } else {
      await linkNoClobber(temp, local);
      await rm(temp, { force: true });
    }
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  }
  return { remote, local, sizeBytes: size, sha256: hash.digest('hex') };
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
