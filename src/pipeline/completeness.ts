/**
 * When is a unit folder (a checkpoint) complete? Used by the settle stage: a folder is released
 * only when a known layout says it is whole, or — for folders no layout recognises — after a
 * longer quiet period (`unit-settle-ms`) than a single file gets. Never because its writer paused.
 *
 * What the common training stacks write, and in which order (read in their sources):
 * - transformers Trainer `_save_checkpoint` into `checkpoint-N/`: `save_model` (config.json,
 *   generation_config.json, model.safetensors or shards + `model.safetensors.index.json`, or the PEFT
 *   adapter files, tokenizer files, training_args.bin), then — unless `save_only_model` —
 *   optimizer.pt (or DeepSpeed's `global_stepN/` + `latest`, or FSDP's folders), scheduler.pt,
 *   scaler.pt, `rng_state.pth` (`rng_state_<rank>.pth`, each rank its own, with no barrier), and
 *   `trainer_state.json` LAST (main process); then older checkpoints are rotated away
 *   (`save_total_limit`). transformers 4.36–4.37 wrote all of it into `tmp-checkpoint-N/` and
 *   renamed that to `checkpoint-N/` at the end (naming.ts never publishes the staging folder).
 * - safetensors sharding (`save_pretrained`): the shards, then `*.safetensors.index.json`, whose
 *   `weight_map` names every shard file.
 * - PEFT `save_pretrained`: README.md, `adapter_model.safetensors` (or `.bin`), then `adapter_config.json`.
 * - DeepSpeed `save_checkpoint(dir, tag)`: every rank writes `dir/<tag>/` (`mp_rank_XX_model_states.pt`,
 *   `*_optim_states.pt`), a barrier, then rank 0 writes the tag into `dir/latest`.
 * - Accelerate `save_state`: model.safetensors, optimizer.bin, scheduler.bin, sampler.bin,
 *   scaler.pt, `random_states_<rank>.pkl` last, no marker: the quiet period decides.
 * - Orbax: writes `<step>.orbax-checkpoint-tmp-<t>/` and renames it to `<step>/` (atomic on a local
 *   file system; never published before the rename), or on object stores writes `commit_success.txt` last.
 * - Lightning: one `.ckpt` file per save, a single file (the file settle applies).
 * - Explicit markers any writer can add last: `_SUCCESS`, `COMPLETE`, `.complete`.
 *
 * The rules, first match wins (all on the unit's files; the pure part is `judgeCompleteness`):
 * 1. An index (`*.safetensors.index.json`, `pytorch_model.bin.index.json`) naming a shard that is
 *    not there, or unreadable → incomplete.
 * 2. A marker (`_SUCCESS`, `COMPLETE`, `.complete`, `commit_success.txt`) → complete.
 * 3. A Trainer checkpoint (`checkpoint-N` holding training_args.bin, optimizer.pt, scheduler.pt,
 *    scaler.pt or rng_state*.pth): complete once `trainer_state.json` is there, else incomplete.
 * 4. A DeepSpeed tag folder (`global_stepN` holding `*model_states.pt`/`*optim_states.pt`, in a
 *    run folder): complete once the run folder's `latest` names it or a later step, else incomplete.
 * 5. A PEFT adapter: `adapter_config.json` and `adapter_model.*` both there → complete; one alone → incomplete.
 * 6. An index whose shards are all there → complete.
 *    (5 and 6 do not complete a `checkpoint-N` folder: the Trainer writes them before its own files,
 *    so such a folder without those files is left to the quiet period.)
 * 7. Otherwise unknown: released after `unit-settle-ms` of quiet.
 * A complete folder still waits `settle-ms` of quiet (other ranks' last files, a tokenizer saved just after).
 */
import path from 'node:path';
import type { OutboxFs } from '../core/ports.js';
import type { SettledFile } from '../core/types.js';
import { stepOfFolderName } from './naming.js';

export type Completeness =
  /** A layout says the folder is whole (`rule` names it). */
  | { state: 'complete'; rule: string }
  /** A layout says more files are still to come (`waitingFor` says which). */
  | { state: 'incomplete'; rule: string; waitingFor: string }
  /** No layout recognised: the quiet period decides. */
  | { state: 'unknown' };

/** The inputs of the rules: the unit folder's files (paths relative to it) and a few small files' text. */
export interface UnitLayout {
  /** The unit folder's own name (`checkpoint-100`). */
  name: string;
  /** Files of the unit, relative to the unit folder, '/'-separated (dot files the walk skips included when present as markers). */
  files: readonly string[];
  /** Text of each index file named by `filesToRead` (undefined: unreadable or too large). */
  texts: ReadonlyMap<string, string | undefined>;
  /** Text of the enclosing run folder's DeepSpeed `latest` file, when there is one. */
  runLatest?: string | undefined;
}

export const MARKER_FILES = ['_SUCCESS', 'COMPLETE', '.complete', 'commit_success.txt'] as const;
/** Dot-named markers the walk skips (never published): looked up by name. */
export const HIDDEN_MARKERS = ['.complete'] as const;
const TRAINER_STATE = 'trainer_state.json';
const TRAINER_FILES = /^(?:training_args\.bin|optimizer\.(?:pt|bin)|scheduler\.pt|scaler\.pt|rng_state(?:_\d+)?\.pth)$/;
const DEEPSPEED_FILES = /(?:model_states|optim_states)\.pt$/;
const INDEX_FILE = /(?:^|\/)[^/]+\.(?:safetensors|bin)\.index\.json$/;
const ADAPTER_CONFIG = 'adapter_config.json';
const ADAPTER_MODEL = /^adapter_model\.(?:safetensors|bin)$/;
/** An index file larger than this is not read (a real one is a few hundred KiB at most). */
export const MAX_INDEX_BYTES = 8 * 1024 * 1024;

/** Files of the unit whose text the rules need (the shard indexes). */
export function filesToRead(files: readonly string[]): string[] {
  return files.filter((f) => INDEX_FILE.test(f));
}

/** The rules above, on names and texts only. */
export function judgeCompleteness(layout: UnitLayout): Completeness {
  const present = new Set(layout.files);
  const top = new Set(layout.files.filter((f) => !f.includes('/')));

  // 1. Every shard an index names must be there.
  const indexes = layout.files.filter((f) => INDEX_FILE.test(f));
  for (const index of indexes) {
    const shards = shardsOf(layout.texts.get(index));
    if (shards === undefined) return { state: 'incomplete', rule: 'sharded weights', waitingFor: `${index} to be readable JSON with a weight_map` };
    const dir = path.posix.dirname(index);
    const missing = shards.filter((s) => !present.has(dir === '.' ? s : `${dir}/${s}`));
    if (missing.length > 0) {
      return {
        state: 'incomplete',
        rule: 'sharded weights',
        waitingFor: `${missing.length} of the ${shards.length} shards ${index} names (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''})`,
      };
    }
  }

  // 2. An explicit marker.
  const marker = MARKER_FILES.find((m) => top.has(m));
  if (marker !== undefined) return { state: 'complete', rule: `marker ${marker}` };

  // 3. A Trainer checkpoint: trainer_state.json is written last.
  const isCheckpointName = /^checkpoint-\d+$/.test(layout.name);
  if (isCheckpointName && [...top].some((f) => TRAINER_FILES.test(f) || f === TRAINER_STATE)) {
    return top.has(TRAINER_STATE)
      ? { state: 'complete', rule: 'Trainer checkpoint (trainer_state.json written last)' }
      : { state: 'incomplete', rule: 'Trainer checkpoint', waitingFor: `${TRAINER_STATE}, which the Trainer writes last` };
  }

  // 4. A DeepSpeed tag folder: `latest` in the run folder names it once every rank is done.
  const step = stepOfFolderName(layout.name);
  if (/^global_step\d+$/.test(layout.name) && step !== undefined && layout.files.some((f) => DEEPSPEED_FILES.test(f))) {
    const latest = layout.runLatest?.trim();
    const latestStep = latest === undefined ? undefined : stepOfFolderName(latest);
    if (latest === layout.name || (latestStep !== undefined && latestStep > step && /^global_step\d+$/.test(latest ?? ''))) {
      return { state: 'complete', rule: 'DeepSpeed checkpoint (named by latest)' };
    }
    return { state: 'incomplete', rule: 'DeepSpeed checkpoint', waitingFor: `the run folder's latest file to name ${layout.name}` };
  }

  // 5. A PEFT adapter: weights first, adapter_config.json last.
  const hasAdapterModel = [...top].some((f) => ADAPTER_MODEL.test(f));
  if (top.has(ADAPTER_CONFIG) || hasAdapterModel) {
    // In a `checkpoint-N` folder the adapter comes before the Trainer's own files: only the quiet period may release it.
    if (top.has(ADAPTER_CONFIG) && hasAdapterModel) return isCheckpointName ? { state: 'unknown' } : { state: 'complete', rule: 'PEFT adapter' };
    return { state: 'incomplete', rule: 'PEFT adapter', waitingFor: top.has(ADAPTER_CONFIG) ? 'adapter_model.safetensors (or .bin)' : ADAPTER_CONFIG };
  }

  // 6. Sharded weights, every shard there.
  if (indexes.length > 0 && !isCheckpointName) return { state: 'complete', rule: 'sharded weights (every shard the index names)' };

  return { state: 'unknown' };
}

/** The shard file names an index's `weight_map` holds, or undefined when it is not such JSON. */
function shardsOf(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const map = (parsed as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) return undefined;
  const names = new Set<string>();
  for (const v of Object.values(map)) {
    // Hostile input: only plain relative file names count.
    if (typeof v !== 'string' || v === '' || v.includes('..') || v.startsWith('/')) return undefined;
    names.add(v);
  }
  return [...names].sort();
}

/**
 * Reads what the rules need from disk for a unit folder: the index files' text, the hidden
 * markers, and the run folder's DeepSpeed `latest`. `files` are the unit's settled files.
 */
export async function judgeUnitOnDisk(fs: OutboxFs, outbox: string, unitPath: string, files: readonly SettledFile[]): Promise<Completeness> {
  const abs = (rel: string) => path.join(outbox, ...rel.split('/'));
  const prefix = `${unitPath}/`;
  const names = files.filter((f) => f.localPath.startsWith(prefix)).map((f) => f.localPath.slice(prefix.length));
  for (const hidden of HIDDEN_MARKERS) if ((await fs.stat(abs(`${unitPath}/${hidden}`)))?.kind === 'file') names.push(hidden);
  const texts = new Map<string, string | undefined>();
  for (const rel of filesToRead(names)) {
    const file = files.find((f) => f.localPath === `${prefix}${rel}`);
    texts.set(rel, file === undefined ? undefined : await readSmall(fs, outbox, file.localPath, file));
  }
  const segments = unitPath.split('/');
  const name = segments[segments.length - 1] as string;
  let runLatest: string | undefined;
  if (segments.length >= 3 && /^global_step\d+$/.test(name)) {
    const latestPath = `${segments.slice(0, -1).join('/')}/latest`;
    const s = await fs.stat(abs(latestPath));
    if (s?.kind === 'file' && s.sizeBytes <= 1024) runLatest = await readSmall(fs, outbox, latestPath, s);
  }
  return judgeCompleteness({ name, files: names, texts, runLatest });
}

async function readSmall(fs: OutboxFs, outbox: string, relPath: string, fingerprint: { sizeBytes: number; mtimeMs: number; ino: number }): Promise<string | undefined> {
  if (fingerprint.sizeBytes > MAX_INDEX_BYTES) return undefined;
  try {
    const chunks: Buffer[] = [];
    for await (const c of fs.openVerified({ root: outbox, relPath }, fingerprint)) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  } catch {
    return undefined;
  }
}

/**
 * A unit folder's files in upload (and registration) order: the largest first, the files that
 * mark it complete last (index, adapter_config.json, then trainer_state.json, then a marker), so
 * a bucket that registers a batch in order never shows the completion file before the rest.
 */
export function uploadOrder<T extends { localPath: string; sizeBytes: number }>(files: readonly T[]): T[] {
  const rank = (p: string): number => {
    const name = p.slice(p.lastIndexOf('/') + 1);
    if ((MARKER_FILES as readonly string[]).includes(name)) return 3;
    if (name === TRAINER_STATE) return 2;
    if (INDEX_FILE.test(name) || name === ADAPTER_CONFIG) return 1;
    return 0;
  };
  return [...files].sort((a, b) => rank(a.localPath) - rank(b.localPath) || b.sizeBytes - a.sizeBytes || (a.localPath < b.localPath ? -1 : 1));
}
