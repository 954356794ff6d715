/**
 * Scenario 2, many small files (1–8 KiB of random data): hf-outbox `sync` vs one `hfjs upload` of
 * the folder vs one `uploadFile` call per file in a loop (what a naive watcher does). Time and the
 * HTTP requests the emulator saw. Each tool gets a fresh emulator.
 */
import path from 'node:path';
import { backdate, writeSmallFiles } from '../lib/data.js';
import { withEmulator } from '../lib/emulator.js';
import { contentionNotes, errorNotes, measureRun, profileDir, profileFlags, readProfiles } from '../lib/measure.js';
import { MeasuredChild } from '../lib/proc.js';
import { fx, judge, pct, ratio, secs, type Ctx, type Row, type ScenarioReport, readBackRow } from '../lib/report.js';
import { AGENT, baseEnv, BENCH_DIR, BUCKET, hfjsUpload, hfOutbox, makeWorkspace, TOKEN } from '../lib/setup.js';
import { Verifier } from '../lib/verify.js';

const withAgent = (rel: string) => rel.replace(/(\.[^./]+)$/, `_${AGENT}$1`);

export async function manySmallFiles(ctx: Ctx): Promise<ScenarioReport> {
  const count = ctx.quick ? 400 : 5000;
  const naiveBudgetMs = ctx.quick ? 1_000 : 120_000;
  const sample = ctx.quick ? 10 : 40;
  const ws = await makeWorkspace('s2');
  const dir = path.join(ws.outbox, 'data', 'many');
  ctx.log(`s2: writing ${count} files of 1-8 KiB`);
  const files = await writeSmallFiles(dir, count, { minBytes: 1024, maxBytes: 8192, seed: 2 });
  await backdate(files.map((f) => path.join(dir, f.rel)));
  const totalBytes = files.reduce((s, f) => s + f.size, 0);
  const verifier = new Verifier();
  const expect = (prefix: string, map: (rel: string) => string = (r) => r) =>
    files.map((f) => ({ bucketPath: `${prefix}/${map(f.rel)}`, expected: { size: f.size, sha256: f.sha256 } }));

  ctx.log('s2: hfjs upload of the folder');
  const hfjs = await withEmulator(async (emu) => {
    const { run } = await measureRun('hfjs upload (folder)', emu, () => hfjsUpload(dir, 'hfjs-many', emu));
    await verifier.many(emu, 'hfjs upload', expect('hfjs-many'), sample);
    return run;
  });

  ctx.log('s2: hf-outbox sync');
  const hfo = await withEmulator(async (emu) => {
    const { run } = await measureRun('hf-outbox sync', emu, () => hfOutbox('sync', ws, emu));
    await verifier.many(emu, 'hf-outbox sync', expect('artifacts/data/many', withAgent), sample);
    return run;
  });

  ctx.log(`s2: one uploadFile per file (budget ${naiveBudgetMs / 1000} s)`);
  const naive = await withEmulator(async (emu) => {
    const { run, result } = await measureRun('uploadFile per file', emu, () =>
      new MeasuredChild(
        path.join(BENCH_DIR, 'naive-uploader.ts'),
        ['--hub', emu.url, '--token', TOKEN, '--bucket', BUCKET, '--dir', dir, '--prefix', 'naive', '--budget-ms', String(naiveBudgetMs)],
        { env: baseEnv(), nodeFlags: ['--import', 'tsx'], timeoutMs: naiveBudgetMs + 120_000 },
      ),
    );
    const out = JSON.parse(result.stdoutTail.at(-1) ?? '{}') as { files: number; ms: number };
    const done = files.slice(0, out.files).map((f) => ({ bucketPath: `naive/${f.rel}`, expected: { size: f.size, sha256: f.sha256 } }));
    await verifier.many(emu, 'uploadFile per file', done, Math.min(sample, out.files));
    const scale = count / Math.max(1, out.files);
    return {
      ...run,
      filesDone: out.files,
      uploadMs: out.ms,
      extrapolated: out.files < count,
      /** Whole-folder estimate: process start-up once, plus the per-file time scaled to every file. */
      estWallMs: run.wallMs - out.ms + out.ms * scale,
      estRequests: Math.round(run.requests * scale),
    };
  });

  let profiles: Record<string, unknown> = {};
  if (ctx.profile) {
    ctx.log('s2: profiled hf-outbox sync (not part of the figures above)');
    const pdir = profileDir(ctx.profileDir, 's2', 'hf-outbox');
    const flags = await profileFlags(pdir);
    const profiled = await withEmulator(async (emu) => {
      const pws = await makeWorkspace('s2-profile');
      return (await measureRun('hf-outbox sync (profiled)', emu, () => hfOutbox('sync', { ...pws, outbox: ws.outbox }, emu, { nodeFlags: flags }))).run;
    });
    profiles = { 'hf-outbox': { wallMs: profiled.wallMs, summaries: await readProfiles(pdir) } };
  }

  const notes: string[] = [];
  if (naive.extrapolated) {
    notes.push(
      `uploadFile per file was stopped after ${naive.filesDone} of ${count} files (${secs(naive.uploadMs)}); its time and requests are extrapolated linearly to ${count} files.`,
    );
  }
  for (const r of [hfo, hfjs, naive]) {
    if (r.emulatorBusy > 0.8) notes.push(`The emulator was busy ${(r.emulatorBusy * 100).toFixed(0)}% of the ${r.tool} run: it may be the bottleneck there.`);
  }
  notes.push(...contentionNotes([hfo, hfjs, naive]), ...errorNotes([hfo, hfjs, naive]));
  const S = `2 many small files (${count})`;
  const naiveLabel = `per-file ${secs(naive.estWallMs)}${naive.extrapolated ? ' (extrapolated)' : ''}`;
  const rows: Row[] = [
    {
      scenario: S,
      metric: 'time vs uploadFile per file',
      hfOutbox: secs(hfo.wallMs),
      baselines: naiveLabel,
      ratio: `${ratio(naive.estWallMs / hfo.wallMs)} faster`,
      target: '≥ 10× faster',
      verdict: judge(naive.estWallMs / hfo.wallMs, '>=', 10),
    },
    {
      scenario: S,
      metric: 'time vs one hfjs upload of the folder',
      hfOutbox: secs(hfo.wallMs),
      baselines: `hfjs ${secs(hfjs.wallMs)}`,
      ratio: ratio(hfo.wallMs / hfjs.wallMs),
      target: '≤ 1.2×',
      verdict: judge(hfo.wallMs / hfjs.wallMs, '<=', 1.2),
    },
    {
      scenario: S,
      metric: 'HTTP requests',
      hfOutbox: `${hfo.requests} (${fx(count / hfo.requests, 1)} files/request)`,
      baselines: `hfjs ${hfjs.requests}; per-file ${naive.estRequests}${naive.extrapolated ? ' (extrapolated)' : ''}`,
      ratio: ratio(hfo.requests / hfjs.requests),
      target: `≤ ${Math.floor(count / 25)} (1 per 25 files)`,
      verdict: judge(hfo.requests, '<=', count / 25),
    },
    {
      scenario: S,
      metric: 'peak RSS / CPU s (client) / emulator busy',
      hfOutbox: `${fx(hfo.peakRssMiB, 0)} MiB / ${fx(hfo.cpuS, 1)} s / ${pct(hfo.emulatorBusy)}`,
      baselines: `hfjs ${fx(hfjs.peakRssMiB, 0)} MiB / ${fx(hfjs.cpuS, 1)} s / ${pct(hfjs.emulatorBusy)}; per-file ${fx(naive.peakRssMiB, 0)} MiB`,
      ratio: '',
      target: 'context',
      verdict: 'info',
    },
    readBackRow(S, 'listing + sha256 sample', verifier),
  ];
  return {
    id: 2,
    name: 's2-many-small-files',
    title: 'Many small files: time and HTTP requests',
    params: { count, minBytes: 1024, maxBytes: 8192, totalBytes, naiveBudgetMs, settleMs: 500 },
    measurements: { hfOutbox: hfo, hfjs, naive, profiles },
    verification: { checks: verifier.checks, failures: verifier.failures },
    rows,
    notes,
  };
}
