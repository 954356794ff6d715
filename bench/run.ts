/**
 * hf-outbox benchmarks (issue #7): each scenario measures hf-outbox side by side with what users
 * would run instead, against the loopback Hub emulator (in its own process), in the same run.
 *
 *   npm run bench               full sizes (minutes)
 *   npm run bench:quick         shrunken sizes, under a minute
 *   tsx bench/run.ts [--quick] [--only 1,3] [--profile] [--strict] [--build | --skip-build]
 *
 * It first builds src/ with tsconfig.build.json into its own bench/results/dist/ (not dist/, which
 * other people's `npm test` may rebuild mid-run), unless that was built from the same src/ and configs
 * (a sha256 of their contents, stamped after each build; --build forces it).
 *
 * Writes bench/results/<scenario>.json (<scenario>.quick.json for --quick) and summary(.quick).md,
 * and prints one Markdown table. Exit 1 when a run fails or an upload does not read back correctly
 * (and, with --strict, when a target is missed); a missed target alone is a finding, not an error.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { profileMarkdown, type ProfileSummary } from './lib/cpuprofile.js';
import { fileName, markdownTable, writeResult, type Ctx, type Row, type ScenarioReport, type ScenarioResult } from './lib/report.js';
import { compiledScript } from './lib/compile.js';
import { BENCH_DIR, build, cleanupRunRoot, gitState, RESULTS_DIR } from './lib/setup.js';
import { largeFile } from './scenarios/s1-large-file.js';
import { manySmallFiles } from './scenarios/s2-many-small-files.js';
import { latency } from './scenarios/s3-latency.js';
import { checkpointSeries } from './scenarios/s4-checkpoints.js';
import { scale } from './scenarios/s5-scale.js';
import { writerThreads } from './scenarios/s6-writer-threads.js';
import { resume } from './scenarios/s7-resume.js';
import { flat10g } from './scenarios/s8-flat-10g.js';

const SCENARIOS: Record<number, (ctx: Ctx) => Promise<ScenarioReport>> = {
  1: largeFile,
  2: manySmallFiles,
  3: latency,
  4: checkpointSeries,
  5: scale,
  6: writerThreads,
  7: resume,
  8: flat10g,
};

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    strict: { type: 'boolean', default: false },
    'skip-build': { type: 'boolean', default: false },
    build: { type: 'boolean', default: false },
  },
  strict: true,
});

const selected = values.only
  ? values.only.split(',').map((s) => Number(s.trim()))
  : Object.keys(SCENARIOS).map(Number);
for (const n of selected) if (!SCENARIOS[n]) throw new Error(`--only: no scenario ${n} (there are ${Object.keys(SCENARIOS).join(', ')})`);

const mode = values.quick ? 'quick' : 'full';
const t0 = Date.now();
const log = (message: string) => console.error(`[bench +${((Date.now() - t0) / 1000).toFixed(1)}s] ${message}`);
const profileDir = path.join(RESULTS_DIR, 'profiles');
const ctx: Ctx = { quick: values.quick, profile: values.profile, profileDir, log };

// The two compiles (when needed) side by side: neither is measured.
const [buildInfo, emulatorCompile] = await Promise.all([
  build({ force: values.build, skip: values['skip-build'] }),
  compiledScript(path.join(BENCH_DIR, 'emulator-server.ts')),
]);
log(`build: ${buildInfo.ok ? 'ok' : 'type errors'} in ${buildInfo.ms} ms${buildInfo.warning ? `\n${buildInfo.warning}` : ''}`);
log(`emulator: ${emulatorCompile.compiledMs ? `compiled in ${emulatorCompile.compiledMs} ms` : 'compiled JS up to date'}`);
const git = gitState();

const results: ScenarioResult[] = [];
const errors: string[] = [];
const stopping = new AbortController();
const onSignal = () => {
  stopping.abort();
  void cleanupRunRoot().then(() => process.exit(130));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

try {
  for (const n of selected) {
    const run = SCENARIOS[n];
    if (!run) continue;
    log(`scenario ${n}: start`);
    try {
      const started = Date.now();
      const report = await run(ctx);
      const result: ScenarioResult = { ...report, mode, startedAt: new Date(started).toISOString(), durationMs: Date.now() - started };
      result.env = { git, build: buildInfo, node: process.version, cpus: os.cpus().length, loadavgAtEnd: os.loadavg() };
      results.push(result);
      const file = await writeResult(result);
      log(`scenario ${n}: done in ${(result.durationMs / 1000).toFixed(1)} s → ${path.relative(process.cwd(), file)}`);
    } catch (error) {
      errors.push(`scenario ${n}: ${(error as Error).stack ?? String(error)}`);
      log(`scenario ${n}: FAILED: ${(error as Error).message}`);
    }
  }
} finally {
  await cleanupRunRoot();
}

const rows: Row[] = results.flatMap((r) => r.rows);
const verificationFailures = results.flatMap((r) => r.verification.failures.map((f) => `scenario ${r.id}: ${f}`));
const misses = rows.filter((r) => r.verdict === 'miss').length;
const lines: string[] = [
  `## hf-outbox bench (${mode}) — ${new Date().toISOString()}`,
  '',
  `git ${git.commit}${git.dirty.length ? ` + ${git.dirty.length} uncommitted change(s) under src/` : ''} (src sha256 ${buildInfo.srcHash}); ` +
    `build ${buildInfo.ok ? 'clean' : 'with type errors'}; ` +
    `node ${process.version}; total ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  '',
  ...(values.quick
    ? ['Quick sizes are a smoke test: fixed start-up costs weigh more than at full size, so judge the targets on `npm run bench`.', '']
    : []),
  markdownTable(rows),
  '',
];
for (const r of results) {
  if (r.notes.length === 0) continue;
  lines.push(`Notes, scenario ${r.id} (${r.title}):`, ...r.notes.map((n) => `- ${n}`), '');
}
if (values.profile) {
  for (const r of results) {
    const profiles = (r.measurements['profiles'] ?? {}) as Record<string, { summaries?: ProfileSummary[] }>;
    for (const [who, p] of Object.entries(profiles)) {
      for (const s of p.summaries ?? []) {
        // Skip helper threads that only idled (e.g. tsx's module-loader thread in the emulator).
        const idle = s.byArea.find((a) => a.area === '(idle)')?.pct ?? 0;
        if (idle < 0.98) lines.push(profileMarkdown(`Profile, scenario ${r.id}, ${who}`, s), '');
      }
    }
  }
}
if (verificationFailures.length) lines.push('Read-back FAILURES:', ...verificationFailures.map((f) => `- ${f}`), '');
if (errors.length) lines.push('Scenario errors:', ...errors.map((e) => '```\n' + e + '\n```'), '');
lines.push(`${rows.length} rows: ${rows.filter((r) => r.verdict === 'pass').length} pass, ${misses} miss, ${rows.filter((r) => r.verdict === 'info').length} info.`);
const text = lines.join('\n');
await mkdir(RESULTS_DIR, { recursive: true });
await writeFile(path.join(RESULTS_DIR, fileName('summary', mode, 'md')), `${text}\n`);
console.log(text);

process.exitCode = errors.length || verificationFailures.length || (values.strict && misses) ? 1 : 0;
