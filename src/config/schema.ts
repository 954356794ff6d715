/**
 * The one description of every setting: its flag, environment variable, YAML key, type,
 * default and meaning. The CLI, the environment reader, the validator, the example config
 * and the README table are all derived from this table.
 */
import * as v from 'valibot';
import { AGENT_ID_EXPECTED, AGENT_ID_PATTERN } from '../conventions/agent-id.js';

export { AGENT_ID_PATTERN };
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const WATCH_MODES = ['auto', 'events', 'poll'] as const;
export const XET_WRITERS = ['auto', 'own', 'library'] as const;

/** Used only for a local-folder bucket when no id was given, with a warning. */
export const FALLBACK_AGENT_ID = 'agent-local';

type Kind = 'string' | 'integer' | 'boolean' | 'list';

export interface OptionSpec {
  kind: Kind;
  description: string;
  /** Shown in --help, the example config and the README. */
  defaultText: string;
  /** The value's form after the flag in --help, the example config and the README (`--settle-ms <ms>`); booleans take none. */
  arg?: string;
  /** Extra environment variables read after HF_OUTBOX_<NAME> (lower priority). */
  extraEnv?: readonly string[];
  example?: string;
  schema: v.GenericSchema;
}

const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  v.pipe(
    v.number(`expected a whole number`),
    v.integer(`expected a whole number`),
    v.minValue(min, `expected at least ${min}`),
    v.maxValue(max, `expected at most ${max}`),
  );
const nonEmpty = v.pipe(v.string('expected text'), v.minLength(1, 'expected a non-empty value'));
const stringList = v.array(nonEmpty, 'expected a list of names');

export const OPTIONS = {
  config: {
    kind: 'string',
    arg: 'file',
    description: 'YAML config file to read (flags and environment override it).',
    defaultText: 'none',
    schema: v.optional(nonEmpty),
  },
  outbox: {
    kind: 'string',
    arg: 'dir',
    description: 'Local folder to watch; it mirrors artifacts/ of the bucket. A folder you name must exist (hf-outbox init creates one); only the default ./outbox is created at start.',
    defaultText: './outbox',
    schema: v.optional(nonEmpty, './outbox'),
  },
  bucket: {
    kind: 'string',
    arg: 'hf://buckets/OWNER/NAME|DIR',
    description: 'Where to publish: hf://buckets/OWNER/NAME, file:///abs/path, or a plain path (a local-folder bucket).',
    defaultText: './bucket',
    example: 'hf://buckets/my-org/shared-artifacts',
    schema: v.optional(nonEmpty, './bucket'),
  },
  agentId: {
    kind: 'string',
    arg: 'id',
    description: 'Your agent id; every bucket name gets the suffix _<agent-id>.',
    defaultText: `required for hf:// buckets; "${FALLBACK_AGENT_ID}" (with a warning) for a local-folder bucket`,
    extraEnv: ['AGENT_ID'],
    example: 'agent-01',
    schema: v.optional(
      v.pipe(
        v.string('expected text'),
        v.regex(AGENT_ID_PATTERN, AGENT_ID_EXPECTED),
      ),
    ),
  },
  stateDir: {
    kind: 'string',
    arg: 'dir',
    description: 'Where hf-outbox keeps its delivery records.',
    defaultText: '$STATE_DIRECTORY under systemd, else $XDG_STATE_HOME/hf-outbox/<agent-id>/<outbox+bucket hash>',
    schema: v.optional(nonEmpty),
  },
  settleMs: {
    kind: 'integer',
    arg: 'ms',
    description: 'A file is sent once its size and mtime have not changed for this long (measured from its mtime).',
    defaultText: '2000',
    schema: v.optional(wholeNumber(0, 24 * 3600 * 1000), 2000),
  },
  unitSettleMs: {
    kind: 'integer',
    arg: 'ms',
    description:
      'A checkpoint folder that no known layout (Trainer, sharded safetensors, PEFT, DeepSpeed, a COMPLETE/_SUCCESS marker) shows complete is sent once nothing in it has changed for this long (at least settle-ms): a writer pausing between files must not publish half a checkpoint.',
    defaultText: '60000',
    schema: v.optional(wholeNumber(0, 24 * 3600 * 1000), 60_000),
  },
  settleTimeoutMs: {
    kind: 'integer',
    arg: 'ms',
    description: 'A file still changing after this long is reported as never settling (sync gives up on it and exits 1).',
    defaultText: '120000',
    schema: v.optional(wholeNumber(1000, 7 * 24 * 3600 * 1000), 120_000),
  },
  concurrency: {
    kind: 'integer',
    arg: 'n',
    description:
      'Upload calls in flight at once, so a large checkpoint going up does not hold back a small results file. Each call to an hf:// bucket holds at most 64 MiB of xorb buffers.',
    defaultText: '2',
    schema: v.optional(wholeNumber(1, 64), 2),
  },
  shutdownGraceMs: {
    kind: 'integer',
    arg: 'ms',
    description: 'On SIGTERM/SIGINT, uploads in flight get this long to finish; the rest stays pending for the next start.',
    defaultText: '20000',
    schema: v.optional(wholeNumber(0, 15 * 60 * 1000), 20_000),
  },
  rescanIntervalMs: {
    kind: 'integer',
    arg: 'ms',
    description: 'Full rescan of the outbox on this interval (jittered ±25%), in case the watcher missed events.',
    defaultText: '3600000',
    schema: v.optional(wholeNumber(10_000, 7 * 24 * 3600 * 1000), 3_600_000),
  },
  watchMode: {
    kind: 'string',
    arg: 'auto|events|poll',
    description:
      'How changes are noticed: events (inotify, one watch per folder), poll (stat every folder each poll interval; sees what other hosts write to a network file system), or auto (poll on NFS, Lustre, GPFS, BeeGFS, CIFS/SMB, FUSE, 9p, Ceph; events elsewhere).',
    defaultText: 'auto',
    schema: v.optional(v.picklist(WATCH_MODES, `expected one of ${WATCH_MODES.join(', ')}`), 'auto'),
  },
  pollIntervalMs: {
    kind: 'integer',
    arg: 'ms',
    description:
      'In poll mode, folders are checked this often: a new file or folder is seen within one interval. Files rewritten in place under the same name are found by a full pass, every minute or less often (at most 2% of a core).',
    defaultText: '2000',
    schema: v.optional(wholeNumber(100, 3_600_000), 2000),
  },
  watchConfig: {
    kind: 'boolean',
    description:
      'watch --config FILE reloads when the file changes (edited in place, renamed over, or a Kubernetes ConfigMap update), validated as on SIGHUP: an invalid file is logged and the running configuration kept.',
    defaultText: 'true',
    schema: v.optional(v.boolean('expected true or false'), true),
  },
  maxRequestsPerSecond: {
    kind: 'integer',
    arg: 'n',
    description: 'Most HTTP requests to the Hub started in any 1-second window, retries included (0: no limit; 429s are always honoured).',
    defaultText: '0',
    schema: v.optional(wholeNumber(0, 100_000), 0),
  },
  xetWriter: {
    kind: 'string',
    arg: 'auto|own|library',
    description:
      "Who writes Xet uploads to an hf:// bucket: own (hf-outbox's writer), library (@huggingface/hub's upload), or auto: own, switching to library for the rest of the run when the Hub refuses the own writer's format or the first upload of a start does not read back identical.",
    defaultText: 'auto',
    schema: v.optional(v.picklist(XET_WRITERS, `expected one of ${XET_WRITERS.join(', ')}`), 'auto'),
  },
  uploadThreads: {
    kind: 'integer',
    arg: 'n',
    description:
      "Threads that hash an upload's chunks with the own Xet writer (0: half the cores this process may use, at least 1, leaving the rest to training). 1 hashes on the main thread; more do the rolling hash, chunk hashes and sha256 in worker threads while the main thread reads and packs xorbs.",
    defaultText: '0 (half the cores)',
    example: '4',
    schema: v.optional(wholeNumber(0, 256), 0),
  },
  maxUploadBytesPerSecond: {
    kind: 'integer',
    arg: 'bytes',
    description: 'Upload bandwidth cap in bytes per second across all requests (0: no limit).',
    defaultText: '0',
    example: '52428800',
    schema: v.optional(wholeNumber(0), 0),
  },
  unitCategories: {
    kind: 'list',
    arg: 'name,…',
    description: 'Categories whose sub-folders are one artifact each (named, uploaded and announced as a folder).',
    defaultText: 'checkpoints',
    schema: v.optional(stringList, ['checkpoints']),
  },
  categories: {
    kind: 'list',
    arg: 'name,…',
    description: 'Category folders created in the outbox at start.',
    defaultText: 'scripts,results,checkpoints,data',
    schema: v.optional(stringList, ['scripts', 'results', 'checkpoints', 'data']),
  },
  autoAnnounce: {
    kind: 'list',
    arg: 'name,…',
    description: 'Categories whose new artifacts get a generated message-board post when they have no note (e.g. checkpoints: one post per checkpoint of a run folder).',
    defaultText: 'none',
    example: 'checkpoints',
    schema: v.optional(stringList, []),
  },
  ignore: {
    kind: 'list',
    arg: 'glob,…',
    description: 'Extra globs to skip (* within a name, ** across folders); temp and dot files are always skipped.',
    defaultText: 'none',
    example: '**/wandb/**,*.lock',
    schema: v.optional(stringList, []),
  },
  hubUrl: {
    kind: 'string',
    arg: 'url',
    description: 'Hugging Face Hub endpoint (for hf:// buckets).',
    defaultText: '$HF_ENDPOINT, else https://huggingface.co',
    extraEnv: ['HF_ENDPOINT'],
    schema: v.optional(v.pipe(nonEmpty, v.url('expected a URL such as https://huggingface.co')), 'https://huggingface.co'),
  },
  tokenFile: {
    kind: 'string',
    arg: 'file',
    description:
      'File holding the Hub token. Else $CREDENTIALS_DIRECTORY/hf-token, $HF_TOKEN, $HF_TOKEN_PATH, $HF_HOME/token.',
    defaultText: 'none',
    schema: v.optional(nonEmpty),
  },
  createBucket: {
    kind: 'boolean',
    description: 'Create the hf:// bucket (private) when it does not exist.',
    defaultText: 'false',
    schema: v.optional(v.boolean('expected true or false'), false),
  },
  metricsPort: {
    kind: 'integer',
    arg: 'port',
    description: 'Serve /healthz and Prometheus /metrics on 127.0.0.1 at this port (watch only; 0: off).',
    defaultText: '0',
    example: '9464',
    schema: v.optional(wholeNumber(0, 65535), 0),
  },
  logLevel: {
    kind: 'string',
    arg: 'level',
    description: `Log level: ${LOG_LEVELS.join(', ')}.`,
    defaultText: 'info',
    schema: v.optional(v.picklist(LOG_LEVELS, `expected one of ${LOG_LEVELS.join(', ')}`), 'info'),
  },
} satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

/** kebab-case flag / YAML key: agentId → agent-id. */
export function flagName(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** HF_OUTBOX_AGENT_ID for agentId. */
export function envName(name: string): string {
  return `HF_OUTBOX_${flagName(name).replace(/-/g, '_').toUpperCase()}`;
}

/** How the flag is written with its value: `--settle-ms <ms>`, `--create-bucket`, `--[no-]watch-config` (a boolean on by default). */
export function flagUsage(name: OptionName): string {
  const spec: OptionSpec = OPTIONS[name];
  if (spec.kind === 'boolean') return spec.defaultText === 'true' ? `--[no-]${flagName(name)}` : `--${flagName(name)}`;
  return `--${flagName(name)} <${argOf(spec)}>`;
}

/** The form of a setting's value (`ms`, `dir`, `auto|events|poll`). */
export function argOf(spec: OptionSpec): string {
  return spec.arg ?? (spec.kind === 'integer' ? 'n' : 'value');
}
