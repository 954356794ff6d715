/**
 * A bench-side TypeScript entry script compiled once to plain JS, so the child runs under plain node
 * instead of `node --import tsx`: tsx's loader costs ~0.3 s of start-up per process, and the bench
 * starts a fresh emulator for every tool run (about a dozen in --quick).
 *
 * Only transpiled (tsc --noCheck; `npm run typecheck` checks these files), with the project's
 * compiler settings, into bench/results/js/<entry name>/ (inside the checkout, so node_modules
 * resolve as from the sources). A stamp beside it lists every source file that compile read and a
 * sha256 over their contents and the configs; it is written only once the compile finished, into a
 * folder emptied first, and checked on every first use in a process: any change (an edited file, a
 * newly imported one, which changes the importing file) compiles again, so stale JS never runs.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RESULTS_DIR, ROOT, runTsc } from './setup.js';

const CONFIGS = ['tsconfig.json', 'package.json', 'package-lock.json'];
/** tsconfig.json's emit-relevant settings (tsc takes no -p together with file names). */
const TSC_FLAGS = [
  '--target', 'ES2023',
  '--module', 'NodeNext',
  '--moduleResolution', 'NodeNext',
  '--types', 'node',
  '--verbatimModuleSyntax',
  '--esModuleInterop',
  '--resolveJsonModule',
  '--skipLibCheck',
  '--noCheck',
  '--declaration', 'false',
  '--sourceMap', 'false',
];

interface Stamp {
  inputs: string;
  /** Relative to ROOT: the project's own files the compile read. */
  sources: string[];
}

const compiled = new Map<string, Promise<{ script: string; compiledMs: number }>>();

function inputsHash(sources: readonly string[]): string {
  const hash = createHash('sha256').update(TSC_FLAGS.join(' '));
  for (const rel of [...CONFIGS, ...sources]) {
    hash.update(`\0${rel}\0`);
    try {
      hash.update(readFileSync(path.join(ROOT, rel)));
    } catch {
      hash.update('(missing)');
    }
  }
  return hash.digest('hex');
}

/** The .js to run for `entry` (a .ts file under ROOT), compiled unless its stamp still matches; once per process. */
export function compiledScript(entry: string): Promise<{ script: string; compiledMs: number }> {
  let job = compiled.get(entry);
  if (!job) {
    job = compile(entry);
    compiled.set(entry, job);
  }
  return job;
}

async function compile(entry: string): Promise<{ script: string; compiledMs: number }> {
  const rel = path.relative(ROOT, entry);
  const outDir = path.join(RESULTS_DIR, 'js', path.basename(entry, '.ts'));
  const script = path.join(outDir, rel.replace(/\.ts$/, '.js'));
  const stampFile = path.join(outDir, '.bench-compile.json');
  let stamp: Stamp | undefined;
  try {
    stamp = JSON.parse(readFileSync(stampFile, 'utf8')) as Stamp;
  } catch {
    stamp = undefined;
  }
  const started = Date.now();
  let fresh = stamp !== undefined && existsSync(script) && stamp.inputs === inputsHash(stamp.sources);
  for (let attempt = 1; !fresh; attempt++) {
    const compileStarted = Date.now();
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    const r = await runTsc([entry, ...TSC_FLAGS, '--rootDir', ROOT, '--outDir', outDir, '--listFiles']);
    if (r.status !== 0 || !existsSync(script)) throw new Error(`bench: compiling ${rel} failed (exit ${r.status}):\n${`${r.stdout}${r.stderr}`.slice(-4000)}`);
    const sources = r.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((f) => f.startsWith(`${ROOT}${path.sep}`) && !f.includes(`${path.sep}node_modules${path.sep}`))
      .map((f) => path.relative(ROOT, f))
      .sort();
    if (!sources.includes(rel)) throw new Error(`bench: compiling ${rel}: tsc did not list it among its inputs`);
    // A file changed while tsc ran may not be what it read: compile again rather than stamp it.
    const changedMeanwhile = sources.some((f) => statSync(path.join(ROOT, f)).mtimeMs >= compileStarted);
    if (changedMeanwhile && attempt < 3) continue;
    if (changedMeanwhile) throw new Error(`bench: the sources of ${rel} kept changing while they were compiled`);
    const written: Stamp = { inputs: inputsHash(sources), sources };
    writeFileSync(stampFile, `${JSON.stringify(written)}\n`);
    fresh = true;
  }
  return { script, compiledMs: Date.now() - started };
}
