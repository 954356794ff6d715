/**
 * A bench-side TypeScript entry script transpiled once to plain JS, so the child runs under plain
 * node instead of `node --import tsx`: tsx's loader costs ~0.3 s of start-up per process, and the
 * bench starts a fresh emulator for every tool run (about a dozen in --quick).
 *
 * Only transpiled, file by file (TypeScript's transpileModule, as tsx does with esbuild; the sources
 * already use the `.js` specifiers node needs, and `npm run typecheck` checks them), following the
 * entry's relative imports, into bench/results/js/<entry name>/ (inside the checkout, so packages
 * resolve as from the sources). A stamp beside it lists every file read and a sha256 over exactly the
 * bytes transpiled and the configs; it is written once every file is out, into a folder emptied
 * first, and checked on the first use in each process: any change (an edited file, a newly imported
 * one, which changes the importing file) transpiles again, so stale JS never runs.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type ts from 'typescript';
import { RESULTS_DIR, ROOT } from './setup.js';

const CONFIGS = ['tsconfig.json', 'package.json', 'package-lock.json'];
/** tsconfig.json's settings that shape the emitted JS (the package is ESM, so ES modules out). */
const options = (t: typeof ts): ts.CompilerOptions => ({
  target: t.ScriptTarget.ES2023,
  module: t.ModuleKind.ESNext,
  verbatimModuleSyntax: true,
  esModuleInterop: true,
  isolatedModules: true,
});
/** In the stamp's hash: a change to options() must transpile again (TypeScript's version is in package-lock.json). */
const OPTIONS_VERSION = 'ES2023 ESNext verbatimModuleSyntax esModuleInterop isolatedModules';

interface Stamp {
  inputs: string;
  /** Relative to ROOT: every file of the project that was transpiled or copied. */
  sources: string[];
}

const compiled = new Map<string, Promise<{ script: string; compiledMs: number }>>();

function inputsHash(files: ReadonlyArray<readonly [rel: string, bytes: Buffer | undefined]>): string {
  const hash = createHash('sha256').update(OPTIONS_VERSION);
  const configs = CONFIGS.map((rel) => [rel, readOrUndefined(path.join(ROOT, rel))] as const);
  for (const [rel, bytes] of [...configs, ...files]) {
    hash.update(`\0${rel}\0`);
    hash.update(bytes ?? '(missing)');
  }
  return hash.digest('hex');
}

function readOrUndefined(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** The .js to run for `entry` (a .ts file under ROOT), transpiled unless its stamp still matches; once per process. */
export function compiledScript(entry: string): Promise<{ script: string; compiledMs: number }> {
  let job = compiled.get(entry);
  if (!job) {
    job = compile(entry);
    compiled.set(entry, job);
  }
  return job;
}

/** The file a relative import specifier of `fromRel` names: `./x.js` is `./x.ts` in the sources. */
function resolveRelative(fromRel: string, specifier: string): string {
  const rel = path.normalize(path.join(path.dirname(fromRel), specifier));
  const candidates = rel.endsWith('.js') ? [rel.replace(/\.js$/, '.ts'), rel] : [rel];
  const found = candidates.find((c) => existsSync(path.join(ROOT, c)));
  if (!found) throw new Error(`bench: ${fromRel} imports ${specifier}, which is not there (looked for ${candidates.join(', ')})`);
  return found;
}

async function compile(entry: string): Promise<{ script: string; compiledMs: number }> {
  const started = Date.now();
  const entryRel = path.relative(ROOT, entry);
  const outDir = path.join(RESULTS_DIR, 'js', path.basename(entry, '.ts'));
  const script = path.join(outDir, entryRel.replace(/\.ts$/, '.js'));
  const stampFile = path.join(outDir, '.bench-compile.json');
  let stamp: Stamp | undefined;
  try {
    stamp = JSON.parse(readFileSync(stampFile, 'utf8')) as Stamp;
  } catch {
    stamp = undefined;
  }
  if (stamp && existsSync(script) && stamp.inputs === inputsHash(stamp.sources.map((rel) => [rel, readOrUndefined(path.join(ROOT, rel))]))) {
    return { script, compiledMs: 0 };
  }

  // Loaded only to transpile, not on every run; require() is ~3x faster than import() under tsx's loader.
  const t = createRequire(import.meta.url)('typescript') as typeof ts;
  const compilerOptions = options(t);
  rmSync(outDir, { recursive: true, force: true });
  const read = new Map<string, Buffer>();
  const queue = [entryRel];
  for (let rel = queue.pop(); rel !== undefined; rel = queue.pop()) {
    if (read.has(rel)) continue;
    const bytes = readFileSync(path.join(ROOT, rel));
    read.set(rel, bytes);
    const out = path.join(outDir, rel);
    mkdirSync(path.dirname(out), { recursive: true });
    if (!rel.endsWith('.ts')) {
      writeFileSync(out, bytes);
      continue;
    }
    const text = bytes.toString('utf8');
    const imports = t.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
    for (const specifier of imports) if (specifier.startsWith('.')) queue.push(resolveRelative(rel, specifier));
    const js = t.transpileModule(text, { compilerOptions, fileName: rel, reportDiagnostics: true });
    const errors = (js.diagnostics ?? []).map((d) => t.flattenDiagnosticMessageText(d.messageText, '\n'));
    if (errors.length > 0) throw new Error(`bench: transpiling ${rel} failed:\n${errors.join('\n')}`);
    writeFileSync(out.replace(/\.ts$/, '.js'), js.outputText);
  }
  const files = [...read].sort(([a], [b]) => a.localeCompare(b));
  const written: Stamp = { inputs: inputsHash(files), sources: files.map(([rel]) => rel) };
  writeFileSync(stampFile, `${JSON.stringify(written)}\n`);
  return { script, compiledMs: Date.now() - started };
}
