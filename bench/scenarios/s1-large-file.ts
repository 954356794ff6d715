/**
 * Scenario 1, large file: one file of incompressible data. hf-outbox `sync` vs `hfjs upload
 * --repo-type bucket` vs the raw ceiling (read + Xet chunking and hashing, no network). The
 * emulator's own ingest rate is measured apart, since it re-hashes every byte it receives.
 * Each tool uploads to a fresh emulator so neither dedups against the other's xorbs.
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { xetHashOf } from '../../src/hash/xet-hash.js';
import { backdate, GiB, MiB, writeRandomFile } from '../lib/data.js';
import { withEmulator } from '../lib/emulator.js';
import { contentionNotes, errorNotes, measureRun, profileDir, profileFlags, readProfiles, type ToolRun } from '../lib/measure.js';
import { runMeasured, mib, cpuS } from '../lib/proc.js';
import { fx, judge, pct, ratio, secs, type Ctx, type Row, type ScenarioReport, readBackRow } from '../lib/report.js';
import { baseEnv, BENCH_DIR, BUCKET, hfjsUpload, hfOutbox, makeWorkspace, TOKEN } from '../lib/setup.js';
import { Verifier } from '../lib/verify.js';

const TSX = ['--import', 'tsx'];

export async function largeFile(ctx: Ctx): Promise<ScenarioReport> {
  const size = ctx.quick ? 32 * MiB : 2 * GiB;
  const ingestMiB = ctx.quick ? 16 : 512;
  const ws = await makeWorkspace('s1');
  const rel = 'data/large.bin';
  const file = path.join(ws.outbox, rel);
  ctx.log(`s1: writing ${size / MiB} MiB of random data`);
  const sha256 = await writeRandomFile(file, size);
  await backdate([file]);
  const verifier = new Verifier();
  const notes: string[] = [];

  const rawRuns = ctx.quick ? 1 : 2;
  ctx.log(`s1: raw ceiling (read + Xet chunk + hash, no network), best of ${rawRuns}`);
  type Raw = { bytes: number; xetHash: string; totalMs: number; readMs: number; chunks: number };
  let rawRun: Awaited<ReturnType<typeof runMeasured>> | undefined;
  let raw: Raw | undefined;
  const rawAll: number[] = [];
  for (let i = 0; i < rawRuns; i++) {
    const r = await runMeasured(path.join(BENCH_DIR, 'raw-ceiling.ts'), [file, '--block-mib', '8'], { env: baseEnv(), nodeFlags: TSX, timeoutMs: 10 * 60_000 });
    const out = JSON.parse(r.stdoutTail.at(-1) ?? '{}') as Raw;
    rawAll.push(out.totalMs);
    if (raw === undefined || out.totalMs < raw.totalMs) [raw, rawRun] = [out, r];
  }
  if (!raw || !rawRun) throw new Error('s1: no raw ceiling run');
  const rawMiBs = raw.bytes / MiB / (raw.totalMs / 1000);

  ctx.log(`s1: emulator ingest ceiling (${ingestMiB} MiB of prebuilt raw xorbs)`);
  const ingest = await withEmulator(async (emu) => {
    const before = await emu.usage();
    const r = await runMeasured(
      path.join(BENCH_DIR, 'emulator-ingest.ts'),
      ['--hub', emu.url, '--token', TOKEN, '--bucket', BUCKET, '--mib', String(ingestMiB)],
      { env: baseEnv(), nodeFlags: TSX, timeoutMs: 10 * 60_000 },
    );
    const after = await emu.usage();
    const out = JSON.parse(r.stdoutTail.at(-1) ?? '{}') as { bytes: number; ms: number; xorbs: number };
    const emuCpu = (after?.cpuS ?? 0) - (before?.cpuS ?? 0);
    return { ...out, mibPerS: out.bytes / MiB / (out.ms / 1000), emulatorCpuS: emuCpu, emulatorMiBPerCpuS: out.bytes / MiB / emuCpu };
  });

  // The raw ceiling hashes with xetchunk-wasm, whose chunk boundaries are the legacy rule hfjs uploads
  // with; hf-outbox cuts as xet-core does (src/hash/xet-chunker.ts), so its file hash differs.
  const expected = { size, sha256, xetHash: raw.xetHash };
  const expectedOwn = { size, sha256, xetHash: await xetHashOf(createReadStream(file, { highWaterMark: 8 * MiB })) };
  const runs: Record<string, ToolRun & { mibPerS: number }> = {};
  ctx.log('s1: hfjs upload');
  runs['hfjs'] = await withEmulator(async (emu) => {
    const { run } = await measureRun('hfjs upload', emu, () => hfjsUpload(file, 'hfjs', emu));
    await verifier.file(emu, 'hfjs upload', 'hfjs/large.bin', expected, 'emulator');
    return { ...run, mibPerS: size / MiB / (run.wallMs / 1000) };
  });
  ctx.log('s1: hf-outbox sync');
  runs['hf-outbox'] = await withEmulator(async (emu) => {
    const { run } = await measureRun('hf-outbox sync', emu, () => hfOutbox('sync', ws, emu));
    await verifier.file(emu, 'hf-outbox sync', 'artifacts/data/large_bench.bin', expectedOwn, ctx.quick ? 'download' : 'emulator');
    return { ...run, mibPerS: size / MiB / (run.wallMs / 1000) };
  });

  const profiles: Record<string, unknown> = {};
  if (ctx.profile) {
    ctx.log('s1: profiled hf-outbox sync (not part of the figures above)');
    const dir = profileDir(ctx.profileDir, 's1', 'hf-outbox');
    const emuDir = profileDir(ctx.profileDir, 's1', 'emulator');
    const flags = await profileFlags(dir);
    const emuFlags = await profileFlags(emuDir);
    const profiled = await withEmulator(
      async (emu) => {
        const pws = await makeWorkspace('s1-profile');
        const { run } = await measureRun('hf-outbox sync (profiled)', emu, () =>
          hfOutbox('sync', { ...pws, outbox: ws.outbox }, emu, { nodeFlags: flags }),
        );
        return run;
      },
      { nodeFlags: emuFlags },
    );
    profiles['hf-outbox'] = { wallMs: profiled.wallMs, summaries: await readProfiles(dir) };
    profiles['emulator'] = { summaries: await readProfiles(emuDir) };
  }

  const hfo = runs['hf-outbox'];
  const hfjs = runs['hfjs'];
  if (!hfo || !hfjs) throw new Error('s1: a run is missing');
  const effectiveCeiling = Math.min(rawMiBs, ingest.mibPerS);
  if (ingest.mibPerS < 0.6 * rawMiBs) {
    notes.push(
      `The emulator caps this scenario: it ingests raw xorbs at ${fx(ingest.mibPerS, 0)} MiB/s when measured apart ` +
        `(${fx(ingest.emulatorMiBPerCpuS, 0)} MiB per emulator CPU second; it re-hashes every chunk it receives), which is below ` +
        `60% of the raw ceiling (${fx(0.6 * rawMiBs, 0)} MiB/s), so that target cannot be met against this emulator whatever the client does. ` +
        `The ratio column also gives the share of min(raw, emulator ingest).`,
    );
  }
  for (const r of [hfo, hfjs]) {
    notes.push(
      `${r.tool}: the emulator was busy ${pct(r.emulatorBusy)} of a core during the run, ` +
        (r.emulatorBusy > 0.8 ? 'so the emulator was the bottleneck.' : r.emulatorBusy < 0.5 ? 'so the client, not the emulator, set the pace.' : 'so the emulator may have slowed it.'),
    );
  }
  notes.push(...contentionNotes([hfo, hfjs]), ...errorNotes([hfo, hfjs]));
  notes.push('Throughput = file size / wall time of the whole process (start-up and bucket checks included); the raw ceiling is its in-process time.');

  const S = `1 large file (${size / MiB} MiB)`;
  const rows: Row[] = [
    {
      scenario: S,
      metric: 'throughput vs hfjs upload',
      hfOutbox: `${fx(hfo.mibPerS, 1)} MiB/s (${secs(hfo.wallMs)})`,
      baselines: `hfjs ${fx(hfjs.mibPerS, 1)} MiB/s (${secs(hfjs.wallMs)})`,
      ratio: ratio(hfo.mibPerS / hfjs.mibPerS),
      target: '≥ 0.9×',
      verdict: judge(hfo.mibPerS / hfjs.mibPerS, '>=', 0.9),
    },
    {
      scenario: S,
      metric: 'throughput vs raw ceiling',
      hfOutbox: `${fx(hfo.mibPerS, 1)} MiB/s`,
      baselines: `raw ${fx(rawMiBs, 1)} MiB/s; emulator ingest ${fx(ingest.mibPerS, 1)} MiB/s`,
      ratio: `${pct(hfo.mibPerS / rawMiBs)} (of min: ${pct(hfo.mibPerS / effectiveCeiling)})`,
      target: '≥ 60% of raw',
      verdict: judge(hfo.mibPerS / rawMiBs, '>=', 0.6),
    },
    {
      scenario: S,
      metric: 'peak RSS',
      hfOutbox: `${fx(hfo.peakRssMiB, 0)} MiB`,
      baselines: `hfjs ${fx(hfjs.peakRssMiB, 0)} MiB; raw ${fx(mib(rawRun.maxRssKiB), 0)} MiB`,
      ratio: ratio(hfo.peakRssMiB / hfjs.peakRssMiB),
      target: '≤ 300 MiB',
      verdict: judge(hfo.peakRssMiB, '<=', 300),
    },
    {
      scenario: S,
      metric: 'peak RSS vs hfjs',
      hfOutbox: `${fx(hfo.peakRssMiB, 0)} MiB`,
      baselines: `hfjs ${fx(hfjs.peakRssMiB, 0)} MiB`,
      ratio: ratio(hfo.peakRssMiB / hfjs.peakRssMiB),
      target: '≤ 1.1×',
      verdict: judge(hfo.peakRssMiB / hfjs.peakRssMiB, '<=', 1.1),
    },
    {
      scenario: S,
      metric: 'CPU seconds (client)',
      hfOutbox: `${fx(hfo.cpuS, 1)} s`,
      baselines: `hfjs ${fx(hfjs.cpuS, 1)} s; raw ${fx(cpuS(rawRun), 1)} s`,
      ratio: ratio(hfo.cpuS / hfjs.cpuS),
      target: 'context',
      verdict: 'info',
    },
    {
      scenario: S,
      metric: 'emulator busy (CPU s / wall s)',
      hfOutbox: pct(hfo.emulatorBusy),
      baselines: `hfjs ${pct(hfjs.emulatorBusy)}; ingest alone ${fx(ingest.mibPerS, 0)} MiB/s`,
      ratio: '',
      target: 'context',
      verdict: 'info',
    },
    readBackRow(S, 'xetHash + sha256', verifier),
  ];
  return {
    id: 1,
    name: 's1-large-file',
    title: 'Large file: throughput and peak RSS',
    params: { sizeBytes: size, blockMiB: 8, ingestMiB, settleMs: 500 },
    measurements: {
      raw: { ...raw, allTotalMs: rawAll, mibPerS: rawMiBs, peakRssMiB: mib(rawRun.maxRssKiB), cpuS: cpuS(rawRun), wallMs: rawRun.wallMs },
      emulatorIngest: ingest,
      runs,
      profiles,
    },
    verification: { checks: verifier.checks, failures: verifier.failures },
    rows,
    notes,
  };
}
