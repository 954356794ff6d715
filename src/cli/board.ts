/**
 * `hf-outbox board`: lists the announcements in message_board/ of the bucket (either backend),
 * newest first. `--follow` keeps polling and prints each new message as it appears.
 */
import type { Writable } from 'node:stream';
import { openBucket } from '../adapters/bucket.js';
import { NodeOutboxFs } from '../adapters/node-fs.js';
import { systemClock } from '../adapters/system-clock.js';
import { boardSortTime, formatBytes, isFutureTime, type BoardMessage } from '../conventions/message.js';
import type { BucketClient } from '../core/ports.js';
import { forTerminal } from '../core/terminal-text.js';
import { BoardReader, MAX_MESSAGE_BYTES, byTimeDescending } from '../read/board.js';
import type { CommandContext } from './context.js';

export interface BoardOptions {
  /** Only messages at most this old: `30m`, `2h`, `7d`, `1h30m`. */
  since?: string | undefined;
  /** Only this agent's messages. */
  agent?: string | undefined;
  follow: boolean;
  json: boolean;
  out?: Writable | NodeJS.WritableStream;
  err?: Writable | NodeJS.WritableStream;
  /** Stops --follow (SIGINT in the CLI). */
  signal?: AbortSignal;
  /** How often --follow polls. */
  pollMs?: number;
  /** Defaults to the configured bucket. */
  bucket?: BucketClient;
  now?: () => number;
}

export const DEFAULT_POLL_MS = 15_000;
export { MAX_MESSAGE_BYTES };
export { forEachLimited, readCapped } from '../read/io.js';

export async function runBoard(ctx: CommandContext, options: BoardOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const err = options.err ?? process.stderr;
  const now = options.now ?? Date.now;
  let sinceMs: number | undefined;
  if (options.since !== undefined) {
    try {
      sinceMs = parseDuration(options.since);
    } catch (error) {
      err.write(`hf-outbox: --since: ${(error as Error).message}\n`);
      return 2;
    }
  }
  const bucket = options.bucket ?? (await openBucket(ctx.config, { fs: new NodeOutboxFs(), clock: systemClock, logger: ctx.logger }));
  const reader = new BoardReader(bucket, ctx.logger);

  const select = (all: BoardMessage[]) =>
    all.filter((m) => {
      if (options.agent !== undefined && m.agentId !== options.agent) return false;
      if (sinceMs !== undefined && boardSortTime(m, now()) < now() - sinceMs) return false;
      return true;
    });

  const first = select(await reader.read(options.signal));
  const printed = new Set<string>();
  const newestFirst = [...first].sort(byTimeDescending(now()));
  if (newestFirst.length === 0 && !options.json) {
    out.write(options.follow ? 'no messages yet; waiting for new ones (Ctrl-C to stop)\n' : 'no messages\n');
  }
  for (const m of newestFirst) {
    out.write(options.json ? `${JSON.stringify(toJson(m, now()))}\n` : formatMessage(m, now()));
    printed.add(m.path);
  }
  if (!options.follow) return 0;

  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  while (!options.signal?.aborted) {
    if (!(await sleep(pollMs, options.signal))) break;
    let all: BoardMessage[];
    try {
      all = await reader.read(options.signal);
    } catch (error) {
      if (options.signal?.aborted) break;
      ctx.logger.warn({ err: (error as Error).message }, 'could not read the message board; trying again at the next poll');
      continue;
    }
    // New messages in the order they were posted: a follow stream reads top to bottom.
    const fresh = select(all).filter((m) => !printed.has(m.path)).sort(byTimeDescending(now())).reverse();
    for (const m of fresh) {
      out.write(options.json ? `${JSON.stringify(toJson(m, now()))}\n` : formatMessage(m, now()));
      printed.add(m.path);
    }
  }
  return 0;
}

export function toJson(m: BoardMessage, nowMs: number = Date.now()): Record<string, unknown> {
  return {
    path: m.path,
    agent_id: m.agentId ?? null,
    claimed_agent_id: m.claimedAgentId ?? null,
    timestamp: m.timestamp?.toISOString().replace(/\.000Z$/, 'Z') ?? null,
    timestamp_in_future: isFutureTime(m.timestamp, nowMs),
    title: m.title,
    tags: m.tags,
    supersedes: m.supersedes ?? null,
    artifacts: m.artifacts.map((a) => ({
      path: a.path,
      uri: a.uri ?? null,
      kind: a.kind ?? null,
      size_bytes: a.sizeBytes ?? null,
      file_count: a.fileCount ?? null,
    })),
    body: m.body,
  };
}

/** Two or more lines per message: time, agent and title; then each artifact with its size; then the message path. */
export function formatMessage(m: BoardMessage, nowMs: number = Date.now()): string {
  const stated = m.timestamp === undefined ? 'unknown time        ' : m.timestamp.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
  const when = isFutureTime(m.timestamp, nowMs) ? `${stated} (in the future)` : stated;
  // The author is the file name's agent id; a front matter naming someone else is flagged, never believed.
  const author = `${forTerminal(m.agentId ?? '?')}${m.claimedAgentId === undefined ? '' : ` (front matter claims ${forTerminal(m.claimedAgentId)}: not verified)`}`;
  const tags = m.tags.length > 0 ? `  [${m.tags.map((t) => forTerminal(t)).join(', ')}]` : '';
  const lines = [`${when}  ${author}  ${forTerminal(m.title)}${tags}`];
  if (m.supersedes !== undefined) lines.push(`    updates ${forTerminal(m.supersedes)}`);
  for (const a of m.artifacts) {
    const facts: string[] = [];
    if (a.kind === 'directory') facts.push(a.fileCount === undefined ? 'directory' : `directory, ${a.fileCount} file${a.fileCount === 1 ? '' : 's'}`);
    if (a.sizeBytes !== undefined) facts.push(formatBytes(a.sizeBytes));
    const shown = a.kind === 'directory' && !a.path.endsWith('/') ? `${a.path}/` : a.path;
    lines.push(`    ${forTerminal(shown)}${facts.length > 0 ? `  (${facts.join(', ')})` : ''}`);
  }
  lines.push(`    ${forTerminal(m.path)}`);
  return `${lines.join('\n')}\n\n`;
}

const DURATION_UNITS: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/**
 * Parses a duration such as `90s`, `30m`, `2h`, `7d`, `1w`, `1h30m` or `1.5h` into milliseconds.
 * Throws an Error saying what is expected when the text is not one.
 */
export function parseDuration(text: string): number {
  const s = text.trim().toLowerCase();
  const part = /(\d+(?:\.\d+)?)\s*([smhdw])/y;
  let total = 0;
  let at = 0;
  let parts = 0;
  while (at < s.length) {
    part.lastIndex = at;
    const m = part.exec(s);
    if (m === null) break;
    total += Number(m[1]) * (DURATION_UNITS[m[2] as string] as number);
    at = part.lastIndex;
    parts++;
    while (s[at] === ' ') at++;
  }
  if (parts === 0 || at !== s.length || !Number.isFinite(total)) {
    throw new Error(`"${text}" is not a duration; expected a number and a unit (s, m, h, d, w), e.g. 30m, 2h, 7d or 1h30m`);
  }
  return Math.round(total);
}

/** Resolves true after `ms`, or false as soon as the signal aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
