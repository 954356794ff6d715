/**
 * Scenario 5, scale: an outbox of many tiny files, all already delivered (one `hf-outbox sync`
 * first, timed and reported). Then `hf-outbox watch` starts on it: time from spawn to its ready
 * line, RSS once it has been idle a few seconds, CPU seconds over an idle window, and how many files
 * it uploaded again (must be 0; counted both from its "uploaded" log lines and the emulator's
 * batch/xorb requests). Baselines: a bare idle node process (the RSS floor), and what a user without
 * a state store would re-run on restart: `hfjs upload` of the whole folder again (same emulator).
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { backdate, writeSmallFiles } from '../lib/data.js';
import { withEmulator } from '../lib/emulator.js';
import { isReady, isUploaded, LogWatch, parseLogLine } from '../lib/logs.js';
import { contentionNotes, errorNotes, measureRun, type ToolRun } from '../lib/measure.js';
import { MeasuredChild, mib } from '../lib/proc.js';
import { fx, judge, pct, ratio, secs, type Ctx, type Row, type ScenarioReport, readBackRow } from '../lib/report.js';
import { AGENT, baseEnv, hfjsUpload, hfOutbox, makeWorkspace } from '../lib/setup.js';
import { Verifier } from '../lib/verify.js';

const withAgent = (rel: string) => rel.replace(/(\.[^./]+)$/, `_${AGENT}$1`);

export async function scale(ctx: Ctx): Promise<ScenarioReport> {
  const count = ctx.quick ? 500 : 100_000;
  const rssAfterMs = ctx.quick ? 1_000 : 5_000;
  const idleMs = ctx.quick ? 3_000 : 60_000;
  const ws = await makeWorkspace('s5');
  const dir = path.join(ws.outbox, 'data', 'scale');
  // The RSS floor: a bare node process doing nothing, sampled once it has been idle 500 ms (it idles
  // while the files are written: its RSS does not depend on what else runs).
  const bare = new MeasuredChild('-e', ['setInterval(() => {}, 1 << 30)'], { env: baseEnv(), timeoutMs: 60 * 60_000 });
  let files: Awaited<ReturnType<typeof writeSmallFiles>>;
  let bareRss: number;
  try {
    const bareUp = bare.started().then(() => Date.now());
    ctx.log(`s5: writing ${count} tiny files`);
    files = await writeSmallFiles(dir, count, { minBytes: 16, maxBytes: 256, seed: 5, perDir: 1000, ext: '.bin' });
    await backdate(files.map((f) => path.join(dir, f.rel)));
    await sleep(Math.max(0, (await bareUp) + 500 - Date.now()));
    bareRss = mib((await bare.sample())?.rssKiB ?? 0);
  } finally {
    bare.kill('SIGKILL');
    await bare.done;
  }
  const verifier = new Verifier();

  const m = await withEmulator(async (emu) => {
    ctx.log(`s5: initial hf-outbox sync of ${count} files`);
    const { run: initial } = await measureRun('hf-outbox sync (initial)', emu, () => hfOutbox('sync', ws, emu, { timeoutMs: 60 * 60_000 }));
    await verifier.many(emu, 'hf-outbox sync', files.map((f) => ({ bucketPath: `artifacts/data/scale/${withAgent(f.rel)}`, expected: { size: f.size, sha256: f.sha256 } })), ctx.quick ? 6 : 20);

    ctx.log(`s5: hf-outbox watch on ${count} delivered files (idle ${idleMs / 1000} s)`);
    await emu.reset();
    const logs = new LogWatch();
    let uploaded = 0;
    const spawnedAt = Date.now();
    const child = hfOutbox('watch', ws, emu, {
      timeoutMs: idleMs + 30 * 60_000,
      onLine: (line) => {
        logs.feed(line);
        const l = parseLogLine(line);
        if (l && isUploaded(l)) uploaded++;
      },
    });
    try {
      await child.started();
      await logs.waitFor(isReady, 20 * 60_000, 'hf-outbox watch to be ready', child.done);
      const readyMs = Date.now() - spawnedAt;
      const atReady = await child.sample();
      await sleep(rssAfterMs);
      const idle0 = await child.sample();
      await sleep(idleMs);
      const idle1 = await child.sample();
      const counters = await emu.counters();
      const writes = (counters.requests['batch'] ?? 0) + (counters.requests['xorb'] ?? 0) + (counters.requests['shard'] ?? 0);
      child.kill('SIGTERM');
      await child.done;

      // Baseline, on the same emulator: the CAS already holds every byte (as it would on a re-run
      // after a restart), so this is what re-running `hfjs upload` of the folder costs.
      ctx.log('s5: baseline: hfjs upload of the same folder (no state: it goes through every file again)');
      const { run: rerun } = await measureRun('hfjs upload (re-run)', emu, () => hfjsUpload(dir, 'hfjs-scale', emu, { timeoutMs: 60 * 60_000 }));
      return {
        initial,
        rerun,
        readyMs,
        rssAtReadyMiB: mib(atReady?.rssKiB ?? 0),
        rssIdleMiB: mib(idle0?.rssKiB ?? 0),
        hwmMiB: mib(idle1?.hwmKiB ?? 0),
        startupCpuS: atReady?.cpuS ?? 0,
        idleCpuS: (idle1?.cpuS ?? 0) - (idle0?.cpuS ?? 0),
        uploadedLines: uploaded,
        writeRequests: writes,
        watchRequests: counters.totalRequests,
        watchRequestsByEndpoint: counters.requests,
        warnings: logs.lines.filter((l) => l.level >= 40).slice(0, 20),
      };
    } finally {
      child.kill('SIGTERM');
      await child.done;
    }
  });
  const rerun = m.rerun;

  const idleCpuFraction = m.idleCpuS / (idleMs / 1000);
  const S = `5 scale (${count} delivered files)`;
  const rows: Row[] = [
    {
      scenario: S,
      metric: 'start-up to ready',
      hfOutbox: secs(m.readyMs),
      baselines: `hfjs re-upload ${secs(rerun.wallMs)}`,
      ratio: ratio(m.readyMs / rerun.wallMs),
      target: '≤ 10 s',
      verdict: judge(m.readyMs, '<=', 10_000),
    },
    {
      scenario: S,
      metric: `RSS idle (${rssAfterMs / 1000} s after ready)`,
      hfOutbox: `${fx(m.rssIdleMiB, 0)} MiB (peak ${fx(m.hwmMiB, 0)})`,
      baselines: `bare node ${fx(bareRss, 0)} MiB`,
      ratio: ratio(m.rssIdleMiB / bareRss),
      target: '≤ 150 MiB',
      verdict: judge(m.rssIdleMiB, '<=', 150),
    },
    {
      scenario: S,
      metric: `CPU while idle (${idleMs / 1000} s)`,
      hfOutbox: `${fx(m.idleCpuS, 2)} s = ${pct(idleCpuFraction)} of a core`,
      baselines: '',
      ratio: '',
      target: '≤ 1% of a core',
      verdict: judge(idleCpuFraction, '<=', 0.01),
    },
    {
      scenario: S,
      metric: 'files re-uploaded by watch',
      hfOutbox: `${m.uploadedLines} (${m.writeRequests} write requests)`,
      baselines: `hfjs re-upload: ${count} files, ${rerun.requests} requests`,
      ratio: '',
      target: '0',
      verdict: m.uploadedLines === 0 && m.writeRequests === 0 ? 'pass' : 'miss',
    },
    {
      scenario: S,
      metric: 'initial sync (context)',
      hfOutbox: `${secs(m.initial.wallMs)}, ${m.initial.requests} req, peak ${fx(m.initial.peakRssMiB, 0)} MiB`,
      baselines: '',
      ratio: '',
      target: 'context',
      verdict: 'info',
    },
    readBackRow(S, 'listing + sha256 sample', verifier),
  ];
  const initial: ToolRun = m.initial;
  return {
    id: 5,
    name: 's5-scale',
    title: 'Scale: start-up and idle cost on an outbox of delivered files',
    params: { count, minBytes: 16, maxBytes: 256, perDir: 1000, rssAfterMs, idleMs, settleMs: 500 },
    measurements: { ...m, initial, bareNodeRssMiB: bareRss, hfjsRerun: rerun, idleCpuFraction },
    verification: { checks: verifier.checks, failures: verifier.failures },
    rows,
    notes: [
      'start-up = from spawning `hf-outbox watch` to its "watching the outbox" log line reaching the bench (node start-up, state store, folder watches, scan).',
      'CPU while idle = utime+stime from /proc over the idle window, which starts once RSS has been sampled.',
      'The hfjs baseline uploads the same folder under another prefix to the emulator that already holds every byte: the cost of re-running it after a restart (hfjs keeps no state).',
      ...contentionNotes([m.initial, rerun]),
      ...errorNotes([m.initial, rerun]),
    ],
  };
}
