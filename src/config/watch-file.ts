/**
 * Watches the config file of `watch --config FILE`, so an edit is applied without a signal (the
 * caller reloads through the same validation as SIGHUP).
 *
 * Files are rarely edited in place: editors and `sed -i` write a new file and rename it over the
 * old one, and a Kubernetes ConfigMap volume swaps a symlink (`FILE` → `..data/FILE`, `..data` →
 * a new timestamped folder) and then deletes the old folder. A watch on the file's inode misses
 * or loses the first two; so chokidar watches the file AND its folder (depth 0), and any event
 * there only schedules a look: after a short quiet time the file is read and its content compared
 * with the last one seen. Only a real change of the bytes (or the file becoming unreadable) is
 * reported, once, however many events the replacement took.
 *
 * chokidar here, not node:fs.watch: its `atomic` handling turns unlink-then-add into one change
 * and it re-attaches to a path whose inode was replaced; with a handful of paths, its start-up
 * cost (an lstat per entry, the reason the outbox watcher does not use it) does not matter.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

export interface ConfigFileWatcherOptions {
  /** The file's bytes changed (or it became unreadable): reload. */
  onChange(): void;
  onError(error: Error): void;
  /** Quiet time after the last event before the file is read. @default 200 */
  debounceMs?: number;
}

export interface ConfigFileWatcher {
  /** Resolves once the file and its folder are watched. */
  ready: Promise<void>;
  close(): Promise<void>;
}

export function watchConfigFile(file: string, options: ConfigFileWatcherOptions): ConfigFileWatcher {
  const absFile = path.resolve(file);
  const dir = path.dirname(absFile);
  const debounceMs = options.debounceMs ?? 200;
  let last: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let looking: Promise<void> = Promise.resolve();

  const fingerprint = async (): Promise<string> => {
    try {
      return createHash('sha256').update(await readFile(absFile)).digest('hex');
    } catch (error) {
      return `unreadable: ${(error as NodeJS.ErrnoException).code ?? String(error)}`;
    }
  };

  const look = () => {
    // One look at a time, in order: a slow read never reports an older state after a newer one.
    looking = looking.then(async () => {
      if (closed) return;
      const now = await fingerprint();
      if (closed || now === last) return;
      last = now;
      options.onChange();
    });
  };

  const schedule = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(look, debounceMs);
  };

  const watcher: FSWatcher = watch([absFile, dir], {
    ignoreInitial: true,
    depth: 0,
    atomic: true,
    persistent: true,
  });
  watcher.on('all', schedule);
  watcher.on('raw', schedule);
  watcher.on('error', (error) => {
    if (!closed) options.onError(error instanceof Error ? error : new Error(String(error)));
  });

  const watching = new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  const ready = (async () => {
    last = await fingerprint();
    await watching;
  })();

  return {
    ready,
    close: async () => {
      closed = true;
      clearTimeout(timer);
      await watcher.close();
    },
  };
}
