/**
 * Full walk of the outbox: the start-up scan, the periodic reconciliation, and the reader of a
 * unit directory. Symlinks are never followed; FIFOs, sockets and devices are reported, never opened.
 */
import path from 'node:path';
import PQueue from 'p-queue';
import { judgeUnitOnDisk } from './completeness.js';
import type { OutboxFs } from '../core/ports.js';
import type { FileKind, SettledFile } from '../core/types.js';
import type { Logger } from '../log.js';
import type { StateStore } from '../state/store.js';
import type { Backlog } from './backlog.js';
import { ignoredReason, isNote, isOtherUnitFolder, mapPath, type CompiledRules } from './naming.js';
import type { Problems } from './problems.js';
import type { UnitSnapshot } from './settle.js';

/** Settle checks (reads of a unit) in flight at once. */
const SNAPSHOT_CONCURRENCY = 64;

export interface ScanEntry {
  /** Relative to the walk's root, '/'-separated. */
  relPath: string;
  kind: FileKind;
}

/**
 * Yields every entry that is not a directory under `root`, depth first, names sorted.
 * `skipDir(rel)` prunes folders that can hold no artifact (dot folders, ignored globs).
 */
export async function* walk(
  fs: OutboxFs,
  root: string,
  skipDir: (relDir: string) => boolean = () => false,
  relBase = '',
): AsyncGenerator<ScanEntry> {
  const entries = await fs.list(relBase === '' ? root : path.join(root, ...relBase.split('/')));
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const rel = relBase === '' ? entry.name : `${relBase}/${entry.name}`;
    if (entry.kind === 'directory') {
      if (!skipDir(rel)) yield* walk(fs, root, skipDir, rel);
    } else {
      yield { relPath: rel, kind: entry.kind };
    }
  }
}

/** Stats in flight at once during a scan. */
const SCAN_STAT_BATCH = 64;

export interface ScanDeps {
  fs: OutboxFs;
  state: Pick<StateStore, 'deliveredVersion' | 'presentLocalPathsNotIn' | 'markLocalGone'>;
  logger: Logger;
  outbox: string;
  rules: CompiledRules;
}

export interface ScanFindings {
  /** A unit (artifact or note) that may need sending: it goes to the settle stage. */
  unit(unitPath: string): void;
  /** A path the naming rules refuse (awaited: the report is out before the scan ends). */
  rejected(relPath: string, reason: string): Promise<void>;
  /** A symlink, FIFO, socket or device where an artifact file would be. */
  skipped(relPath: string, bucketPath: string, kind: FileKind): void;
}

/**
 * A full pass over the outbox. A file whose delivered version is unchanged (size, mtime, inode)
 * costs one stat: it never enters the settle stage and is never read. Every other artifact and
 * note is reported once per unit, after the walk; delivered files no longer present are recorded
 * as gone locally (the bucket keeps them).
 */
export async function scanOutbox(deps: ScanDeps, found: ScanFindings): Promise<{ files: number }> {
  const { fs, state, outbox, rules } = deps;
  const seen = new Set<string>();
  const units = new Set<string>();
  // Stats in parallel batches: a rescan of 100,000 unchanged files is dominated by the stats, so
  // they must not wait for each other. Each file's delivered version is one indexed lookup.
  let candidates: Array<{ relPath: string; unitPath: string; bucketPath: string }> = [];
  const checkCandidates = async () => {
    const batch = candidates;
    candidates = [];
    await Promise.all(
      batch.map(async (c) => {
        const s = await fs.stat(path.join(outbox, ...c.relPath.split('/')));
        const d = s?.kind === 'file' ? state.deliveredVersion(c.relPath) : undefined;
        const same = s?.kind === 'file' && d !== undefined && d.bucketPath === c.bucketPath && d.sizeBytes === s.sizeBytes && d.mtimeMs === s.mtimeMs && d.ino === s.ino;
        if (!same) units.add(c.unitPath);
      }),
    );
  };
  for await (const entry of walk(fs, outbox, (rel) => ignoredReason(rel, rules) !== undefined)) {
    seen.add(entry.relPath);
    const mapping = mapPath(entry.relPath, rules);
    if (mapping.kind === 'file') {
      if (entry.kind !== 'file') {
        found.skipped(entry.relPath, mapping.bucketPath, entry.kind);
        continue;
      }
      if (units.has(mapping.unitPath)) continue;
      candidates.push({ relPath: entry.relPath, unitPath: mapping.unitPath, bucketPath: mapping.bucketPath });
      if (candidates.length >= SCAN_STAT_BATCH) await checkCandidates();
    } else if (mapping.kind === 'rejected') {
      await found.rejected(entry.relPath, mapping.reason);
    } else if (mapping.kind === 'ignored') {
      deps.logger.debug({ local: entry.relPath, reason: mapping.reason }, 'ignored');
    } else if (mapping.kind === 'note' && entry.kind === 'file') {
      // A note settles like an artifact, then goes to the announce stage.
      units.add(entry.relPath);
    }
  }
  await checkCandidates();
  for (const unit of units) found.unit(unit);
  for (const { localPath, bucketPath } of state.presentLocalPathsNotIn((p) => seen.has(p))) {
    state.markLocalGone(localPath);
    deps.logger.info({ local: localPath, remote: bucketPath }, 'local copy removed; the bucket keeps its copy');
  }
  return { files: seen.size };
}

/**
 * A scan for the daemon: every unit found waits in the backlog, released to the settle stage once
 * the walk is done; refused paths and non-regular entries go to the problems reporter.
 */
export async function scanIntoBacklog(deps: ScanDeps, backlog: Pick<Backlog, 'add' | 'feed'>, problems: Pick<Problems, 'path' | 'skipped'>): Promise<{ files: number }> {
  const result = await scanOutbox(deps, {
    unit: (unitPath) => backlog.add(unitPath),
    rejected: (relPath, reason) => problems.path(relPath, reason),
    skipped: (relPath, bucketPath, kind) => problems.skipped(relPath, bucketPath, kind),
  });
  backlog.feed();
  return result;
}

/**
 * What a unit holds on disk now, for the settle stage: a note alone (bucket path ''), one file, or
 * every artifact file of a unit folder. Undefined when it is gone or holds no artifact file.
 */
export async function readUnit(fs: OutboxFs, outbox: string, rules: CompiledRules, unitPath: string): Promise<UnitSnapshot | undefined> {
  const abs = path.join(outbox, ...unitPath.split('/'));
  const stat = await fs.stat(abs);
  if (stat === undefined) return undefined;
  if (isNote(unitPath, rules)) {
    if (stat.kind !== 'file') return undefined;
    return { unitKind: 'file', unitBucketPath: '', files: [{ localPath: unitPath, bucketPath: '', sizeBytes: stat.sizeBytes, mtimeMs: stat.mtimeMs, ino: stat.ino }] };
  }
  const files: SettledFile[] = [];
  let unitKind: UnitSnapshot['unitKind'] = 'file';
  let unitBucketPath: string | undefined;
  const add = async (relPath: string) => {
    const mapping = mapPath(relPath, rules);
    if (mapping.kind !== 'file' || mapping.unitPath !== unitPath) return;
    const s = await fs.stat(path.join(outbox, ...relPath.split('/')));
    if (s?.kind !== 'file') return;
    unitKind = mapping.unitKind;
    unitBucketPath = mapping.unitBucketPath;
    files.push({ localPath: relPath, bucketPath: mapping.bucketPath, sizeBytes: s.sizeBytes, mtimeMs: s.mtimeMs, ino: s.ino });
  };
  if (stat.kind === 'file') {
    await add(unitPath);
  } else if (stat.kind === 'directory') {
    // A run folder's step sub-folders are artifacts of their own: not part of the run folder's.
    const skip = (rel: string) => ignoredReason(`${unitPath}/${rel}`, rules) !== undefined || isOtherUnitFolder(`${unitPath}/${rel}`, unitPath, rules);
    for await (const entry of walk(fs, abs, skip)) {
      if (entry.kind === 'file') await add(`${unitPath}/${entry.relPath}`);
    }
  }
  if (files.length === 0 || unitBucketPath === undefined) return undefined;
  const kind = unitKind as UnitSnapshot['unitKind'];
  // A unit folder is judged by its layout too: the settle stage holds back one that is incomplete.
  if (kind === 'directory') return { unitKind: kind, unitBucketPath, files, completeness: await judgeUnitOnDisk(fs, outbox, unitPath, files) };
  return { unitKind: kind, unitBucketPath, files };
}

/**
 * readUnit for the settle stage: at most SNAPSHOT_CONCURRENCY reads in flight, in the order asked;
 * the outbox and rules are read at each call (a reload may change the rules).
 */
export function unitReader(fs: OutboxFs, outbox: () => string, rules: () => CompiledRules): (unitPath: string) => Promise<UnitSnapshot | undefined> {
  const reads = new PQueue({ concurrency: SNAPSHOT_CONCURRENCY });
  return (unitPath) => reads.add(() => readUnit(fs, outbox(), rules(), unitPath));
}
