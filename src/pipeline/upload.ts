/**
 * Stage "upload": one call to the bucket for a batch the queue handed over. Before it: results
 * JSON is checked (and filled), paths this agent never wrote are checked for someone else's file
 * (conflict), and an upload a crash cut off is checked for having landed. After it: each file's
 * outcome is recorded in one transaction. Failures become outcomes handed back to the daemon,
 * never exceptions that jump over the rest of the batch.
 */
import { checkResults, isResultsPath } from '../conventions/results.js';
import { type OutboxError, toOutboxError } from '../core/errors.js';
import type { BucketClient, Clock, OutboxFs, RemoteEntry, UploadProgress, UploadResult, UploadSource } from '../core/ports.js';
import { sha256Of } from '../hash/sha256.js';
import { CategoryNotices } from './new-category.js';
import { matchXetHash } from '../hash/xet-hash.js';
import type { Logger } from '../log.js';
import type { StateStore, TrackedFile } from '../state/store.js';
import type { Config } from '../config/parse.js';

export interface UploadJob {
  file: TrackedFile;
  enqueuedAt: number;
  /** Bucket path of the file's unit folder (absent for a single-file artifact): its files go up together. */
  unitBucketPath?: string;
}

export interface UploadedEvent {
  localPath: string;
  bucketPath: string;
  /** Bytes the bucket now holds: the local file's size, except for a results JSON whose copy was filled in. */
  sizeBytes: number;
  /** The local file's size (what `queued` announced). */
  localSizeBytes: number;
  durationMs: number;
}

export interface UploadStageDeps {
  fs: OutboxFs;
  bucket: BucketClient;
  state: StateStore;
  clock: Clock;
  logger: Logger;
  /** The live configuration, read at each call: the outbox, the agent id, and the category folders (a file outside them gets a one-time notice). */
  live: { readonly config: Pick<Config, 'outbox' | 'agentId' | 'categories' | 'unitCategories'> };
  /** A bucket file this agent has no record of, identical to the local one, is adopted instead of a conflict. */
  adopt: boolean;
  /** Aborts every call in flight (shutdown past its grace period). */
  signal: AbortSignal;
  onUploaded(e: UploadedEvent): void;
  onAdopted(e: { localPath: string; bucketPath: string }): void;
  onProblem(file: TrackedFile, kind: 'failed' | 'rejected' | 'conflict', reason: string): void;
  onFileError(job: UploadJob, error: OutboxError): void;
  /** Files of this unit were recorded as uploaded (its announcement may be due). */
  onDelivered(unitPath: string): void;
  /** Bytes of a file in flight sent so far (every file, not only large ones). */
  onProgress?(p: UploadProgress): void;
}

/** Small files go up together; a file this large goes in a call of its own, and reports progress. */
export const LARGE_FILE_BYTES = 16 * 1024 * 1024;
/** Results JSON files are read whole to be checked; larger ones are refused. */
export const MAX_RESULTS_BYTES = 10 * 1024 * 1024;
/** How often a large upload reports its progress. */
const PROGRESS_LOG_MS = 5_000;
/** How often progress is written to the state store for `status`. */
const PROGRESS_SAVE_MS = 1_000;

export class UploadStage {
  readonly #d: UploadStageDeps;
  /** Jobs inside an upload call right now (what a shutdown may cut off). */
  readonly inFlight = new Set<UploadJob>();
  /** Local paths whose upload a crash cut off: their bytes may have landed, so the bucket is checked first. */
  readonly interrupted = new Set<string>();
  readonly #notices = new CategoryNotices();

  constructor(deps: UploadStageDeps) {
    this.#d = deps;
  }

  /**
   * At start: uploads the last stop cut off are pending again. Their bytes may have landed, so
   * each is checked against the bucket when it comes up, and sent only if it did not. Returns how many.
   */
  resumeInterrupted(): number {
    const paths = this.#d.state.requeueInterrupted();
    for (const p of paths) this.interrupted.add(p);
    if (paths.length > 0) {
      this.#d.logger.info({ files: paths.length }, 'uploads interrupted by the last stop: checking the bucket, then redoing what did not land');
    }
    return paths.length;
  }

  async run(all: UploadJob[]): Promise<void> {
    for (const job of all) this.inFlight.add(job);
    try {
      await this.#uploadBatch(all);
    } finally {
      for (const job of all) this.inFlight.delete(job);
    }
  }

  async #uploadBatch(all: UploadJob[]): Promise<void> {
    const { state, bucket, clock } = this.#d;
    const { batch, contents } = await this.#checkResults(all);

    // Never overwrite what this agent did not write: a path we have no record of must be free.
    // And an upload a crash cut off may have landed: if the bucket holds these exact bytes, it is done.
    const fresh = new Set(batch.filter((j) => !state.hasWritten(j.file.bucketPath)));
    const interrupted = new Set(batch.filter((j) => this.interrupted.delete(j.file.localPath)));
    const toCheck = batch.filter((j) => fresh.has(j) || interrupted.has(j)).map((j) => j.file.bucketPath);
    const taken = toCheck.length === 0 ? new Map<string, RemoteEntry>() : await bucket.stat(toCheck);
    const go: UploadJob[] = [];
    for (const job of batch) {
      const remote = taken.get(job.file.bucketPath);
      if (remote !== undefined && interrupted.has(job) && (await this.#sameContent(job.file, remote))) {
        const replaced = state.markUploaded(job.file, remote.xetHash && `xet:${remote.xetHash}`);
        this.#d.logger.info(
          { local: job.file.localPath, remote: job.file.bucketPath, ...(replaced ? { replaced: new Date(replaced.uploadedAt).toISOString() } : {}) },
          'already in the bucket: it landed before the last stop',
        );
      } else if (remote !== undefined && !fresh.has(job)) {
        go.push(job);
      } else if (remote !== undefined && this.#d.adopt && (await this.#sameContent(job.file, remote))) {
        state.markUploaded(job.file, remote.xetHash && `xet:${remote.xetHash}`);
        this.#d.logger.info({ local: job.file.localPath, remote: job.file.bucketPath }, 'adopted: the bucket already holds these exact bytes');
        this.#d.onAdopted({ localPath: job.file.localPath, bucketPath: job.file.bucketPath });
      } else if (remote !== undefined) {
        this.#d.onProblem(
          job.file,
          'conflict',
          `${job.file.bucketPath} already exists in ${bucket.description} and was not written by this agent's ` +
            'hf-outbox state; it is left untouched (rename the local file, or run `hf-outbox sync --adopt` if it is yours)',
        );
      } else {
        go.push(job);
      }
    }
    if (go.length === 0) return;
    // Recorded before the upload starts, so a crash mid-upload leaves `uploading` and a restart checks and redoes it.
    // Only now, after the conflict check: a recorded attempt makes the path ours.
    state.markUploading(go.map((j) => j.file.localPath));

    const sources: UploadSource[] = go.map((j) => {
      const content = contents.get(j);
      const folder = j.unitBucketPath === undefined ? {} : { folder: { id: j.file.unitPath, bucketPath: j.unitBucketPath } };
      if (fresh.has(j)) Object.assign(folder, { mustBeFree: true });
      return content
        ? { bucketPath: j.file.bucketPath, sizeBytes: content.byteLength, content, ...folder }
        : {
            bucketPath: j.file.bucketPath,
            sizeBytes: j.file.sizeBytes,
            local: { root: this.#d.live.config.outbox, relPath: j.file.localPath, fingerprint: j.file },
            ...folder,
          };
    });
    const byPath = new Map(go.map((j) => [j.file.bucketPath, j]));
    const started = clock.now();
    const progress = new ProgressLog(clock, this.#d.logger, started, (p) => {
      const job = byPath.get(p.bucketPath);
      if (job) state.setProgress({ ...p, localPath: job.file.localPath, startedAt: started, updatedAt: clock.now() });
    });
    let results;
    try {
      results = await bucket.upload(sources, { signal: this.#d.signal, onProgress: (p) => {
        progress.update(p);
        this.#d.onProgress?.(p);
      } });
    } finally {
      if (progress.saved) state.clearProgress(go.map((j) => j.file.bucketPath));
    }
    const durationMs = clock.now() - started;
    // One commit for the whole call's records.
    // What the bucket holds may differ in size from the local file (a results JSON gets agent_id and timestamp filled in).
    const sent = new Map(sources.map((s) => [s.bucketPath, s.sizeBytes]));
    state.transaction(() => this.#record(go, byPath, results, durationMs, sent));
    for (const unit of new Set(go.map((j) => j.file.unitPath))) this.#d.onDelivered(unit);
  }

  #record(go: UploadJob[], byPath: Map<string, UploadJob>, results: UploadResult[], durationMs: number, sent: Map<string, number>): void {
    const { state } = this.#d;
    for (const result of results) {
      const job = byPath.get(result.bucketPath);
      if (job === undefined) continue;
      if (result.ok) {
        const replaced = state.markUploaded(job.file);
        const replacedAt = replaced && new Date(replaced.uploadedAt).toISOString();
        const bytes = sent.get(job.file.bucketPath) ?? job.file.sizeBytes;
        const localBytes = bytes === job.file.sizeBytes ? {} : { localBytes: job.file.sizeBytes };
        this.#d.logger.info(
          { local: job.file.localPath, remote: job.file.bucketPath, bytes, ...localBytes, durationMs, batch: go.length, ...(replaced ? { replaced: replacedAt } : {}) },
          'uploaded',
        );
        if (replaced) {
          this.#d.logger.info(
            { local: job.file.localPath, remote: job.file.bucketPath, replacedPublishedAt: replacedAt, replacedBytes: replaced.sizeBytes },
            `replaced the version of ${job.file.bucketPath} this agent published at ${replacedAt} (${replaced.sizeBytes} bytes)`,
          );
        }
        const notice = this.#notices.notice(job.file.localPath, job.file.bucketPath, [...this.#d.live.config.categories, ...this.#d.live.config.unitCategories]);
        if (notice) this.#d.logger.warn({ local: job.file.localPath, remote: job.file.bucketPath, category: notice.category ?? null }, notice.message);
        this.#d.onUploaded({ localPath: job.file.localPath, bucketPath: job.file.bucketPath, sizeBytes: bytes, localSizeBytes: job.file.sizeBytes, durationMs });
      } else if (result.error.code === 'HFO_CONFLICT') {
        // Someone wrote the path around our write (right before it, or right after it): the path does
        // not hold ours, so it is not taken as ours (the next attempt checks again) and the file is a conflict.
        state.clearWriteAttempt(job.file.localPath);
        const agent = this.#d.live.config.agentId;
        this.#d.onProblem(
          job.file,
          'conflict',
          `${result.error.message}. Per its name the file is ${agent}'s: whoever wrote it publishes as ${agent} ` +
            '(another hf-outbox with its own state, or a manual upload)',
        );
      } else {
        this.#d.onFileError(job, result.error);
      }
    }
  }

  /**
   * Results JSON must carry experiment and score; a missing agent_id or timestamp is filled in the
   * uploaded copy (the local file is never touched). Rejected files are not uploaded.
   */
  async #checkResults(all: UploadJob[]): Promise<{ batch: UploadJob[]; contents: Map<UploadJob, Uint8Array> }> {
    const batch: UploadJob[] = [];
    const contents = new Map<UploadJob, Uint8Array>();
    for (const job of all) {
      if (!isResultsPath(job.file.localPath)) {
        batch.push(job);
        continue;
      }
      if (job.file.sizeBytes > MAX_RESULTS_BYTES) {
        this.#d.onProblem(job.file, 'rejected', `${job.file.localPath} is larger than ${MAX_RESULTS_BYTES} bytes; a results JSON is a small summary`);
        continue;
      }
      let bytes: Buffer;
      try {
        const chunks: Buffer[] = [];
        for await (const c of this.#d.fs.openVerified({ root: this.#d.live.config.outbox, relPath: job.file.localPath }, job.file)) chunks.push(c as Buffer);
        bytes = Buffer.concat(chunks);
      } catch (error) {
        this.#d.onFileError(job, toOutboxError(error, 'HFO_FILE_UNREADABLE'));
        continue;
      }
      const checked = checkResults(bytes, { agentId: this.#d.live.config.agentId, now: new Date(this.#d.clock.now()) });
      if (!checked.ok) {
        this.#d.onProblem(job.file, 'rejected', `${job.file.localPath}: ${checked.reason}`);
        continue;
      }
      if (checked.filled.length > 0) {
        this.#d.logger.info({ local: job.file.localPath, filled: checked.filled }, `filled ${checked.filled.join(' and ')} in the uploaded copy`);
      }
      // The bytes just read (and verified unchanged) are what goes up: no second read of the file.
      contents.set(job, checked.content);
      batch.push(job);
    }
    return { batch, contents };
  }

  /** Compares by Xet hash when the bucket lists one (no download), else by reading both sides. */
  async #sameContent(file: TrackedFile, remote: RemoteEntry): Promise<boolean> {
    if (remote.sizeBytes !== file.sizeBytes) return false;
    const local = () => this.#d.fs.openVerified({ root: this.#d.live.config.outbox, relPath: file.localPath }, file);
    try {
      // Either chunking rule: a file uploaded by an older client (or hf-outbox) is the same bytes.
      if (remote.xetHash) return (await matchXetHash(local, remote.xetHash, file.sizeBytes)) !== undefined;
      const [a, b] = await Promise.all([sha256Of(local()), this.#d.bucket.download(file.bucketPath).then(sha256Of)]);
      return a === b;
    } catch (error) {
      this.#d.logger.warn({ local: file.localPath, err: (error as Error).message }, 'could not compare with the bucket copy');
      return false;
    }
  }
}

/** Logs a line every PROGRESS_LOG_MS for each large file of an upload call, with percent and rate. */
class ProgressLog {
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #startedAt: number;
  readonly #lastLogAt = new Map<string, number>();
  readonly #lastSavedAt = new Map<string, number>();
  readonly #save: (p: UploadProgress) => void;

  constructor(clock: Clock, log: Logger, startedAt: number, save: (p: UploadProgress) => void) {
    this.#clock = clock;
    this.#log = log;
    this.#startedAt = startedAt;
    this.#save = save;
  }

  /** True once a progress row was written (only large files get one). */
  saved = false;

  update(p: UploadProgress): void {
    if (p.bytesTotal < LARGE_FILE_BYTES || p.bytesDone >= p.bytesTotal) return;
    const now = this.#clock.now();
    if (now - (this.#lastSavedAt.get(p.bucketPath) ?? 0) >= PROGRESS_SAVE_MS) {
      this.#lastSavedAt.set(p.bucketPath, now);
      this.#save(p);
      this.saved = true;
    }
    if (now - (this.#lastLogAt.get(p.bucketPath) ?? this.#startedAt) < PROGRESS_LOG_MS) return;
    this.#lastLogAt.set(p.bucketPath, now);
    const seconds = Math.max(0.001, (now - this.#startedAt) / 1000);
    this.#log.info(
      {
        remote: p.bucketPath,
        percent: Math.floor((100 * p.bytesDone) / p.bytesTotal),
        bytesDone: p.bytesDone,
        bytesTotal: p.bytesTotal,
        bytesPerSecond: Math.round(p.bytesDone / seconds),
      },
      'uploading',
    );
  }
}
