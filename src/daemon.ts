/**
 * The composition root and the only loop: watch/scan → settle → map → queue → upload → record.
 * Every side effect arrives through `OutboxDeps`, so tests can run the whole flow on fakes.
 */
import { EventEmitter } from 'node:events';
import { createLiveConfig, type LiveConfig } from './config/live.js';
import type { Config } from './config/parse.js';
import { Announcer } from './pipeline/announce.js';
import { createLayout } from './pipeline/layout.js';
import { verifyAtStart } from './pipeline/verify.js';
import { createUploadQueue, type UploadQueue } from './pipeline/queue.js';
import { UploadStage } from './pipeline/upload.js';
import { scanIntoBacklog, unitReader } from './pipeline/scan.js';
import { backlogHighWater, createBacklog, type Backlog } from './pipeline/backlog.js';
import { createSettler, type Settler } from './pipeline/settle.js';
import { pollOutbox } from './pipeline/poll.js';
import { watchOutbox } from './pipeline/watch.js';
import { createWatchIntake, type WatchIntake } from './pipeline/watch-events.js';
import { createRetries, type Retries } from './pipeline/retry.js';
import { createProblems, type Problems } from './pipeline/problems.js';
import { routeSettled } from './pipeline/admit.js';
import { createShutdown, type Shutdown } from './pipeline/shutdown.js';
import { drainPipeline } from './pipeline/drain.js';
import type { OutboxDeps, OutboxEvents, OutboxOptions } from './pipeline/outbox-api.js';

export type { OutboxDeps, OutboxEvents, OutboxOptions, ProblemEvent, UploadedEvent } from './pipeline/outbox-api.js';

export class Outbox extends EventEmitter<OutboxEvents> {
  readonly #live: LiveConfig;
  readonly #deps: OutboxDeps;
  readonly #settler: Settler;
  readonly #queue: UploadQueue;
  readonly #shutdown: Shutdown;
  readonly #retries: Retries;
  readonly #intake: WatchIntake;
  readonly #uploader: UploadStage;
  readonly #problems: Problems;
  /** Units a scan found, released to the settle stage as it and the queue make room. */
  readonly #backlog: Backlog;
  readonly #announcer: Announcer;
  /** When the start-up lists the bucket and sends again what it lacks (see OutboxOptions.verify). */
  readonly #verify: OutboxOptions['verify'];

  constructor(config: Config, deps: OutboxDeps, options: OutboxOptions = {}) {
    super();
    this.#deps = deps;
    this.#verify = options.verify;
    // The stages read the live configuration at each use: a reload (SIGHUP) changes what they do next.
    const live = (this.#live = createLiveConfig(config, deps.logger));
    this.#problems = createProblems({
      ...deps,
      outbox: () => live.config.outbox,
      unitProblem: (unitPath) => this.#announcer.unitProblem(unitPath),
      report: (event) => this.emit('problem', event),
    });
    this.#announcer = new Announcer({
      ...deps,
      live,
      onRejected: (notePath, reason) => this.emit('problem', { localPath: notePath, bucketPath: undefined, state: 'rejected', reason }),
    });
    this.#shutdown = createShutdown({ ...deps, inFlight: () => this.#uploader.inFlight });
    this.#uploader = new UploadStage({
      ...deps,
      live,
      adopt: options.adopt ?? false,
      signal: this.#shutdown.signal,
      onUploaded: (e) => this.emit('uploaded', e),
      onAdopted: (e) => this.emit('adopted', e),
      onProblem: (file, kind, reason) => this.#problems.file(file, kind, reason),
      onFileError: (job, error) => this.#retries.fileError(job, error),
      onDelivered: (unitPath) => this.#announcer.unitDelivered(unitPath),
      onProgress: (p) => this.emit('progress', p),
    });
    this.#settler = createSettler({
      clock: deps.clock,
      logger: deps.logger,
      timing: () => live.config,
      snapshot: unitReader(deps.fs, () => live.config.outbox, () => live.rules),
      onSettled: (unit) =>
        routeSettled(unit, {
          ...deps,
          note: (notePath, fingerprint) => this.#announcer.noteSettled(notePath, fingerprint),
          artifact: (settled) => this.emit('settled', settled),
          queue: (jobs) => this.#queue.addMany(jobs),
          rejected: (file, reason) => this.#problems.file(file, 'rejected', reason),
        }),
      onReleased: () => this.#backlog.feed(),
      onUnsettled: (unitPath, changingForMs, waitingFor) => this.emit('unsettled', { unitPath, changingForMs, ...(waitingFor === undefined ? {} : { waitingFor }) }),
    });
    this.#queue = createUploadQueue({
      clock: deps.clock,
      concurrency: config.concurrency,
      maxFilesPerCall: deps.bucket.maxFilesPerCall,
      run: (batch) => this.#uploader.run(batch),
      onError: (error, batch) => this.#retries.batchError(error, batch),
      onQueued: ({ file: { localPath, bucketPath, sizeBytes } }) => this.emit('queued', { localPath, bucketPath, sizeBytes }),
      // A batch left the queue: make room for more of the backlog while it uploads.
      onTaken: () => this.#backlog.feed(),
    });
    this.#backlog = createBacklog({
      highWater: backlogHighWater(this.#queue.batchFiles),
      ahead: () => this.#settler.count() + this.#queue.waiting(),
      rules: () => live.rules,
      release: (unitPath) => this.#settler.touch(unitPath, { changed: false }),
    });
    this.#retries = createRetries({
      ...deps,
      resettle: (unitPath, changed) => this.#settler.touch(unitPath, { changed }),
      failed: (file, reason) => this.#problems.file(file, 'failed', reason),
      aborted: () => this.#shutdown.signal.aborted,
    });
    this.#intake = createWatchIntake({
      ...deps,
      watch: deps.watch ?? watchOutbox,
      poll: deps.poll ?? pollOutbox,
      live,
      changed: (unitPath) => {
        this.#backlog.drop(unitPath);
        this.#settler.touch(unitPath, { changed: true });
      },
      rejected: (relPath, reason) => this.#problems.path(relPath, reason),
      scan: () => this.scan(),
    });
  }

  get config(): Config {
    return this.#live.config;
  }

  /** Applies a reloaded configuration (see config/live.ts): what applies at once, and what needs a restart. */
  reconfigure(next: Config): { applied: string[]; needRestart: string[] } {
    return this.#live.reconfigure(next);
  }

  /** Creates the outbox layout, checks the bucket, and requeues uploads a crash cut off. */
  async prepare(): Promise<void> {
    await createLayout(this.config, this.#deps.logger);
    await this.#deps.bucket.check({ create: this.config.createBucket });
    this.#announcer.resume();
    this.#uploader.resumeInterrupted();
    await verifyAtStart(this.#deps, this.#verify, this.config.rescanIntervalMs);
  }

  /** Full walk of the outbox: every artifact found goes to the settle stage (through the backlog); state learns what vanished. */
  async scan(): Promise<{ files: number }> {
    return scanIntoBacklog({ ...this.#deps, outbox: this.config.outbox, rules: this.#live.rules }, this.#backlog, this.#problems);
  }

  /** Starts the watcher; resolves once it watches every folder of the outbox. */
  async watch(): Promise<void> {
    await this.#intake.start();
  }

  /** Sizes of the stages, for metrics and status (units a scan found and not yet released count as settling). */
  queueStats(): { waiting: number; running: number; settling: number } {
    return { waiting: this.#queue.waiting(), running: this.#queue.running(), settling: this.#settler.count() + this.#backlog.size() };
  }

  /** Units that have not settled yet. */
  unsettled(): string[] {
    return this.#settler.waiting();
  }

  /** Resolves once nothing waits to settle and no upload is queued or running. */
  async drain(): Promise<void> {
    await drainPipeline({ backlog: this.#backlog, settler: this.#settler, queue: this.#queue, announcer: this.#announcer });
  }

  /** Stops waiting for a unit that does not settle (one-pass sync reports it instead). */
  abandon(unitPath: string): void {
    this.#settler.forget(unitPath);
  }

  /**
   * Stops intake (watcher, settle, timers), lets the uploads in flight finish within `graceMs`,
   * then aborts the rest. What did not finish stays pending in the state store and is redone
   * (after a check of the bucket) at the next start. Resolves with what was cut off.
   */
  async stop(options: { graceMs?: number } = {}): Promise<{ interrupted: number }> {
    await this.#intake.close();
    this.#settler.close();
    this.#backlog.clear();
    this.#retries.stop();
    this.#queue.clear();
    const outcome = await this.#shutdown.finish(this.#queue.onIdle().then(() => this.#announcer.whenIdle()), options.graceMs);
    this.#announcer.stop();
    return outcome;
  }

  /**
   * Periodic work: a full rescan on a jittered interval (the watcher can miss events), and a slow
   * retry of failed files. Call once the first scan is done.
   */
  startHousekeeping(): void {
    this.#intake.startRescans();
    this.#retries.startFailedRetries();
  }

  /** Sends failed files again (all of them with 0, as on SIGHUP; else those that failed at least `olderThanMs` ago). */
  retryFailed(olderThanMs = 0): number {
    return this.#retries.retryFailed(olderThanMs);
  }
}
