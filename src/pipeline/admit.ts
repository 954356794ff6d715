/**
 * Between settle and queue: which files of a settled artifact go to the queue. A file whose
 * delivered version is unchanged is up to date; a second local file that maps to a bucket path
 * another local file already holds is rejected, naming both (the first one keeps the name);
 * every other file is recorded as pending and queued — a unit folder's as one group, in upload
 * order (the file that marks it complete last: ./completeness.ts). A settled note is not an
 * artifact: it goes to the announcer.
 */
import type { Clock } from '../core/ports.js';
import type { Fingerprint, SettledUnit } from '../core/types.js';
import type { Logger } from '../log.js';
import type { StateStore, TrackedFile } from '../state/store.js';
import { uploadOrder } from './completeness.js';
import type { UploadJob } from './upload.js';

export interface AdmitDeps {
  state: Pick<StateStore, 'isDelivered' | 'otherHolder' | 'markPending'>;
  logger: Logger;
  /** The files to send, in upload order (called once, also with none). */
  queue(files: TrackedFile[]): void;
  rejected(file: TrackedFile, reason: string): void;
}

export function admitSettled(unit: SettledUnit, deps: AdmitDeps): void {
  const { state } = deps;
  const admitted: TrackedFile[] = [];
  for (const file of unit.unitKind === 'directory' ? uploadOrder(unit.files) : unit.files) {
    const tracked: TrackedFile = { ...file, unitPath: unit.unitPath };
    if (state.isDelivered(tracked)) {
      deps.logger.debug({ local: file.localPath, remote: file.bucketPath }, 'up to date');
      continue;
    }
    const holder = state.otherHolder(file.bucketPath, file.localPath);
    if (holder !== undefined) {
      deps.rejected(tracked, `${file.localPath} and ${holder} both map to ${file.bucketPath}; rename one of them (the first one keeps the name)`);
      continue;
    }
    state.markPending(tracked);
    admitted.push(tracked);
  }
  deps.queue(admitted);
}

export interface RouteDeps extends Omit<AdmitDeps, 'queue'> {
  clock: Pick<Clock, 'now'>;
  /** A note settled (the announcer reads it). */
  note(notePath: string, fingerprint: Fingerprint): void;
  /** An artifact settled (before its files are admitted). */
  artifact(unit: SettledUnit): void;
  /** Upload jobs for the admitted files: a unit folder's carry its bucket path, so they go up in one call. */
  queue(jobs: UploadJob[]): void;
}

/** Where a settled unit goes: a note (bucket path '') to the announcer, an artifact's admitted files to the queue. */
export function routeSettled(unit: SettledUnit, deps: RouteDeps): void {
  const note = unit.files[0];
  if (unit.unitBucketPath === '' && note !== undefined) return deps.note(unit.unitPath, note);
  deps.artifact(unit);
  const group = unit.unitKind === 'directory' ? { unitBucketPath: unit.unitBucketPath } : {};
  admitSettled(unit, { ...deps, queue: (files) => deps.queue(files.map((file) => ({ file, enqueuedAt: deps.clock.now(), ...group }))) });
}
