/**
 * A foreign write around an upload. The bucket API has no conditional write, so a path that was
 * free at the conflict check can be written by someone else before our write lands (checked
 * again right before it) or right after it (compared right after it: the path must hold what we
 * wrote). Both are reported as HFO_CONFLICT naming the path and what is there now; the upload
 * stage then records the file as a conflict and does not take the path as ours.
 */
import { OutboxError } from '../core/errors.js';
import type { RemoteEntry } from '../core/ports.js';

/** What we wrote at a path: its size, and its Xet hash when the writer knows it. */
export interface WrittenFile {
  path: string;
  sizeBytes: number;
  xetHash?: string;
}

/** `12 bytes, xet 0123456789ab…, written 2026-…` */
export function describeEntry(entry: Pick<RemoteEntry, 'sizeBytes' | 'xetHash' | 'uploadedAt'>): string {
  return (
    `${entry.sizeBytes} bytes` +
    `${entry.xetHash ? `, xet ${entry.xetHash}` : ''}` +
    `${entry.uploadedAt ? `, written ${entry.uploadedAt}` : ''}`
  );
}

/** Someone wrote the path between the conflict check and our write: theirs is left untouched. */
export function appearedMeanwhile(path: string, bucket: string, entry: Pick<RemoteEntry, 'sizeBytes' | 'xetHash' | 'uploadedAt'>): OutboxError {
  return new OutboxError(
    'HFO_CONFLICT',
    `${path} appeared in ${bucket} while this upload was under way (${describeEntry(entry)}); ` +
      'it was not written by this agent and is left untouched (rename the local file)',
  );
}

/** Right after our write, the path holds other content: a foreign writer overwrote ours (or raced it). */
export function overwrittenRightAfter(written: WrittenFile, bucket: string, entry: Pick<RemoteEntry, 'sizeBytes' | 'xetHash' | 'uploadedAt'>): OutboxError {
  return new OutboxError(
    'HFO_CONFLICT',
    `${written.path} in ${bucket} holds someone else's file right after this upload wrote it (${describeEntry(entry)}; ` +
      `this agent wrote ${written.sizeBytes} bytes${written.xetHash ? `, xet ${written.xetHash}` : ''}): another writer wrote the ` +
      'same path at the same time; theirs is left as it is and the path is not taken as this agent\'s ' +
      '(check who else publishes under this name, then rename the local file or run `hf-outbox sync --adopt` if it is yours)',
  );
}

/** Right after our write, the path is gone (deleted by someone else, or the bucket lost it): sent again later. */
export function goneRightAfter(written: WrittenFile, bucket: string): OutboxError {
  return new OutboxError(
    'HFO_UPLOAD_FAILED',
    `${written.path} was not in ${bucket} right after this upload wrote it (deleted by someone else, or lost); it is sent again`,
  );
}

/**
 * Compares what the bucket holds right after a write with what was written: by Xet hash when both
 * sides have one, else by size. Returns the paths that do not hold our file, with the error to report.
 */
export function compareWritten(written: readonly WrittenFile[], found: ReadonlyMap<string, RemoteEntry>, bucket: string): Map<string, OutboxError> {
  const problems = new Map<string, OutboxError>();
  for (const w of written) {
    const entry = found.get(w.path);
    if (entry === undefined) problems.set(w.path, goneRightAfter(w, bucket));
    else if (entry.sizeBytes !== w.sizeBytes || (w.xetHash !== undefined && entry.xetHash !== undefined && entry.xetHash !== w.xetHash)) {
      problems.set(w.path, overwrittenRightAfter(w, bucket, entry));
    }
  }
  return problems;
}
