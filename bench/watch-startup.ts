/**
 * Why the outbox watcher is node:fs `watch` per folder and not chokidar: start-up cost on a large
 * outbox, re-checkable whenever chokidar changes.
 *
 *   npx tsx bench/watch-startup.ts                              100,000 files in 2,000 folders, 3 runs each
 *   npx tsx bench/watch-startup.ts --files 20000 --folders 400 --runs 2
 *
 * Each run is a fresh child process that starts one watcher on the tree and reports the time to
 * ready, CPU seconds and memory (RSS at ready and peak RSS), then exits:
 * - `folders`: hf-outbox's own watcher (src/pipeline/watch.ts), one fs.watch per folder, no file stat'ed;
 * - `chokidar`: chokidar (the installed version) in its cheapest configuration for this job: files
 *   ignored (only folders watched, as ours), ignoreInitial, events taken from its `raw` stream.
 *   It still lstat's every file on the way in: its readdirp call hard-codes `alwaysStat: true` and
 *   `lstat: true`, and no option reaches it (upstream paulmillr/chokidar#187).
 * Runs alternate between the two so a busy machine hurts both alike. The tree is written once
 * under the OS temp folder (shared with bench/poll-cost.ts) and reused.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureFlatTree } from './lib/flat-tree.js';

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '100000' },
    folders: { type: 'string', default: '2000' },
    runs: { type: 'string', default: '3' },
    child: { type: 'string' },
    root: { type: 'string' },
  },
  strict: true,
});

interface ChildResult {
  watcher: string;
  readyMs: number;
  cpuS: number;
  rssMiB: number;
  maxRssMiB: number;
}

if (values.child !== undefined) {
  // A child: start one watcher on --root, report, exit.
  const root = values.root as string;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let close: () => Promise<void>;
  if (values.child === 'chokidar') {
    const { watch } = await import('chokidar');
    const w = watch(root, { ignored: (_p: string, stats?: { isFile(): boolean }) => stats?.isFile() === true, ignoreInitial: true, persistent: true });
    w.on('raw', () => undefined);
    await new Promise<void>((resolve, reject) => {
      w.once('ready', resolve);
      w.once('error', reject);
    });
    close = () => w.close();
  } else {
    const { watchOutbox } = await import('../src/pipeline/watch.js');
    const w = watchOutbox(root, { isIgnored: () => false, onEvent: () => undefined, onError: (e) => { throw e; } });
    await w.ready;
    close = () => w.close();
  }
  const readyMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const result: ChildResult = {
    watcher: values.child,
    readyMs,
    cpuS: (c.user + c.system) / 1e6,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  await close();
  console.log(JSON.stringify(result));
  process.exit(0);
}

const files = Number(values.files);
const folderCount = Number(values.folders);
const runs = Number(values.runs);
const base = path.join(os.tmpdir(), `hfo-bench-poll-${files}-${folderCount}`);
const outbox = await ensureFlatTree(base, files, folderCount, (line) => console.error(`[watch-startup] ${line}`));

const self = fileURLToPath(import.meta.url);
const results: ChildResult[] = [];
for (let r = 0; r < runs; r++) {
  for (const watcher of ['folders', 'chokidar']) {
    const out = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', watcher, '--root', outbox], { encoding: 'utf8', timeout: 300_000 });
    if (out.status !== 0) throw new Error(`${watcher} run failed: ${out.stderr}`);
    const result = JSON.parse(out.stdout.trim().split('\n').pop() as string) as ChildResult;
    results.push(result);
    console.error(`[watch-startup] ${watcher.padEnd(8)} ready in ${(result.readyMs / 1000).toFixed(2)} s, ${result.cpuS.toFixed(2)} CPU s, RSS ${result.rssMiB.toFixed(0)} MiB (peak ${result.maxRssMiB.toFixed(0)} MiB)`);
  }
}
const chokidarVersion = (JSON.parse(readFileSync(path.join(path.dirname(self), '../node_modules/chokidar/package.json'), 'utf8')) as { version: string }).version;
console.log(JSON.stringify({ files, folders: folderCount, chokidar: chokidarVersion, node: process.version, loadavg: os.loadavg(), results }, null, 2));
