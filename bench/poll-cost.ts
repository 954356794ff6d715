/**
 * What watch mode poll costs on a large outbox, and how fast it sees a new checkpoint folder.
 *
 *   npx tsx bench/poll-cost.ts                       100,000 files in 2,000 folders, 2 s interval, 30 s window
 *   npx tsx bench/poll-cost.ts --files 20000 --folders 400 --seconds 10
 *
 * The daemon runs in this process on a local-folder bucket, every file already recorded as
 * delivered (as after a first sync), in watch mode poll. It reports, in CPU seconds (the machine
 * may be shared, so wall-clock shares would mislead):
 * - the folder passes: CPU over an idle window with only the poller running, as a share of one core;
 * - one full pass (the daemon's scan: a stat of every file against its delivered version), and the
 *   spacing the poller gives it (at most 2% of a core, at least every minute);
 * - detection: a checkpoint folder (checkpoints/run1/checkpoint-N/) created at random moments, time
 *   until its unit settles (settle-ms 0) and how many passes that took.
 * The tree is written once under the OS temp folder and reused by later runs with the same sizes.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { LocalFolderBucket } from '../src/adapters/local-bucket.js';
import { NodeOutboxFs } from '../src/adapters/node-fs.js';
import { systemClock } from '../src/adapters/system-clock.js';
import { parseConfig } from '../src/config/parse.js';
import { Outbox } from '../src/daemon.js';
import { createLogger } from '../src/log.js';
import { mapPath, compileRules } from '../src/pipeline/naming.js';
import { walk } from '../src/pipeline/scan.js';
import { pollOutbox, type PollWatcher } from '../src/pipeline/poll.js';
import { StateStore } from '../src/state/store.js';
import { ensureFlatTree } from './lib/flat-tree.js';

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '100000' },
    folders: { type: 'string', default: '2000' },
    'interval-ms': { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '30' },
    detections: { type: 'string', default: '5' },
  },
  strict: true,
});
const files = Number(values.files);
const folderCount = Number(values.folders);
const intervalMs = Number(values['interval-ms']);
const windowMs = Number(values.seconds) * 1000;
const detections = Number(values.detections);
const log = (m: string) => console.error(`[poll-cost] ${m}`);
const cpuS = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const base = path.join(os.tmpdir(), `hfo-bench-poll-${files}-${folderCount}`);
const outbox = await ensureFlatTree(base, files, folderCount, log);
const work = path.join(base, `run-${process.pid}`);
await mkdir(work, { recursive: true });

const parsed = parseConfig({
  flags: { outbox, bucket: path.join(work, 'bucket'), agentId: 'agent-01', settleMs: 0, watchMode: 'poll', pollIntervalMs: intervalMs, logLevel: 'silent' },
  env: {},
  file: undefined,
  cwd: work,
  homeDir: work,
});
if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
const config = parsed.config;
const fs = new NodeOutboxFs();
const state = StateStore.open(path.join(work, 'state'), { outbox, bucket: config.bucket.uri, agentId: 'agent-01' });

// Every file recorded as delivered, with its real fingerprint: the state after a first sync.
log('recording every file as delivered');
const rules = compileRules({ agentId: 'agent-01', unitCategories: config.unitCategories, ignore: [] });
let batch: Array<{ rel: string; unit: string; bucket: string }> = [];
const flush = async () => {
  const stats = await Promise.all(batch.map((b) => fs.stat(path.join(outbox, ...b.rel.split('/')))));
  state.transaction(() => {
    batch.forEach((b, i) => {
      const s = stats[i];
      if (s === undefined) return;
      const file = { localPath: b.rel, unitPath: b.unit, bucketPath: b.bucket, sizeBytes: s.sizeBytes, mtimeMs: s.mtimeMs, ino: s.ino };
      state.markPending(file);
      state.markUploaded(file);
    });
  });
  batch = [];
};
for await (const entry of walk(fs, outbox)) {
  const m = mapPath(entry.relPath, rules);
  if (m.kind !== 'file') continue;
  batch.push({ rel: entry.relPath, unit: m.unitPath, bucket: m.bucketPath });
  if (batch.length >= 1000) await flush();
}
await flush();

let poller: PollWatcher | undefined;
const daemon = new Outbox(config, {
  fs,
  bucket: new LocalFolderBucket(config.bucket.kind === 'local' ? config.bucket.root : '', fs),
  state,
  clock: systemClock,
  logger: createLogger({ level: 'silent' }),
  poll: (root, options) => (poller = pollOutbox(root, { ...options, fullPassMinMs: 24 * 3600_000 })),
});
await daemon.prepare();
let t = performance.now();
let c = cpuS();
await daemon.watch();
const setup = { wallS: (performance.now() - t) / 1000, cpuS: cpuS() - c, folders: poller?.stats().folders };
log(`poller set up: ${setup.folders} folders in ${setup.wallS.toFixed(2)} s wall, ${setup.cpuS.toFixed(2)} CPU s`);

// One full pass: the daemon's scan, every file stat'ed against its delivered version.
t = performance.now();
c = cpuS();
const scanned = await daemon.scan();
await daemon.drain();
const full = { files: scanned.files, wallS: (performance.now() - t) / 1000, cpuS: cpuS() - c };
const fullEveryS = Math.max(60, full.cpuS / 0.02);
log(`full pass: ${full.files} files, ${full.wallS.toFixed(2)} s wall, ${full.cpuS.toFixed(2)} CPU s → run every ${fullEveryS.toFixed(0)} s (2% of a core)`);

// Idle: only the folder passes (the scan's garbage collected first when --expose-gc allows it).
(globalThis as { gc?: () => void }).gc?.();
await sleep(intervalMs);
const p0 = poller?.stats().passes ?? 0;
const pc0 = poller?.stats().passCpuMicros ?? 0;
t = performance.now();
c = cpuS();
await sleep(windowMs);
const idle = { wallS: (performance.now() - t) / 1000, cpuS: cpuS() - c, passes: (poller?.stats().passes ?? 0) - p0, inPassesCpuS: ((poller?.stats().passCpuMicros ?? 0) - pc0) / 1e6 };
const share = idle.cpuS / idle.wallS;
const passEveryMs = poller?.stats().passEveryMs;
log(`folder passes: ${idle.passes} in ${idle.wallS.toFixed(1)} s, ${idle.cpuS.toFixed(2)} CPU s = ${(share * 100).toFixed(2)}% of a core (${((idle.cpuS / Math.max(1, idle.passes)) * 1000).toFixed(1)} ms CPU per pass, one every ${passEveryMs} ms; ${idle.inPassesCpuS.toFixed(2)} CPU s during the passes themselves)`);

// Detection: a new checkpoint folder at a random moment within the interval.
const seen: number[] = [];
const passesTaken: number[] = [];
for (let i = 0; i < detections; i++) {
  await sleep(Math.random() * intervalMs);
  const step = `checkpoint-${process.pid * 100 + i}`;
  const unit = `checkpoints/run1/${step}`;
  const settled = new Promise<number>((resolve, reject) => {
    setTimeout(() => reject(new Error(`${unit} did not settle within 60 s`)), 60_000).unref();
    const on = (u: { unitPath: string }) => {
      if (u.unitPath !== unit) return;
      daemon.off('settled', on);
      resolve(performance.now());
    };
    daemon.on('settled', on);
  });
  const pa = poller?.stats().passes ?? 0;
  const at = performance.now();
  await mkdir(path.join(outbox, unit));
  await writeFile(path.join(outbox, unit, 'model.safetensors'), `step ${i}`);
  seen.push((await settled) - at);
  passesTaken.push((poller?.stats().passes ?? 0) - pa);
  await rm(path.join(outbox, unit), { recursive: true });
}
await daemon.stop();
state.close();
await rm(work, { recursive: true, force: true });
const sorted = [...seen].sort((a, b) => a - b);
const combined = share + full.cpuS / fullEveryS;
const result = {
  files,
  folders: setup.folders,
  intervalMs,
  setup,
  folderPasses: { ...idle, shareOfCore: share, cpuMsPerPass: (idle.cpuS / Math.max(1, idle.passes)) * 1000, passEveryMs },
  fullPass: { ...full, everyS: fullEveryS, shareOfCore: full.cpuS / fullEveryS },
  pollingShareOfCore: combined,
  detectMs: { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1], all: seen.map((s) => Math.round(s)) },
  passesUntilSettled: passesTaken,
  loadavg: os.loadavg(),
};
log(`new checkpoint folder settled after ${result.detectMs.all.join(', ')} ms (interval ${intervalMs} ms)`);
log(`polling total: ${(combined * 100).toFixed(2)}% of a core (folder passes + full passes)`);
console.log(JSON.stringify(result, null, 2));
