/**
 * Results files (pure). A `.json` under `results/` must be a JSON object carrying `experiment`
 * (non-empty text) and `score` (a finite number), per the conventions' results format. A missing
 * `agent_id` or `timestamp` is filled in the uploaded copy; an `agent_id` of another agent is refused.
 *
 * When something is filled, the fields are inserted right after the opening `{`, in the
 * conventions' order (agent_id, timestamp), and every other byte of the user's file is kept:
 * key order, indentation, number spelling. When nothing is filled, the original bytes are returned.
 */

import { splitExtension } from '../pipeline/naming.js';

export interface ResultsContext {
  agentId: string;
  now: Date;
}

export type ResultsCheck =
  | { ok: true; content: Uint8Array; filled: Array<'agent_id' | 'timestamp'> }
  | { ok: false; reason: string };

/** A valid results record, as the leaderboard reads it. */
export interface ResultRecord {
  experiment: string;
  score: number;
  agentId: string | undefined;
  model: string | undefined;
  timestamp: string | undefined;
  data: Record<string, unknown>;
}

export type ResultRead = { ok: true; record: ResultRecord } | { ok: false; reason: string };

/** True for outbox paths the results rules apply to: `.json` files under `results/`. */
export function isResultsPath(outboxRelPath: string): boolean {
  return outboxRelPath.startsWith('results/') && outboxRelPath.toLowerCase().endsWith('.json');
}

/** Checks a results file before upload; see the module comment. Never throws. */
export function checkResults(bytes: Uint8Array, ctx: ResultsContext): ResultsCheck {
  const read = readResultText(bytes);
  if (!read.ok) return { ok: false, reason: read.reason };
  const { record } = read;

  const filled: Array<'agent_id' | 'timestamp'> = [];
  const fill: Array<[string, string]> = [];
  const agent = record.data['agent_id'];
  if (isBlank(agent)) {
    filled.push('agent_id');
    fill.push(['agent_id', ctx.agentId]);
  } else if (typeof agent !== 'string') {
    return { ok: false, reason: `"agent_id" must be text, got ${describe(agent)}; write "agent_id": "${ctx.agentId}" or leave it out` };
  } else if (agent !== ctx.agentId) {
    return {
      ok: false,
      reason: `"agent_id" is "${clip(agent, 64)}" but this agent is "${ctx.agentId}"; publish only your own results (fix agent_id or remove it)`,
    };
  }
  if (isBlank(record.data['timestamp'])) {
    filled.push('timestamp');
    fill.push(['timestamp', ctx.now.toISOString().replace(/\.\d{3}Z$/, 'Z')]);
  }
  if (fill.length === 0) return { ok: true, content: bytes, filled };
  return { ok: true, content: new TextEncoder().encode(insertFields(read.text, fill)), filled };
}

/**
 * Who a results file is from: the agent id its file name carries (`eval_agent-02.json` → agent-02),
 * the only thing the naming convention guarantees. The JSON's `agent_id`, when it names someone else,
 * is returned as `claimedAgentId`: shown flagged, never as the author.
 */
export function resultAuthor(bucketPath: string, statedAgentId: string | undefined): { agentId: string | undefined; claimedAgentId: string | undefined } {
  const agentId = agentFromFileName(bucketPath);
  return { agentId, claimedAgentId: statedAgentId !== undefined && statedAgentId !== agentId ? statedAgentId : undefined };
}

/** `artifacts/results/gsm8k/eval_agent-02.json` → `agent-02` (the last `_` part of the name, per the conventions). */
export function agentFromFileName(bucketPath: string): string | undefined {
  const [stem] = splitExtension(bucketPath.slice(bucketPath.lastIndexOf('/') + 1));
  const i = stem.lastIndexOf('_');
  return i > 0 && i < stem.length - 1 ? stem.slice(i + 1) : undefined;
}

/** Reads and validates a results file (the required fields only). Never throws. */
export function readResult(bytes: Uint8Array): ResultRead {
  const read = readResultText(bytes);
  return read.ok ? { ok: true, record: read.record } : { ok: false, reason: read.reason };
}

function readResultText(bytes: Uint8Array): ResultRead & { text: string } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, reason: 'not UTF-8 text; a results file must be JSON', text: '' };
  }
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `not valid JSON: ${describeJsonError(text, error)}`, text };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { ok: false, reason: `must be a JSON object with "experiment" and "score", got ${describe(data)}`, text };
  }
  const obj = data as Record<string, unknown>;
  const experiment = obj['experiment'];
  if (experiment === undefined) return { ok: false, reason: 'missing required field "experiment" (text describing the run)', text };
  if (typeof experiment !== 'string' || experiment.trim() === '') {
    return { ok: false, reason: `"experiment" must be non-empty text, got ${describe(experiment)}`, text };
  }
  const score = obj['score'];
  if (score === undefined) return { ok: false, reason: 'missing required field "score" (a number)', text };
  if (typeof score !== 'number') {
    const hint = typeof score === 'string' && score.trim() !== '' && Number.isFinite(Number(score)) ? ' (write it without quotes)' : '';
    return { ok: false, reason: `"score" must be a number, got ${describe(score)}${hint}`, text };
  }
  if (!Number.isFinite(score)) return { ok: false, reason: `"score" must be a finite number, got ${String(score)}`, text };
  const agentId = typeof obj['agent_id'] === 'string' && obj['agent_id'] !== '' ? obj['agent_id'] : undefined;
  const model = typeof obj['model'] === 'string' ? obj['model'] : undefined;
  const timestamp = typeof obj['timestamp'] === 'string' ? obj['timestamp'] : undefined;
  return { ok: true, record: { experiment, score, agentId, model, timestamp, data: obj }, text };
}

function isBlank(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
}

/**
 * Sets fields at the start of the object, keeping the rest of the text as written. A blank
 * existing value (`"agent_id": ""` or null) is replaced where it stands instead.
 */
function insertFields(text: string, fields: ReadonlyArray<[string, string]>): string {
  let out = text;
  const toInsert: Array<[string, string]> = [];
  for (const [key, value] of fields) {
    const replaced = replaceBlankValue(out, key, value);
    if (replaced === undefined) toInsert.push([key, value]);
    else out = replaced;
  }
  if (toInsert.length > 0) {
    const open = out.indexOf('{');
    const afterOpen = out.slice(open + 1);
    const ws = /^\s*/.exec(afterOpen)?.[0] ?? '';
    const colon = /^\s*"(?:[^"\\]|\\.)*"(\s*):(\s*)/.exec(afterOpen);
    const colonSep = `${colon?.[1] ?? ''}:${colon?.[2] ?? ' '}`;
    const multiLine = ws.includes('\n');
    const between = multiLine ? ws : ws === '' ? (colonSep.endsWith(' ') ? ' ' : '') : ws;
    const inserted = toInsert.map(([k, v]) => `${JSON.stringify(k)}${colonSep}${JSON.stringify(v)},`).join(between);
    out = `${out.slice(0, open + 1)}${ws}${inserted}${between}${afterOpen.slice(ws.length)}`;
  }
  // Whatever the user's formatting did, the result must be JSON with the fields set; else fall back.
  try {
    const check = JSON.parse(out) as Record<string, unknown>;
    if (fields.every(([k, v]) => check[k] === v)) return out;
  } catch {
    /* fall through */
  }
  const data = JSON.parse(text) as Record<string, unknown>;
  const rebuilt: Record<string, unknown> = {};
  for (const [k, v] of fields) rebuilt[k] = v;
  for (const [k, v] of Object.entries(data)) if (!(k in rebuilt)) rebuilt[k] = v;
  return `${JSON.stringify(rebuilt, null, 2)}\n`;
}

/** Replaces `"key": null` or `"key": ""` at the top level of the object, when it is there exactly once. */
function replaceBlankValue(text: string, key: string, value: string): string | undefined {
  const pattern = new RegExp(`(${escapeRegExp(JSON.stringify(key))}\\s*:\\s*)(null|""|"\\s+")`, 'g');
  const matches = [...text.matchAll(pattern)];
  if (matches.length !== 1) return undefined;
  const m = matches[0] as RegExpMatchArray;
  const at = (m.index ?? 0) + (m[1] as string).length;
  const candidate = `${text.slice(0, at)}${JSON.stringify(value)}${text.slice(at + (m[2] as string).length)}`;
  try {
    const parsed = JSON.parse(candidate) as Record<string, unknown>;
    return parsed[key] === value ? candidate : undefined;
  } catch {
    return undefined;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A JSON syntax error as `line L, column C: what` (Node 20's own message lacks the position for some errors). */
export function describeJsonError(text: string, error: unknown): string {
  const found = locateJsonError(text);
  if (found !== undefined) {
    const { line, column } = lineColumn(text, found.offset);
    return `line ${line}, column ${column}: ${found.message}`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return clip(message.split('\n', 1)[0] ?? message, 200);
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * Finds the first syntax error of a JSON text, iteratively (deep nesting cannot overflow the
 * stack). Returns undefined when it finds none (the caller then uses JSON.parse's message).
 */
export function locateJsonError(text: string): { offset: number; message: string } | undefined {
  let i = 0;
  const n = text.length;
  const stack: Array<'{' | '['> = [];
  type Want = 'value' | 'key' | 'colon' | 'commaOrEnd' | 'firstKeyOrEnd' | 'firstValueOrEnd' | 'done';
  let want: Want = 'value';

  const skipWs = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
  };
  const shown = (at: number) => (at >= n ? 'end of input' : `${JSON.stringify(text.slice(at, at + 12))}`);
  const err = (message: string, at = i) => ({ offset: at, message });

  const afterValue = (): Want => (stack.length === 0 ? 'done' : 'commaOrEnd');

  for (;;) {
    skipWs();
    if (want === 'done') return i < n ? err(`unexpected ${shown(i)} after the JSON value`) : undefined;
    if (i >= n) {
      return err(stack.length > 0 ? `unexpected end of input: ${stack.length} unclosed ${stack[stack.length - 1] === '{' ? '{' : '['}` : 'empty input');
    }
    const c = text[i] as string;
    if (want === 'colon') {
      if (c !== ':') return err(`expected ":" after the key, found ${shown(i)}`);
      i++;
      want = 'value';
      continue;
    }
    if (want === 'commaOrEnd') {
      const top = stack[stack.length - 1];
      if (c === ',') {
        i++;
        want = top === '{' ? 'key' : 'value';
        continue;
      }
      if ((c === '}' && top === '{') || (c === ']' && top === '[')) {
        i++;
        stack.pop();
        want = afterValue();
        continue;
      }
      return err(`expected "," or "${top === '{' ? '}' : ']'}", found ${shown(i)}`);
    }
    if ((want === 'firstKeyOrEnd' && c === '}') || (want === 'firstValueOrEnd' && c === ']')) {
      i++;
      stack.pop();
      want = afterValue();
      continue;
    }
    if (want === 'key' || want === 'firstKeyOrEnd') {
      if (c !== '"') return err(c === '}' ? 'trailing comma before "}"' : `expected a double-quoted key, found ${shown(i)}`);
      const end = scanString(text, i);
      if (typeof end !== 'number') return end;
      i = end;
      want = 'colon';
      continue;
    }
    // want is 'value' or 'firstValueOrEnd'
    if (c === '{' || c === '[') {
      stack.push(c);
      i++;
      want = c === '{' ? 'firstKeyOrEnd' : 'firstValueOrEnd';
      continue;
    }
    if (c === '"') {
      const end = scanString(text, i);
      if (typeof end !== 'number') return end;
      i = end;
      want = afterValue();
      continue;
    }
    if (c === ']' && stack[stack.length - 1] === '[') return err('trailing comma before "]"');
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (literal === null) return err(c === "'" ? 'strings must use double quotes' : `expected a value, found ${shown(i)}`);
    const next = text[i + literal[0].length];
    if (next !== undefined && /[A-Za-z0-9.+-]/.test(next)) return err(`invalid value ${shown(i)}`);
    i += literal[0].length;
    want = afterValue();
  }
}

/** Index after the closing quote of the string starting at `start`, or the error. */
function scanString(text: string, start: number): number | { offset: number; message: string } {
  let i = start + 1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 34) return i + 1;
    if (c === 92) {
      const e = text[i + 1];
      if (e === 'u') {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return { offset: i, message: 'invalid \\u escape in a string' };
        i += 6;
        continue;
      }
      if (e === undefined || !'"\\/bfnrt'.includes(e)) return { offset: i, message: 'invalid escape in a string' };
      i += 2;
      continue;
    }
    if (c < 32) return { offset: i, message: c === 10 ? 'unterminated string (line break inside a string)' : 'control character inside a string' };
    i++;
  }
  return { offset: start, message: 'unterminated string' };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `text "${clip(value, 40)}"`;
  if (typeof value === 'number') return `the number ${String(value)}`;
  return String(value);
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
