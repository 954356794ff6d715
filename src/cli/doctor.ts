/**
 * `hf-outbox doctor`: checks a setup before (or while) it runs, one line per check:
 * `ok|warn|fail  <check>  <detail / what to do>`, or one JSON object per check with --json.
 * Exit 0 when nothing failed (warnings allowed), 1 otherwise.
 *
 * Doctor reads and probes; the only things it writes are the probe file the bucket check writes
 * and removes (the same one `watch` writes at start) and, for a local-folder bucket, the bucket
 * folder itself when it is missing (as `watch` would). It never prints the token, only where it
 * was found. Network checks make one attempt each with a timeout, unlike the daemon, which
 * retries: a doctor should answer quickly.
 */
import { formatBytes } from '../core/format.js';
import { proxyAwareFetch } from '../net/proxy.js';
import { constants, statSync } from 'node:fs';
import { access, readFile, readdir, stat, statfs } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { findToken } from '../adapters/hub-token.js';
import { LocalFolderBucket } from '../adapters/local-bucket.js';
import { describeWriterState, readWriterState } from '../adapters/xet/library-writer.js';
import { NodeOutboxFs } from '../adapters/node-fs.js';
import { loadConfig } from '../config/load.js';
import type { Config, RawSettings } from '../config/parse.js';
import { OutboxError, isErrnoException } from '../core/errors.js';
import type { BucketClient } from '../core/ports.js';
import { createLogger } from '../log.js';
import { chooseWatchMode, detectFsType, type FsTypeInfo, type WatchModeChoice } from '../pipeline/fs-type.js';
import { MIGRATIONS } from '../state/migrations.js';
import { STATE_FILE } from '../state/store.js';
import type { CommandContext } from './context.js';
import { stateIdentity } from './context.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export type CheckName = 'config' | 'token' | 'token-owner' | 'bucket' | 'xet-writer' | 'outbox' | 'filesystem' | 'inotify' | 'disk' | 'state';

export interface CheckResult {
  check: CheckName;
  status: CheckStatus;
  /** What was found and, when not ok, what to do about it. Never holds a secret. */
  detail: string;
}

export interface DoctorOptions {
  /** One JSON object per line instead of aligned text. */
  json: boolean;
  /** @default process.stdout */
  out?: NodeJS.WritableStream;
  /** Where the token is looked up ($HF_TOKEN, $CREDENTIALS_DIRECTORY, …). @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** Config warnings to report under `config` (runDoctorCommand passes those of loading). */
  configWarnings?: readonly string[];
  /** Timeout of each HTTP request to the Hub, in ms. @default 20000 */
  httpTimeoutMs?: number;
  /** For tests: the file holding the inotify watch limit. @default /proc/sys/fs/inotify/max_user_watches */
  inotifyLimitFile?: string;
  /** For tests: the outbox's file system type. @default statfs of the outbox */
  fsType?: (absPath: string) => Promise<FsTypeInfo>;
}

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
/** Free space in the state directory below which doctor fails / warns. */
export const DISK_FAIL_BYTES = 100 * MIB;
export const DISK_WARN_BYTES = GIB;
const INOTIFY_LIMIT_FILE = '/proc/sys/fs/inotify/max_user_watches';

/**
 * Loads the configuration, then runs every check. A configuration that does not load is itself
 * reported as a failed check (exit 1) rather than the usual exit 78, so doctor always answers in
 * its own format. This is what the `doctor` command calls.
 */
export async function runDoctorCommand(flags: RawSettings, options: DoctorOptions): Promise<number> {
  let loaded;
  try {
    loaded = await loadConfig(flags, options.env ?? process.env);
  } catch (error) {
    if (!(error instanceof OutboxError)) throw error;
    const report = reporter(options);
    report({ check: 'config', status: 'fail', detail: error.message.replace(/\n\s*/g, ' ') });
    return 1;
  }
  // Doctor's output is its report: no log lines in between.
  const logger = createLogger({ level: 'silent', agentId: loaded.config.agentId, destination: process.stderr });
  return runDoctor({ config: loaded.config, logger }, { ...options, configWarnings: loaded.warnings });
}

/** Runs every check against an already loaded configuration; returns the exit code (0, or 1 when a check failed). */
export async function runDoctor(ctx: CommandContext, options: DoctorOptions): Promise<number> {
  const { config } = ctx;
  const env = options.env ?? process.env;
  const report = reporter(options);
  const results: CheckResult[] = [];
  const add = (r: CheckResult) => {
    results.push(r);
    report(r);
  };

  add(checkConfig(config, options.configWarnings ?? []));

  if (config.bucket.kind === 'hf') {
    const fetchOnce = timedFetch(options.httpTimeoutMs ?? 20_000);
    let token: string | undefined;
    try {
      const found = await findToken(config.tokenFile, env);
      token = found.token;
      add(await tokenFileCheck(found.source));
    } catch (error) {
      add({ check: 'token', status: 'fail', detail: `${messageOf(error)} (the bucket and the token's owner are not checked without one)` });
    }
    if (token !== undefined) {
      add(await checkTokenOwner(config.hubUrl, token, fetchOnce));
      const target = config.bucket;
      add(
        await checkBucket(async () => {
          const { HubBucket } = await import('../adapters/hub-bucket.js');
          return new HubBucket({ target, hubUrl: config.hubUrl, token, fs: new NodeOutboxFs(), fetch: fetchOnce });
        }),
      );
    }
    add(checkXetWriter(config));
  } else {
    add({ check: 'token', status: 'ok', detail: 'not needed for a local-folder bucket' });
    const root = config.bucket.root;
    add(await checkBucket(async () => new LocalFolderBucket(root, new NodeOutboxFs())));
  }

  const outbox = await checkOutbox(config.outbox);
  add(outbox.result);
  if (outbox.readable) {
    const choice = chooseWatchMode(config.watchMode, await (options.fsType ?? detectFsType)(config.outbox), config.pollIntervalMs);
    add(checkFilesystem(choice));
    // Polling takes no inotify watches.
    if (choice.mode === 'events') add(await checkInotify(config.outbox, options.inotifyLimitFile ?? INOTIFY_LIMIT_FILE));
  }
  add(await checkDisk(config.stateDir));
  add(checkState(config));

  return results.some((r) => r.status === 'fail') ? 1 : 0;
}

function reporter(options: DoctorOptions): (r: CheckResult) => void {
  const out = options.out ?? process.stdout;
  return (r) => {
    out.write(options.json ? `${JSON.stringify(r)}\n` : `${r.status.padEnd(4)}  ${r.check.padEnd(11)}  ${r.detail}\n`);
  };
}

function checkConfig(config: Config, warnings: readonly string[]): CheckResult {
  const from = config.configFile
    ? `loaded from ${config.configFile} (flags and environment override it)`
    : 'no config file: from flags, environment and defaults';
  const summary = `${from}; agent ${config.agentId}, outbox ${config.outbox}, bucket ${config.bucket.uri}, state ${config.stateDir}`;
  if (warnings.length > 0) return { check: 'config', status: 'warn', detail: `${summary}; ${warnings.join('; ')}` };
  return { check: 'config', status: 'ok', detail: summary };
}

/** The token was found; a token file that group or others may read is flagged (chmod 600). */
async function tokenFileCheck(source: string): Promise<CheckResult> {
  const s = path.isAbsolute(source) ? await stat(source).catch(() => undefined) : undefined;
  if (s !== undefined && (s.mode & 0o077) !== 0) {
    return {
      check: 'token',
      status: 'warn',
      detail: `found in ${source}, which other users may read or change (mode ${(s.mode & 0o777).toString(8)}); chmod 600 ${source}`,
    };
  }
  return { check: 'token', status: 'ok', detail: `found in ${source}` };
}

/** GET /api/whoami-v2: who the token belongs to. Not every Hub-compatible server has it, hence warn. */
async function checkTokenOwner(hubUrl: string, token: string, fetchOnce: typeof fetch): Promise<CheckResult> {
  let response: Response;
  try {
    response = await fetchOnce(`${hubUrl}/api/whoami-v2`, { headers: { Authorization: `Bearer ${token}` } });
  } catch (error) {
    return { check: 'token-owner', status: 'warn', detail: `could not reach ${hubUrl} to ask who the token belongs to (${messageOf(error)})` };
  }
  if (response.status === 401) {
    await response.body?.cancel();
    return {
      check: 'token-owner',
      status: 'fail',
      detail: `${hubUrl} does not accept this token (HTTP 401): it is revoked or mistyped; create one at https://huggingface.co/settings/tokens`,
    };
  }
  if (!response.ok) {
    await response.body?.cancel();
    return { check: 'token-owner', status: 'warn', detail: `could not tell who the token belongs to (HTTP ${response.status})` };
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    return { check: 'token-owner', status: 'warn', detail: 'could not tell who the token belongs to (the answer was not JSON)' };
  }
  const who = body as { name?: unknown; type?: unknown; auth?: { accessToken?: { displayName?: unknown; role?: unknown } } };
  const name = typeof who.name === 'string' ? who.name : undefined;
  if (name === undefined) {
    return { check: 'token-owner', status: 'warn', detail: 'could not tell who the token belongs to (no name in the answer)' };
  }
  const access = who.auth?.accessToken;
  const tokenName = typeof access?.displayName === 'string' ? ` "${access.displayName}"` : '';
  const role = typeof access?.role === 'string' ? `, role ${access.role}` : '';
  const kind = typeof who.type === 'string' ? `${who.type} ` : '';
  return { check: 'token-owner', status: 'ok', detail: `token${tokenName} belongs to ${kind}${name}${role}` };
}

async function checkBucket(open: () => Promise<BucketClient>): Promise<CheckResult> {
  let bucket: BucketClient | undefined;
  try {
    bucket = await open();
    await bucket.check({ create: false });
    return { check: 'bucket', status: 'ok', detail: `${bucket.description} exists and accepts writes` };
  } catch (error) {
    const where = bucket ? `${bucket.description}: ` : '';
    return { check: 'bucket', status: 'fail', detail: `${where}${messageOf(error)}` };
  }
}

async function checkOutbox(outbox: string): Promise<{ result: CheckResult; readable: boolean }> {
  const fail = (detail: string) => ({ result: { check: 'outbox' as const, status: 'fail' as const, detail }, readable: false });
  let s;
  try {
    s = await stat(outbox);
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ENOENT') {
      return fail(
        `${outbox} does not exist; create it (mkdir -p ${outbox}) as the user that writes the artifacts, ` +
          'readable by the user hf-outbox runs as',
      );
    }
    return fail(`cannot look at ${outbox} (${codeOf(error)})`);
  }
  if (!s.isDirectory()) return fail(`${outbox} is not a folder; point --outbox at a folder`);
  try {
    await access(outbox, constants.R_OK | constants.X_OK);
    await readdir(outbox);
  } catch (error) {
    const user = currentUser();
    return fail(`${outbox} is not readable by ${user} (${codeOf(error)}); grant read access, e.g. setfacl -R -m u:${user}:rX -m d:u:${user}:rX ${outbox}`);
  }
  if ((s.mode & 0o002) !== 0) {
    return {
      result: {
        check: 'outbox',
        status: 'warn',
        detail: `${outbox} is world-writable (mode ${(s.mode & 0o7777).toString(8)}): any local user can publish under your agent id; chmod o-w ${outbox}`,
      },
      readable: true,
    };
  }
  return { result: { check: 'outbox', status: 'ok', detail: `${outbox} exists and is readable` }, readable: true };
}

/** Which file system the outbox is on, and so how changes are noticed (watch mode auto polls network file systems). */
function checkFilesystem(choice: WatchModeChoice): CheckResult {
  // NFS clients cache folder attributes (acdirmin/acdirmax: 30-60 s unless mounted otherwise), which no poller can see past.
  const nfs = choice.fs.magic === 0x6969 && choice.mode === 'poll' ? '; NFS caches folder attributes (acdirmax, 60 s by default): mount with actimeo=2 or less to see new files within the interval' : '';
  return { check: 'filesystem', status: choice.warn ? 'warn' : 'ok', detail: `${choice.explanation}${nfs}` };
}

/**
 * The watcher takes one inotify watch per folder, from a per-user budget shared with every other
 * watcher of that user (editors, other agents).
 */
async function checkInotify(outbox: string, limitFile: string): Promise<CheckResult> {
  let limit: number;
  try {
    limit = Number.parseInt((await readFile(limitFile, 'utf8')).trim(), 10);
    if (!Number.isSafeInteger(limit) || limit <= 0) throw new Error(`unexpected content`);
  } catch (error) {
    return { check: 'inotify', status: 'warn', detail: `cannot read the inotify watch limit from ${limitFile} (${codeOf(error)}); is this Linux?` };
  }
  const dirs = await countFolders(outbox, limit + 1);
  const share = `${dirs} folder${dirs === 1 ? '' : 's'} to watch, fs.inotify.max_user_watches is ${limit} (shared by all of this user's watchers)`;
  if (dirs * 2 <= limit) return { check: 'inotify', status: 'ok', detail: share };
  const suggested = Math.max(524_288, 2 ** Math.ceil(Math.log2(dirs * 4)));
  const raise =
    `raise it: sudo sysctl -w fs.inotify.max_user_watches=${suggested}, and keep it across reboots with ` +
    `echo fs.inotify.max_user_watches=${suggested} | sudo tee /etc/sysctl.d/60-hf-outbox.conf`;
  if (dirs >= limit) {
    return { check: 'inotify', status: 'fail', detail: `${share}: the watcher cannot cover the outbox (it falls back to rescans); ${raise}` };
  }
  return { check: 'inotify', status: 'warn', detail: `${share}: over half the limit; ${raise}` };
}

/** Folders under (and including) root, not following symlinks; stops counting at `stopAt`. */
async function countFolders(root: string, stopAt: number): Promise<number> {
  let count = 0;
  const pending = [root];
  while (pending.length > 0 && count < stopAt) {
    const dir = pending.pop() as string;
    count++;
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) if (e.isDirectory()) pending.push(path.join(dir, e.name));
  }
  return count;
}

async function checkDisk(stateDir: string): Promise<CheckResult> {
  // The state folder may not exist before the first start: measure the folder it will be created in.
  let probe = stateDir;
  for (;;) {
    try {
      await stat(probe);
      break;
    } catch {
      const parent = path.dirname(probe);
      if (parent === probe) break;
      probe = parent;
    }
  }
  let free: number;
  try {
    const s = await statfs(probe);
    free = Number(s.bavail) * Number(s.bsize);
  } catch (error) {
    return { check: 'disk', status: 'warn', detail: `cannot measure free space at ${probe} (${codeOf(error)})` };
  }
  const where = probe === stateDir ? stateDir : `${probe} (where ${stateDir} will be created)`;
  try {
    await access(probe, constants.W_OK | constants.X_OK);
  } catch (error) {
    return { check: 'disk', status: 'fail', detail: `${where} is not writable by ${currentUser()} (${codeOf(error)}); hf-outbox keeps its state there: fix its owner, or give another --state-dir` };
  }
  const detail = `${formatBytes(free)} free for the state database in ${where}`;
  if (free < DISK_FAIL_BYTES) return { check: 'disk', status: 'fail', detail: `${detail}: below ${formatBytes(DISK_FAIL_BYTES)}, the database may stop accepting writes; free some space` };
  if (free < DISK_WARN_BYTES) return { check: 'disk', status: 'warn', detail: `${detail}: below ${formatBytes(DISK_WARN_BYTES)}; free some space` };
  return { check: 'disk', status: 'ok', detail };
}

/** The setting, and what the last run recorded: a switch to the library writer is worth a look. */
function checkXetWriter(config: Config): CheckResult {
  const recorded = readWriterState(config.stateDir);
  if (!recorded) return { check: 'xet-writer', status: 'ok', detail: `setting ${config.xetWriter}; no upload recorded yet` };
  const line = describeWriterState(recorded);
  if (recorded.writer === 'library' && recorded.setting === 'auto') {
    return { check: 'xet-writer', status: 'warn', detail: `${line}. Uploads work; please report this with the log lines around the switch` };
  }
  if (recorded.readBack !== undefined && recorded.readBack !== 'pending' && !recorded.readBack.ok) return { check: 'xet-writer', status: 'warn', detail: line };
  return { check: 'xet-writer', status: 'ok', detail: `setting ${config.xetWriter}; last run: ${line}` };
}

function checkState(config: Config): CheckResult {
  const file = path.join(config.stateDir, STATE_FILE);
  const current = MIGRATIONS.length;
  try {
    statSync(file);
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ENOENT') {
      return { check: 'state', status: 'ok', detail: `no state database yet at ${file}; the first start creates it (schema ${current})` };
    }
    return { check: 'state', status: 'fail', detail: `cannot look at ${file} (${codeOf(error)}); check the folder's owner and mode` };
  }
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (error) {
    return { check: 'state', status: 'fail', detail: `cannot open ${file} read-only (${messageOf(error)}); check its owner and mode` };
  }
  try {
    db.pragma('busy_timeout = 5000');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > current) {
      return {
        check: 'state',
        status: 'fail',
        detail: `${file} has schema ${version}, written by a newer hf-outbox than this one (knows ${current}); upgrade hf-outbox`,
      };
    }
    const meta = version >= 1 ? (db.prepare('SELECT key, value FROM meta').all() as Array<{ key: string; value: string }>) : [];
    const stored = Object.fromEntries(meta.map((r) => [r.key, r.value]));
    const identity = stateIdentity(config);
    if (meta.length > 0 && Object.entries(identity).some(([k, v]) => stored[k] !== v)) {
      return {
        check: 'state',
        status: 'fail',
        detail:
          `${config.stateDir} belongs to ${stored['outbox']} → ${stored['bucket']} (agent ${stored['agentId']}), ` +
          `not ${identity.outbox} → ${identity.bucket} (agent ${identity.agentId}); give this outbox its own --state-dir`,
      };
    }
    const counts = version >= 1 ? (db.prepare('SELECT state, COUNT(*) AS n FROM files GROUP BY state ORDER BY state').all() as Array<{ state: string; n: number }>) : [];
    const tracked = counts.length === 0 ? 'no files recorded yet' : counts.map((c) => `${c.n} ${c.state}`).join(', ');
    const schema = version === current ? `schema ${version} (current)` : `schema ${version}, migrated to ${current} at the next start`;
    return { check: 'state', status: 'ok', detail: `${file} opens read-only: ${schema}; ${tracked}` };
  } catch (error) {
    return { check: 'state', status: 'fail', detail: `${file} opens but cannot be read (${messageOf(error)}); is it an hf-outbox state database?` };
  } finally {
    db.close();
  }
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/** One attempt with a deadline, through the proxy when HTTPS_PROXY/HTTP_PROXY are set (as the daemon does). */
function timedFetch(timeoutMs: number): typeof fetch {
  const base = proxyAwareFetch(process.env).fetch;
  return (input, init) => base(input, { ...init, signal: init?.signal ?? AbortSignal.timeout(timeoutMs) });
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError') return 'timed out';
    // A network failure already names its cause and server: proxyAwareFetch rethrows it through describeNetworkError.
    return error.message;
  }
  return String(error);
}

function codeOf(error: unknown): string {
  if (isErrnoException(error)) return error.code ?? error.message;
  return error instanceof Error ? error.message : String(error);
}

