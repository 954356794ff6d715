/**
 * Scenario 8, flat at 10 GiB (--quick: 160 MiB against 32 MiB): the own writer (one hashing thread) uploads one 10 GiB incompressible
 * file, and a 2 GiB one for comparison in the same run: throughput must stay within 10% and peak
 * RSS at most 300 MiB. Then a second version of the 10 GiB file that differs in 5% (64 evenly spread
 * runs) is uploaded by a new process that knows the first only from the shard cache, as a restarted
 * daemon would: it must send at most 8% of the file.
 *
 * The CAS is a no-op that counts (bench/xet-writer-flat.ts): the emulator keeps every xorb in memory
 * (10 GiB on a shared 24 GiB machine) and re-hashes every byte on the same cores, so it would measure
 * itself. The data is generated (AES-CTR), not read from disk, so a 2 GiB file held in the page
 * cache and a 10 GiB one read from disk are not compared. Read-back: an independent pass computes
 * the file's Xet hash from the bytes (the version with changes too, in --quick), and each upload's
 * shard is rebuilt into the file hash (its terms over the xorbs sent and cached, each verification
 * entry and size checked), as the CAS does before it registers a file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GiB, MiB } from '../lib/data.js';
import { runMeasured, mib, cpuS, type ChildResult } from '../lib/proc.js';
import { fx, judge, pct, ratio, readBackRow, secs, type Ctx, type Row, type ScenarioReport } from '../lib/report.js';
import { baseEnv, BENCH_DIR, runTmpRoot } from '../lib/setup.js';

const TSX = ['--import', 'tsx'];
const CHANGED_PCT = 5;

interface WriterOut {
  bytes: number;
  ms: number;
  cpuS: number;
  hwmKiB: number;
  xetHash: string;
  xorbs: number;
  xorbBytes: number;
  shardBytes: number;
  knownChunks: number;
  check: string;
}

export async function flat10g(ctx: Ctx): Promise<ScenarioReport> {
  const loadAtStart = os.loadavg();
  const small = ctx.quick ? 32 * MiB : 2 * GiB;
  const big = ctx.quick ? 160 * MiB : 10 * GiB;
  // Fewer runs at quick size, so the chunks each run's edges resend stay a small share of the file.
  const regions = ctx.quick ? 8 : 64;
  const cache = await mkdtemp(path.join(await runTmpRoot(), 's8-cache-'));
  const script = path.join(BENCH_DIR, 'xet-writer-flat.ts');
  const run = async (args: string[]): Promise<{ out: WriterOut; proc: ChildResult }> => {
    const proc = await runMeasured(script, args, { env: baseEnv(), nodeFlags: TSX, timeoutMs: 60 * 60_000 });
    return { out: JSON.parse(proc.stdoutTail.at(-1) ?? '{}') as WriterOut, proc };
  };
  const failures: string[] = [];
  let checks = 0;
  const check = (what: string, ok: boolean, why: string) => {
    checks++;
    if (!ok) failures.push(`${what}: ${why}`);
  };

  try {
    ctx.log(`s8: ${small / MiB} MiB through the writer`);
    const a = await run(['--bytes', String(small), '--seed', '2']);
    ctx.log(`s8: ${big / MiB} MiB through the writer (recorded in a shard cache)`);
    const b = await run(['--bytes', String(big), '--seed', '1', '--cache', cache]);
    ctx.log(`s8: the same ${big / MiB} MiB with ${CHANGED_PCT}% changed, by a new process that has the shard cache`);
    const changedArgs = ['--changed-pct', String(CHANGED_PCT), '--regions', String(regions)];
    const c = await run(['--bytes', String(big), '--seed', '1', ...changedArgs, '--cache', cache]);
    for (const [what, r] of [['small', a], ['big', b], ['changed', c]] as const) check(`${what} upload: shard rebuild`, r.out.check === 'ok', r.out.check);

    ctx.log('s8: independent Xet hash of the data');
    // Read-back, not measured: quick mode's two passes run side by side (one per core).
    const [expected, changed] = await Promise.all([
      run(['--hash-only', '--bytes', String(big), '--seed', '1']),
      ctx.quick ? run(['--hash-only', '--bytes', String(big), '--seed', '1', ...changedArgs]) : undefined,
    ]);
    check('big upload: Xet hash', expected.out.xetHash === b.out.xetHash, `writer ${b.out.xetHash}, independent ${expected.out.xetHash}`);
    if (changed) {
      check('changed upload: Xet hash', changed.out.xetHash === c.out.xetHash, `writer ${c.out.xetHash}, independent ${changed.out.xetHash}`);
    }
    check('changed upload: a new file', c.out.xetHash !== b.out.xetHash, 'the changed version hashed like the first');

    const mibs = (o: WriterOut) => o.bytes / MiB / (o.ms / 1000);
    const throughputRatio = mibs(b.out) / mibs(a.out);
    const sentShare = c.out.xorbBytes / big;
    const hwm = (o: WriterOut) => o.hwmKiB / 1024;
    const S = `8 flat at ${big / MiB} MiB`;
    const rows: Row[] = [
      {
        scenario: S,
        metric: `throughput vs ${small / MiB} MiB`,
        hfOutbox: `${fx(mibs(b.out), 1)} MiB/s (${secs(b.out.ms)})`,
        baselines: `${small / MiB} MiB: ${fx(mibs(a.out), 1)} MiB/s (${secs(a.out.ms)})`,
        ratio: ratio(throughputRatio),
        target: '≥ 0.9×',
        verdict: judge(throughputRatio, '>=', 0.9),
      },
      {
        scenario: S,
        metric: 'CPU seconds per GiB',
        hfOutbox: `${fx(b.out.cpuS / (big / GiB), 2)} s`,
        baselines: `${small / MiB} MiB: ${fx(a.out.cpuS / (small / GiB), 2)} s`,
        ratio: ratio(b.out.cpuS / (big / GiB) / (a.out.cpuS / (small / GiB))),
        target: 'context (load-independent)',
        verdict: 'info',
      },
      {
        scenario: S,
        metric: 'peak RSS (writer, VmHWM)',
        hfOutbox: `${fx(hwm(b.out), 0)} MiB`,
        baselines: `${small / MiB} MiB: ${fx(hwm(a.out), 0)} MiB; whole process (time): ${fx(mib(b.proc.maxRssKiB), 0)} MiB`,
        ratio: ratio(hwm(b.out) / hwm(a.out)),
        target: '≤ 300 MiB',
        verdict: judge(hwm(b.out), '<=', 300),
      },
      {
        scenario: S,
        metric: `peak RSS, ${CHANGED_PCT}% changed (index of the first loaded)`,
        hfOutbox: `${fx(hwm(c.out), 0)} MiB`,
        baselines: `${c.out.knownChunks} chunks loaded from the shard cache`,
        ratio: '',
        target: '≤ 300 MiB',
        verdict: judge(hwm(c.out), '<=', 300),
      },
      {
        scenario: S,
        metric: `bytes sent, ${CHANGED_PCT}% changed`,
        hfOutbox: `${fx(c.out.xorbBytes / MiB, 1)} MiB (${c.out.xorbs} xorbs)`,
        baselines: `file ${fx(big / MiB, 0)} MiB; first upload sent ${fx(b.out.xorbBytes / MiB, 0)} MiB`,
        ratio: pct(sentShare),
        target: '≤ 8%',
        verdict: judge(sentShare, '<=', 0.08),
      },
      readBackRow(S, 'independent Xet hash + shard rebuild', { checks, failures }),
    ];
    const loadAtEnd = os.loadavg();
    return {
      id: 8,
      name: 's8-flat-10g',
      title: 'Flat at 10 GiB: throughput, peak RSS, and a 5% change',
      params: { smallBytes: small, bigBytes: big, changedPct: CHANGED_PCT, regions, cas: 'no-op (counts)', source: 'AES-128-CTR keystream, 8 MiB blocks' },
      measurements: {
        small: { ...a.out, wallMs: a.proc.wallMs, maxRssKiB: a.proc.maxRssKiB, cpuS: cpuS(a.proc) },
        big: { ...b.out, wallMs: b.proc.wallMs, maxRssKiB: b.proc.maxRssKiB, cpuS: cpuS(b.proc) },
        changed: { ...c.out, wallMs: c.proc.wallMs, maxRssKiB: c.proc.maxRssKiB, cpuS: cpuS(c.proc) },
        independentHash: expected.out,
        loadAtStart,
        loadAtEnd,
      },
      verification: { checks, failures },
      rows,
      notes: [
        `Load average ${loadAtStart.map((l) => l.toFixed(1)).join('/')} at the start, ${loadAtEnd.map((l) => l.toFixed(1)).join('/')} at the end: throughput is wall time and moves with it; CPU seconds per GiB and RSS do not.`,
        'Peak RSS is VmHWM read by the writer process when its upload ended (before the read-back checks, which build the whole chunk list); the process total from /usr/bin/time is beside it. Both include tsx, about 40 MiB more than the built CLI.',
        `Changed version: ${CHANGED_PCT}% of the bytes in ${regions} runs; each run also resends the chunks its edges cut (about 2 × 64 KiB), so the floor is about ${fx(CHANGED_PCT + (regions * 128 * 1024 * 100) / big, 1)}%.`,
      ],
    };
  } finally {
    await rm(cache, { recursive: true, force: true });
  }
}
