/**
 * Pure: turns the raw settings from the three sources (flags > environment > file) into a
 * validated, frozen Config, or the complete list of problems, each naming the key, where it
 * came from, what it was and what is expected. No disk, no process globals.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { closest, distance } from 'fastest-levenshtein';
import * as v from 'valibot';
import { FALLBACK_AGENT_ID, LOG_LEVELS, WATCH_MODES, XET_WRITERS, OPTIONS, envName, flagName, type OptionName, type OptionSpec } from './schema.js';

export type BucketTarget =
  | { kind: 'local'; root: string; uri: string }
  | { kind: 'hf'; owner: string; name: string; id: string; uri: string };

export interface Config {
  configFile: string | undefined;
  outbox: string;
  /**
   * Where the outbox setting came from: only the default ./outbox of the quick start is created
   * when missing; one the user named must exist (a typo must not publish nowhere, forever).
   */
  outboxSource: 'default' | 'given';
  bucket: BucketTarget;
  /** Where the bucket setting came from: `pull hf://buckets/O/N/…` reads that bucket unless one was given (and then they must agree). */
  bucketSource: 'default' | 'given';
  agentId: string;
  stateDir: string;
  settleMs: number;
  unitSettleMs: number;
  settleTimeoutMs: number;
  concurrency: number;
  rescanIntervalMs: number;
  shutdownGraceMs: number;
  watchMode: (typeof WATCH_MODES)[number];
  xetWriter: (typeof XET_WRITERS)[number];
  /** Chunk-hashing threads of the own Xet writer (0: half the cores, at least 1). */
  uploadThreads: number;
  pollIntervalMs: number;
  watchConfig: boolean;
  maxRequestsPerSecond: number;
  maxUploadBytesPerSecond: number;
  unitCategories: readonly string[];
  categories: readonly string[];
  ignore: readonly string[];
  autoAnnounce: readonly string[];
  hubUrl: string;
  tokenFile: string | undefined;
  createBucket: boolean;
  metricsPort: number;
  logLevel: (typeof LOG_LEVELS)[number];
}

export type RawSettings = Partial<Record<OptionName, unknown>>;

export interface ParseInput {
  flags: RawSettings;
  env: Readonly<Record<string, string | undefined>>;
  file: { path: string; settings: Record<string, unknown> } | undefined;
  cwd: string;
  homeDir: string;
  /** Reading commands (board, results, pull, status) need no agent id of their own. */
  purpose?: 'publish' | 'read';
}

export type ParseResult = { ok: true; config: Config; warnings: string[] } | { ok: false; errors: string[] };

const OPTION_NAMES = Object.keys(OPTIONS) as OptionName[];

export function parseConfig(input: ParseInput): ParseResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  const fileSettings = input.file ? normaliseFileKeys(input.file, errors) : {};

  const values = {} as Record<OptionName, unknown>;
  const sources = {} as Record<OptionName, string | undefined>;
  for (const name of OPTION_NAMES) {
    const spec: OptionSpec = OPTIONS[name];
    const picked = pick(name, spec, input, fileSettings);
    sources[name] = picked?.source;
    const result = v.safeParse(spec.schema, picked?.value);
    if (result.success) {
      values[name] = result.output;
    } else {
      const expected = result.issues.map((i) => i.message).join('; ');
      errors.push(`${flagName(name)}: got ${show(picked?.value)} (from ${picked?.source ?? 'default'}), ${expected}`);
    }
  }
  if (errors.length > 0) return { ok: false, errors };

  const bucket = parseBucket(String(values.bucket), input.cwd);
  if (typeof bucket === 'string') return { ok: false, errors: [`bucket: ${bucket} (from ${sources.bucket ?? 'default'})`] };
  const unknownAnnounce = unknownCategories(values.autoAnnounce as string[], [...(values.categories as string[]), ...(values.unitCategories as string[])]);
  if (unknownAnnounce) return { ok: false, errors: [`auto-announce: ${unknownAnnounce} (from ${sources.autoAnnounce ?? 'default'})`] };

  let agentId = values.agentId as string | undefined;
  if (agentId === undefined) {
    if (bucket.kind === 'hf' && input.purpose !== 'read') {
      return {
        ok: false,
        errors: [`agent-id: missing; publishing to ${bucket.uri} needs your agent id (--agent-id, HF_OUTBOX_AGENT_ID or AGENT_ID)`],
      };
    }
    agentId = FALLBACK_AGENT_ID;
    if (input.purpose !== 'read') warnings.push(`no agent id given; using "${FALLBACK_AGENT_ID}" for the local-folder bucket (set --agent-id or AGENT_ID)`);
  }

  const outbox = path.resolve(input.cwd, String(values.outbox));
  const stateDir = resolveStateDir(values.stateDir as string | undefined, { ...input, agentId, outbox, bucketUri: bucket.uri });
  const tokenFile = values.tokenFile === undefined ? undefined : path.resolve(input.cwd, String(values.tokenFile));

  const config: Config = {
    configFile: input.file?.path,
    outbox,
    outboxSource: sources.outbox === undefined ? 'default' : 'given',
    bucket,
    bucketSource: sources.bucket === undefined ? 'default' : 'given',
    agentId,
    stateDir,
    settleMs: values.settleMs as number,
    unitSettleMs: values.unitSettleMs as number,
    settleTimeoutMs: values.settleTimeoutMs as number,
    concurrency: values.concurrency as number,
    rescanIntervalMs: values.rescanIntervalMs as number,
    shutdownGraceMs: values.shutdownGraceMs as number,
    watchMode: values.watchMode as Config['watchMode'],
    xetWriter: values.xetWriter as Config['xetWriter'],
    uploadThreads: values.uploadThreads as number,
    pollIntervalMs: values.pollIntervalMs as number,
    watchConfig: values.watchConfig as boolean,
    maxRequestsPerSecond: values.maxRequestsPerSecond as number,
    maxUploadBytesPerSecond: values.maxUploadBytesPerSecond as number,
    unitCategories: values.unitCategories as string[],
    categories: values.categories as string[],
    ignore: values.ignore as string[],
    autoAnnounce: values.autoAnnounce as string[],
    hubUrl: String(values.hubUrl).replace(/\/+$/, ''),
    tokenFile,
    createBucket: values.createBucket as boolean,
    metricsPort: values.metricsPort as number,
    logLevel: values.logLevel as Config['logLevel'],
  };
  return { ok: true, config: deepFreeze(config), warnings };
}

/** YAML keys are the flag names (agent-id); camelCase is accepted too. Unknown keys are errors. */
function normaliseFileKeys(file: NonNullable<ParseInput['file']>, errors: string[]): RawSettings {
  const out: RawSettings = {};
  for (const [key, value] of Object.entries(file.settings)) {
    const name = OPTION_NAMES.find((n) => n === key || flagName(n) === key);
    if (name === undefined || name === 'config') {
      errors.push(`${key}: unknown setting in ${file.path}; known settings are ${OPTION_NAMES.filter((n) => n !== 'config').map(flagName).join(', ')}`);
      continue;
    }
    out[name] = value;
  }
  return out;
}

function pick(
  name: OptionName,
  spec: OptionSpec,
  input: ParseInput,
  file: RawSettings,
): { value: unknown; source: string } | undefined {
  const flag = input.flags[name];
  if (flag !== undefined) return { value: flag, source: `--${flagName(name)}` };
  for (const variable of [envName(name), ...(spec.extraEnv ?? [])]) {
    const raw = input.env[variable];
    if (raw !== undefined && raw !== '') return { value: coerceText(raw, spec), source: variable };
  }
  const fromFile = file[name];
  if (fromFile !== undefined) {
    // `auto-announce: checkpoints` in YAML is a plain string: read it as the list it names.
    const value = spec.kind === 'list' && typeof fromFile === 'string' ? coerceText(fromFile, spec) : fromFile;
    return { value, source: input.file?.path ?? 'config file' };
  }
  return undefined;
}

export function coerceText(raw: string, spec: OptionSpec): unknown {
  switch (spec.kind) {
    case 'integer':
      return /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
    case 'boolean': {
      const s = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(s)) return true;
      if (['0', 'false', 'no', 'off'].includes(s)) return false;
      return raw;
    }
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    case 'string':
      return raw;
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;
const HF_FORM = 'expected hf://buckets/OWNER/NAME, e.g. hf://buckets/my-org/shared-artifacts';

/** Each name in `wanted` must be one of `known`; else the reason, with the nearest known name. */
function unknownCategories(wanted: readonly string[], known: readonly string[]): string | undefined {
  const bad = wanted.filter((w) => !known.includes(w));
  if (bad.length === 0) return undefined;
  const names = [...new Set(known)];
  const hints = bad.map((b) => {
    const near = nearest(b, names);
    return near ? `"${b}" is not a category (did you mean "${near}"?)` : `"${b}" is not a category`;
  });
  return `${hints.join(', ')}; the categories are ${names.join(', ')}`;
}

/** The known name nearest to `word` (at most 2 edits, or a third of its length), if any. */
export function nearest(word: string, known: readonly string[]): string | undefined {
  if (known.length === 0) return undefined;
  const near = closest(word, [...known]);
  return distance(word, near) <= Math.max(2, Math.floor(word.length / 3)) ? near : undefined;
}

export function parseBucket(raw: string, cwd: string): BucketTarget | string {
  // Anything that starts like an hf URI is one: a typo (hf:/…, hf:buckets/…, HF://…) must never
  // become a local folder named "hf:" that silently publishes nowhere.
  if (/^hf:/i.test(raw) && !raw.startsWith('hf://')) return `got "${raw}", ${HF_FORM}`;
  const hf = /^hf:\/\/(.*)$/.exec(raw);
  if (hf) {
    const parts = (hf[1] as string).replace(/\/+$/, '').split('/');
    if (parts.length === 3 && parts[0] === 'buckets' && NAME.test(parts[1] ?? '') && NAME.test(parts[2] ?? '')) {
      const [, owner, name] = parts as [string, string, string];
      return { kind: 'hf', owner, name, id: `${owner}/${name}`, uri: `hf://buckets/${owner}/${name}` };
    }
    return `got "${raw}", ${HF_FORM} (a bucket, with no path inside it)`;
  }
  if (raw.startsWith('file://')) {
    let root: string;
    try {
      root = fileURLToPath(raw);
    } catch {
      return `got "${raw}", expected file:///absolute/path`;
    }
    return { kind: 'local', root, uri: `file://${root}` };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
    return `got "${raw}", expected hf://buckets/OWNER/NAME, file:///absolute/path or a folder path`;
  }
  const root = path.resolve(cwd, raw);
  return { kind: 'local', root, uri: `file://${root}` };
}

function resolveStateDir(
  explicit: string | undefined,
  ctx: ParseInput & { agentId: string; outbox: string; bucketUri: string },
): string {
  if (explicit !== undefined) return path.resolve(ctx.cwd, explicit);
  const systemd = ctx.env['STATE_DIRECTORY']?.split(':')[0];
  if (systemd) return systemd;
  const base = ctx.env['XDG_STATE_HOME'] || path.join(ctx.homeDir, '.local', 'state');
  // One state per (outbox, bucket): two checkouts with the same agent id never share records.
  const key = createHash('sha256').update(`${ctx.outbox}\n${ctx.bucketUri}`).digest('hex').slice(0, 12);
  return path.join(base, 'hf-outbox', ctx.agentId, key);
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const s = JSON.stringify(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
