/**
 * What each dashboard view shows, built from what the shared readers return (src/read/) and the
 * conventions (src/conventions/). Pure: no I/O. Every string is passed through `visible()` by the
 * server before it is sent; the browser inserts them as text only.
 */
import type { BucketTarget } from '../config/parse.js';
import { downloadCommand, shellQuote, type BoardMessage } from '../conventions/message.js';
import { checkpointStep } from '../conventions/trainer-state.js';
import type { RemoteEntry } from '../core/ports.js';
import { remotePathProblem } from '../cli/pull.js';
import { byTimeDescending } from '../read/board.js';
import { agentFromFileName, rankRows, type LeaderboardRow, type ResultsRead } from '../read/results.js';

/** A post body longer than this is cut (the rest is one click away with `hf-outbox pull`). */
export const MAX_BODY_CHARS = 64 * 1024;
export const MAX_PAGE = 200;
/** Checkpoint runs shown at once, most recently updated first. */
export const MAX_RUNS = 20;

// ---------------------------------------------------------------------------------------------
// Board
// ---------------------------------------------------------------------------------------------

export interface BoardQuery {
  agent?: string | undefined;
  tag?: string | undefined;
  offset: number;
  limit: number;
}

export interface PostArtifactView {
  path: string;
  kind: 'file' | 'directory' | null;
  sizeBytes: number | null;
  fileCount: number | null;
  /** `hf buckets cp/sync …` (or `cp` for a local-folder bucket); null when the path is not a safe bucket path. */
  fetch: string | null;
  /** `hf-outbox pull …`; null when the path is not a safe bucket path. */
  pull: string | null;
  unsafe: string | null;
}

export interface PostView {
  path: string;
  agentId: string | null;
  /** The front matter's agent_id when it names someone else than the file name (shown flagged). */
  claimedAgentId: string | null;
  timestamp: string | null;
  /** A stated time in the future (shown as such; sorted by upload time). */
  future: boolean;
  title: string;
  tags: string[];
  supersedes: string | null;
  body: string;
  bodyTruncated: boolean;
  artifacts: PostArtifactView[];
  checkpoint: CheckpointPostFacts | null;
}

export interface BoardView {
  total: number;
  matching: number;
  offset: number;
  agents: Array<{ id: string; count: number }>;
  tags: Array<{ tag: string; count: number }>;
  posts: PostView[];
}

export function boardView(messages: readonly BoardMessage[], query: BoardQuery, bucket: BucketTarget): BoardView {
  const agents = new Map<string, number>();
  const tags = new Map<string, number>();
  for (const m of messages) {
    const a = m.agentId ?? '?';
    agents.set(a, (agents.get(a) ?? 0) + 1);
    for (const t of new Set(m.tags)) tags.set(t, (tags.get(t) ?? 0) + 1);
  }
  const selected = messages
    .filter((m) => (query.agent === undefined || (m.agentId ?? '?') === query.agent) && (query.tag === undefined || m.tags.includes(query.tag)))
    .sort(byTimeDescending());
  const limit = Math.max(1, Math.min(MAX_PAGE, query.limit));
  const offset = Math.max(0, query.offset);
  return {
    total: messages.length,
    matching: selected.length,
    offset,
    agents: [...agents].map(([id, count]) => ({ id, count })).sort((x, y) => y.count - x.count || cmp(x.id, y.id)),
    tags: [...tags].map(([tag, count]) => ({ tag, count })).sort((x, y) => y.count - x.count || cmp(x.tag, y.tag)),
    posts: selected.slice(offset, offset + limit).map((m) => postView(m, bucket, Date.now())),
  };
}

function postView(m: BoardMessage, bucket: BucketTarget, now: number): PostView {
  const body = m.body.length > MAX_BODY_CHARS ? m.body.slice(0, MAX_BODY_CHARS) : m.body;
  return {
    path: m.path,
    agentId: m.agentId ?? null,
    claimedAgentId: m.claimedAgentId ?? null,
    timestamp: m.timestamp?.toISOString() ?? null,
    future: m.timestamp !== undefined && m.timestamp.getTime() > now,
    title: m.title,
    tags: m.tags,
    supersedes: m.supersedes ?? null,
    body,
    bodyTruncated: body.length < m.body.length,
    artifacts: m.artifacts.map((a) => artifactView(a, bucket)),
    checkpoint: checkpointFacts(m),
  };
}

function artifactView(a: BoardMessage['artifacts'][number], bucket: BucketTarget): PostArtifactView {
  const kind = a.kind ?? (a.path.endsWith('/') ? 'directory' : undefined);
  return {
    path: a.path,
    kind: kind ?? null,
    sizeBytes: a.sizeBytes ?? null,
    fileCount: a.fileCount ?? null,
    ...commandsFor(bucket, a.path, kind ?? 'file'),
  };
}

/** The commands that fetch a bucket path, or why there are none (a path that is not a safe `artifacts/…` path). */
export function commandsFor(bucket: BucketTarget, bucketPath: string, kind: 'file' | 'directory'): { fetch: string | null; pull: string | null; unsafe: string | null } {
  const clean = bucketPath.replace(/\/+$/, '');
  const unsafe = clean.startsWith('artifacts/') ? remotePathProblem(clean) : 'not under artifacts/';
  if (unsafe !== undefined) return { fetch: null, pull: null, unsafe };
  return { fetch: downloadCommand(bucket, { bucketPath: clean, kind }), pull: pullCommand(bucket, clean), unsafe: null };
}

export function pullCommand(bucket: BucketTarget, bucketPath: string): string {
  return `hf-outbox pull --bucket ${shellQuote(bucket.kind === 'hf' ? bucket.uri : bucket.root)} ${shellQuote(bucketPath)}`;
}

// ---------------------------------------------------------------------------------------------
// Checkpoint facts from a post's front matter (written by the checkpoint posts of training runs)
// ---------------------------------------------------------------------------------------------

export interface CheckpointPostFacts {
  run: string;
  name: string;
  step: number;
  metrics: Array<{ name: string; value: number | string }>;
}

/** The `checkpoint:` block of a post, when it has a well-formed one (type-checked: posts are hostile). */
function checkpointFacts(m: BoardMessage): CheckpointPostFacts | null {
  const raw = m.checkpoint;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const c = raw as Record<string, unknown>;
  const run = typeof c['run'] === 'string' ? c['run'].replace(/\/+$/, '') : undefined;
  const name = typeof c['name'] === 'string' ? c['name'] : undefined;
  const step = typeof c['step'] === 'number' && Number.isSafeInteger(c['step']) ? c['step'] : name === undefined ? undefined : checkpointStep(name);
  if (run === undefined || name === undefined || step === undefined) return null;
  const metrics: CheckpointPostFacts['metrics'] = [];
  const rawMetrics = c['metrics'];
  if (rawMetrics !== null && typeof rawMetrics === 'object' && !Array.isArray(rawMetrics)) {
    for (const [k, v] of Object.entries(rawMetrics as Record<string, unknown>).slice(0, 16)) {
      if (typeof v === 'number' || (typeof v === 'string' && v.length <= 200)) metrics.push({ name: k.slice(0, 64), value: v });
    }
  }
  return { run, name, step, metrics };
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

export interface ResultsView {
  ascending: boolean;
  total: number;
  /** Every valid result ranked together: the order `hf-outbox results` prints. */
  ranked: LeaderboardRow[];
  experiments: Array<{
    experiment: string;
    rows: LeaderboardRow[];
    /** Score over time per agent: points [epoch ms, score], oldest first; results without a readable time are left out. */
    series: Array<{ agent: string; points: Array<[number, number]> }>;
  }>;
  skipped: ResultsRead['skipped'];
}

export function resultsView(read: ResultsRead, ascending: boolean): ResultsView {
  const byExperiment = new Map<string, ResultsRead['rows']>();
  for (const r of read.rows) {
    const list = byExperiment.get(r.experiment) ?? [];
    list.push(r);
    byExperiment.set(r.experiment, list);
  }
  const experiments = [...byExperiment].map(([experiment, rows]) => {
    const ranked = rankRows(rows, ascending);
    const perAgent = new Map<string, Array<[number, number]>>();
    for (const r of rows) {
      const t = r.timestamp === undefined ? Number.NaN : Date.parse(r.timestamp);
      if (!Number.isFinite(t)) continue;
      const pts = perAgent.get(r.agentId) ?? [];
      pts.push([t, r.score]);
      perAgent.set(r.agentId, pts);
    }
    const series = [...perAgent]
      .map(([agent, points]) => ({ agent, points: points.sort((a, b) => a[0] - b[0]) }))
      .sort((a, b) => cmp(a.agent, b.agent));
    return { experiment, rows: ranked, series };
  });
  // The experiment with the best leader first, like the flat ranking.
  experiments.sort((a, b) => {
    const sa = a.rows[0]?.score ?? 0;
    const sb = b.rows[0]?.score ?? 0;
    return sa !== sb ? (ascending ? sa - sb : sb - sa) : cmp(a.experiment, b.experiment);
  });
  return {
    ascending,
    total: read.rows.length,
    ranked: rankRows(read.rows, ascending),
    experiments,
    skipped: [...read.skipped].sort((a, b) => cmp(a.path, b.path)),
  };
}

// ---------------------------------------------------------------------------------------------
// Artifacts
// ---------------------------------------------------------------------------------------------

export interface ArtifactUnit {
  /** A file, or a folder (the first folder of the path that carries an agent id). */
  path: string;
  category: string;
  agent: string;
  kind: 'file' | 'directory';
  files: number;
  bytes: number;
  updated: string | null;
}

export interface CheckpointRun {
  path: string;
  agent: string;
  checkpoints: Array<{ name: string; step: number; files: number; bytes: number; metrics: CheckpointPostFacts['metrics']; post: string | null }>;
}

/** The bucket's artifacts/ folded into units, categories and checkpoint runs; built once per listing. */
export interface ArtifactsIndex {
  totalFiles: number;
  totalBytes: number;
  units: ArtifactUnit[];
  runs: CheckpointRun[];
}

/** Folds a listing of `artifacts/` (any size: it keeps one record per unit, not per file). */
export async function indexArtifacts(listing: AsyncIterable<RemoteEntry>): Promise<ArtifactsIndex> {
  const units = new Map<string, ArtifactUnit>();
  const runs = new Map<string, Map<string, { step: number; files: number; bytes: number }>>();
  let totalFiles = 0;
  let totalBytes = 0;
  for await (const e of listing) {
    const segments = e.path.split('/');
    if (segments[0] !== 'artifacts' || segments.length < 3) continue;
    const bytes = Number.isFinite(e.sizeBytes) && e.sizeBytes > 0 ? e.sizeBytes : 0;
    totalFiles++;
    totalBytes += bytes;
    const category = segments[1] as string;
    // The unit ends at the first segment after the category that names an agent (`name_<agent>`).
    let end = segments.length - 1;
    let agent: string | undefined;
    for (let i = 2; i < segments.length; i++) {
      agent = agentFromFileName(segments[i] as string);
      if (agent !== undefined) {
        end = i;
        break;
      }
    }
    const unitPath = segments.slice(0, end + 1).join('/');
    const kind = end < segments.length - 1 ? 'directory' : 'file';
    let unit = units.get(unitPath);
    if (unit === undefined) {
      unit = { path: unitPath, category, agent: agent ?? '?', kind, files: 0, bytes: 0, updated: null };
      units.set(unitPath, unit);
    }
    unit.files++;
    unit.bytes += bytes;
    if (e.uploadedAt !== undefined && (unit.updated === null || e.uploadedAt > unit.updated)) unit.updated = e.uploadedAt;
    if (kind === 'directory' && end + 2 < segments.length) {
      const step = checkpointStep(segments[end + 1] as string);
      if (step !== undefined) {
        const run = runs.get(unitPath) ?? new Map();
        const name = segments[end + 1] as string;
        const c = run.get(name) ?? { step, files: 0, bytes: 0 };
        c.files++;
        c.bytes += bytes;
        run.set(name, c);
        runs.set(unitPath, run);
      }
    }
  }
  return {
    totalFiles,
    totalBytes,
    units: [...units.values()].sort((a, b) => cmp(a.path, b.path)),
    runs: [...runs].map(([path, ckpts]) => ({
      path,
      agent: units.get(path)?.agent ?? '?',
      checkpoints: [...ckpts]
        .map(([name, c]) => ({ name, ...c, metrics: [], post: null }))
        .sort((a, b) => a.step - b.step || cmp(a.name, b.name)),
    })),
  };
}

export interface ArtifactsQuery {
  category?: string | undefined;
  agent?: string | undefined;
  offset: number;
  limit: number;
}

export interface ArtifactsView {
  totalFiles: number;
  totalBytes: number;
  categories: Array<{ name: string; files: number; bytes: number; units: number; agents: Array<{ agent: string; files: number; bytes: number; units: number }> }>;
  units: { matching: number; offset: number; items: Array<ArtifactUnit & ReturnType<typeof commandsFor>> };
  /** The most recently updated checkpoint runs (at most 20). */
  runs: CheckpointRun[];
  runCount: number;
}

/** One page of units (filtered by category and agent), the per-category totals, and checkpoint runs with the metrics their posts carry. */
export function artifactsView(index: ArtifactsIndex, query: ArtifactsQuery, posts: readonly BoardMessage[], bucket: BucketTarget): ArtifactsView {
  const categories = new Map<string, { files: number; bytes: number; units: number; agents: Map<string, { files: number; bytes: number; units: number }> }>();
  for (const u of index.units) {
    const c = categories.get(u.category) ?? { files: 0, bytes: 0, units: 0, agents: new Map() };
    c.files += u.files;
    c.bytes += u.bytes;
    c.units++;
    const a = c.agents.get(u.agent) ?? { files: 0, bytes: 0, units: 0 };
    a.files += u.files;
    a.bytes += u.bytes;
    a.units++;
    c.agents.set(u.agent, a);
    categories.set(u.category, c);
  }
  const matching = index.units.filter((u) => (query.category === undefined || u.category === query.category) && (query.agent === undefined || u.agent === query.agent));
  const limit = Math.max(1, Math.min(MAX_PAGE, query.limit));
  const offset = Math.max(0, query.offset);

  // Metrics of each checkpoint from its newest post.
  const newestFirst = byTimeDescending();
  const facts = new Map<string, { post: BoardMessage; f: CheckpointPostFacts }>();
  for (const p of posts) {
    const f = checkpointFacts(p);
    if (f === null) continue;
    const key = `${f.run}/${f.name}`;
    const seen = facts.get(key);
    if (seen === undefined || newestFirst(p, seen.post) < 0) facts.set(key, { post: p, f });
  }
  const allRuns = index.runs.filter(
    (r) => (query.agent === undefined || r.agent === query.agent) && (query.category === undefined || r.path.split('/')[1] === query.category),
  );
  const updated = new Map(index.units.map((u) => [u.path, u.updated ?? '']));
  const runs = allRuns
    .sort((a, b) => cmp(updated.get(b.path) ?? '', updated.get(a.path) ?? '') || cmp(a.path, b.path))
    .slice(0, MAX_RUNS)
    .map((r) => ({
      ...r,
      checkpoints: r.checkpoints.map((c) => {
        const hit = facts.get(`${r.path}/${c.name}`);
        return hit === undefined ? c : { ...c, metrics: hit.f.metrics, post: hit.post.path };
      }),
    }));

  return {
    totalFiles: index.totalFiles,
    totalBytes: index.totalBytes,
    categories: [...categories]
      .map(([name, c]) => ({
        name,
        files: c.files,
        bytes: c.bytes,
        units: c.units,
        agents: [...c.agents].map(([agent, a]) => ({ agent, ...a })).sort((x, y) => y.bytes - x.bytes || cmp(x.agent, y.agent)),
      }))
      .sort((a, b) => cmp(a.name, b.name)),
    units: {
      matching: matching.length,
      offset,
      items: matching.slice(offset, offset + limit).map((u) => ({ ...u, ...commandsFor(bucket, u.path, u.kind) })),
    },
    runs,
    runCount: allRuns.length,
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
