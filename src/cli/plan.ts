/** `hf-outbox plan`: a dry run. Prints what a sync would do with every outbox path; writes nothing. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { openBucket } from '../adapters/bucket.js';
import { NodeOutboxFs } from '../adapters/node-fs.js';
import { systemClock } from '../adapters/system-clock.js';
import type { BucketClient, OutboxFile } from '../core/ports.js';
import { OutboxError } from '../core/errors.js';
import { forTerminal } from '../core/terminal-text.js';
import type { FileStat } from '../core/types.js';
import { checkResults, isResultsPath } from '../conventions/results.js';
import { MAX_RESULTS_BYTES } from '../pipeline/upload.js';
import { compileRules, ignoredReason, mapPath } from '../pipeline/naming.js';
import { outsideCategories } from '../pipeline/new-category.js';
import { walk } from '../pipeline/scan.js';
import { listBucket, verifyProblem } from '../pipeline/verify.js';
import { STATE_FILE, StateStore } from '../state/store.js';
import type { CommandContext } from './context.js';
import { stateIdentity } from './context.js';

export type PlanAction = 'upload' | 'replace' | 'up-to-date' | 'ignored' | 'rejected' | 'conflict' | 'note' | 'skipped';

export interface PlanLine {
  action: PlanAction;
  local: string;
  remote?: string;
  sizeBytes?: number;
  /** The artifact the file belongs to when that is a folder (`checkpoints/run1/checkpoint-100/`). */
  artifact?: string;
  reason: string;
  /** For `replace`: the version of the bucket path this agent published earlier, which the upload overwrites. */
  replaces?: { publishedAt: string; sizeBytes: number };
}

export async function runPlan(ctx: CommandContext, options: { json: boolean; verify?: boolean; out?: NodeJS.WritableStream }): Promise<number> {
  const { config, logger } = ctx;
  const out = options.out ?? process.stdout;
  const fs = new NodeOutboxFs();
  const rules = compileRules({ agentId: config.agentId, unitCategories: config.unitCategories, ignore: config.ignore });
  const stateFile = path.join(config.stateDir, STATE_FILE);
  const state = existsSync(stateFile) ? StateStore.open(config.stateDir, stateIdentity(config), { readonly: true }) : undefined;
  try {
    const lines: PlanLine[] = [];
    const uploads: PlanLine[] = [];
    const bucket = lazyBucket(ctx, fs);
    // What sync would stop on at start (a missing bucket, a token without access): said, and exit 78 as sync would.
    const blocked = await startProblem(ctx, bucket);
    // --verify: one listing of the bucket; a version recorded as delivered that it lacks is an upload again.
    const listing = options.verify && blocked === undefined ? await listBucket(await bucket()) : undefined;
    if ((await fs.stat(config.outbox))?.kind !== 'directory') {
      logger.warn({ outbox: config.outbox }, 'the outbox does not exist yet; nothing to plan');
    }
    const all = walk(fs, config.outbox, (rel) => {
      const why = ignoredReason(rel, rules);
      if (why !== undefined) lines.push({ action: 'ignored', local: `${rel}/`, reason: why });
      return why !== undefined;
    });
    for await (const entry of all) {
      const local = entry.relPath;
      const m = mapPath(local, rules);
      if (m.kind === 'ignored') lines.push({ action: 'ignored', local, reason: m.reason });
      else if (m.kind === 'rejected') lines.push({ action: 'rejected', local, reason: m.reason });
      else if (m.kind === 'note') lines.push({ action: 'note', local, reason: `announcement of ${m.announces}` });
      else {
        const s = await fs.stat(path.join(config.outbox, ...local.split('/')));
        if (s?.kind !== 'file') {
          lines.push({ action: 'skipped', local, remote: m.bucketPath, reason: `not a regular file (${s?.kind ?? 'gone'})` });
          continue;
        }
        const tracked = { localPath: local, unitPath: m.unitPath, bucketPath: m.bucketPath, sizeBytes: s.sizeBytes, mtimeMs: s.mtimeMs, ino: s.ino };
        const artifact = m.unitKind === 'directory' ? { artifact: `${m.unitPath}/` } : {};
        const record = state?.get(local);
        const invalid = isResultsPath(local) ? await resultsProblem(fs, { root: config.outbox, relPath: local }, s, config.agentId) : undefined;
        const gone = listing && record && state?.isDelivered(tracked) ? verifyProblem({ sizeBytes: s.sizeBytes, contentHash: record.contentHash }, listing.get(m.bucketPath)) : undefined;
        if (gone !== undefined) {
          lines.push({
            action: 'upload',
            local,
            remote: m.bucketPath,
            sizeBytes: s.sizeBytes,
            ...artifact,
            reason: gone === 'missing' ? 'recorded as delivered, but the bucket does not hold it (sync --verify sends it again)' : 'recorded as delivered, but the bucket holds a different file (sync --verify sends it again)',
          });
        } else if (state?.isDelivered(tracked)) {
          lines.push({ action: 'up-to-date', local, remote: m.bucketPath, sizeBytes: s.sizeBytes, ...artifact, reason: 'this version is in the bucket' });
        } else if (invalid !== undefined) {
          lines.push({ action: 'rejected', local, remote: m.bucketPath, sizeBytes: s.sizeBytes, ...artifact, reason: invalid });
        } else {
          const outside = record === undefined ? outsideCategories(local, [...config.categories, ...config.unitCategories]) : undefined;
          const why =
            record === undefined
              ? `new${outside ? `; outside the category folders, published ${outside.lands}` : ''}`
              : record.uploaded
                ? 'changed since the last upload'
                : `not delivered yet (${record.state})`;
          const earlier = state?.lastPublished(m.bucketPath);
          const line: PlanLine = earlier
            ? {
                action: 'replace',
                local,
                remote: m.bucketPath,
                sizeBytes: s.sizeBytes,
                ...artifact,
                reason: `${why}; overwrites the version this agent published at ${new Date(earlier.uploadedAt).toISOString()} (${earlier.sizeBytes} bytes)`,
                replaces: { publishedAt: new Date(earlier.uploadedAt).toISOString(), sizeBytes: earlier.sizeBytes },
              }
            : { action: 'upload', local, remote: m.bucketPath, sizeBytes: s.sizeBytes, ...artifact, reason: why };
          lines.push(line);
          if (!state?.hasWritten(m.bucketPath)) uploads.push(line);
        }
      }
    }
    // A bucket that is missing (or not ours to read) holds nobody's files: no conflict to look for.
    if (blocked === undefined) await markConflicts(ctx, bucket, uploads);
    for (const line of lines) out.write(options.json ? `${JSON.stringify(line)}\n` : formatLine(line));
    if (!options.json) {
      const counts = new Map<string, number>();
      for (const l of lines) counts.set(l.action, (counts.get(l.action) ?? 0) + 1);
      out.write(`\n${[...counts].map(([a, n]) => `${n} ${a}`).join(', ') || 'nothing in the outbox'} — bucket ${config.bucket.uri}, agent ${config.agentId}; nothing was written\n`);
      if (blocked?.willCreate) out.write(`The bucket does not exist yet: sync creates it (private), as --create-bucket asks.\n`);
    }
    // Exit as sync would: 78 when it could not start, 1 when something would be rejected or left as a conflict.
    if (blocked !== undefined && !blocked.willCreate) {
      throw new OutboxError(blocked.error.code, `sync would stop before uploading anything (exit 78): ${blocked.error.message}`, { cause: blocked.error });
    }
    return lines.some((l) => l.action === 'rejected' || l.action === 'conflict') ? 1 : 0;
  } finally {
    state?.close();
  }
}

/** Why sync would reject this results JSON, or undefined when it is valid. */
async function resultsProblem(fs: NodeOutboxFs, file: OutboxFile, s: FileStat, agentId: string): Promise<string | undefined> {
  if (s.sizeBytes > MAX_RESULTS_BYTES) return `larger than ${MAX_RESULTS_BYTES} bytes; a results JSON is a small summary`;
  try {
    const chunks: Buffer[] = [];
    for await (const c of fs.openVerified(file, s)) chunks.push(c as Buffer);
    const checked = checkResults(Buffer.concat(chunks), { agentId, now: new Date() });
    return checked.ok ? undefined : checked.reason;
  } catch (error) {
    return `cannot read it: ${(error as Error).message}`;
  }
}

/** The bucket client, opened at most once and only when needed (a local-only plan never opens it). */
function lazyBucket(ctx: CommandContext, fs: NodeOutboxFs): () => Promise<BucketClient> {
  let opened: Promise<BucketClient> | undefined;
  return () => (opened ??= openBucket(ctx.config, { fs, clock: systemClock, logger: ctx.logger }));
}

interface StartProblem {
  error: OutboxError;
  /** It does not exist, and --create-bucket is set: sync would create it and go on. */
  willCreate: boolean;
}

/**
 * The check sync makes at start, without its side effects: an hf:// bucket must exist (or be
 * created with --create-bucket) and take this token's writes. A local-folder bucket is created by
 * sync, so nothing is checked for it (the check would write a probe file). Network trouble is no
 * verdict: sync would retry, and the plan goes on without the conflict check.
 */
async function startProblem(ctx: CommandContext, bucket: () => Promise<BucketClient>): Promise<StartProblem | undefined> {
  if (ctx.config.bucket.kind !== 'hf') return undefined;
  try {
    await (await bucket()).check({ create: false });
    return undefined;
  } catch (error) {
    if (!(error instanceof OutboxError) || error.retry !== 'fatal') {
      ctx.logger.warn({ err: (error as Error).message }, 'could not check the bucket; sync would retry at start');
      return undefined;
    }
    return { error, willCreate: error.code === 'HFO_BUCKET_NOT_FOUND' && ctx.config.createBucket };
  }
}

/** A path this agent never wrote that already exists in the bucket would be a conflict, not an upload. */
async function markConflicts(ctx: CommandContext, bucket: () => Promise<BucketClient>, uploads: PlanLine[]): Promise<void> {
  if (uploads.length === 0) return;
  try {
    const taken = await (await bucket()).stat(uploads.map((l) => l.remote as string));
    for (const line of uploads) {
      if (taken.has(line.remote as string)) {
        line.action = 'conflict';
        line.reason = 'exists in the bucket and was not written by this agent; it would be left untouched';
      }
    }
  } catch (error) {
    ctx.logger.warn({ err: (error as Error).message }, 'could not read the bucket; conflicts are not shown');
  }
}

function formatLine(l: PlanLine): string {
  const target = l.remote === undefined ? '' : ` → ${l.remote}`;
  const size = l.sizeBytes === undefined ? '' : ` (${l.sizeBytes} bytes)`;
  const artifact = l.artifact === undefined ? '' : `; artifact ${l.artifact}`;
  return `${forTerminal(`${l.action.padEnd(10)} ${l.local}${target}${size}  [${l.reason}${artifact}]`)}\n`;
}
