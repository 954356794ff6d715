/**
 * Stage "announce": posts one message per note version (or per delivered unit, with
 * --auto-announce) on message_board/, only once every file of the artifact has landed and been
 * recorded. Exactly once across crashes: the rendered message and its path are recorded before
 * the write (`posting`), so a restart re-writes the same bytes at the same path instead of
 * posting again; `posted` is recorded after.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { MESSAGE_BOARD_ROOT, parseMessage, renderMessage, type MessageArtifact } from '../conventions/message.js';
import { parseNote, resolveNoteTarget, type ArtifactRef } from '../conventions/note.js';
import type { LiveConfig } from '../config/live.js';
import { toOutboxError } from '../core/errors.js';
import type { BucketClient, Clock, OutboxFs } from '../core/ports.js';
import type { Fingerprint } from '../core/types.js';
import type { Logger } from '../log.js';
import type { AnnouncementRecord, StateStore } from '../state/store.js';
import { buildCheckpointPost, checkpointUnitOf, runNotePath, type CheckpointUnit } from './checkpoint-post.js';
import { isStepFolderName, mapPath } from './naming.js';

export interface AnnouncerDeps {
  /** Told about every note that is rejected (malformed, ambiguous, too large). */
  onRejected?: (notePath: string, reason: string) => void;
  /** The configuration and naming rules now (a reload changes what the next use reads). */
  live: Pick<LiveConfig, 'config' | 'rules'>;
  fs: OutboxFs;
  bucket: BucketClient;
  state: StateStore;
  clock: Clock;
  logger: Logger;
}

/** Notes larger than this are not read (a note is prose; a huge one is a mistake or an attack). */
export const MAX_NOTE_BYTES = 1024 * 1024;
const AUTO_PREFIX = 'auto:';
/** Source of a checkpoint's post: `checkpoint:<unit path>` (one post per delivered version of it). */
const CHECKPOINT_PREFIX = 'checkpoint:';
/** A message that could not be written is tried again after this long. */
const REPOST_DELAY_MS = 30_000;

export class Announcer {
  readonly #d: AnnouncerDeps;
  /** Posts run one at a time, in order: messages are tiny, and order on the board matters to readers. */
  #chain: Promise<void> = Promise.resolve();
  #pending = 0;
  #idleWaiters: Array<() => void> = [];
  readonly #cancelRetries = new Set<() => void>();

  constructor(deps: AnnouncerDeps) {
    this.#d = deps;
  }

  /** A note settled: read it, find what it announces, and post it once that has landed. */
  noteSettled(notePath: string, fingerprint: Fingerprint): void {
    this.#enqueue(() => this.#onNote(notePath, fingerprint));
  }

  /** Files of a unit were recorded as uploaded: post what waited for it, and auto-announce it. */
  unitDelivered(unitPath: string): void {
    this.#enqueue(() => this.#onUnitDelivered(unitPath));
  }

  /** A unit's file failed or was rejected: its note is held back, with the reason for `status`. */
  unitProblem(unitPath: string): void {
    this.#enqueue(async () => {
      for (const a of this.#d.state.announcements({ target: unitPath, states: ['waiting', 'held'] })) await this.#tryPost(a);
    });
  }

  /** At start: finish posts a crash cut off, and re-check what waits. */
  resume(): void {
    this.#enqueue(async () => {
      for (const a of this.#d.state.announcements({ states: ['posting', 'waiting', 'held'] })) await this.#tryPost(a);
    });
  }

  /** Resolves once no announcement work is queued. */
  whenIdle(): Promise<void> {
    return this.#pending === 0 ? Promise.resolve() : new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  stop(): void {
    for (const cancel of this.#cancelRetries) cancel();
    this.#cancelRetries.clear();
  }

  #enqueue(work: () => Promise<void>): void {
    this.#pending++;
    this.#chain = this.#chain
      .then(work)
      .catch((error: unknown) => this.#d.logger.error({ err: error }, 'announcement failed'))
      .finally(() => {
        this.#pending--;
        if (this.#pending === 0) {
          const waiters = this.#idleWaiters;
          this.#idleWaiters = [];
          for (const w of waiters) w();
        }
      });
  }

  async #onNote(notePath: string, fingerprint: Fingerprint): Promise<void> {
    const { state, logger } = this.#d;
    if (fingerprint.sizeBytes > MAX_NOTE_BYTES) {
      return this.#reject(notePath, `too-large:${fingerprint.sizeBytes}:${fingerprint.mtimeMs}`, `${notePath} is ${fingerprint.sizeBytes} bytes; a note may hold at most ${MAX_NOTE_BYTES} bytes`);
    }
    let text: string;
    try {
      const chunks: Buffer[] = [];
      for await (const c of this.#d.fs.openVerified({ root: this.#d.live.config.outbox, relPath: notePath }, fingerprint)) chunks.push(c as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
    } catch (error) {
      logger.warn({ note: notePath, err: toOutboxError(error).message }, 'note could not be read; it is read again when it changes');
      return;
    }
    const version = sha256(text);
    const known = state.announcement(notePath);
    if (known?.version === version && known.state !== 'rejected') return this.#tryPost(known);
    const parsed = parseNote(text, notePath);
    if (!parsed.ok) return this.#reject(notePath, version, parsed.error);
    const target = resolveNoteTarget(notePath, await this.#candidates(notePath), this.#d.live.rules.unitCategories);
    if (target.kind === 'ambiguous') return this.#reject(notePath, version, target.error);
    const unit = target.kind === 'artifact' ? target.target.unitPath : target.kind === 'awaiting' ? target.unitPath : '';
    const reason =
      target.kind === 'awaiting'
        ? `waiting for the folder ${unit}/ to appear (a note in ${unit.split('/')[0]}/ announces the folder of its name)`
        : unit === ''
          ? 'a note with no artifact: posted alone'
          : `waiting for ${unit} to land`;
    state.announcementWaiting(notePath, version, unit, reason);
    await this.#tryPost(state.announcement(notePath) as AnnouncementRecord);
  }

  async #onUnitDelivered(unitPath: string): Promise<void> {
    const { state } = this.#d;
    const { config } = this.#d.live;
    for (const a of state.announcements({ target: unitPath, states: ['waiting', 'held'] })) await this.#tryPost(a);
    const checkpoint = checkpointUnitOf(unitPath, this.#d.live.rules);
    if (checkpoint !== undefined) return this.#onCheckpointDelivered(checkpoint);
    const category = unitPath.split('/')[0] ?? '';
    if (!config.autoAnnounce.includes(category)) return;
    // A run folder's own files (logs, README) change all along: its checkpoints are what is announced.
    if (await this.#isRunFolder(unitPath)) return;
    const noted = state.announcements({ target: unitPath }).some((a) => !a.source.startsWith(AUTO_PREFIX));
    const files = state.unitFiles(unitPath);
    if (noted || files.length === 0 || files.some((f) => f.state !== 'uploaded')) return;
    // One generated message per delivered version of the unit.
    const version = sha256(files.map((f) => `${f.bucketPath}\0${f.sizeBytes}\0${f.mtimeMs}`).join('\n'));
    const source = `${AUTO_PREFIX}${unitPath}`;
    const known = state.announcement(source);
    if (known?.version === version) return this.#tryPost(known);
    state.announcementWaiting(source, version, unitPath, `waiting for ${unitPath} to land`);
    await this.#tryPost(state.announcement(source) as AnnouncementRecord);
  }

  /**
   * A checkpoint of a run folder landed: one post for this version of it, when the run is announced
   * (`--auto-announce` for its category, or a note beside the run folder). A note inside the
   * checkpoint folder announces it instead, as any unit's note does.
   */
  async #onCheckpointDelivered(ckpt: CheckpointUnit): Promise<void> {
    const { state } = this.#d;
    const { config } = this.#d.live;
    const noteRecord = state.announcement(runNotePath(ckpt.runPath));
    // The run's note may have waited for the run folder's own files: it is the run's description now.
    if (noteRecord !== undefined && (noteRecord.state === 'waiting' || noteRecord.state === 'held')) await this.#tryPost(noteRecord);
    const category = ckpt.unitPath.split('/')[0] ?? '';
    const runNote = await this.#d.fs.stat(this.#abs(runNotePath(ckpt.runPath)));
    if (!config.autoAnnounce.includes(category) && runNote?.kind !== 'file') return;
    const noted = state.announcements({ target: ckpt.unitPath }).some((a) => !a.source.startsWith(CHECKPOINT_PREFIX) && !a.source.startsWith(AUTO_PREFIX));
    const files = state.unitFiles(ckpt.unitPath);
    if (noted || files.length === 0 || files.some((f) => f.state !== 'uploaded')) return;
    const version = sha256(files.map((f) => `${f.bucketPath}\0${f.sizeBytes}\0${f.mtimeMs}`).join('\n'));
    const source = `${CHECKPOINT_PREFIX}${ckpt.unitPath}`;
    const known = state.announcement(source);
    if (known?.version === version) return this.#tryPost(known);
    state.announcementWaiting(source, version, ckpt.unitPath, `waiting for ${ckpt.unitPath} to land`);
    await this.#tryPost(state.announcement(source) as AnnouncementRecord);
  }

  /** A unit folder directly under a unit category that holds step sub-folders (`checkpoints/run1/checkpoint-100/`). */
  async #isRunFolder(unitPath: string): Promise<boolean> {
    const segments = unitPath.split('/');
    if (segments.length !== 2 || !this.#d.live.rules.unitCategories.includes(segments[0] as string) || isStepFolderName(segments[1] as string)) return false;
    if ((await this.#d.fs.list(this.#abs(unitPath))).some((e) => e.kind === 'directory' && isStepFolderName(e.name))) return true;
    // Its checkpoints may all be gone locally; their posts still say it is a run.
    return this.#d.state.announcements().some((a) => a.source.startsWith(`${CHECKPOINT_PREFIX}${unitPath}/`));
  }

  /** Posts when everything the message names has landed; otherwise records why it waits. */
  async #tryPost(a: AnnouncementRecord): Promise<void> {
    const { state, logger, clock } = this.#d;
    const { config } = this.#d.live;
    if (a.state === 'posted' || a.state === 'rejected') return;
    if (a.source.startsWith(CHECKPOINT_PREFIX)) return this.#tryPostCheckpoint(a);
    if (!a.source.startsWith(AUTO_PREFIX) && a.target !== '' && (await this.#isRunFolder(a.target))) {
      // A note beside a run folder describes the run: each checkpoint's post quotes it.
      const reason = `the description of the training run ${a.target}/: quoted in each of its checkpoint posts`;
      if (a.state !== 'quoted' || a.reason !== reason) state.announcementState(a.source, 'quoted', reason);
      return;
    }
    let messagePath = a.messagePath;
    let messageText = a.messageText;
    if (a.state !== 'posting' || messagePath === undefined || messageText === undefined) {
      const artifacts: MessageArtifact[] = [];
      if (a.target !== '') {
        const files = state.unitFiles(a.target);
        if (this.#heldBack(a, files)) return;
        if (files.length === 0 || files.some((f) => f.state !== 'uploaded')) {
          // A note awaiting its folder keeps saying so until the folder has files.
          if (files.length > 0 || a.state !== 'waiting') state.announcementState(a.source, 'waiting', `waiting for ${a.target} to land`);
          return;
        }
        const first = files[0] as (typeof files)[number];
        const m = mapPath(first.localPath, this.#d.live.rules);
        artifacts.push({
          bucketPath: m.kind === 'file' ? m.unitBucketPath : first.bucketPath,
          kind: m.kind === 'file' ? m.unitKind : 'file',
          sizeBytes: files.reduce((n, f) => n + f.sizeBytes, 0),
          fileCount: files.length,
          localPath: a.target,
        });
      }
      const note = a.source.startsWith(AUTO_PREFIX) ? undefined : await this.#readNote(a.source);
      if (note === null) return;
      const earlier = await this.#earlierPost(a.version);
      if (earlier) {
        // Posted before the records were lost: adopt that post instead of a duplicate.
        state.announcementPosting(a.source, earlier.path, earlier.text);
        state.announcementPosted(a.source);
        logger.info({ source: a.source, message: earlier.path }, 'this version is already on the board (posted before the state was lost): adopted, not posted again');
        return;
      }
      const rendered = renderMessage({
        agentId: config.agentId,
        timestamp: new Date(clock.now()),
        bucket: config.bucket,
        note,
        artifacts,
        supersedes: a.previousMessagePath,
        version: a.version,
      });
      messagePath = await this.#freePath(rendered.bucketPath);
      messageText = rendered.text;
      state.announcementPosting(a.source, messagePath, messageText);
    }
    await this.#write(a, messagePath, messageText);
  }

  /** True (and said once) while a file of the announcement's artifact failed, was rejected or conflicts: it waits for that. */
  #heldBack(a: AnnouncementRecord, files: ReturnType<StateStore['unitFiles']>): boolean {
    const blocked = files.find((f) => f.state === 'failed' || f.state === 'rejected' || f.state === 'conflict');
    if (!blocked) return false;
    const reason = `held back: ${blocked.localPath} is ${blocked.state}${blocked.lastError ? ` (${blocked.lastError})` : ''}`;
    if (a.state !== 'held' || a.reason !== reason) {
      this.#d.state.announcementState(a.source, 'held', reason);
      this.#d.logger.warn({ source: a.source, target: a.target }, reason);
    }
    return true;
  }

  /** A checkpoint's post: built from what the bucket lists once every file of the checkpoint is recorded as uploaded. */
  async #tryPostCheckpoint(a: AnnouncementRecord): Promise<void> {
    const { state } = this.#d;
    const ckpt = checkpointUnitOf(a.target, this.#d.live.rules);
    if (ckpt === undefined) return;
    let messagePath = a.messagePath;
    let messageText = a.messageText;
    if (a.state !== 'posting' || messagePath === undefined || messageText === undefined) {
      const present = state.unitFiles(a.target);
      // Rotated away locally (save_total_limit) before its post went out: the bucket still holds it.
      const files = present.length > 0 ? present : state.unitFiles(a.target, { includeGone: true }).filter((f) => f.state === 'uploaded');
      if (this.#heldBack(a, files)) return;
      if (files.length === 0 || files.some((f) => f.state !== 'uploaded')) {
        state.announcementState(a.source, 'waiting', `waiting for ${a.target} to land`);
        return;
      }
      const built = await buildCheckpointPost({ ...this.#d, config: this.#d.live.config, rules: this.#d.live.rules, readNote: (p) => this.#readNote(p) }, ckpt, files, a);
      if (!built.ok) {
        state.announcementState(a.source, 'waiting', built.wait);
        if (built.retry) this.#retryLater(a.source, built.wait);
        return;
      }
      messagePath = await this.#freePath(built.rendered.bucketPath);
      messageText = built.rendered.text;
      state.announcementPosting(a.source, messagePath, messageText);
    }
    await this.#write(a, messagePath, messageText);
  }

  /** Writes a prepared message (recorded as `posting`), then records it as posted; retried later if the write fails. */
  async #write(a: AnnouncementRecord, messagePath: string, messageText: string): Promise<void> {
    const { state, logger, bucket } = this.#d;
    const [result] = await bucket.upload([{ bucketPath: messagePath, sizeBytes: Buffer.byteLength(messageText), content: Buffer.from(messageText) }], {});
    if (result?.ok) {
      state.announcementPosted(a.source);
      logger.info({ source: a.source, message: messagePath, target: a.target || undefined }, 'announced');
      return;
    }
    const reason = result?.ok === false ? result.error.message : 'no outcome';
    logger.warn({ source: a.source, message: messagePath, err: reason, retryInMs: REPOST_DELAY_MS }, 'announcement not posted yet; will retry');
    this.#retryLater(a.source);
  }

  #retryLater(source: string, why?: string): void {
    if (why !== undefined) this.#d.logger.warn({ source, retryInMs: REPOST_DELAY_MS }, `announcement not posted yet: ${why}; will retry`);
    const cancel = this.#d.clock.setTimer(() => {
      this.#cancelRetries.delete(cancel);
      const again = this.#d.state.announcement(source);
      if (again) this.#enqueue(() => this.#tryPost(again));
    }, REPOST_DELAY_MS);
    this.#cancelRetries.add(cancel);
  }

  /**
   * This agent's post of a note version already on the board that the records do not know of (a
   * fresh or lost state). Bounded cost: one listing of message_board/ and a read of this agent's own
   * posts, once per process, and only when a post is about to be made.
   */
  async #earlierPost(version: string): Promise<{ path: string; text: string } | undefined> {
    this.#ownPosts ??= this.#loadOwnPosts();
    const found = (await this.#ownPosts).get(version);
    // Also adopted when the records lost only some posts: a version is posted once, whatever was kept.
    return found && !this.#d.state.announcements().some((a) => a.messagePath === found.path) ? found : undefined;
  }

  #ownPosts: Promise<Map<string, { path: string; text: string }>> | undefined;

  async #loadOwnPosts(): Promise<Map<string, { path: string; text: string }>> {
    const { bucket, logger } = this.#d;
    const { config } = this.#d.live;
    const posts = new Map<string, { path: string; text: string }>();
    const suffix = `_${config.agentId}.md`;
    try {
      for await (const entry of bucket.list(MESSAGE_BOARD_ROOT)) {
        if (!entry.path.endsWith(suffix) || entry.sizeBytes > 256 * 1024) continue;
        const chunks: Buffer[] = [];
        for await (const c of await bucket.download(entry.path)) chunks.push(Buffer.from(c as Uint8Array));
        const text = Buffer.concat(chunks).toString('utf8');
        const m = parseMessage(text, entry.path);
        if (m.noteVersion !== undefined && m.agentId === config.agentId) posts.set(m.noteVersion, { path: entry.path, text });
      }
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'cannot read the message board to find earlier posts of this agent; posting as usual');
      this.#ownPosts = undefined;
    }
    return posts;
  }

  /** The note's current text, parsed; null when it vanished or changed (its next version will come). */
  async #readNote(notePath: string) {
    const s = await this.#d.fs.stat(this.#abs(notePath));
    if (s?.kind !== 'file' || s.sizeBytes > MAX_NOTE_BYTES) return null;
    try {
      const chunks: Buffer[] = [];
      for await (const c of this.#d.fs.openVerified({ root: this.#d.live.config.outbox, relPath: notePath }, s)) chunks.push(c as Buffer);
      const parsed = parseNote(Buffer.concat(chunks).toString('utf8'), notePath);
      return parsed.ok ? { ...(parsed.title === undefined ? {} : { title: parsed.title }), tags: parsed.tags, body: parsed.body } : null;
    } catch {
      return null;
    }
  }

  /** Two messages in the same second with the same slug would share a path: take the next free second. */
  async #freePath(candidate: string): Promise<string> {
    let p = candidate;
    for (let i = 1; i <= 60; i++) {
      const taken = (await this.#d.bucket.stat([p])).has(p) || this.#d.state.announcements().some((a) => a.messagePath === p);
      if (!taken) return p;
      p = candidate.replace(/^(message_board\/)(\d{8}T\d{6}Z)/, (_m, root: string, ts: string) => `${root}${shiftSeconds(ts, i)}`);
    }
    return p;
  }

  /** Artifacts a note may announce: everything in its folder (any delivery state), and the unit enclosing it. */
  async #candidates(notePath: string): Promise<ArtifactRef[]> {
    const dir = path.posix.dirname(notePath);
    const refs = new Map<string, ArtifactRef>();
    const entries = await this.#d.fs.list(dir === '.' ? this.#d.live.config.outbox : this.#abs(dir));
    for (const e of entries) {
      const rel = dir === '.' ? e.name : `${dir}/${e.name}`;
      const probe = e.kind === 'directory' ? `${rel}/x` : rel;
      const m = mapPath(probe, this.#d.live.rules);
      if (m.kind !== 'file') continue;
      if (e.kind === 'directory' && m.unitKind === 'directory' && m.unitPath === rel) refs.set(rel, { unitPath: rel, unitKind: 'directory' });
      if (e.kind === 'file') refs.set(rel, { unitPath: m.unitPath, unitKind: m.unitKind });
    }
    // The unit folder the note sits in (a run folder's checkpoint sub-folder is a unit of its own).
    const enclosing = mapPath(`${dir}/x`, this.#d.live.rules);
    if (dir !== '.' && enclosing.kind === 'file' && enclosing.unitKind === 'directory' && notePath.startsWith(`${enclosing.unitPath}/`)) {
      refs.set(enclosing.unitPath, { unitPath: enclosing.unitPath, unitKind: 'directory' });
    }
    return [...refs.values()];
  }

  #reject(notePath: string, version: string, reason: string): void {
    const { state, logger } = this.#d;
    const known = state.announcement(notePath);
    if (known?.version === version && known.state === 'rejected') return;
    state.announcementWaiting(notePath, version, '', reason);
    state.announcementState(notePath, 'rejected', reason);
    logger.error({ note: notePath, state: 'rejected' }, reason);
    this.#d.onRejected?.(notePath, reason);
  }

  #abs(rel: string): string {
    return path.join(this.#d.live.config.outbox, ...rel.split('/'));
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function shiftSeconds(compact: string, seconds: number): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(compact);
  if (!m) return compact;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]! + seconds));
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}
