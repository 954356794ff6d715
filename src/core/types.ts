/** Value types that move through the pipeline: watch → settle → map → queue → upload → record. */

export type FileKind = 'file' | 'directory' | 'symlink' | 'other';

export interface FileStat {
  kind: FileKind;
  sizeBytes: number;
  mtimeMs: number;
  ino: number;
  /** Permission bits (mode & 0o7777). */
  mode: number;
}

/** What the daemon remembers of a file's version: equal fingerprints mean "same content" without a read. */
export interface Fingerprint {
  sizeBytes: number;
  mtimeMs: number;
  ino: number;
}

export function fingerprintOf(stat: FileStat): Fingerprint {
  return { sizeBytes: stat.sizeBytes, mtimeMs: stat.mtimeMs, ino: stat.ino };
}

export function sameFingerprint(a: Fingerprint, b: Fingerprint): boolean {
  return a.sizeBytes === b.sizeBytes && a.mtimeMs === b.mtimeMs && a.ino === b.ino;
}

/** One file of a settled artifact, with the fingerprint it had when it settled. */
export interface SettledFile extends Fingerprint {
  /** Path relative to the outbox, '/'-separated. */
  localPath: string;
  bucketPath: string;
}

/** An artifact whose files have all stopped changing: a single file or a unit directory. */
export interface SettledUnit {
  unitPath: string;
  unitKind: 'file' | 'directory';
  unitBucketPath: string;
  files: SettledFile[];
  settledAtMs: number;
}

/** The durable states of a file, as recorded in the state store. */
export type ArtifactState = 'pending' | 'uploading' | 'uploaded' | 'failed' | 'rejected' | 'conflict';

export const ARTIFACT_STATES: readonly ArtifactState[] = [
  'pending',
  'uploading',
  'uploaded',
  'failed',
  'rejected',
  'conflict',
];
