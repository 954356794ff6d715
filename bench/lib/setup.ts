/** Paths, the bench token and bucket, temp workspaces, the build, and the two tools under test. */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** Written into BUILD_DIR after each build: what it was built from, so an unchanged tree is not rebuilt. */
const BUILD_STAMP = path.join(BUILD_DIR, '.bench-build.json');
/** tsc's record for incremental builds into BUILD_DIR (only used on top of a stamped, finished build). */
const BUILD_INFO = path.join(RESULTS_DIR, 'dist.tsbuildinfo');
/** Besides src/, what can change the emitted JS or its type errors. */
const BUILD_CONFIGS = ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];

interface BuildStamp {
  inputs: string;
  ok: boolean;
  warning?: string;
}

/**
 * Builds src/ with the project's own build config (what `npm run build` runs) into the bench's
 * private BUILD_DIR, not dist/: other engineers' `npm test` rebuilds dist/ at any moment, and one did
 * swap it under a running bench. Node still finds node_modules by walking up from there.
 * A type error in someone's unfinished file must not stop the bench: it then emits anyway (types do
 * not change the JS) and says so in the results.
 *
 * Not rebuilt when BUILD_DIR's stamp names the same inputs: a sha256 over every file under src/ and
 * the configs (path + bytes, read before the build starts). The stamp is removed before a build and
 * written only once it has finished, so an interrupted build, an edit made during a build, or any
 * change since (content, not mtime: a checkout or a restored file does not fool it) rebuilds. A
 * rebuild on top of a stamped one is incremental (tsc --incremental: what changed and what depends on
 * it, about half the time), then drops the output of files no longer under src/; without a stamp, or
 * with `force` (--build), it starts from an empty folder.
 */
export async function build(options: { force?: boolean; skip?: boolean } = {}): Promise<BuildInfo> {
  const started = Date.now();
  if (options.skip && existsSync(CLI)) return { ok: true, ms: 0, srcHash: 'unknown (build skipped)', warning: 'skipped (--skip-build)' };
  const { srcHash, inputs } = hashInputs();
  const stamp = readStamp();
  if (!options.force && stamp?.inputs === inputs && existsSync(CLI)) {
    const earlier = stamp.ok ? '' : `; ${stamp.warning ?? 'the build reported type errors'}`;
    return { ok: stamp.ok, ms: 0, srcHash, warning: `${path.relative(ROOT, BUILD_DIR)} was built from these same sources and configs: not rebuilt${earlier}` };
  }
  if (options.force || !stamp) {
    // No finished build to build on (or --build): from scratch.
    rmSync(BUILD_DIR, { recursive: true, force: true });
    rmSync(BUILD_INFO, { force: true });
  } else {
    // Incremental on the last finished build (tsc re-checks and re-emits what changed); unstamped until it finishes.
    rmSync(BUILD_STAMP, { force: true });
  }
  // One pass that emits even on type errors (the JS is the same), instead of a second pass after a failed one.
  const r = await runTsc([
    '-p', 'tsconfig.build.json', '--outDir', BUILD_DIR, '--declaration', 'false', '--sourceMap', 'false', '--noEmitOnError', 'false',
    '--incremental', '--tsBuildInfoFile', BUILD_INFO,
  ]);
  removeOrphans();
  let info: BuildInfo;
  if (r.status === 0) info = { ok: true, ms: Date.now() - started, srcHash };
  else {
    const errors = `${r.stdout}${r.stderr}`.split('\n').filter((l) => /error TS/.test(l)).slice(0, 10).join('\n');
    if (!existsSync(CLI)) throw new Error(`the build failed and left no ${CLI}:\n${errors || `${r.stdout}${r.stderr}`}`);
    info = { ok: false, srcHash, warning: `the build reported type errors; emitted anyway:\n${errors}`, ms: Date.now() - started };
  }
  const written: BuildStamp = { inputs, ok: info.ok, ...(info.warning ? { warning: info.warning } : {}) };
  writeFileSync(BUILD_STAMP, `${JSON.stringify(written)}\n`);
  return info;
}

/** The project's tsc (in its own process, so two compiles can share the cores), from ROOT. */
function runTsc(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Removes what an earlier build emitted for a file no longer under src/ (an incremental tsc leaves it). */
function removeOrphans(): void {
  for (const e of readdirSync(BUILD_DIR, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || e.name === path.basename(BUILD_STAMP)) continue;
    const rel = path.relative(BUILD_DIR, path.join(e.parentPath, e.name));
    const candidates = rel.endsWith('.js') ? [rel.replace(/\.js$/, '.ts'), rel.replace(/\.js$/, '.tsx'), rel] : [rel];
    if (!candidates.some((c) => existsSync(path.join(ROOT, 'src', c)))) rmSync(path.join(e.parentPath, e.name));
  }
}

function readStamp(): BuildStamp | undefined {
  try {
    return JSON.parse(readFileSync(BUILD_STAMP, 'utf8')) as BuildStamp;
  } catch {
    return undefined;
  }
}

function sourceFiles(): string[] {
  return readdirSync(path.join(ROOT, 'src'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/** srcHash: sha256 over every file under src/ (path + bytes), the figure the results record; inputs: the same plus the configs. */
function hashInputs(): { srcHash: string; inputs: string } {
  const src = createHash('sha256');
  for (const f of sourceFiles()) {
    src.update(path.relative(ROOT, f));
    src.update(readFileSync(f));
  }
  const srcHash = src.digest('hex');
  const all = createHash('sha256').update(srcHash);
  for (const f of BUILD_CONFIGS) {
    all.update(f);
    try {
      all.update(readFileSync(path.join(ROOT, f)));
    } catch {
      all.update('(missing)');
    }
  }
  return { srcHash: srcHash.slice(0, 16), inputs: all.digest('hex') };
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
