/**
 * Stage "watch": one inotify watch per folder (node:fs `watch`), as an event source only; settling
 * is ours, and the initial state comes from our own scan.
 *
 * A folder's watch reports every change of its children (created, written, renamed, removed), so
 * files need no watch and no state of their own: the watcher holds one handle per folder and
 * nothing per file, and the inotify budget counts folders, not files. Setting it up lists the
 * folders and never stats a file. (chokidar, used before, lstat'ed every file of the tree to
 * build its own: with 100,000 files that was ~25,000 lstat calls in flight, a 230 MB JS heap and
 * 70 MB of malloc arena that the process kept for good, for a tree it then did not use.)
 */
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

export type WatchEventType = 'change' | 'addDir' | 'unlinkDir';

export interface WatchEvent {
  /**
   * `change`: something happened to this path (created, written, renamed, removed): look at it.
   * `addDir`: a folder appeared (renamed or created in place) and is watched from now on: its
   * files may have arrived before its watch did, so walk it. `unlinkDir`: a watched folder is gone.
   */
  type: WatchEventType;
  /** Relative to the outbox, '/'-separated. */
  relPath: string;
}

export interface WatchOptions {
  /** Prune paths that can never hold an artifact (dot names, ignore globs). */
  isIgnored(relPath: string): boolean;
  onEvent(event: WatchEvent): void;
  /** Out of inotify watches (ENOSPC) or descriptors (EMFILE), or a folder that cannot be watched. */
  onError(error: Error): void;
}

export interface Watcher {
  /** Resolves once every folder of the outbox is watched. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/** A path that vanished between the event and the look at it: not an error, its parent reports it. */
const GONE = new Set(['ENOENT', 'ENOTDIR']);

export function watchOutbox(root: string, options: WatchOptions): Watcher {
  /** Watched folders by relative path ('' is the outbox itself). */
  const watchers = new Map<string, FSWatcher>();
  /** Folders being looked at after an event; `true`: another event came meanwhile, look again. */
  const checking = new Map<string, boolean>();
  let closed = false;

  const abs = (rel: string) => (rel === '' ? root : path.join(root, ...rel.split('/')));
  const child = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);
  const report = (error: unknown) => {
    if (closed) return;
    const e = error instanceof Error ? error : new Error(String(error));
    if (GONE.has((e as NodeJS.ErrnoException).code ?? '')) return;
    options.onError(e);
  };

  /** Watches `rel` and every folder under it; `announce`: report each one as a new folder. */
  const addTree = async (rel: string, announce: boolean): Promise<void> => {
    if (closed || watchers.has(rel)) return;
    let watcher: FSWatcher;
    try {
      watcher = fsWatch(abs(rel), { persistent: true }, (eventType, name) => onFsEvent(rel, eventType, name));
    } catch (error) {
      report(error);
      return;
    }
    watcher.on('error', (error: Error) => {
      if (watchers.get(rel) === watcher) watchers.delete(rel);
      watcher.close();
      report(error);
    });
    watchers.set(rel, watcher);
    // Announced once its watch is on: whatever arrives later has an event, whatever came before is
    // found by the walk the announcement triggers.
    if (announce && rel !== '') options.onEvent({ type: 'addDir', relPath: rel });
    let names: string[];
    try {
      names = (await readdir(abs(rel), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch (error) {
      // Unreadable or gone: the scan skips it the same way.
      if (!['EACCES', 'EPERM'].includes((error as NodeJS.ErrnoException).code ?? '')) report(error);
      return;
    }
    names.sort();
    for (const name of names) {
      const sub = child(rel, name);
      if (!options.isIgnored(sub)) await addTree(sub, announce);
    }
  };

  const removeTree = (rel: string) => {
    const prefix = `${rel}/`;
    for (const [dir, watcher] of [...watchers]) {
      if (dir !== rel && !dir.startsWith(prefix)) continue;
      watcher.close();
      watchers.delete(dir);
      options.onEvent({ type: 'unlinkDir', relPath: dir });
    }
  };

  /** After a create/remove/rename event: is `rel` a folder to watch now, or a watched one that is gone? */
  const reconcile = async (rel: string) => {
    let isDir = false;
    try {
      isDir = (await lstat(abs(rel))).isDirectory();
    } catch (error) {
      if (!GONE.has((error as NodeJS.ErrnoException).code ?? '')) report(error);
    }
    if (closed) return;
    if (isDir) await addTree(rel, true);
    else if (watchers.has(rel)) removeTree(rel);
  };

  const check = async (rel: string) => {
    if (checking.has(rel)) {
      checking.set(rel, true);
      return;
    }
    try {
      do {
        checking.set(rel, false);
        await reconcile(rel);
      } while (checking.get(rel) === true && !closed);
    } finally {
      checking.delete(rel);
    }
  };

  const onFsEvent = (dir: string, eventType: string, name: string | Buffer | null) => {
    if (closed || typeof name !== 'string' || name === '') return;
    const rel = child(dir, name);
    if (options.isIgnored(rel)) return;
    options.onEvent({ type: 'change', relPath: rel });
    // 'rename' is inotify's create, delete and move: the only events that make or unmake a folder.
    if (eventType === 'rename') void check(rel);
  };

  // Started on the next tick: an error is never reported before the caller holds the watcher.
  const ready = Promise.resolve().then(() => addTree('', false));
  return {
    ready,
    close: async () => {
      closed = true;
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}
