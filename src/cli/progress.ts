/**
 * Progress of a one-pass sync on a terminal (cli-progress, on stderr so stdout stays the log):
 * a bar that follows bytes, not files — sent, total, rate and ETA — with one line per file
 * printed above it as it lands. Off a terminal nothing extra: the per-file `uploaded` log lines
 * are the plain-text progress. The cursor and line wrap the bar turns off come back on any exit.
 */
import cliProgress from 'cli-progress';
import type { Outbox } from '../daemon.js';
import { formatBytes } from '../core/format.js';

export interface SyncProgress {
  /** True when a bar is drawn (the caller then keeps per-file log lines quiet: the bar prints them). */
  readonly shown: boolean;
  stop(): void;
}

/** Shows the cursor and turns line wrap back on (what the bar turned off). */
const RESTORE_TERMINAL = '\x1b[?25h\x1b[?7h';

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function showSyncProgress(outbox: Outbox, stream: NodeJS.WriteStream = process.stderr): SyncProgress {
  if (!stream.isTTY) return { shown: false, stop: () => undefined };
  const bars = new cliProgress.MultiBar(
    {
      stream,
      format: ' {bar} {percentage}% · {done} of {size} · {speed}/s · ETA {etaText} · {filesDone}/{filesQueued} files',
      hideCursor: true,
      clearOnComplete: false,
      // Redrawn on a timer too, so the rate and ETA move while a large file goes up.
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  let bar: cliProgress.SingleBar | undefined;
  let totalBytes = 0;
  let doneBytes = 0;
  const inFlight = new Map<string, number>();
  let files = 0;
  let total = 0;
  let firstAt = 0;
  let stopped = false;
  const restore = () => {
    if (bar && !stopped) stream.write(RESTORE_TERMINAL);
  };
  process.once('exit', restore);
  const sent = () => doneBytes + [...inFlight.values()].reduce((a, b) => a + b, 0);
  const payload = () => {
    const value = sent();
    const seconds = (Date.now() - firstAt) / 1000;
    const rate = seconds > 0.5 ? value / seconds : 0;
    return {
      filesDone: files,
      filesQueued: total,
      done: formatBytes(value),
      size: formatBytes(totalBytes),
      speed: formatBytes(rate),
      etaText: rate > 0 ? formatDuration((totalBytes - value) / rate) : '?',
    };
  };
  const redraw = () => {
    if (!bar || stopped) return;
    bar.setTotal(Math.max(1, totalBytes));
    bar.update(Math.min(sent(), Math.max(1, totalBytes)), payload());
  };
  outbox.on('queued', (q) => {
    total++;
    totalBytes += q.sizeBytes;
    if (!bar && !stopped) {
      firstAt = Date.now();
      bar = bars.create(Math.max(1, totalBytes), 0, payload());
    }
    redraw();
  });
  outbox.on('progress', (p) => {
    inFlight.set(p.bucketPath, p.bytesDone);
    redraw();
  });
  outbox.on('uploaded', (u) => {
    files++;
    // A results JSON's uploaded copy (agent_id, timestamp filled in) is larger than the queued file.
    totalBytes += u.sizeBytes - u.localSizeBytes;
    doneBytes += u.sizeBytes;
    inFlight.delete(u.bucketPath);
    if (!stopped) bars.log(`uploaded ${u.localPath} → ${u.bucketPath} (${formatBytes(u.sizeBytes)})\n`);
    redraw();
  });
  outbox.on('problem', (p) => {
    // The problem itself is logged (warn/error) by the daemon; the bar only stops counting it as in flight.
    if (p.bucketPath) inFlight.delete(p.bucketPath);
    redraw();
  });
  return {
    shown: true,
    stop: () => {
      if (stopped) return;
      if (bar) {
        redraw();
        bars.update(); // writes the file lines logged since the last frame, then the final bar
        bars.stop();
      }
      stopped = true;
      process.off('exit', restore);
    },
  };
}
