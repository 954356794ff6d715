/**
 * Reads the metrics a checkpoint post shows from a Hugging Face Trainer `trainer_state.json`
 * (pure). The file comes from the bucket, so it is hostile input: its size is bounded, every
 * field is type-checked and anything unexpected is left out (with a warning), never thrown.
 *
 * Fields read, as transformers' `TrainerState` writes them (`json.dumps(asdict(state))`):
 *   global_step (int), epoch (float), max_steps (int), best_metric (float | null),
 *   best_global_step (int | null, newer versions), best_model_checkpoint (str | null: the
 *   checkpoint folder's path as the trainer saw it), log_history (list of dicts: training logs
 *   carry `loss` and `step`, evaluations `eval_loss`, `eval_<metric>` and `step`).
 * Python writes a diverged loss as the bare tokens `NaN` / `Infinity`, which are not JSON; they
 * are read as the non-finite numbers they stand for.
 */
import { stepOfFolderName } from '../pipeline/naming.js';

/** A trainer_state.json larger than this is not read (a long run logging every step stays well under it). */
export const MAX_TRAINER_STATE_BYTES = 32 * 1024 * 1024;
/** Evaluation metrics shown besides eval_loss, at most. */
const MAX_EVAL_METRICS = 8;
/** Evaluation entries that describe the evaluation run, not the model. */
const EVAL_BOOKKEEPING = /^eval_(?:runtime|samples_per_second|steps_per_second|loss)$/;
const METRIC_NAME = /^eval_[A-Za-z0-9_.-]{1,48}$/;

export interface LoggedValue {
  value: number;
  /** The step the log entry carries, when it carries a valid one. */
  step: number | undefined;
}

export interface TrainerStateSummary {
  globalStep: number | undefined;
  maxSteps: number | undefined;
  epoch: number | undefined;
  /** Latest training loss in log_history (may be NaN or ±Infinity for a diverged run). */
  loss: LoggedValue | undefined;
  /** Latest evaluation loss in log_history. */
  evalLoss: LoggedValue | undefined;
  /** Other metrics of the latest evaluation (eval_accuracy, …), in the file's order. */
  evalMetrics: Array<{ name: string; value: number }>;
  bestMetric: number | undefined;
  bestGlobalStep: number | undefined;
  /** Folder name of the best checkpoint (`checkpoint-200`), only when it is a checkpoint folder name. */
  bestCheckpoint: string | undefined;
  /** What was present but not usable, for the log. */
  warnings: string[];
}

export type TrainerStateResult = { ok: true; summary: TrainerStateSummary } | { ok: false; error: string };

/**
 * The step number a checkpoint folder name carries (`checkpoint-100`, `global_step450`, `500`),
 * or undefined when it is not a step folder. The names are the run-folder rule of the map stage.
 */
export function checkpointStep(name: string): number | undefined {
  const n = stepOfFolderName(name);
  return n !== undefined && Number.isSafeInteger(n) ? n : undefined;
}

export function parseTrainerState(bytes: Uint8Array): TrainerStateResult {
  if (bytes.byteLength > MAX_TRAINER_STATE_BYTES) {
    return { ok: false, error: `trainer_state.json is ${bytes.byteLength} bytes, more than the ${MAX_TRAINER_STATE_BYTES} read` };
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, error: 'trainer_state.json is not UTF-8 text' };
  }
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (first) {
    // Python's json writes NaN/Infinity as bare tokens; read them as strings, then as numbers below.
    try {
      data = JSON.parse(quoteNonFinite(text));
    } catch {
      return { ok: false, error: `trainer_state.json is not valid JSON (${firstLine((first as Error).message)})` };
    }
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { ok: false, error: 'trainer_state.json does not hold a JSON object' };
  }
  const record = data as Record<string, unknown>;
  const warnings: string[] = [];
  const field = <T>(key: string, read: (v: unknown) => T | undefined, expected: string): T | undefined => {
    const raw = record[key];
    if (raw === undefined || raw === null) return undefined;
    const v = read(raw);
    if (v === undefined) warnings.push(`${key} is not ${expected}; left out`);
    return v;
  };

  const summary: TrainerStateSummary = {
    globalStep: field('global_step', step, 'a step number'),
    maxSteps: field('max_steps', step, 'a step number'),
    epoch: field('epoch', (v) => {
      const n = finite(v);
      return n !== undefined && n >= 0 ? n : undefined;
    }, 'a non-negative number'),
    loss: undefined,
    evalLoss: undefined,
    evalMetrics: [],
    bestMetric: field('best_metric', finite, 'a number'),
    bestGlobalStep: field('best_global_step', step, 'a step number'),
    bestCheckpoint: field('best_model_checkpoint', checkpointName, 'a path ending in a checkpoint folder'),
    warnings,
  };

  const history = record['log_history'];
  if (history !== undefined && history !== null && !Array.isArray(history)) warnings.push('log_history is not a list; left out');
  if (Array.isArray(history)) {
    for (let i = history.length - 1; i >= 0 && (summary.loss === undefined || summary.evalLoss === undefined); i--) {
      const entry: unknown = history[i];
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) continue;
      const e = entry as Record<string, unknown>;
      const at = step(e['step']);
      if (summary.loss === undefined) {
        const loss = number(e['loss']);
        if (loss !== undefined) summary.loss = { value: loss, step: at };
      }
      if (summary.evalLoss === undefined) {
        const evalLoss = number(e['eval_loss']);
        if (evalLoss !== undefined) {
          summary.evalLoss = { value: evalLoss, step: at };
          for (const [name, raw] of Object.entries(e)) {
            if (summary.evalMetrics.length >= MAX_EVAL_METRICS) break;
            if (!METRIC_NAME.test(name) || EVAL_BOOKKEEPING.test(name)) continue;
            const value = number(raw);
            if (value !== undefined) summary.evalMetrics.push({ name, value });
          }
        }
      }
    }
  }
  return { ok: true, summary };
}

/** A metric as text: 5 significant digits, `NaN` and `±Infinity` spelled out. */
export function formatMetric(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  return String(Number(value.toPrecision(5)));
}

/**
 * Replaces the bare tokens NaN, Infinity and -Infinity outside strings with the strings "NaN",
 * "Infinity", "-Infinity" (read back as numbers by `number`). One pass, string-aware.
 */
function quoteNonFinite(text: string): string {
  const out: string[] = [];
  let from = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      continue;
    }
    for (const token of ['-Infinity', 'Infinity', 'NaN']) {
      if (text.startsWith(token, i)) {
        out.push(text.slice(from, i), `"${token}"`);
        i += token.length - 1;
        from = i + 1;
        break;
      }
    }
  }
  out.push(text.slice(from));
  return out.join('');
}

/** A number, including the non-finite ones Python writes. */
function number(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return Number.NaN;
  if (v === 'Infinity') return Number.POSITIVE_INFINITY;
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
  return undefined;
}

function finite(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function step(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/** `outbox/checkpoints/run1/checkpoint-200` (or with `\`) → `checkpoint-200`; anything else → undefined. */
function checkpointName(v: unknown): string | undefined {
  if (typeof v !== 'string' || v.length > 4096) return undefined;
  const name = v.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? '';
  return checkpointStep(name) === undefined ? undefined : name;
}

function firstLine(s: string): string {
  const line = s.split('\n', 1)[0] ?? '';
  return line.length > 160 ? `${line.slice(0, 159)}…` : line;
}
