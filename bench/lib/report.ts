/** Scenario results: the rows of the Markdown table, the JSON files, and the table itself. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RESULTS_DIR } from './setup.js';

export type Verdict = 'pass' | 'miss' | 'info';

export interface Row {
  scenario: string;
  metric: string;
  hfOutbox: string;
  baselines: string;
  ratio: string;
  target: string;
  verdict: Verdict;
}

export interface ScenarioResult {
  id: number;
  name: string;
  title: string;
  mode: 'quick' | 'full';
  startedAt: string;
  durationMs: number;
  params: Record<string, unknown>;
  measurements: Record<string, unknown>;
  verification: { checks: number; failures: string[] };
  rows: Row[];
  notes: string[];
  /** What was measured and where: git, build, node, machine load (filled in by run.ts). */
  env?: Record<string, unknown>;
}

/** What a scenario returns; run.ts adds the mode and when and how long it ran. */
export type ScenarioReport = Omit<ScenarioResult, 'mode' | 'startedAt' | 'durationMs' | 'env'>;

export interface Ctx {
  quick: boolean;
  profile: boolean;
  profileDir: string;
  log: (message: string) => void;
}

/** `value op limit` → pass/miss (a NaN or missing value is a miss). */
export function judge(value: number | undefined, op: '>=' | '<=' | '==', limit: number): Verdict {
  if (value === undefined || !Number.isFinite(value)) return 'miss';
  if (op === '>=') return value >= limit ? 'pass' : 'miss';
  if (op === '<=') return value <= limit ? 'pass' : 'miss';
  return value === limit ? 'pass' : 'miss';
}

export const fx = (n: number | undefined, digits = 2): string => (n === undefined || !Number.isFinite(n) ? 'n/a' : n.toFixed(digits));
export const ratio = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? 'n/a' : `${n.toFixed(2)}×`);
export const pct = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? 'n/a' : `${(n * 100).toFixed(1)}%`);
export const secs = (ms: number | undefined): string => (ms === undefined || !Number.isFinite(ms) ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);

/** The row every scenario ends with: did everything uploaded read back intact? */
export function readBackRow(scenario: string, what: string, verifier: { checks: number; failures: readonly string[] }): Row {
  const ok = verifier.failures.length === 0;
  return {
    scenario,
    metric: `read back (${what})`,
    hfOutbox: ok ? `ok (${verifier.checks} checks)` : `${verifier.failures.length} failed`,
    baselines: '',
    ratio: '',
    target: 'all match',
    verdict: ok ? 'pass' : 'miss',
  };
}

export function fileName(name: string, mode: 'quick' | 'full', ext: string): string {
  return mode === 'quick' ? `${name}.quick.${ext}` : `${name}.${ext}`;
}

export async function writeResult(result: ScenarioResult): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, fileName(result.name, result.mode, 'json'));
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

const escape = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function markdownTable(rows: Row[]): string {
  const head = '| scenario | metric | hf-outbox | baseline(s) | ratio | target | result |\n|---|---|---|---|---|---|---|';
  const body = rows.map((r) =>
    `| ${escape(r.scenario)} | ${escape(r.metric)} | ${escape(r.hfOutbox)} | ${escape(r.baselines)} | ${escape(r.ratio)} | ${escape(r.target)} | ${r.verdict === 'pass' ? 'pass' : r.verdict === 'miss' ? '**miss**' : 'info'} |`,
  );
  return [head, ...body].join('\n');
}
