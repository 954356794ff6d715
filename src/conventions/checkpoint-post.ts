/**
 * The message-board post for one checkpoint of a training run (pure).
 *
 * A run folder `checkpoints/run1/` holds `checkpoint-N` sub-folders, each its own artifact at
 * `artifacts/checkpoints/run1_<agent-id>/checkpoint-N/`. Each checkpoint that lands gets one post:
 * its bucket path, step, size and file count as the bucket lists them, the metrics its
 * `trainer_state.json` holds, the command that fetches this checkpoint alone, the run's
 * description (the note beside the run folder, quoted), what it replaces when an earlier version
 * of the same checkpoint was published, and every checkpoint of the run the bucket holds (a
 * checkpoint the trainer rotated away locally stays in the bucket and stays listed).
 */
import { stringify } from 'yaml';
import type { BucketTarget } from '../config/parse.js';
import { formatBytes } from '../core/format.js';
import { downloadCommand, isoSeconds, LARGE_ARTIFACT_BYTES, messagePath, shellQuote, slugify, type MessageNote, type RenderedMessage } from './message.js';
import { checkpointStep, formatMetric, type TrainerStateSummary } from './trainer-state.js';

/** A post lists at most this many of the run's checkpoints (the latest ones). */
export const MAX_LISTED = 50;

export interface CheckpointInBucket {
  /** Folder name: `checkpoint-100`. */
  name: string;
  step: number;
  /** `artifacts/checkpoints/run1_agent-01/checkpoint-100` (no trailing slash). */
  bucketPath: string;
  sizeBytes: number;
  fileCount: number;
}

export interface CheckpointPostInput {
  agentId: string;
  timestamp: Date;
  bucket: BucketTarget;
  /** Outbox path of the run folder (`checkpoints/run1`). */
  runLocalPath: string;
  /** Bucket path of the run folder (`artifacts/checkpoints/run1_agent-01`). */
  runBucketPath: string;
  /** The note beside the run folder: the run's description, quoted in every post. */
  runNote?: MessageNote | undefined;
  /** The checkpoint as the bucket lists it. */
  checkpoint: CheckpointInBucket;
  /** Files under the checkpoint's folder in the bucket that this version did not write (left by an earlier one). */
  leftoverFiles?: number | undefined;
  metrics?: TrainerStateSummary | undefined;
  /** Why there are no metrics, when there are none (no trainer_state.json, unreadable, …). */
  metricsProblem?: string | undefined;
  /** Every checkpoint of the run the bucket holds, this one included. */
  runCheckpoints: readonly CheckpointInBucket[];
  /** An earlier version of this checkpoint that this upload replaced. */
  replaces?: { publishedAt: Date; messagePath?: string | undefined } | undefined;
}

/**
 * The run's checkpoints in a listing of the run folder: files grouped by the checkpoint folder
 * directly under the run, ordered by step. Files outside checkpoint folders are not checkpoints.
 */
export function checkpointsInListing(runBucketPath: string, entries: Iterable<{ path: string; sizeBytes: number }>): CheckpointInBucket[] {
  const prefix = `${runBucketPath.replace(/\/+$/, '')}/`;
  const found = new Map<string, CheckpointInBucket>();
  for (const e of entries) {
    if (!e.path.startsWith(prefix)) continue;
    const rest = e.path.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) continue;
    const name = rest.slice(0, slash);
    const step = checkpointStep(name);
    if (step === undefined) continue;
    const c = found.get(name) ?? { name, step, bucketPath: `${prefix}${name}`, sizeBytes: 0, fileCount: 0 };
    c.sizeBytes += Number.isFinite(e.sizeBytes) && e.sizeBytes > 0 ? e.sizeBytes : 0;
    c.fileCount++;
    found.set(name, c);
  }
  return [...found.values()].sort((a, b) => a.step - b.step || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function renderCheckpointPost(input: CheckpointPostInput): RenderedMessage {
  if (Number.isNaN(input.timestamp.getTime())) throw new RangeError('renderCheckpointPost: timestamp is an invalid Date');
  const { checkpoint: ckpt, metrics } = input;
  const runName = displayRunName(input.runBucketPath, input.agentId);
  const what = `${ckpt.name} (step ${ckpt.step})`;
  const title = `${input.runNote?.title ?? runName}: ${what}`;
  const bucketPath = messagePath(input.timestamp, slugify(`${runName} ${ckpt.name}`), input.agentId);
  const shownPath = `${ckpt.bucketPath}/`;

  const checkpointMeta: Record<string, unknown> = {
    run: input.runBucketPath,
    name: ckpt.name,
    step: ckpt.step,
  };
  if (metrics !== undefined) {
    const m: Record<string, unknown> = {};
    if (metrics.globalStep !== undefined) m['global_step'] = metrics.globalStep;
    if (metrics.epoch !== undefined) m['epoch'] = metrics.epoch;
    if (metrics.loss !== undefined) m['loss'] = metrics.loss.value;
    if (metrics.evalLoss !== undefined) m['eval_loss'] = metrics.evalLoss.value;
    for (const e of metrics.evalMetrics) m[e.name] = e.value;
    if (metrics.bestMetric !== undefined) m['best_metric'] = metrics.bestMetric;
    if (metrics.bestCheckpoint !== undefined) m['best_checkpoint'] = metrics.bestCheckpoint;
    if (Object.keys(m).length > 0) checkpointMeta['metrics'] = m;
  }
  if (input.replaces !== undefined) {
    checkpointMeta['replaces'] = {
      published_at: isoSeconds(input.replaces.publishedAt),
      ...(input.replaces.messagePath === undefined ? {} : { message: input.replaces.messagePath }),
    };
  }
  checkpointMeta['run_checkpoints'] = listed(input.runCheckpoints, ckpt.name).map((c) => c.name);

  const frontMatter: Record<string, unknown> = {
    agent_id: input.agentId,
    timestamp: isoSeconds(input.timestamp),
    title,
    tags: [...(input.runNote?.tags ?? [])],
  };
  if (input.replaces?.messagePath !== undefined) frontMatter['supersedes'] = input.replaces.messagePath;
  frontMatter['artifacts'] = [
    { path: ckpt.bucketPath, uri: `${input.bucket.uri}/${shownPath}`, kind: 'directory', size_bytes: ckpt.sizeBytes, file_count: ckpt.fileCount },
  ];
  frontMatter['checkpoint'] = checkpointMeta;

  const parts: string[] = [`---\n${stringify(frontMatter, { lineWidth: 0 }).trimEnd()}\n---`, `# ${title}`];
  const large = ckpt.sizeBytes > LARGE_ARTIFACT_BYTES ? ' (large download)' : '';
  const leftover =
    input.leftoverFiles !== undefined && input.leftoverFiles > 0
      ? ` ${input.leftoverFiles} of them ${input.leftoverFiles === 1 ? 'is' : 'are'} left from an earlier version (hf-outbox never deletes in the bucket).`
      : '';
  parts.push(
    `Checkpoint \`${shownPath}\` of run \`${input.runLocalPath}/\`: step ${ckpt.step}, ` +
      `${ckpt.fileCount} file${ckpt.fileCount === 1 ? '' : 's'}, ${formatBytes(ckpt.sizeBytes)} in the bucket${large}.${leftover}`,
  );
  if (input.replaces !== undefined) {
    const earlier = input.replaces.messagePath === undefined ? '' : ` (announced in \`${input.replaces.messagePath}\`)`;
    parts.push(`**This replaces the ${ckpt.name} published at ${isoSeconds(input.replaces.publishedAt)}**${earlier}: the bucket now holds the new version.`);
  }
  const body = input.runNote?.body.trim() ?? '';
  if (body !== '') parts.push(`Run description (\`${input.runLocalPath}.note.md\`):\n\n${quote(body)}`);
  parts.push(metricsSection(metrics, input.metricsProblem, ckpt.step));
  parts.push(
    [
      '## How to get it',
      '',
      '```sh',
      downloadCommand(input.bucket, { bucketPath: ckpt.bucketPath, kind: 'directory' }),
      `hf-outbox pull --bucket ${shellQuote(bucketArg(input.bucket))} ${shellQuote(ckpt.bucketPath)}`,
      '```',
    ].join('\n'),
  );
  parts.push(runSection(input.runBucketPath, input.runCheckpoints, ckpt.name));
  return { bucketPath, text: `${parts.join('\n\n')}\n`, title };
}

function metricsSection(metrics: TrainerStateSummary | undefined, problem: string | undefined, step: number): string {
  const lines = ['## Metrics (trainer_state.json)', ''];
  if (metrics === undefined) {
    lines.push(problem === undefined ? 'No trainer_state.json in this checkpoint.' : `Not shown: ${problem}.`);
    return lines.join('\n');
  }
  const rows: Array<[string, string]> = [];
  const at = (s: number | undefined) => (s === undefined ? '' : ` (step ${s})`);
  if (metrics.globalStep !== undefined && metrics.globalStep !== step) rows.push(['global_step', String(metrics.globalStep)]);
  if (metrics.epoch !== undefined) rows.push(['epoch', formatMetric(metrics.epoch)]);
  if (metrics.loss !== undefined) rows.push([`loss${at(metrics.loss.step)}`, formatMetric(metrics.loss.value)]);
  if (metrics.evalLoss !== undefined) rows.push([`eval_loss${at(metrics.evalLoss.step)}`, formatMetric(metrics.evalLoss.value)]);
  for (const e of metrics.evalMetrics) rows.push([e.name, formatMetric(e.value)]);
  if (metrics.bestMetric !== undefined) rows.push(['best_metric', formatMetric(metrics.bestMetric)]);
  if (metrics.bestCheckpoint !== undefined) rows.push(['best checkpoint', metrics.bestCheckpoint]);
  else if (metrics.bestGlobalStep !== undefined) rows.push(['best checkpoint', `step ${metrics.bestGlobalStep}`]);
  if (rows.length === 0) {
    lines.push('trainer_state.json holds no loss, evaluation or best-metric values yet.');
    return lines.join('\n');
  }
  lines.push('| metric | value |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`));
  return lines.join('\n');
}

function runSection(runBucketPath: string, checkpoints: readonly CheckpointInBucket[], current: string): string {
  const lines = [`## Checkpoints of this run in the bucket (\`${runBucketPath}/\`)`, ''];
  lines.push('| checkpoint | step | files | size |', '|---|---|---|---|');
  const shown = listed(checkpoints, current);
  if (shown.length < checkpoints.length) lines.push(`| … ${checkpoints.length - shown.length} earlier | | | |`);
  for (const c of shown) {
    const name = c.name === current ? `**${c.name}** (this post)` : c.name;
    lines.push(`| ${name} | ${c.step} | ${c.fileCount} | ${formatBytes(c.sizeBytes)} |`);
  }
  const latest = checkpoints.reduce<CheckpointInBucket | undefined>((a, b) => (a === undefined || b.step >= a.step ? b : a), undefined);
  if (latest !== undefined) lines.push('', `Latest: \`${latest.bucketPath}/\` (step ${latest.step}).`);
  return lines.join('\n');
}

/** The latest MAX_LISTED checkpoints (by step), and the current one if it is older. */
function listed(checkpoints: readonly CheckpointInBucket[], current: string): CheckpointInBucket[] {
  if (checkpoints.length <= MAX_LISTED) return [...checkpoints];
  const latest = checkpoints.slice(-MAX_LISTED);
  const here = checkpoints.find((c) => c.name === current);
  return here !== undefined && !latest.includes(here) ? [here, ...latest.slice(1)] : latest;
}

/** `artifacts/checkpoints/run1_agent-01` → `run1`. */
function displayRunName(runBucketPath: string, agentId: string): string {
  const name = runBucketPath.replace(/\/+$/, '').split('/').pop() ?? runBucketPath;
  const suffix = `_${agentId}`;
  return name.endsWith(suffix) && name.length > suffix.length ? name.slice(0, -suffix.length) : name;
}

/** What `--bucket` takes for this bucket: the hf:// URI, or the local folder. */
function bucketArg(bucket: BucketTarget): string {
  return bucket.kind === 'hf' ? bucket.uri : bucket.root;
}

/** Markdown block quote of every line. */
function quote(text: string): string {
  return text
    .split('\n')
    .map((l) => (l.trim() === '' ? '>' : `> ${l}`))
    .join('\n');
}

