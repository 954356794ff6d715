/**
 * Stopping within a grace period: the work in flight (upload calls, announcements) may finish
 * within `graceMs`; past it, every upload call still running is aborted and its files marked to
 * be redone — after a check of the bucket, since their bytes may have landed — at the next start.
 * Nothing is lost: a file cut off stays pending in the state store.
 */
import { OutboxError } from '../core/errors.js';
import type { Clock } from '../core/ports.js';
import type { StateStore } from '../state/store.js';
import type { UploadJob } from './upload.js';

export interface ShutdownDeps {
  clock: Clock;
  state: Pick<StateStore, 'markRetry'>;
  /** The upload jobs inside a call right now. */
  inFlight(): Iterable<UploadJob>;
}

export interface Shutdown {
  /** Aborted once the grace period is over: hand it to every upload call. */
  readonly signal: AbortSignal;
  /**
   * Waits for `finished` at most `graceMs` (undefined: as long as it takes), then cuts off the
   * uploads in flight and waits for them to wind down. Resolves with how many were cut off.
   */
  finish(finished: Promise<unknown>, graceMs: number | undefined): Promise<{ interrupted: number }>;
}

export function createShutdown(deps: ShutdownDeps): Shutdown {
  const abort = new AbortController();
  return {
    signal: abort.signal,
    async finish(finished, graceMs) {
      let cancelDeadline: (() => void) | undefined;
      // No grace given: no timer at all (one of MAX_SAFE_INTEGER ms would overflow and fire at once).
      const deadline = new Promise<'deadline'>((resolve) => {
        if (graceMs !== undefined) cancelDeadline = deps.clock.setTimer(() => resolve('deadline'), graceMs);
      });
      const outcome = await Promise.race([finished.then(() => 'done' as const), deadline]);
      cancelDeadline?.();
      if (outcome === 'done') return { interrupted: 0 };
      const cut = [...deps.inFlight()];
      for (const job of cut) deps.state.markRetry(job.file.localPath, 'interrupted by shutdown; redone at the next start');
      abort.abort(new OutboxError('HFO_NETWORK', 'hf-outbox is stopping'));
      await finished;
      return { interrupted: cut.length };
    },
  };
}
