/**
 * Stage "map": the pure rules that turn an outbox path into the bucket path that carries
 * the agent id, following shared/reference/artifacts-conventions.txt:
 *   {descriptive_name}_{agent_id}.{ext}   under artifacts/<category>/...
 *
 * Nothing here touches the disk; every input is a relative, '/'-separated outbox path.
 */

export interface NamingRules {
  agentId: string;
  /** Categories whose direct sub-directories are one artifact (a checkpoint is a folder). */
  unitCategories: readonly string[];
  /** Extra user globs to ignore (matched against the relative outbox path). */
  ignore: readonly string[];
}

/** What the outbox path is, and where it goes. */
export type Mapping =
  | {
      kind: 'file';
      /** The artifact this file belongs to: itself, or its unit directory. */
      unitPath: string;
      unitKind: 'file' | 'directory';
      /** Bucket path of the unit (for a directory unit: the folder, no trailing slash). */
      unitBucketPath: string;
      bucketPath: string;
    }
  | { kind: 'note'; announces: string }
  | { kind: 'ignored'; reason: string }
  | { kind: 'rejected'; reason: string };

export const BUCKET_ARTIFACTS_ROOT = 'artifacts';
export const NOTE_SUFFIX = '.note.md';

/** Last extensions that are compression layers: `x.tar.gz` keeps `.tar.gz` together. */
const COMPRESSION_EXTENSIONS = new Set(['gz', 'bz2', 'xz', 'zst', 'lz4', 'br', 'sz', 'zstd', 'lzma']);

/** Editor, downloader and writer temp files: never an artifact, whatever the user's globs say. */
const TEMP_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  [/\.(tmp|temp|part|partial|crdownload|download|swp|swo|swx)$/i, 'temporary file (still being written)'],
  [/~$/, 'editor backup file'],
  [/^#.*#$/, 'editor autosave file'],
  [/^\.hf-outbox-/, "hf-outbox's own temporary file"],
  // Staging folders that training stacks write and then rename into place once complete:
  // transformers' `tmp-checkpoint-N` (4.36–4.37), Orbax's `<step>.orbax-checkpoint-tmp-<time>`.
  [/^tmp-checkpoint-\d+$/i, 'staging folder (published once renamed into place)'],
  [/\.orbax-checkpoint-tmp-\d+$/i, 'staging folder (published once renamed into place)'],
];

/**
 * A checkpoint sub-folder of a run folder: `checkpoint-100` (transformers Trainer, Accelerate's
 * `checkpoint_3`), `step_500`, `global_step500` (DeepSpeed), `epoch_2`, `iter_1000`, `ckpt-7`, or a
 * bare step number (Orbax's CheckpointManager writes `<dir>/<step>/`).
 */
const STEP_FOLDER = /^(?:(?:checkpoint|ckpt|step|global_step|epoch|iter|iteration)[-_]?\d+|\d+)$/i;

/** True for a folder name a training stack gives one saved step (`checkpoint-100`, `global_step500`, `500`). */
export function isStepFolderName(name: string): boolean {
  return STEP_FOLDER.test(name);
}

/** The step number a step-folder name carries (`checkpoint-100` → 100), or undefined. */
export function stepOfFolderName(name: string): number | undefined {
  if (!STEP_FOLDER.test(name)) return undefined;
  const digits = /(\d+)$/.exec(name)?.[1];
  return digits === undefined ? undefined : Number(digits);
}

/** Characters the Hub client cannot carry in a URL path (it does not percent-encode them). */
// C0, DEL and C1 controls, and bidi overrides/isolates/marks (a name that reads in another order than it is).
const UNSAFE_CHARACTERS = /[?#%\\\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

const MAX_SEGMENT_BYTES = 255;

export function agentSuffix(agentId: string): string {
  return `_${agentId}`;
}

/**
 * Splits a file name into stem and extension, keeping compound extensions together.
 * `shards.tar.gz` → [`shards`, `.tar.gz`]; `Makefile` → [`Makefile`, ``]; `a.b.py` → [`a.b`, `.py`].
 */
export function splitExtension(name: string): [stem: string, ext: string] {
  const last = name.lastIndexOf('.');
  if (last <= 0) return [name, ''];
  const lastExt = name.slice(last + 1);
  if (COMPRESSION_EXTENSIONS.has(lastExt.toLowerCase())) {
    const before = name.slice(0, last);
    const inner = before.lastIndexOf('.');
    if (inner > 0 && /^[A-Za-z][A-Za-z0-9]{0,9}$/.test(before.slice(inner + 1))) {
      return [name.slice(0, inner), name.slice(inner)];
    }
  }
  return [name.slice(0, last), name.slice(last)];
}

/** `train_lora.py` → `train_lora_agent-01.py`; names that already carry the suffix are kept. */
export function withAgentId(name: string, agentId: string): string {
  const [stem, ext] = splitExtension(name);
  const suffix = agentSuffix(agentId);
  if (stem.endsWith(suffix)) return name;
  return `${stem}${suffix}${ext}`;
}

/** True when a bucket name (file or folder) carries this agent's id in the convention's place. */
export function carriesAgentId(name: string, agentId: string): boolean {
  return splitExtension(name)[0].endsWith(agentSuffix(agentId)) || name.endsWith(agentSuffix(agentId));
}

/** Minimal glob: `*` within a segment, `**` across segments, `?` one character. */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        // `**/` matches zero or more whole segments; a trailing `**` matches everything.
        i++;
        if (glob[i + 1] === '/') {
          i++;
          out += '(?:.*/)?';
        } else {
          out += '.*';
        }
      } else {
        out += '[^/]*';
      }
    } else if (c === '?') {
      out += '[^/]';
    } else {
      out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  // A glob without a slash matches the base name anywhere, like .gitignore.
  return glob.includes('/') ? new RegExp(`^${out}$`) : new RegExp(`(?:^|/)${out}$`);
}

export interface CompiledRules extends NamingRules {
  readonly ignoreMatchers: readonly RegExp[];
}

export function compileRules(rules: NamingRules): CompiledRules {
  return { ...rules, ignoreMatchers: rules.ignore.map(globToRegExp) };
}

/**
 * Why a path is never an artifact, or undefined when it may be one. Applies to every segment,
 * so a file inside `.git/` or inside `ckpt.tmp/` is skipped too.
 */
export function ignoredReason(relPath: string, rules: CompiledRules): string | undefined {
  const segments = relPath.split('/');
  for (const segment of segments) {
    if (segment.startsWith('.') && !segment.startsWith('.hf-outbox-')) return 'hidden file or folder (dot name)';
    for (const [pattern, reason] of TEMP_PATTERNS) if (pattern.test(segment)) return reason;
  }
  for (let i = 0; i < rules.ignore.length; i++) {
    if (rules.ignoreMatchers[i]?.test(relPath)) return `matches ignore pattern "${rules.ignore[i]}"`;
  }
  return undefined;
}

/** Is this outbox path an announcement note (`<artifact>.note.md`, not ignored)? */
export function isNote(relPath: string, rules: CompiledRules): boolean {
  return mapPath(relPath, rules).kind === 'note';
}

/** Maps one outbox file path (relative, '/'-separated) to what hf-outbox does with it. */
export function mapPath(relPath: string, rules: CompiledRules): Mapping {
  const ignored = ignoredReason(relPath, rules);
  if (ignored !== undefined) return { kind: 'ignored', reason: ignored };

  const segments = relPath.split('/');
  const name = segments[segments.length - 1] as string;
  if (name.endsWith(NOTE_SUFFIX) && name.length > NOTE_SUFFIX.length) {
    return { kind: 'note', announces: relPath.slice(0, -NOTE_SUFFIX.length) };
  }

  const unsafe = segments.find((s) => UNSAFE_CHARACTERS.test(s) || s === '..' || s === '');
  if (unsafe !== undefined) {
    return {
      kind: 'rejected',
      reason:
        `name "${printable(unsafe)}" contains a character a bucket path cannot carry ` +
        `(? # % \\ or a control or bidi character); rename the file`,
    };
  }

  const [category] = segments;
  if (segments.length >= 3 && category !== undefined && rules.unitCategories.includes(category)) {
    // The folder under the category carries the agent id; below it, names are kept.
    const unitDir = segments[1] as string;
    const bucketDir = withAgentId(unitDir, rules.agentId);
    const folderBucketPath = [BUCKET_ARTIFACTS_ROOT, category, bucketDir].join('/');
    const bucketPath = [folderBucketPath, ...segments.slice(2)].join('/');
    // A run folder's step sub-folders (`checkpoints/run1/checkpoint-100/…`) are artifacts of their
    // own; everything else in the run folder (logs, README, `runs/`) stays the run folder's artifact.
    const sub = segments[2] as string;
    if (segments.length >= 4 && !isStepFolderName(unitDir) && isStepFolderName(sub)) {
      return checkLength({
        kind: 'file',
        unitPath: `${category}/${unitDir}/${sub}`,
        unitKind: 'directory',
        unitBucketPath: `${folderBucketPath}/${sub}`,
        bucketPath,
      });
    }
    return checkLength({ kind: 'file', unitPath: `${category}/${unitDir}`, unitKind: 'directory', unitBucketPath: folderBucketPath, bucketPath });
  }

  const bucketPath = [BUCKET_ARTIFACTS_ROOT, ...segments.slice(0, -1), withAgentId(name, rules.agentId)].join('/');
  return checkLength({ kind: 'file', unitPath: relPath, unitKind: 'file', unitBucketPath: bucketPath, bucketPath });
}

/**
 * The unit folders a unit folder holds apart from itself: for a run folder (`checkpoints/run1`), its
 * step sub-folders are their own artifacts, so a walk of the run folder's artifact skips them.
 * True when `relDir` (a folder inside a unit) belongs to another unit than `unitPath`.
 */
export function isOtherUnitFolder(relDir: string, unitPath: string, rules: CompiledRules): boolean {
  const m = mapPath(`${relDir}/x`, rules);
  return m.kind === 'file' && m.unitPath !== unitPath && m.unitPath.startsWith(`${unitPath}/`);
}

/** The artifact (unit) a path belongs to, or undefined for paths that are not artifacts. */
export function unitOf(relPath: string, rules: CompiledRules): string | undefined {
  const mapping = mapPath(relPath, rules);
  return mapping.kind === 'file' ? mapping.unitPath : undefined;
}

function checkLength(mapping: Extract<Mapping, { kind: 'file' }>): Mapping {
  const long = mapping.bucketPath.split('/').find((s) => Buffer.byteLength(s) > MAX_SEGMENT_BYTES);
  if (long === undefined) return mapping;
  return {
    kind: 'rejected',
    reason: `name "${long.slice(0, 40)}…" is longer than ${MAX_SEGMENT_BYTES} bytes once the agent id is added; shorten it`,
  };
}

function printable(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}
