/**
 * Stage "record": the durable memory of what has been delivered. An embedded SQLite database
 * in WAL mode, so a crash at any moment leaves the last committed state, and `status` can read
 * while the daemon writes.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { OutboxError } from '../core/errors.js';
import { scrubSecrets } from '../core/secrets.js';
import { ARTIFACT_STATES, type ArtifactState, type Fingerprint } from '../core/types.js';
import { MIGRATIONS } from './migrations.js';

export const STATE_FILE = 'state.sqlite';

export interface StateIdentity {
  outbox: string;
  bucket: string;
  agentId: string;
}

export interface FileRecord extends Fingerprint {
  localPath: string;
  unitPath: string;
  bucketPath: string;
  contentHash: string | undefined;
  state: ArtifactState;
  attempts: number;
  lastError: string | undefined;
  localPresent: boolean;
  firstSeenAt: number;
  updatedAt: number;
  uploadedAt: number | undefined;
  /** The version that is in the bucket, when one is. */
  uploaded: Fingerprint | undefined;
  /** The earlier version of the bucket path that the last upload replaced, when it replaced one. */
  replaced: PublishedVersion | undefined;
}

/** A version of a bucket path this agent published: when, and how large. */
export interface PublishedVersion {
  uploadedAt: number;
  sizeBytes: number;
}

interface Row {
  local_path: string;
  unit_path: string;
  bucket_path: string;
  size_bytes: number;
  mtime_ms: number;
  ino: number;
  content_hash: string | null;
  state: ArtifactState;
  attempts: number;
  last_error: string | null;
  local_present: number;
  first_seen_at: number;
  updated_at: number;
  uploaded_at: number | null;
  uploaded_size: number | null;
  uploaded_mtime_ms: number | null;
  uploaded_ino: number | null;
  replaced_uploaded_at: number | null;
  replaced_size: number | null;
}

export interface UploadProgressRow {
  bucketPath: string;
  localPath: string;
  bytesDone: number;
  bytesTotal: number;
  startedAt: number;
  updatedAt: number;
}

/** `quoted`: a training run's note, quoted in each of the run's checkpoint posts rather than posted alone. */
export type AnnouncementState = 'waiting' | 'posting' | 'posted' | 'held' | 'rejected' | 'quoted';

export interface AnnouncementRecord {
  /** Outbox path of the note, or `auto:<unit path>` for a generated message. */
  source: string;
  /** Content version: sha256 of the note text, or of the unit's delivered files. */
  version: string;
  /** Unit path announced; '' for a note that announces no artifact. */
  target: string;
  state: AnnouncementState;
  reason: string | undefined;
  messagePath: string | undefined;
  messageText: string | undefined;
  /** The message of the last version that was posted: an edit names it. */
  previousMessagePath: string | undefined;
  updatedAt: number;
  postedAt: number | undefined;
}

export interface TrackedFile extends Fingerprint {
  localPath: string;
  unitPath: string;
  bucketPath: string;
}

export class StateStore {
  readonly file: string;
  readonly #db: Database.Database;
  readonly #now: () => number;

  private constructor(file: string, db: Database.Database, now: () => number) {
    this.file = file;
    this.#db = db;
    this.#now = now;
  }

  /**
   * Opens (creating and migrating) the state of one outbox → bucket pair. A state directory
   * that belongs to another pair is refused: mixing them would skip uploads that never happened.
   */
  static open(dir: string, identity: StateIdentity, options: { now?: () => number; readonly?: boolean } = {}): StateStore {
    const file = path.join(dir, STATE_FILE);
    let db: Database.Database;
    try {
      if (!options.readonly) mkdirSync(dir, { recursive: true, mode: 0o700 });
      db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
      db.pragma('busy_timeout = 5000');
      if (!options.readonly) {
        db.pragma('journal_mode = WAL');
        // NORMAL in WAL mode: a power loss may drop the last commits but never corrupts.
        db.pragma('synchronous = NORMAL');
      }
      // SQLite's own default page cache (2 MiB; better-sqlite3 builds with 16 MiB). The process keeps
      // what the cache grew to, and one pass over 100,000 rows filled all 16 MiB; with 2 MiB the
      // B-tree's inner pages still fit, and leaf pages come from the OS page cache.
      db.pragma('cache_size = -2000');
    } catch (error) {
      throw new OutboxError('HFO_STATE_INVALID', `cannot open the state database ${file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const store = new StateStore(file, db, options.now ?? Date.now);
    if (!options.readonly) store.#migrate();
    store.#checkIdentity(identity, options.readonly ?? false);
    return store;
  }

  /** The outbox → bucket pair (and agent) a state directory belongs to, read without opening it for use; undefined if unreadable. */
  static readIdentity(dir: string): StateIdentity | undefined {
    let db: Database.Database | undefined;
    try {
      db = new Database(path.join(dir, STATE_FILE), { readonly: true, fileMustExist: true });
      const rows = db.prepare('SELECT key, value FROM meta').all() as Array<{ key: string; value: string }>;
      const m = Object.fromEntries(rows.map((r) => [r.key, r.value]));
      const { outbox, bucket, agentId } = m;
      return outbox !== undefined && bucket !== undefined && agentId !== undefined ? { outbox, bucket, agentId } : undefined;
    } catch {
      return undefined;
    } finally {
      db?.close();
    }
  }

  #migrate(): void {
    const current = this.#db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new OutboxError(
        'HFO_STATE_INVALID',
        `the state database ${this.file} was written by a newer hf-outbox (schema ${current}); upgrade hf-outbox`,
      );
    }
    for (let version = current; version < MIGRATIONS.length; version++) {
      // Each migration and its version bump commit together: a crash leaves the old or the new schema.
      this.#db.transaction(() => {
        this.#db.exec(MIGRATIONS[version] as string);
        this.#db.pragma(`user_version = ${version + 1}`);
      })();
    }
  }

  #checkIdentity(identity: StateIdentity, readonly: boolean): void {
    const rows = this.#stmt('SELECT key, value FROM meta').all() as Array<{ key: string; value: string }>;
    const stored = Object.fromEntries(rows.map((r) => [r.key, r.value]));
    if (rows.length === 0) {
      if (readonly) return;
      const insert = this.#stmt('INSERT INTO meta (key, value) VALUES (?, ?)');
      this.#db.transaction(() => {
        for (const [k, v] of Object.entries(identity)) insert.run(k, v);
      })();
      return;
    }
    for (const [k, v] of Object.entries(identity)) {
      if (stored[k] !== v) {
        throw new OutboxError(
          'HFO_STATE_INVALID',
          `the state directory ${path.dirname(this.file)} belongs to ${stored['outbox']} → ${stored['bucket']} ` +
            `(agent ${stored['agentId']}), not ${identity.outbox} → ${identity.bucket} (agent ${identity.agentId}); ` +
            'give this outbox its own --state-dir',
        );
      }
    }
  }

  /** Prepared statements, compiled once: preparing is the expensive part of a small query. */
  readonly #statements = new Map<string, Database.Statement>();

  #stmt(sql: string): Database.Statement {
    let stmt = this.#statements.get(sql);
    if (stmt === undefined) {
      stmt = this.#db.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  /** Runs `fn` in one transaction (one commit for a whole batch of records); nested calls join it. */
  transaction<R>(fn: () => R): R {
    return this.#runInTransaction(fn) as R;
  }

  /** Built once: better-sqlite3 compiles BEGIN/COMMIT for every transaction() wrapper it makes. */
  #runInTransactionCached: ((fn: () => unknown) => unknown) | undefined;

  get #runInTransaction(): (fn: () => unknown) => unknown {
    this.#runInTransactionCached ??= this.#db.transaction((fn: () => unknown) => fn());
    return this.#runInTransactionCached;
  }

  get(localPath: string): FileRecord | undefined {
    const row = this.#stmt('SELECT * FROM files WHERE local_path = ?').get(localPath) as Row | undefined;
    return row && toRecord(row);
  }

  all(): FileRecord[] {
    return (this.#stmt('SELECT * FROM files ORDER BY local_path').all() as Row[]).map(toRecord);
  }

  /** Files still in the outbox whose current version has not landed (pending or uploading), without loading every record. */
  notDelivered(): FileRecord[] {
    return (
      this.#stmt(`SELECT * FROM files WHERE local_present = 1 AND state IN ('pending', 'uploading') ORDER BY local_path`).all() as Row[]
    ).map(toRecord);
  }

  /**
   * The version of `localPath` that is in the bucket, when it was delivered. One indexed lookup: a
   * scan asks file by file instead of loading every delivered version at once (100,000 of them held
   * ~45 MB of JS heap at the peak of a start-up scan, and the process keeps the heap it grew to).
   */
  deliveredVersion(localPath: string): (Fingerprint & { bucketPath: string }) | undefined {
    const row = this.#stmt(
      `SELECT bucket_path, uploaded_size, uploaded_mtime_ms, uploaded_ino FROM files WHERE local_path = ? AND state = 'uploaded' AND uploaded_size IS NOT NULL`,
    ).get(localPath) as { bucket_path: string; uploaded_size: number; uploaded_mtime_ms: number; uploaded_ino: number } | undefined;
    return row && { bucketPath: row.bucket_path, sizeBytes: row.uploaded_size, mtimeMs: row.uploaded_mtime_ms, ino: row.uploaded_ino };
  }

  /**
   * Local paths the state believes are still in the outbox but `isPresent` says are not (a rescan
   * compares them with what it found). The rows are streamed, never all held at once.
   */
  presentLocalPathsNotIn(isPresent: (localPath: string) => boolean): Array<{ localPath: string; bucketPath: string }> {
    const gone: Array<{ localPath: string; bucketPath: string }> = [];
    const rows = this.#stmt('SELECT local_path, bucket_path FROM files WHERE local_present = 1').raw(true).iterate() as IterableIterator<[string, string]>;
    for (const [localPath, bucketPath] of rows) if (!isPresent(localPath)) gone.push({ localPath, bucketPath });
    return gone;
  }

  /** True when this exact version (fingerprint) is already in the bucket at this path. */
  isDelivered(file: TrackedFile): boolean {
    const r = this.get(file.localPath);
    return (
      r !== undefined &&
      r.state === 'uploaded' &&
      r.bucketPath === file.bucketPath &&
      r.uploaded !== undefined &&
      r.uploaded.sizeBytes === file.sizeBytes &&
      r.uploaded.mtimeMs === file.mtimeMs &&
      r.uploaded.ino === file.ino
    );
  }

  /** True once this agent has written (or started writing) the bucket path: writing it again overwrites our own file. */
  /** The upload never wrote the path (someone else's file appeared first): it is not ours. */
  clearWriteAttempt(localPath: string): void {
    this.#stmt('UPDATE files SET write_attempted = 0 WHERE local_path = ? AND uploaded_at IS NULL').run(localPath);
  }

  hasWritten(bucketPath: string): boolean {
    return (
      this.#stmt('SELECT 1 FROM files WHERE bucket_path = ? AND (uploaded_at IS NOT NULL OR write_attempted = 1) LIMIT 1')
        .get(bucketPath) !== undefined
    );
  }

  /** Another local file, still present, that maps to the same bucket path (a name collision). */
  otherHolder(bucketPath: string, localPath: string): string | undefined {
    const row = this.#stmt(
        `SELECT local_path FROM files WHERE bucket_path = ? AND local_path <> ? AND local_present = 1 AND state <> 'rejected' LIMIT 1`,
      )
      .get(bucketPath, localPath) as { local_path: string } | undefined;
    return row?.local_path;
  }

  /** Delivered files still in the outbox: what a verify compares with the bucket's listing. Streamed. */
  *delivered(): IterableIterator<{ localPath: string; bucketPath: string; sizeBytes: number; contentHash: string | undefined }> {
    const rows = this.#stmt(`SELECT local_path, bucket_path, uploaded_size, content_hash FROM files WHERE state = 'uploaded' AND local_present = 1 AND uploaded_size IS NOT NULL`)
      .raw(true)
      .iterate() as IterableIterator<[string, string, number, string | null]>;
    for (const [localPath, bucketPath, sizeBytes, hash] of rows) yield { localPath, bucketPath, sizeBytes, contentHash: hash ?? undefined };
  }

  /**
   * The bucket does not hold what this record says was delivered (a re-created bucket, a cleanup):
   * the file is pending again, so the next scan sends it. It stays ours (uploaded_at is kept).
   */
  forgetDelivery(localPath: string, reason: string): void {
    this.#stmt(
      `UPDATE files SET state = 'pending', attempts = 0, last_error = @reason, updated_at = @now,
         uploaded_size = NULL, uploaded_mtime_ms = NULL, uploaded_ino = NULL WHERE local_path = @localPath`,
    ).run({ localPath, reason, now: this.#now() });
  }

  /** When the bucket was last listed and compared with the records (ms), if ever. */
  get verifiedAt(): number | undefined {
    const row = this.#stmt(`SELECT value FROM meta WHERE key = 'verifiedAt'`).get() as { value: string } | undefined;
    return row ? Number(row.value) : undefined;
  }

  markVerified(at = this.#now()): void {
    this.#stmt(`INSERT INTO meta (key, value) VALUES ('verifiedAt', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run(String(at));
  }

  /** The newest change of any record (ms), to tell how old the state is. */
  lastChangeAt(): number | undefined {
    const row = this.#stmt('SELECT MAX(updated_at) AS t FROM files').get() as { t: number | null };
    return row.t ?? undefined;
  }

  /** Records a new version as pending. Keeps the uploaded fingerprint: the bucket still holds that one. */
  markPending(file: TrackedFile): void {
    const now = this.#now();
    this.#stmt(
        `INSERT INTO files (local_path, unit_path, bucket_path, size_bytes, mtime_ms, ino, state, attempts, local_present, first_seen_at, updated_at)
         VALUES (@localPath, @unitPath, @bucketPath, @sizeBytes, @mtimeMs, @ino, 'pending', 0, 1, @now, @now)
         ON CONFLICT (local_path) DO UPDATE SET
           unit_path = excluded.unit_path, bucket_path = excluded.bucket_path,
           size_bytes = excluded.size_bytes, mtime_ms = excluded.mtime_ms, ino = excluded.ino,
           content_hash = NULL, state = 'pending', attempts = CASE WHEN files.state = 'pending' THEN files.attempts ELSE 0 END,
           last_error = NULL, local_present = 1, updated_at = @now`,
      )
      .run({ ...file, now });
  }

  /** Recorded before the upload starts, so a crash mid-upload leaves `uploading` and a restart redoes it. */
  markUploading(localPaths: readonly string[]): void {
    const stmt = this.#stmt(
      `UPDATE files SET state = 'uploading', attempts = attempts + 1, write_attempted = 1, updated_at = ? WHERE local_path = ?`,
    );
    const now = this.#now();
    this.transaction(() => {
      for (const p of localPaths) stmt.run(now, p);
    });
  }

  /**
   * The last version of a bucket path this agent published, from whichever local path (a file
   * removed and written again, a second training run into the same folder), when there was one.
   */
  lastPublished(bucketPath: string): PublishedVersion | undefined {
    const row = this.#stmt(
      'SELECT uploaded_at, uploaded_size FROM files WHERE bucket_path = ? AND uploaded_at IS NOT NULL AND uploaded_size IS NOT NULL ORDER BY uploaded_at DESC LIMIT 1',
    ).get(bucketPath) as { uploaded_at: number; uploaded_size: number } | undefined;
    return row && { uploadedAt: row.uploaded_at, sizeBytes: row.uploaded_size };
  }

  /**
   * Records a version as in the bucket. When it overwrote a version this agent had published at
   * the same bucket path, that earlier version is remembered (and returned): replacing one's own
   * file is never silent.
   */
  markUploaded(file: TrackedFile, contentHash?: string): PublishedVersion | undefined {
    const now = this.#now();
    const replaced = this.lastPublished(file.bucketPath);
    this.#stmt(
        `UPDATE files SET state = 'uploaded', last_error = NULL, updated_at = @now, uploaded_at = @now,
           size_bytes = @sizeBytes, mtime_ms = @mtimeMs, ino = @ino, content_hash = COALESCE(@contentHash, content_hash),
           uploaded_size = @sizeBytes, uploaded_mtime_ms = @mtimeMs, uploaded_ino = @ino,
           replaced_uploaded_at = @replacedAt, replaced_size = @replacedSize
         WHERE local_path = @localPath`,
      )
      .run({ ...file, contentHash: contentHash ?? null, now, replacedAt: replaced?.uploadedAt ?? null, replacedSize: replaced?.sizeBytes ?? null });
    return replaced;
  }

  /** Parks a file in a terminal-for-now state with the reason a person can act on. */
  markProblem(file: TrackedFile, state: Extract<ArtifactState, 'failed' | 'rejected' | 'conflict'>, reason: string): void {
    const now = this.#now();
    this.#stmt(
        `INSERT INTO files (local_path, unit_path, bucket_path, size_bytes, mtime_ms, ino, state, attempts, last_error, local_present, first_seen_at, updated_at)
         VALUES (@localPath, @unitPath, @bucketPath, @sizeBytes, @mtimeMs, @ino, @state, 0, @reason, 1, @now, @now)
         ON CONFLICT (local_path) DO UPDATE SET
           unit_path = excluded.unit_path, bucket_path = excluded.bucket_path,
           size_bytes = excluded.size_bytes, mtime_ms = excluded.mtime_ms, ino = excluded.ino,
           state = excluded.state, last_error = excluded.last_error, local_present = 1, updated_at = @now`,
      )
      .run({ ...file, state, reason: scrubSecrets(reason), now });
  }

  /** Puts a file back to pending after a transient failure, keeping the reason for `status`. */
  markRetry(localPath: string, reason: string): void {
    this.#stmt(`UPDATE files SET state = 'pending', last_error = ?, updated_at = ? WHERE local_path = ?`)
      .run(scrubSecrets(reason), this.#now(), localPath);
  }

  /** The local copy is gone; what is in the bucket stays (deletes never propagate). */
  markLocalGone(localPath: string): void {
    this.#stmt('UPDATE files SET local_present = 0, updated_at = ? WHERE local_path = ?').run(this.#now(), localPath);
  }

  /** A folder was removed: every file recorded under it is gone locally. Returns their paths. */
  markGoneUnder(relDir: string): string[] {
    const prefix = `${relDir}/`;
    return this.transaction(() => {
      const rows = this.#stmt(`SELECT local_path FROM files WHERE local_present = 1 AND substr(local_path, 1, ?) = ?`).all(prefix.length, prefix) as Array<{ local_path: string }>;
      const mark = this.#stmt('UPDATE files SET local_present = 0, updated_at = ? WHERE local_path = ?');
      const now = this.#now();
      for (const r of rows) mark.run(now, r.local_path);
      return rows.map((r) => r.local_path);
    });
  }

  /** At start: uploads cut off by a crash are pending again. Returns their local paths. */
  requeueInterrupted(): string[] {
    return this.#db.transaction(() => {
      this.#stmt('DELETE FROM progress').run();
      const paths = (this.#stmt(`SELECT local_path FROM files WHERE state = 'uploading'`).all() as Array<{ local_path: string }>).map(
        (r) => r.local_path,
      );
      this.#stmt(`UPDATE files SET state = 'pending', updated_at = ? WHERE state = 'uploading'`).run(this.#now());
      return paths;
    })();
  }

  /** Live progress of an upload in flight (throttled by the caller). */
  setProgress(p: UploadProgressRow): void {
    this.#stmt(
        `INSERT INTO progress (bucket_path, local_path, bytes_done, bytes_total, started_at, updated_at)
         VALUES (@bucketPath, @localPath, @bytesDone, @bytesTotal, @startedAt, @updatedAt)
         ON CONFLICT (bucket_path) DO UPDATE SET bytes_done = excluded.bytes_done, bytes_total = excluded.bytes_total, updated_at = excluded.updated_at`,
      )
      .run(p);
  }

  clearProgress(bucketPaths: readonly string[]): void {
    const stmt = this.#stmt('DELETE FROM progress WHERE bucket_path = ?');
    this.transaction(() => {
      for (const p of bucketPaths) stmt.run(p);
    });
  }

  progress(): UploadProgressRow[] {
    return (
      this.#stmt('SELECT * FROM progress ORDER BY started_at').all() as Array<{
        bucket_path: string;
        local_path: string;
        bytes_done: number;
        bytes_total: number;
        started_at: number;
        updated_at: number;
      }>
    ).map((r) => ({
      bucketPath: r.bucket_path,
      localPath: r.local_path,
      bytesDone: r.bytes_done,
      bytesTotal: r.bytes_total,
      startedAt: r.started_at,
      updatedAt: r.updated_at,
    }));
  }

  /** Failed files (still present locally) whose last attempt is older than `olderThanMs`: due a slow retry. */
  failedBefore(olderThanMs: number): FileRecord[] {
    return (
      this.#stmt(`SELECT * FROM files WHERE state = 'failed' AND local_present = 1 AND updated_at <= ? ORDER BY updated_at`)
        .all(olderThanMs) as Row[]
    ).map(toRecord);
  }

  announcement(source: string): AnnouncementRecord | undefined {
    const row = this.#stmt('SELECT * FROM announcements WHERE source = ?').get(source) as AnnouncementRow | undefined;
    return row && toAnnouncement(row);
  }

  announcements(filter: { target?: string; states?: readonly AnnouncementState[] } = {}): AnnouncementRecord[] {
    const rows = (
      filter.target === undefined
        ? this.#stmt('SELECT * FROM announcements ORDER BY source').all()
        : this.#stmt('SELECT * FROM announcements WHERE target = ? ORDER BY source').all(filter.target)
    ) as AnnouncementRow[];
    return rows.map(toAnnouncement).filter((a) => filter.states === undefined || filter.states.includes(a.state));
  }

  /**
   * A new version of a source waits to be posted. The last posted message is remembered so the
   * update can name it; an unposted earlier version is simply replaced.
   */
  announcementWaiting(source: string, version: string, target: string, reason: string): void {
    const now = this.#now();
    this.#stmt(
        `INSERT INTO announcements (source, version, target, state, reason, updated_at)
         VALUES (@source, @version, @target, 'waiting', @reason, @now)
         ON CONFLICT (source) DO UPDATE SET
           previous_message_path = CASE WHEN announcements.state = 'posted' THEN announcements.message_path ELSE announcements.previous_message_path END,
           version = excluded.version, target = excluded.target, state = 'waiting', reason = excluded.reason,
           message_path = NULL, message_text = NULL, updated_at = @now`,
      )
      .run({ source, version, target, reason: scrubSecrets(reason), now });
  }

  announcementState(source: string, state: Exclude<AnnouncementState, 'posting' | 'posted'>, reason: string): void {
    this.#stmt('UPDATE announcements SET state = ?, reason = ?, updated_at = ? WHERE source = ?').run(state, scrubSecrets(reason), this.#now(), source);
  }

  /** Recorded before the message is written, with its exact bytes: a crash is followed by the same post, never a second one. */
  announcementPosting(source: string, messagePath: string, messageText: string): void {
    this.#stmt(`UPDATE announcements SET state = 'posting', reason = NULL, message_path = ?, message_text = ?, updated_at = ? WHERE source = ?`)
      .run(messagePath, messageText, this.#now(), source);
  }

  announcementPosted(source: string): void {
    const now = this.#now();
    this.#stmt(`UPDATE announcements SET state = 'posted', reason = NULL, posted_at = ?, updated_at = ? WHERE source = ?`).run(now, now, source);
  }

  /** Files of a unit still present locally (what its announcement waits for); with `includeGone`, also those removed locally. */
  unitFiles(unitPath: string, options: { includeGone?: boolean } = {}): FileRecord[] {
    const sql = options.includeGone
      ? 'SELECT * FROM files WHERE unit_path = ? ORDER BY local_path'
      : 'SELECT * FROM files WHERE unit_path = ? AND local_present = 1 ORDER BY local_path';
    return (this.#stmt(sql).all(unitPath) as Row[]).map(toRecord);
  }

  counts(): Record<ArtifactState, number> {
    const counts = Object.fromEntries(ARTIFACT_STATES.map((s) => [s, 0])) as Record<ArtifactState, number>;
    const rows = this.#stmt('SELECT state, COUNT(*) AS n FROM files GROUP BY state').all() as Array<{
      state: ArtifactState;
      n: number;
    }>;
    for (const r of rows) counts[r.state] = r.n;
    return counts;
  }

  close(): void {
    this.#db.close();
  }
}

interface AnnouncementRow {
  source: string;
  version: string;
  target: string;
  state: AnnouncementState;
  reason: string | null;
  message_path: string | null;
  message_text: string | null;
  previous_message_path: string | null;
  updated_at: number;
  posted_at: number | null;
}

function toAnnouncement(r: AnnouncementRow): AnnouncementRecord {
  return {
    source: r.source,
    version: r.version,
    target: r.target,
    state: r.state,
    reason: r.reason ?? undefined,
    messagePath: r.message_path ?? undefined,
    messageText: r.message_text ?? undefined,
    previousMessagePath: r.previous_message_path ?? undefined,
    updatedAt: r.updated_at,
    postedAt: r.posted_at ?? undefined,
  };
}

function toRecord(r: Row): FileRecord {
  return {
    localPath: r.local_path,
    unitPath: r.unit_path,
    bucketPath: r.bucket_path,
    sizeBytes: r.size_bytes,
    mtimeMs: r.mtime_ms,
    ino: r.ino,
    contentHash: r.content_hash ?? undefined,
    state: r.state,
    attempts: r.attempts,
    lastError: r.last_error ?? undefined,
    localPresent: r.local_present === 1,
    firstSeenAt: r.first_seen_at,
    updatedAt: r.updated_at,
    uploadedAt: r.uploaded_at ?? undefined,
    uploaded:
      r.uploaded_size === null || r.uploaded_mtime_ms === null || r.uploaded_ino === null
        ? undefined
        : { sizeBytes: r.uploaded_size, mtimeMs: r.uploaded_mtime_ms, ino: r.uploaded_ino },
    replaced:
      r.replaced_uploaded_at === null || r.replaced_size === null ? undefined : { uploadedAt: r.replaced_uploaded_at, sizeBytes: r.replaced_size },
  };
}
