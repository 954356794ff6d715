/** Paths, the bench token and bucket, temp workspaces, the build, and the two tools under test. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EmulatorProcess } from './emulator.js';
import { MeasuredChild, type SpawnOptions } from './proc.js';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = path.dirname(BENCH_DIR);
export const RESULTS_DIR = path.join(BENCH_DIR, 'results');
/** The bench's own build of src/ (see build()). */
export const BUILD_DIR = path.join(RESULTS_DIR, 'dist');
export const CLI = path.join(BUILD_DIR, 'cli', 'main.js');
export const HFJS = path.join(ROOT, 'node_modules', '@huggingface', 'hub', 'dist', 'cli.js');

export const TOKEN = 'hf_bench_write_token_0123456789abcdef';
export const BUCKET = 'bench/outbox';
export const AGENT = 'bench';

/** An empty HOME for every child, so no tool finds a real ~/.cache/huggingface/token; per bench process. */
const BENCH_HOME = path.join(os.tmpdir(), `hf-outbox-bench-home-${process.pid}`);

/** Every temp folder of this run lives under here; removed at the end. */
let runRoot: string | undefined;

export async function runTmpRoot(): Promise<string> {
  runRoot ??= await mkdtemp(path.join(os.tmpdir(), 'hf-outbox-bench-'));
  return runRoot;
}

export async function cleanupRunRoot(): Promise<void> {
  await rm(BENCH_HOME, { recursive: true, force: true });
  if (runRoot) await rm(runRoot, { recursive: true, force: true });
  runRoot = undefined;
}

/**
 * A minimal environment: nothing inherited that could point a tool at a real account, token or
 * state. HOME is a private temp folder, so neither tool finds ~/.cache/huggingface/token.
 */
export function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'TMPDIR', 'LANG']) if (process.env[k] !== undefined) env[k] = process.env[k] as string;
  env['HOME'] = BENCH_HOME;
  env['NO_COLOR'] = '1';
  return { ...env, ...extra };
}

export interface Workspace {
  root: string;
  outbox: string;
  stateDir: string;
  tokenFile: string;
}

export async function makeWorkspace(name: string): Promise<Workspace> {
  const root = path.join(await runTmpRoot(), name);
  await rm(root, { recursive: true, force: true });
  const ws = { root, outbox: path.join(root, 'outbox'), stateDir: path.join(root, 'state'), tokenFile: path.join(root, 'hf-token') };
  await mkdir(ws.outbox, { recursive: true });
  await mkdir(BENCH_HOME, { recursive: true });
  await writeFile(ws.tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  return ws;
}

/** Fresh state (as on a new machine) without touching the outbox. */
export async function resetState(ws: Workspace): Promise<void> {
  await rm(ws.stateDir, { recursive: true, force: true });
}

export interface BuildInfo {
  ok: boolean;
  /** Type errors that did not stop the emit, or why the build was skipped. */
  warning?: string;
  ms: number;
  /** sha256 over every file under src/ (path + bytes) when the build read them: which code was measured. */
  srcHash: string;
}

/**
 * Builds src/ with the project's own build config (what `npm run build` runs) into the bench's
 * private BUILD_DIR, not dist/: other engineers' `npm test` rebuilds dist/ at any moment, and one did
 * swap it under a running bench. Node still finds node_modules by walking up from there.
 * A type error in someone's unfinished file must not stop the bench: it then emits anyway (types do
 * not change the JS) and says so in the results.
 */
export function build(options: { force?: boolean; skip?: boolean } = {}): BuildInfo {
  const started = Date.now();
  if (options.skip && existsSync(CLI)) return { ok: true, ms: 0, srcHash: 'unknown (build skipped)', warning: 'skipped (--skip-build)' };
  const srcHash = hashSources();
  if (!options.force && isFresh()) return { ok: true, ms: 0, srcHash, warning: `${path.relative(ROOT, BUILD_DIR)} is newer than every file under src/: not rebuilt` };
  rmSync(BUILD_DIR, { recursive: true, force: true });
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [tsc, '-p', 'tsconfig.build.json', '--outDir', BUILD_DIR, '--declaration', 'false', '--sourceMap', 'false'];
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  if (r.status === 0) return { ok: true, ms: Date.now() - started, srcHash };
  const errors = `${r.stdout}${r.stderr}`.split('\n').filter((l) => /error TS/.test(l)).slice(0, 10).join('\n');
  spawnSync(process.execPath, [...args, '--noEmitOnError', 'false'], { cwd: ROOT, encoding: 'utf8' });
  if (!existsSync(CLI)) throw new Error(`the build failed and left no ${CLI}:\n${errors}`);
  return { ok: false, srcHash, warning: `the build reported type errors; emitted anyway:\n${errors}`, ms: Date.now() - started };
}

function sourceFiles(): string[] {
  return readdirSync(path.join(ROOT, 'src'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

function hashSources(): string {
  const hash = createHash('sha256');
  for (const f of sourceFiles()) {
    hash.update(path.relative(ROOT, f));
    hash.update(readFileSync(f));
  }
  return hash.digest('hex').slice(0, 16);
}

/** BUILD_DIR/cli/main.js (rewritten by every build) is newer than every file under src/ and the configs. */
function isFresh(): boolean {
  let built: number;
  try {
    built = statSync(CLI).mtimeMs;
  } catch {
    return false;
  }
  const inputs = [path.join(ROOT, 'tsconfig.json'), path.join(ROOT, 'tsconfig.build.json'), path.join(ROOT, 'package-lock.json'), ...sourceFiles()];
  return inputs.every((f) => {
    try {
      return statSync(f).mtimeMs < built;
    } catch {
      return true;
    }
  });
}

export function gitState(): { commit: string; dirty: string[] } {
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.trim() !== '');
  return { commit, dirty };
}

export interface ToolOptions extends Partial<Omit<SpawnOptions, 'env'>> {
  settleMs?: number;
  extra?: string[];
}

/** `node <build>/cli/main.js sync|watch` against the emulator, with its own state folder. */
export function hfOutbox(command: 'sync' | 'watch', ws: Workspace, emu: EmulatorProcess, options: ToolOptions = {}): MeasuredChild {
  const args = [
    command,
    '--outbox', ws.outbox,
    '--bucket', `hf://buckets/${BUCKET}`,
    '--state-dir', ws.stateDir,
    '--agent-id', AGENT,
    '--hub-url', emu.url,
    '--token-file', ws.tokenFile,
    '--settle-ms', String(options.settleMs ?? 500),
    ...(options.extra ?? []),
  ];
  return new MeasuredChild(CLI, args, {
    env: baseEnv(),
    cwd: ws.root,
    timeoutMs: options.timeoutMs ?? 30 * 60_000,
    ...(options.onLine ? { onLine: options.onLine } : {}),
    ...(options.nodeFlags ? { nodeFlags: options.nodeFlags } : {}),
    ...(options.sampleMs ? { sampleMs: options.sampleMs } : {}),
  });
}

/** `hfjs upload <bucket> <local> <pathInRepo> --repo-type bucket --quiet`, the library's own CLI. */
export function hfjsUpload(local: string, pathInRepo: string, emu: EmulatorProcess, options: Partial<Omit<SpawnOptions, 'env'>> = {}): MeasuredChild {
  return new MeasuredChild(HFJS, ['upload', BUCKET, local, pathInRepo, '--repo-type', 'bucket', '--quiet'], {
    env: baseEnv({ HF_ENDPOINT: emu.url, HF_TOKEN: TOKEN }),
    timeoutMs: options.timeoutMs ?? 30 * 60_000,
    ...(options.onLine ? { onLine: options.onLine } : {}),
    ...(options.nodeFlags ? { nodeFlags: options.nodeFlags } : {}),
  });
}

/** Throws with the tool's output when it did not exit 0. */
export async function finished(child: MeasuredChild, what: string): Promise<Awaited<MeasuredChild['done']>> {
  const r = await child.done;
  if (r.code !== 0) {
    throw new Error(`${what} exited ${r.code ?? r.signal}\n--- stdout (tail) ---\n${r.stdoutTail.slice(-30).join('\n')}\n--- stderr ---\n${r.stderr.slice(-4000)}`);
  }
  return r;
}
