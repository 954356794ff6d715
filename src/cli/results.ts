/**
 * `hf-outbox results`: a leaderboard of every results JSON in the bucket (artifacts/results/**),
 * best score first (`--ascending` for lower-is-better metrics). Files that are not valid results
 * are skipped with a warning naming the file and why.
 */
import type { Writable } from 'node:stream';
import { openBucket } from '../adapters/bucket.js';
import { NodeOutboxFs } from '../adapters/node-fs.js';
import { systemClock } from '../adapters/system-clock.js';
import { readResult } from '../conventions/results.js';
import type { BucketClient, RemoteEntry } from '../core/ports.js';
import { splitExtension } from '../pipeline/naming.js';
import { forEachLimited, readCapped } from './board.js';
import type { CommandContext } from './context.js';

export interface ResultsOptions {
  /** Only results whose experiment contains this text (case-insensitive). */
  experiment?: string | undefined;
  json: boolean;
  /** Lower scores are better (loss, perplexity, WER). */
  ascending: boolean;
  out?: Writable | NodeJS.WritableStream;
  bucket?: BucketClient;
}

export interface LeaderboardRow {
  rank: number;
  score: number;
  agentId: string;
  experiment: string;
  model: string | undefined;
  timestamp: string | undefined;
  path: string;
}

export const RESULTS_PREFIX = 'artifacts/results';
/** Results files bigger than this are skipped (a leaderboard needs a few fields, not megabytes of predictions). */
export const MAX_RESULTS_BYTES = 32 * 1024 * 1024;

export async function runResults(ctx: CommandContext, options: ResultsOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const bucket = options.bucket ?? (await openBucket(ctx.config, { fs: new NodeOutboxFs(), clock: systemClock, logger: ctx.logger }));

  const entries: RemoteEntry[] = [];
  for await (const e of bucket.list(RESULTS_PREFIX)) if (e.path.toLowerCase().endsWith('.json')) entries.push(e);

  const rows: Array<Omit<LeaderboardRow, 'rank'>> = [];
  let skipped = 0;
  const skip = (path: string, reason: string) => {
    skipped++;
    ctx.logger.warn({ path, reason }, `skipping ${path}: ${reason}`);
  };
  await forEachLimited(entries, 8, async (e) => {
    if (e.sizeBytes > MAX_RESULTS_BYTES) return skip(e.path, `larger than ${MAX_RESULTS_BYTES / 1024 / 1024} MiB`);
    let bytes: Uint8Array;
    try {
      bytes = await readCapped(await bucket.download(e.path), MAX_RESULTS_BYTES + 1);
    } catch (error) {
      return skip(e.path, `could not be read (${(error as Error).message})`);
    }
    const read = readResult(bytes);
    if (!read.ok) return skip(e.path, read.reason);
    const { record } = read;
    rows.push({
      score: record.score,
      agentId: record.agentId ?? agentFromFileName(e.path) ?? '?',
      experiment: record.experiment,
      model: record.model,
      timestamp: record.timestamp,
      path: e.path,
    });
  });

  const needle = options.experiment?.toLowerCase();
  const kept = needle === undefined ? rows : rows.filter((r) => r.experiment.toLowerCase().includes(needle));
  const ranked = rankRows(kept, options.ascending);

  if (options.json) {
    for (const r of ranked) {
      out.write(
        `${JSON.stringify({ rank: r.rank, score: r.score, agent_id: r.agentId, experiment: r.experiment, model: r.model ?? null, timestamp: r.timestamp ?? null, path: r.path })}\n`,
      );
    }
    return 0;
  }
  if (ranked.length === 0) {
    out.write(`no results${needle === undefined ? '' : ` matching "${options.experiment}"`} in ${bucket.description}/${RESULTS_PREFIX}/\n`);
  } else {
    out.write(formatTable(ranked));
  }
  const order = options.ascending ? 'lowest score first (--ascending)' : 'highest score first';
  const skippedNote = skipped > 0 ? `; ${skipped} file${skipped === 1 ? '' : 's'} skipped (see warnings)` : '';
  const filterNote = needle === undefined ? '' : ` matching "${options.experiment}"`;
  out.write(`\n${ranked.length} result${ranked.length === 1 ? '' : 's'}${filterNote}, ${order}${skippedNote}\n`);
  return 0;
}

/** Sorts best first and ranks with ties sharing a rank (1, 2, 2, 4). Ties list the older result first. */
export function rankRows(rows: ReadonlyArray<Omit<LeaderboardRow, 'rank'>>, ascending: boolean): LeaderboardRow[] {
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

export function formatTable(rows: readonly LeaderboardRow[]): string {
  const header = ['rank', 'score', 'agent_id', 'experiment', 'model', 'path'];
  const cells = rows.map((r) => [
    String(r.rank),
    String(r.score),
    clean(r.agentId, 32),
    clean(r.experiment, 60),
    clean(r.model ?? '', 40),
    clean(r.path, 200),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: readonly string[]) =>
    c
      .map((v, i) => (i === 1 ? v.padStart(widths[i] as number) : v.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...cells.map(line)].join('\n')}\n`;
}

/** `artifacts/results/gsm8k/eval_agent-02.json` → `agent-02` (the last `_` part of the name, per the conventions). */
export function agentFromFileName(bucketPath: string): string | undefined {
  const [stem] = splitExtension(bucketPath.slice(bucketPath.lastIndexOf('/') + 1));
  const i = stem.lastIndexOf('_');
  return i > 0 && i < stem.length - 1 ? stem.slice(i + 1) : undefined;
}

/** One line, no control characters, clipped with an ellipsis. */
function clean(s: string, max: number): string {
  const flat = s.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
