/**
 * Stage "watch": chokidar as an event source only (no awaitWriteFinish: settling is ours).
 * It reports which outbox paths changed; the initial state comes from our own scan.
 */
import path from 'node:path';
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';

export type WatchEventType = 'add' | 'change' | 'unlink' | 'addDir' | 'unlinkDir';

export interface WatchEvent {
  type: WatchEventType;
  /** Relative to the outbox, '/'-separated. */
  relPath: string;
}

export interface WatchOptions {
  /** Prune paths that can never hold an artifact (dot names, ignore globs). */
  isIgnored(relPath: string): boolean;
  onEvent(event: WatchEvent): void;
  onError(error: Error): void;
  usePolling?: boolean;
}

export interface Watcher {
  ready: Promise<void>;
  close(): Promise<void>;
}

export function watchOutbox(root: string, options: WatchOptions): Watcher {
  const toRel = (p: string) => path.relative(root, p).split(path.sep).join('/');
  const watcher: FSWatcher = chokidarWatch(root, {
    ignoreInitial: true,
    followSymlinks: false,
    awaitWriteFinish: false,
    alwaysStat: false,
    usePolling: options.usePolling ?? false,
    ignored: (p: string) => {
      const rel = toRel(p);
      return rel !== '' && options.isIgnored(rel);
    },
  });
  for (const type of ['add', 'change', 'unlink', 'addDir', 'unlinkDir'] as const) {
    watcher.on(type, (p: string) => options.onEvent({ type, relPath: toRel(p) }));
  }
  watcher.on('error', (error: unknown) => options.onError(error instanceof Error ? error : new Error(String(error))));
  const ready = new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return { ready, close: () => watcher.close() };
}
