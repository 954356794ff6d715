/**
 * Stage "watch", its decisions: what a watcher event means for the pipeline, and when the outbox
 * is rescanned. An event on a file (or a note) restarts its unit's settle wait; a new folder is
 * walked (a folder renamed into place brings files no event names); a vanished folder or file is
 * recorded as gone locally (the bucket keeps it). A full rescan runs on a jittered interval, on a
 * watcher error, and — once the watcher gives up (out of inotify watches or descriptors) — every
 * 30 s instead of events. The event source itself is `watch.ts`.
 */
import path from 'node:path';
import type { Clock, OutboxFs } from '../core/ports.js';
import type { Logger } from '../log.js';
import type { StateStore } from '../state/store.js';
import { ignoredReason, mapPath, type CompiledRules } from './naming.js';
import { walk } from './scan.js';
import { chooseWatchMode, detectFsType, hex, type FsTypeInfo } from './fs-type.js';
import type { Config } from '../config/parse.js';
import type { pollOutbox } from './poll.js';
import type { WatchEvent, Watcher, watchOutbox } from './watch.js';

/** Rescan interval once the watcher has given up (inotify limits). */
export const FALLBACK_RESCAN_MS = 30_000;

export interface WatchIntakeDeps {
  fs: OutboxFs;
  state: Pick<StateStore, 'get' | 'markGoneUnder' | 'markLocalGone'>;
  clock: Clock;
  logger: Logger;
  /** The event sources: one inotify watch per folder, or folder polling (network file systems); scripted ones in tests. */
  watch: typeof watchOutbox;
  poll: typeof pollOutbox;
  /** The outbox's file system type (statfs), which watch mode auto goes by. */
  fsType?: (absPath: string) => Promise<FsTypeInfo>;
  /** Read at each use: a configuration reload may change them. */
  /** The live configuration (a reload changes what the next event, rescan or start does). */
  live: { readonly config: Pick<Config, 'outbox' | 'rescanIntervalMs' | 'watchMode' | 'pollIntervalMs'>; readonly rules: CompiledRules };
  /** Something under this unit (an artifact or a note) changed: settle it again from now. */
  changed(unitPath: string): void;
  /** A path the naming rules refuse. */
  rejected(relPath: string, reason: string): Promise<void>;
  /** A full scan of the outbox. */
  scan(): Promise<unknown>;
  /** Random in [0, 1) for the rescan jitter. */
  random?: () => number;
}

export interface WatchIntake {
  /** Starts the watcher (events, or polling on a network file system); resolves once it covers every folder. */
  start(): Promise<void>;
  /** Periodic full rescans on a jittered interval (the watcher can miss events). Call after the first scan. */
  startRescans(): void;
  close(): Promise<void>;
}

export function createWatchIntake(deps: WatchIntakeDeps): WatchIntake {
  const { logger: log } = deps;
  const random = deps.random ?? Math.random;
  let watcher: Watcher | undefined;
  let cancelRescan: (() => void) | undefined;
  let closed = false;
  const abs = (relPath: string) => path.join(deps.live.config.outbox, ...relPath.split('/'));

  /** One rescan timer: the fallback interval replaces the periodic one. */
  const scheduleRescan = (delayMs: () => number, why: string) => {
    cancelRescan?.();
    cancelRescan = deps.clock.setTimer(() => {
      cancelRescan = undefined;
      rescan(why);
      if (!closed) scheduleRescan(delayMs, why);
    }, delayMs());
  };

  const rescan = (why: string) => {
    log.debug({ why }, 'rescanning the outbox');
    void deps.scan().catch((e: unknown) => log.error({ err: e }, 'rescan failed'));
  };

  /** An event on a delivered file may be its removal: record that the local copy is gone (the bucket keeps it). */
  const noticeRemoval = async (relPath: string, bucketPath: string) => {
    if ((await deps.fs.stat(abs(relPath))) !== undefined) return;
    deps.state.markLocalGone(relPath);
    log.info({ local: relPath, remote: bucketPath }, 'local copy removed; the bucket keeps its copy');
  };

  const walkNewDir = async (relDir: string) => {
    try {
      for await (const entry of walk(deps.fs, abs(relDir), (rel) => ignoredReason(`${relDir}/${rel}`, deps.live.rules) !== undefined)) {
        onEvent({ type: 'change', relPath: `${relDir}/${entry.relPath}` });
      }
    } catch (error) {
      log.error({ err: error, dir: relDir }, 'cannot read a new folder in the outbox');
    }
  };

  const onEvent = (event: WatchEvent) => {
    if (event.type === 'addDir') {
      void walkNewDir(event.relPath);
      return;
    }
    if (event.type === 'unlinkDir') {
      for (const gone of deps.state.markGoneUnder(event.relPath)) log.info({ local: gone }, 'local copy removed; the bucket keeps its copy');
      return;
    }
    const mapping = mapPath(event.relPath, deps.live.rules);
    if (mapping.kind === 'note') {
      deps.changed(event.relPath);
    } else if (mapping.kind === 'file') {
      deps.changed(mapping.unitPath);
      if (deps.state.get(event.relPath)?.localPresent) void noticeRemoval(event.relPath, mapping.bucketPath);
    } else if (mapping.kind === 'rejected') {
      void deps.rejected(event.relPath, mapping.reason);
    }
  };

  const onError = (error: Error) => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EMFILE') {
      // Out of inotify watches or file descriptors: stop relying on events and rescan often instead.
      log.error(
        { code, rescanEveryMs: FALLBACK_RESCAN_MS },
        code === 'ENOSPC'
          ? 'out of inotify watches; falling back to periodic rescans. Raise the limit: sudo sysctl fs.inotify.max_user_watches=1048576 (persist it in /etc/sysctl.d/)'
          : 'too many open files for the watcher; falling back to periodic rescans. Raise the limit (LimitNOFILE= in the unit, or ulimit -n)',
      );
      const gaveUp = watcher;
      watcher = undefined;
      void gaveUp?.close();
      scheduleRescan(() => FALLBACK_RESCAN_MS, 'fallback');
    } else {
      log.error({ err: error }, 'watcher error; rescanning the outbox');
    }
    rescan('watcher error');
  };

  return {
    async start() {
      const outbox = deps.live.config.outbox;
      const pollIntervalMs = deps.live.config.pollIntervalMs;
      const choice = chooseWatchMode(deps.live.config.watchMode, await (deps.fsType ?? detectFsType)(outbox), pollIntervalMs);
      log[choice.warn ? 'warn' : 'info']({ watchMode: choice.mode, fsType: choice.fs.name, fsMagic: hex(choice.fs.magic) }, choice.explanation);
      const options = { isIgnored: (rel: string) => ignoredReason(rel, deps.live.rules) !== undefined, onEvent, onError };
      watcher =
        choice.mode === 'poll'
          ? deps.poll(outbox, { ...options, fs: deps.fs, clock: deps.clock, intervalMs: pollIntervalMs, fullPass: () => deps.scan() })
          : deps.watch(outbox, options);
      await watcher.ready;
    },
    startRescans() {
      scheduleRescan(() => Math.round(deps.live.config.rescanIntervalMs * (0.75 + random() * 0.5)), 'periodic');
    },
    async close() {
      closed = true;
      cancelRescan?.();
      cancelRescan = undefined;
      await watcher?.close();
    },
  };
}
