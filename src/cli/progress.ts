/**
 * Progress of a one-pass sync: a bar on a terminal (cli-progress, on stderr so stdout stays the
 * log), nothing extra otherwise — the per-file `uploaded` log lines are the plain-text progress.
 */
import cliProgress from 'cli-progress';
import type { Outbox } from '../daemon.js';
import { formatBytes } from '../core/format.js';

export interface SyncProgress {
  /** True when a bar is drawn (the caller then keeps per-file log lines quiet). */
  readonly shown: boolean;
  stop(): void;
}

export function showSyncProgress(outbox: Outbox, stream: NodeJS.WriteStream = process.stderr): SyncProgress {
  if (!stream.isTTY) return { shown: false, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: ' {bar} {percentage}% · {filesDone}/{filesQueued} files · {done} of {size}',
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let totalBytes = 0;
  let doneBytes = 0;
  let files = 0;
  let total = 0;
  let started = false;
  const payload = () => ({ filesDone: files, filesQueued: total, done: formatBytes(doneBytes), size: formatBytes(totalBytes) });
  outbox.on('queued', (q) => {
    total++;
    totalBytes += q.sizeBytes;
    if (!started) {
      bar.start(Math.max(1, totalBytes), doneBytes, payload());
      started = true;
    }
    bar.setTotal(Math.max(1, totalBytes));
    bar.update(doneBytes, payload());
  });
  outbox.on('uploaded', (u) => {
    files++;
    doneBytes += u.sizeBytes;
    bar.update(doneBytes, payload());
  });
  return {
    shown: true,
    stop: () => {
      if (started) bar.stop();
    },
  };
}
