/**
 * What the daemon (`Outbox` in ../daemon.ts) takes and tells: its ports, its start-up options and
 * its observable lifecycle. Apart from the class so that its users can name them without the wiring.
 */
import type { BucketClient, Clock, OutboxFs, UploadProgress } from '../core/ports.js';
import type { SettledUnit } from '../core/types.js';
import type { Logger } from '../log.js';
import type { StateStore } from '../state/store.js';
import type { FsTypeInfo } from './fs-type.js';
import type { pollOutbox } from './poll.js';
import type { ProblemEvent } from './problems.js';
import type { UploadedEvent } from './upload.js';
import type { watchOutbox } from './watch.js';

export type { ProblemEvent, UploadedEvent };

export interface OutboxDeps {
  fs: OutboxFs;
  bucket: BucketClient;
  state: StateStore;
  clock: Clock;
  logger: Logger;
  /** The watcher factory; one inotify watch per folder by default, a scripted one in tests. */
  watch?: typeof watchOutbox;
  /** The polling watcher factory (watch mode poll). */
  poll?: typeof pollOutbox;
  /** The outbox's file system type (statfs), which watch mode auto goes by. */
  fsType?: (absPath: string) => Promise<FsTypeInfo>;
}

export interface OutboxOptions {
  /** A bucket file this agent has no record of, identical to the local one, is adopted instead of a conflict. */
  adopt?: boolean;
  /** List the bucket at start and send again what it lacks: always (sync --verify), or when the state is older than the rescan interval (watch). */
  verify?: 'always' | 'if-stale';
}

/** The daemon's observable lifecycle, for logs and tests. */
export interface OutboxEvents {
  settled: [SettledUnit];
  queued: [{ localPath: string; bucketPath: string; sizeBytes: number }];
  uploaded: [UploadedEvent];
  progress: [UploadProgress];
  adopted: [{ localPath: string; bucketPath: string }];
  problem: [ProblemEvent];
  unsettled: [{ unitPath: string; changingForMs: number; waitingFor?: string }];
}
