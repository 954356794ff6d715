/**
 * Rejection reporting, for the map and upload stages: a file that failed, was rejected or
 * conflicts is recorded with its reason (for `status`), logged, held back from its announcement,
 * and reported to the daemon's listeners. A path the naming rules refuse is reported once per
 * version (a rescan does not log it again); a symlink or special file once per path.
 */
import path from 'node:path';
import type { OutboxFs } from '../core/ports.js';
import type { FileKind } from '../core/types.js';
import type { Logger } from '../log.js';
import type { StateStore, TrackedFile } from '../state/store.js';

export interface ProblemEvent {
  localPath: string;
  bucketPath: string | undefined;
  state: 'failed' | 'rejected' | 'conflict';
  reason: string;
}

export interface ProblemDeps {
  fs: OutboxFs;
  state: Pick<StateStore, 'markProblem'>;
  logger: Logger;
  outbox(): string;
  /** The artifact holding this unit has a problem: its note is held back. */
  unitProblem(unitPath: string): void;
  report(event: ProblemEvent): void;
}

export interface Problems {
  /** A file of an artifact failed, was rejected or conflicts. */
  file(file: TrackedFile, kind: ProblemEvent['state'], reason: string): void;
  /** The naming rules refuse this outbox path (reported once per size and mtime; nothing when it is gone). */
  path(relPath: string, reason: string): Promise<void>;
  /** A symlink, FIFO, socket or device where an artifact would be: never followed or opened. */
  skipped(relPath: string, bucketPath: string, kind: FileKind): void;
}

export function createProblems(deps: ProblemDeps): Problems {
  const { logger: log } = deps;
  /** What was reported already, so a rescan does not log it again. */
  const reported = new Set<string>();
  return {
    file(file, kind, reason) {
      deps.state.markProblem(file, kind, reason);
      if (file.unitPath !== '') deps.unitProblem(file.unitPath);
      log.error({ local: file.localPath, remote: file.bucketPath, state: kind }, reason);
      deps.report({ localPath: file.localPath, bucketPath: file.bucketPath, state: kind, reason });
    },
    async path(relPath, reason) {
      const s = await deps.fs.stat(path.join(deps.outbox(), ...relPath.split('/')));
      if (s === undefined) return;
      const key = `${relPath}\0${s.sizeBytes}\0${s.mtimeMs}`;
      if (reported.has(key)) return;
      reported.add(key);
      const file: TrackedFile = { localPath: relPath, unitPath: relPath, bucketPath: '', sizeBytes: s.sizeBytes, mtimeMs: s.mtimeMs, ino: s.ino };
      deps.state.markProblem(file, 'rejected', reason);
      log.error({ local: relPath, state: 'rejected' }, reason);
      deps.report({ localPath: relPath, bucketPath: undefined, state: 'rejected', reason });
    },
    skipped(relPath, bucketPath, kind) {
      const key = `${relPath}\0${kind}`;
      if (reported.has(key)) return;
      reported.add(key);
      const why = kind === 'symlink' ? 'a symlink (links are never followed)' : `not a regular file (${kind})`;
      log.warn({ local: relPath, remote: bucketPath }, `skipped: ${why}`);
    },
  };
}
