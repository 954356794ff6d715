/**
 * `hf-outbox results`: a leaderboard of every results JSON in the bucket (artifacts/results/**),
 * best score first (`--ascending` for lower-is-better metrics). Files that are not valid results
 * are skipped with a warning naming the file and why.
 */
import type { Writable } from 'node:stream';
import { openBucket } from '../adapters/bucket.js';
import { NodeOutboxFs } from '../adapters/node-fs.js';
import { systemClock } from '../adapters/system-clock.js';
import type { BucketClient } from '../core/ports.js';
import { forTerminal } from '../core/terminal-text.js';
import { RESULTS_PREFIX, ResultsReader, rankRows, type LeaderboardRow } from '../read/results.js';
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

export { MAX_RESULTS_BYTES, RESULTS_PREFIX, agentFromFileName, rankRows, type LeaderboardRow } from '../read/results.js';

export async function runResults(ctx: CommandContext, options: ResultsOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const bucket = options.bucket ?? (await openBucket(ctx.config, { fs: new NodeOutboxFs(), clock: systemClock, logger: ctx.logger }));

  const { rows, skipped: skippedFiles } = await new ResultsReader(bucket).read();
  for (const { path, reason } of skippedFiles) ctx.logger.warn({ path, reason }, `skipping ${path}: ${reason}`);
  const skipped = skippedFiles.length;

  const needle = options.experiment?.toLowerCase();
  const kept = needle === undefined ? rows : rows.filter((r) => r.experiment.toLowerCase().includes(needle));
  const ranked = rankRows(kept, options.ascending);

  if (options.json) {
    for (const r of ranked) {
      out.write(
        `${JSON.stringify({ rank: r.rank, score: r.score, agent_id: r.agentId, claimed_agent_id: r.claimedAgentId ?? null, experiment: r.experiment, model: r.model ?? null, timestamp: r.timestamp ?? null, path: r.path })}\n`,
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

export function formatTable(rows: readonly LeaderboardRow[]): string {
  const header = ['rank', 'score', 'agent_id', 'experiment', 'model', 'path'];
  const cells = rows.map((r) => [
    String(r.rank),
    String(r.score),
    clean(r.claimedAgentId === undefined ? r.agentId : `${r.agentId} (claims ${r.claimedAgentId})`, 64),
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

/** One line, no control characters, clipped with an ellipsis. */
function clean(s: string, max: number): string {
  const flat = forTerminal(s.trim());
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
