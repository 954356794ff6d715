/**
 * Reads the leaderboard of a bucket: every `.json` under `artifacts/results/`, validated by the
 * conventions' `readResult`, ranked best first. Files that are not valid results are returned apart,
 * each with the reason. Used by `hf-outbox results` and the dashboard: one code path.
 */
import { agentFromFileName, readResult, resultAuthor } from '../conventions/results.js';
import type { BucketClient, RemoteEntry } from '../core/ports.js';
import { forEachLimited, readCapped } from './io.js';

export const RESULTS_PREFIX = 'artifacts/results';
/** Results files bigger than this are skipped (a leaderboard needs a few fields, not megabytes of predictions). */
export const MAX_RESULTS_BYTES = 32 * 1024 * 1024;
const DOWNLOAD_CONCURRENCY = 8;

export interface ResultRow {
  score: number;
  /** The author: the file name's agent id ('?' when it carries none). */
  agentId: string;
  /** The JSON's agent_id when it names someone else than the file name: flagged, never the author. */
  claimedAgentId?: string | undefined;
  experiment: string;
  model: string | undefined;
  timestamp: string | undefined;
  path: string;
}

export interface LeaderboardRow extends ResultRow {
  rank: number;
}

export interface SkippedResult {
  path: string;
  reason: string;
}

export interface ResultsRead {
  rows: ResultRow[];
  skipped: SkippedResult[];
}

type Cached = { ok: true; row: ResultRow } | { ok: false; skip: SkippedResult };

export class ResultsReader {
  readonly #bucket: BucketClient;
  #cache = new Map<string, Cached>();

  constructor(bucket: BucketClient) {
    this.#bucket = bucket;
  }

  /** Every results file, read once per version (path, size and hash). */
  async read(signal?: AbortSignal): Promise<ResultsRead> {
    const entries: RemoteEntry[] = [];
    for await (const e of this.#bucket.list(RESULTS_PREFIX)) if (e.path.toLowerCase().endsWith('.json')) entries.push(e);
    const keyOf = (e: RemoteEntry) => `${e.path}\n${e.sizeBytes}\n${e.xetHash ?? e.uploadedAt ?? ''}`;
    const next = new Map<string, Cached>();
    for (const e of entries) {
      const hit = this.#cache.get(keyOf(e));
      if (hit !== undefined) next.set(keyOf(e), hit);
    }
    await forEachLimited(
      entries.filter((e) => !next.has(keyOf(e))),
      DOWNLOAD_CONCURRENCY,
      async (e) => {
        next.set(keyOf(e), await this.#readOne(e, signal));
      },
    );
    this.#cache = next;
    const rows: ResultRow[] = [];
    const skipped: SkippedResult[] = [];
    for (const e of entries) {
      const c = next.get(keyOf(e));
      if (c === undefined) continue;
      if (c.ok) rows.push(c.row);
      else skipped.push(c.skip);
    }
    return { rows, skipped };
  }

  async #readOne(e: RemoteEntry, signal: AbortSignal | undefined): Promise<Cached> {
    const skip = (reason: string): Cached => ({ ok: false, skip: { path: e.path, reason } });
    if (e.sizeBytes > MAX_RESULTS_BYTES) return skip(`larger than ${MAX_RESULTS_BYTES / 1024 / 1024} MiB`);
    let bytes: Uint8Array;
    try {
      bytes = await readCapped(await this.#bucket.download(e.path, signal ? { signal } : {}), MAX_RESULTS_BYTES + 1);
    } catch (error) {
      if (signal?.aborted) throw error;
      return skip(`could not be read (${(error as Error).message})`);
    }
    const read = readResult(bytes);
    if (!read.ok) return skip(read.reason);
    const { record } = read;
    const author = resultAuthor(e.path, record.agentId);
    return {
      ok: true,
      row: {
        score: record.score,
        agentId: author.agentId ?? '?',
        claimedAgentId: author.claimedAgentId,
        experiment: record.experiment,
        model: record.model,
        timestamp: record.timestamp,
        path: e.path,
      },
    };
  }
}

/** Sorts best first and ranks with ties sharing a rank (1, 2, 2, 4). Ties list the older result first. */
export function rankRows(rows: readonly ResultRow[], ascending: boolean): LeaderboardRow[] {
  const sorted = [...rows].sort((a, b) => {
    if (a.score !== b.score) return ascending ? a.score - b.score : b.score - a.score;
    const ta = a.timestamp ?? '';
    const tb = b.timestamp ?? '';
    if (ta !== tb) return ta < tb ? -1 : 1;
    return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
  });
  let rank = 0;
  return sorted.map((r, i) => {
    if (i === 0 || r.score !== sorted[i - 1]?.score) rank = i + 1;
    return { rank, ...r };
  });
}

export { agentFromFileName };
