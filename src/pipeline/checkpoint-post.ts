/**
 * Gathers what a checkpoint's post says, for the announce stage: the checkpoint as the bucket
 * lists it (size, file count), the run's other checkpoints in the bucket, the metrics of its
 * `trainer_state.json` (read back from the bucket: what others will fetch), the run's note, and
 * the earlier version an upload replaced. Rendering is the pure `renderCheckpointPost`.
 */
import path from 'node:path';
import { checkpointsInListing, renderCheckpointPost } from '../conventions/checkpoint-post.js';
import type { MessageNote, RenderedMessage } from '../conventions/message.js';
import { checkpointStep, MAX_TRAINER_STATE_BYTES, parseTrainerState, type TrainerStateSummary } from '../conventions/trainer-state.js';
import type { Config } from '../config/parse.js';
import type { BucketClient, Clock, RemoteEntry } from '../core/ports.js';
import type { Logger } from '../log.js';
import type { AnnouncementRecord, FileRecord } from '../state/store.js';
import { isStepFolderName, mapPath, NOTE_SUFFIX, type CompiledRules } from './naming.js';

export const TRAINER_STATE_FILE = 'trainer_state.json';

/** A checkpoint sub-folder of a run folder: `checkpoints/run1/checkpoint-100`. */
export interface CheckpointUnit {
  unitPath: string;
  /** `checkpoints/run1` */
  runPath: string;
  name: string;
  step: number;
}

/** The checkpoint a unit is, when it is a step sub-folder of a run folder under a unit category. */
export function checkpointUnitOf(unitPath: string, rules: CompiledRules): CheckpointUnit | undefined {
  const segments = unitPath.split('/');
  if (segments.length !== 3) return undefined;
  const [category, run, name] = segments as [string, string, string];
  if (!rules.unitCategories.includes(category) || isStepFolderName(run)) return undefined;
  const step = checkpointStep(name);
  return step === undefined ? undefined : { unitPath, runPath: `${category}/${run}`, name, step };
}

/** The note beside a run folder (`checkpoints/run1.note.md`): the run's description. */
export function runNotePath(runPath: string): string {
  return `${runPath}${NOTE_SUFFIX}`;
}

export interface CheckpointPostDeps {
  config: Config;
  rules: CompiledRules;
  bucket: BucketClient;
  clock: Clock;
  logger: Logger;
  readNote(notePath: string): Promise<MessageNote | null>;
}

export type CheckpointPostOutcome = { ok: true; rendered: RenderedMessage } | { ok: false; wait: string; retry: boolean };

/**
 * The post for a checkpoint whose files have all landed (`files`: the unit's records, every one
 * uploaded). Waits (retry) while the bucket does not list the checkpoint yet.
 */
export async function buildCheckpointPost(
  d: CheckpointPostDeps,
  ckpt: CheckpointUnit,
  files: readonly FileRecord[],
  a: AnnouncementRecord,
): Promise<CheckpointPostOutcome> {
  const first = files[0];
  const m = first && mapPath(first.localPath, d.rules);
  if (m?.kind !== 'file') return { ok: false, wait: `${ckpt.unitPath} has no delivered file`, retry: false };
  const checkpointBucketPath = m.unitBucketPath;
  const runBucketPath = path.posix.dirname(checkpointBucketPath);

  let entries: RemoteEntry[];
  try {
    entries = [];
    for await (const e of d.bucket.list(runBucketPath)) entries.push(e);
  } catch (error) {
    return { ok: false, wait: `cannot list ${runBucketPath}/ in the bucket (${(error as Error).message})`, retry: true };
  }
  const runCheckpoints = checkpointsInListing(runBucketPath, entries);
  const here = runCheckpoints.find((c) => c.bucketPath === checkpointBucketPath);
  if (here === undefined) return { ok: false, wait: `${checkpointBucketPath}/ is not listed in the bucket yet`, retry: true };

  const stateEntry = entries.find((e) => e.path === `${checkpointBucketPath}/${TRAINER_STATE_FILE}`);
  const { metrics, problem } = stateEntry === undefined ? { metrics: undefined, problem: undefined } : await readMetrics(d, stateEntry);

  const written = new Set(files.map((f) => f.bucketPath));
  const leftover = entries.filter((e) => e.path.startsWith(`${checkpointBucketPath}/`) && !written.has(e.path)).length;
  const replacedAt = files.reduce<number | undefined>((max, f) => (f.replaced && (max === undefined || f.replaced.uploadedAt > max) ? f.replaced.uploadedAt : max), undefined);
  const note = await d.readNote(runNotePath(ckpt.runPath));

  return {
    ok: true,
    rendered: renderCheckpointPost({
      agentId: d.config.agentId,
      timestamp: new Date(d.clock.now()),
      bucket: d.config.bucket,
      runLocalPath: ckpt.runPath,
      runBucketPath,
      runNote: note ?? undefined,
      checkpoint: here,
      leftoverFiles: leftover,
      metrics,
      metricsProblem: problem,
      runCheckpoints,
      replaces: replacedAt === undefined ? undefined : { publishedAt: new Date(replacedAt), messagePath: a.previousMessagePath },
    }),
  };
}

/** trainer_state.json read back from the bucket, bounded, and parsed as hostile input. */
async function readMetrics(d: CheckpointPostDeps, entry: RemoteEntry): Promise<{ metrics?: TrainerStateSummary; problem?: string }> {
  if (!(entry.sizeBytes <= MAX_TRAINER_STATE_BYTES)) {
    return { problem: `${TRAINER_STATE_FILE} is ${entry.sizeBytes} bytes, more than the ${MAX_TRAINER_STATE_BYTES} read` };
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    const stream = await d.bucket.download(entry.path);
    for await (const c of stream) {
      const chunk = Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array);
      total += chunk.byteLength;
      if (total > MAX_TRAINER_STATE_BYTES) {
        stream.destroy();
        return { problem: `${TRAINER_STATE_FILE} is larger than the ${MAX_TRAINER_STATE_BYTES} bytes read` };
      }
      chunks.push(chunk);
    }
  } catch (error) {
    d.logger.warn({ remote: entry.path, err: (error as Error).message }, 'cannot read trainer_state.json back from the bucket; the post shows no metrics');
    return { problem: `${TRAINER_STATE_FILE} could not be read from the bucket` };
  }
  const parsed = parseTrainerState(Buffer.concat(chunks));
  if (!parsed.ok) return { problem: parsed.error };
  if (parsed.summary.warnings.length > 0) d.logger.warn({ remote: entry.path, warnings: parsed.summary.warnings }, 'trainer_state.json: some fields were left out');
  return { metrics: parsed.summary };
}
