/**
 * Stage "queue", its retry decisions: what happens to a file whose upload did not succeed.
 * A file rewritten while it was read settles again and is sent once it stops changing; a
 * transient failure that outlived the request retries (network, 5xx, 429: `src/net/hub-fetch.ts`)
 * goes back to the settle stage after 30 s or the Hub's Retry-After; any other error marks the file
 * `failed` with the reason. Failed files are tried again every 15 minutes, and all at once on SIGHUP.
 */
import { toOutboxError, type OutboxError } from '../core/errors.js';
import type { Clock } from '../core/ports.js';
import type { Logger } from '../log.js';
import type { StateStore, TrackedFile } from '../state/store.js';
import type { UploadJob } from './upload.js';

/** A transient failure (network, 5xx) that outlived the request retries waits this long before the next try. */
export const REQUEUE_DELAY_MS = 30_000;
/** Failed files (permanent errors) are tried again this often, and at once on SIGHUP. */
export const FAILED_RETRY_MS = 15 * 60_000;

export interface RetryDeps {
  state: Pick<StateStore, 'markRetry' | 'failedBefore'>;
  clock: Clock;
  logger: Logger;
  /** Sends the unit through the settle stage again (`changed`: it is being rewritten, wait for quiet). */
  resettle(unitPath: string, changed: boolean): void;
  /** A permanent failure: the file is marked failed with this reason. */
  failed(file: TrackedFile, reason: string): void;
  /** True once the daemon aborted the calls in flight (shutdown): their errors are not the files' fault. */
  aborted(): boolean;
}

export interface Retries {
  /** One file's upload did not succeed. */
  fileError(job: UploadJob, error: OutboxError): void;
  /** A whole upload call threw: each of its files is handled as having that error. */
  batchError(error: unknown, batch: UploadJob[]): void;
  /** Sends failed files again (all with 0, as on SIGHUP; else those that failed at least `olderThanMs` ago). */
  retryFailed(olderThanMs?: number): number;
  /** Retries failed files every FAILED_RETRY_MS from now on. */
  startFailedRetries(): void;
  /** Cancels every waiting retry. */
  stop(): void;
}

export function createRetries(deps: RetryDeps): Retries {
  const { state, clock, logger: log } = deps;
  const timers = new Set<() => void>();
  let cancelFailedRetry: (() => void) | undefined;

  const retries: Retries = {
    fileError(job, error) {
      if (error.code === 'HFO_FILE_CHANGED') {
        // Not an error of the artifact: it is being rewritten. Settle again, then send the final bytes.
        state.markRetry(job.file.localPath, error.message);
        log.info({ local: job.file.localPath }, 'changed while uploading; will send it again once it settles');
        deps.resettle(job.file.unitPath, true);
        return;
      }
      if (error.retry === 'retry') {
        state.markRetry(job.file.localPath, error.message);
        const delay = error.retryAfterMs ?? REQUEUE_DELAY_MS;
        log.warn({ local: job.file.localPath, err: error.message, retryInMs: delay }, 'upload failed; will retry');
        const cancel = clock.setTimer(() => {
          timers.delete(cancel);
          deps.resettle(job.file.unitPath, false);
        }, delay);
        timers.add(cancel);
        return;
      }
      deps.failed(job.file, error.message);
    },
    batchError(error, batch) {
      const e = toOutboxError(error, 'HFO_UPLOAD_FAILED');
      if (deps.aborted()) return;
      for (const job of batch) retries.fileError(job, e);
    },
    retryFailed(olderThanMs = 0) {
      const due = state.failedBefore(clock.now() - olderThanMs);
      for (const record of due) deps.resettle(record.unitPath, false);
      if (due.length > 0) log.info({ files: due.length }, 'retrying failed uploads');
      return due.length;
    },
    startFailedRetries() {
      cancelFailedRetry?.();
      cancelFailedRetry = clock.setTimer(() => {
        cancelFailedRetry = undefined;
        retries.retryFailed(FAILED_RETRY_MS);
        retries.startFailedRetries();
      }, FAILED_RETRY_MS);
    },
    stop() {
      cancelFailedRetry?.();
      cancelFailedRetry = undefined;
      for (const cancel of timers) cancel();
      timers.clear();
    },
  };
  return retries;
}
