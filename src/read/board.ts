/**
 * Reads the message board of a bucket: lists `message_board/`, downloads each `.md` once (a file
 * already read, same path, size and hash, comes from the reader's cache) and parses it with the
 * conventions' `parseMessage`. Used by `hf-outbox board` and the dashboard: one code path.
 */
import { MESSAGE_BOARD_ROOT, boardSortTime, parseMessage, type BoardMessage } from '../conventions/message.js';
import type { BucketClient, RemoteEntry } from '../core/ports.js';
import type { Logger } from '../log.js';
import { forEachLimited, readCapped } from './io.js';

/** A message longer than this is read only this far (the board shows its head). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
const DOWNLOAD_CONCURRENCY = 8;

export class BoardReader {
  readonly #bucket: BucketClient;
  readonly #logger: Logger;
  #cache = new Map<string, BoardMessage>();

  constructor(bucket: BucketClient, logger: Logger) {
    this.#bucket = bucket;
    this.#logger = logger;
  }

  /** Every message on the board, parsed, in listing order. Unreadable files are skipped with a warning. */
  async read(signal?: AbortSignal): Promise<BoardMessage[]> {
    const entries: RemoteEntry[] = [];
    for await (const e of this.#bucket.list(MESSAGE_BOARD_ROOT)) {
      if (e.path.toLowerCase().endsWith('.md')) entries.push(e);
    }
    const keyOf = (e: RemoteEntry) => `${e.path}\n${e.sizeBytes}\n${e.xetHash ?? e.uploadedAt ?? ''}`;
    const todo = entries.filter((e) => !this.#cache.has(keyOf(e)));
    const next = new Map<string, BoardMessage>();
    await forEachLimited(todo, DOWNLOAD_CONCURRENCY, async (e) => {
      try {
        const bytes = await readCapped(await this.#bucket.download(e.path, signal ? { signal } : {}), MAX_MESSAGE_BYTES);
        const m = parseMessage(new TextDecoder().decode(bytes), e.path);
        if (m.warning !== undefined) this.#logger.warn({ path: e.path }, `message ${e.path}: ${m.warning}`);
        if (e.uploadedAt !== undefined) {
          const uploaded = new Date(e.uploadedAt);
          if (!Number.isNaN(uploaded.getTime())) {
            m.uploadedAt = uploaded;
            m.timestamp ??= uploaded;
          }
        }
        next.set(keyOf(e), m);
      } catch (error) {
        if (signal?.aborted) throw error;
        this.#logger.warn({ path: e.path, err: (error as Error).message }, `could not read message ${e.path}; skipped`);
      }
    });
    // Keep only what is still listed, so a long-running reader does not grow with replaced files.
    for (const e of entries) {
      const k = keyOf(e);
      const m = this.#cache.get(k);
      if (m !== undefined) next.set(k, m);
    }
    this.#cache = next;
    return entries.map((e) => next.get(keyOf(e))).filter((m): m is BoardMessage => m !== undefined);
  }
}

/**
 * Newest first by the conventions' sort time (a time in the future does not count); messages
 * without a time last; ties by path, descending.
 */
export function byTimeDescending(nowMs: number = Date.now()): (a: BoardMessage, b: BoardMessage) => number {
  return (a, b) => {
    const ta = boardSortTime(a, nowMs);
    const tb = boardSortTime(b, nowMs);
    if (ta !== tb) return tb - ta;
    return a.path < b.path ? 1 : a.path > b.path ? -1 : 0;
  };
}
