/** `hf-outbox status`: what is pending, uploading (with progress), failed — read from the state store, also while the daemon runs. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { lineWriter } from '../core/terminal-text.js';
import { formatBytes } from '../core/format.js';
import { ARTIFACT_STATES, type ArtifactState } from '../core/types.js';
import { STATE_FILE, StateStore, type FileRecord } from '../state/store.js';
import { describeWriterState, readWriterState, type WriterState } from '../adapters/xet/library-writer.js';
import type { CommandContext } from './context.js';
import { stateIdentity } from './context.js';
import { findStateFor, listStateDirs, type FoundState } from './state-finder.js';
import { readPresence } from '../service/presence.js';

export interface StatusReport {
  agentId: string;
  outbox: string;
  bucket: string;
  stateDir: string;
  counts: Record<ArtifactState, number>;
  bytesPending: number;
  uploading: Array<{ local: string; remote: string; bytesDone: number; bytesTotal: number; percent: number; bytesPerSecond: number }>;
  lastErrors: Array<{ local: string; remote: string; state: ArtifactState; error: string; at: string }>;
  lastSuccess: { local: string; remote: string; at: string } | null;
  /** Bytes per second delivered over the last minute. */
  throughputBytesPerSecond: number;
  localCopiesRemoved: number;
  /**
   * Bucket files of this agent whose last upload overwrote a version it had published before
   * (newest first), and files waiting to go up that will overwrite one (`pending: true`).
   */
  replaced: Array<{ local: string; remote: string; at: string | null; pending: boolean; replacedPublishedAt: string; replacedBytes: number }>;
  items: Array<{ local: string; remote: string; state: ArtifactState; error?: string; localPresent: boolean }>;
  /** Whether an hf-outbox process (watch or sync) is running on this state now. */
  daemon: { running: boolean; pid?: number; command?: string; startedAt?: string };
  /** Uploads a stopped or killed process left unfinished (shown instead of `uploading` when none runs). */
  interrupted: Array<{ local: string; remote: string; bytesDone: number; bytesTotal: number; percent: number }>;
  /** What the running process knows of the Hub: an outage (breaker open) and the last network errors. */
  hub: { unreachableSince?: string; nextProbeAt?: string; lastNetworkErrors: Array<{ at: string; error: string }> };
  announcements: Array<{ source: string; target: string; state: string; message?: string; reason?: string }>;
  /** Which Xet writer the last run of an hf:// bucket used, and why (absent before the first upload). */
  xetWriter?: WriterState;
}

const THROUGHPUT_WINDOW_MS = 60_000;

export function buildStatus(ctx: CommandContext, state: StateStore | undefined, now = Date.now(), stateDir = ctx.config.stateDir): StatusReport {
  const { config } = ctx;
  const records: FileRecord[] = state?.all() ?? [];
  const presence = readPresence(stateDir);
  const running = presence?.alive === true;
  const progress = (state?.progress() ?? []).map((p) => ({
    local: p.localPath,
    remote: p.bucketPath,
    bytesDone: p.bytesDone,
    bytesTotal: p.bytesTotal,
    percent: p.bytesTotal === 0 ? 100 : Math.floor((100 * p.bytesDone) / p.bytesTotal),
    bytesPerSecond: Math.round(p.bytesDone / Math.max(0.001, (p.updatedAt - p.startedAt) / 1000)),
  }));
  // Records still `uploading` with no process alive were cut off (kill -9, a crash): interrupted.
  const cutOff = running ? [] : records.filter((r) => r.state === 'uploading');
  const counts = state?.counts() ?? (Object.fromEntries(ARTIFACT_STATES.map((s) => [s, 0])) as Record<ArtifactState, number>);
  const uploaded = records.filter((r) => r.uploadedAt !== undefined).sort((a, b) => (b.uploadedAt ?? 0) - (a.uploadedAt ?? 0));
  const recent = uploaded.filter((r) => (r.uploadedAt ?? 0) >= now - THROUGHPUT_WINDOW_MS);
  const last = uploaded[0];
  const xetWriter = config.bucket.kind === 'hf' ? readWriterState(config.stateDir) : undefined;
  return {
    ...(xetWriter ? { xetWriter } : {}),
    agentId: config.agentId,
    outbox: config.outbox,
    bucket: config.bucket.uri,
    stateDir: config.stateDir,
    counts,
    bytesPending: records.filter((r) => r.state === 'pending' || r.state === 'uploading').reduce((n, r) => n + r.sizeBytes, 0),
    uploading: running ? progress : [],
    interrupted: cutOff.map((r) => {
      const p = progress.find((x) => x.remote === r.bucketPath);
      return { local: r.localPath, remote: r.bucketPath, bytesDone: p?.bytesDone ?? 0, bytesTotal: p?.bytesTotal ?? r.sizeBytes, percent: p?.percent ?? 0 };
    }),
    daemon: running && presence ? { running: true, pid: presence.info.pid, command: presence.info.command, startedAt: presence.info.startedAt } : { running: false },
    hub: running && presence
      ? {
          ...(presence.info.hubUnreachableSince ? { unreachableSince: presence.info.hubUnreachableSince } : {}),
          ...(presence.info.nextProbeAt ? { nextProbeAt: presence.info.nextProbeAt } : {}),
          lastNetworkErrors: presence.info.lastNetworkErrors,
        }
      : { lastNetworkErrors: presence?.info.lastNetworkErrors ?? [] },
    lastErrors: records
      .filter((r) => r.lastError !== undefined && r.state !== 'uploaded')
      .sort((a, b) => b.updatedAt - a.updatedAt)
      .slice(0, 10)
      .map((r) => ({ local: r.localPath, remote: r.bucketPath, state: r.state, error: r.lastError as string, at: new Date(r.updatedAt).toISOString() })),
    lastSuccess: last ? { local: last.localPath, remote: last.bucketPath, at: new Date(last.uploadedAt as number).toISOString() } : null,
    throughputBytesPerSecond: Math.round(recent.reduce((n, r) => n + r.sizeBytes, 0) / (THROUGHPUT_WINDOW_MS / 1000)),
    localCopiesRemoved: records.filter((r) => !r.localPresent && r.uploadedAt !== undefined).length,
    replaced: replacements(records),
    announcements: (state?.announcements() ?? []).map((a) => ({
      source: a.source,
      target: a.target,
      state: a.state,
      ...(a.messagePath === undefined ? {} : { message: a.messagePath }),
      ...(a.reason === undefined ? {} : { reason: a.reason }),
    })),
    items: records.map((r) => ({
      local: r.localPath,
      remote: r.bucketPath,
      state: r.state,
      ...(r.lastError !== undefined && r.state !== 'uploaded' ? { error: r.lastError } : {}),
      localPresent: r.localPresent,
    })),
  };
}

/** Uploads that overwrote (or, pending, will overwrite) a version of the same bucket path this agent published earlier. */
function replacements(records: readonly FileRecord[]): StatusReport['replaced'] {
  const lastPublished = new Map<string, { at: number; size: number }>();
  for (const r of records) {
    if (r.uploadedAt === undefined || r.uploaded === undefined) continue;
    const known = lastPublished.get(r.bucketPath);
    if (known === undefined || known.at < r.uploadedAt) lastPublished.set(r.bucketPath, { at: r.uploadedAt, size: r.uploaded.sizeBytes });
  }
  const iso = (ms: number) => new Date(ms).toISOString();
  const waiting = records
    .filter((r) => (r.state === 'pending' || r.state === 'uploading') && r.localPresent && lastPublished.has(r.bucketPath))
    .map((r) => {
      const earlier = lastPublished.get(r.bucketPath) as { at: number; size: number };
      return { local: r.localPath, remote: r.bucketPath, at: null, pending: true, replacedPublishedAt: iso(earlier.at), replacedBytes: earlier.size };
    });
  const done = records
    .filter((r) => r.state === 'uploaded' && r.replaced !== undefined && r.uploadedAt !== undefined)
    .sort((a, b) => (b.uploadedAt ?? 0) - (a.uploadedAt ?? 0))
    .slice(0, 20)
    .map((r) => ({
      local: r.localPath,
      remote: r.bucketPath,
      at: iso(r.uploadedAt as number),
      pending: false,
      replacedPublishedAt: iso((r.replaced as { uploadedAt: number }).uploadedAt),
      replacedBytes: (r.replaced as { sizeBytes: number }).sizeBytes,
    }));
  return [...waiting, ...done];
}

/** The state `status` reads: the configured state dir, else one found from the outbox alone; `others` lists what was looked at. */
export function locateState(config: CommandContext['config']): { stateDir: string; identity: ReturnType<typeof stateIdentity>; exists: boolean; others: FoundState[] } {
  let stateDir = config.stateDir;
  let identity = stateIdentity(config);
  let exists = existsSync(path.join(stateDir, STATE_FILE));
  let others: FoundState[] = [];
  if (!exists) {
    // Found from the outbox alone: another agent id, bucket or default state dir need not be repeated.
    others = listStateDirs();
    const found = findStateFor(config, others);
    if (found) {
      stateDir = found.dir;
      identity = found.identity;
      exists = true;
    }
  }
  return { stateDir, identity, exists, others };
}

export async function runStatus(ctx: CommandContext, options: { json: boolean; out?: NodeJS.WritableStream }): Promise<number> {
  const out = options.out ?? process.stdout;
  const { config } = ctx;
  const { stateDir, identity, exists, others } = locateState(config);
  const state = exists ? StateStore.open(stateDir, identity, { readonly: true }) : undefined;
  try {
    const report = { ...buildStatus(ctx, state, Date.now(), stateDir), stateDir, agentId: identity.agentId, bucket: identity.bucket };
    if (options.json) {
      out.write(`${JSON.stringify(report)}\n`);
      return 0;
    }
    const say = lineWriter(out);
    say(`hf-outbox ${report.agentId}: ${report.outbox} → ${report.bucket}\n`);
    if (!exists) {
      say(`no state in ${config.stateDir}: nothing has been published from ${config.outbox} with these settings\n`);
      if (others.length > 0) {
        say('state directories of hf-outbox readable here (pass one with --state-dir, or the --outbox, --bucket and --agent-id it was run with):\n');
        for (const o of others) say(`  ${o.dir}: ${o.identity.outbox} → ${o.identity.bucket} (agent ${o.identity.agentId})\n`);
      }
    }
    const d = report.daemon;
    say(d.running ? `running: hf-outbox ${d.command} (pid ${d.pid}) since ${d.startedAt}\n` : 'not running: no hf-outbox process works on this state now\n');
    if (report.hub.unreachableSince) {
      const probeIn = report.hub.nextProbeAt ? Math.max(0, Math.round((Date.parse(report.hub.nextProbeAt) - Date.now()) / 1000)) : undefined;
      say(`Hub unreachable since ${report.hub.unreachableSince}${probeIn === undefined ? '' : `, next probe in ${probeIn} s`}; uploads wait and resume by themselves\n`);
    }
    for (const e of report.hub.lastNetworkErrors) say(`network error ${e.at}: ${e.error}\n`);
    say(`${ARTIFACT_STATES.map((s) => `${s} ${report.counts[s]}`).join(' · ')}\n`);
    say(`pending ${formatBytes(report.bytesPending)} · throughput ${formatBytes(report.throughputBytesPerSecond)}/s (last minute)\n`);
    if (report.lastSuccess) say(`last upload ${report.lastSuccess.at}: ${report.lastSuccess.remote}\n`);
    if (report.xetWriter) say(`${describeWriterState(report.xetWriter)}\n`);
    for (const u of report.uploading) {
      say(`uploading ${u.remote}: ${u.percent}% of ${formatBytes(u.bytesTotal)} at ${formatBytes(u.bytesPerSecond)}/s\n`);
    }
    for (const u of report.interrupted) {
      say(`interrupted ${u.remote}: stopped at ${u.percent}% of ${formatBytes(u.bytesTotal)}; the next start checks the bucket and redoes it\n`);
    }
    for (const e of report.lastErrors) say(`${e.state.padEnd(9)} ${e.local}: ${e.error}\n`);
    for (const a of report.announcements.filter((x) => x.state !== 'posted')) {
      say(`note ${a.state.padEnd(8)} ${a.source}: ${a.reason ?? ''}\n`);
    }
    for (const r of report.replaced) {
      const when = r.pending ? 'will replace' : `replaced at ${r.at}`;
      say(`${r.pending ? 'replace' : 'replaced'}  ${r.remote}: ${when} the version published at ${r.replacedPublishedAt} (${formatBytes(r.replacedBytes)})\n`);
    }
    if (report.localCopiesRemoved > 0) {
      say(`${report.localCopiesRemoved} uploaded file(s) were removed locally; the bucket keeps them\n`);
    }
    return 0;
  } finally {
    state?.close();
  }
}

