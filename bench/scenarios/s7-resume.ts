/**
 * Scenario 7, resume: `sync` of one incompressible file is killed with SIGKILL at ~50% (the
 * emulator answers the first half of the xorbs and holds the next one open, and only then is the
 * process killed), then `sync` runs again. What the second run sends is compared with the whole
 * file: the target is at most the half the CAS had not accepted plus the one xorb that was in
 * flight. The file must rebuild byte-exact (sha256 of the emulator's own rebuild).
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import { backdate, fmtMiB, GiB, MiB, writeRandomFile } from '../lib/data.js';
import { withEmulator } from '../lib/emulator.js';
import { contentionNotes, errorNotes, measureRun } from '../lib/measure.js';
import { fx, judge, pct, readBackRow, secs, type Ctx, type Row, type ScenarioReport } from '../lib/report.js';
import { hfOutbox, makeWorkspace } from '../lib/setup.js';
import { Verifier } from '../lib/verify.js';

/** The own writer cuts xorbs at 32 MiB (src/adapters/xet/writer.ts). */
const XORB_BYTES = 32 * MiB;

export async function resume(ctx: Ctx): Promise<ScenarioReport> {
  const loadAtStart = os.loadavg();
  const size = ctx.quick ? 64 * MiB : 2 * GiB;
  const acceptedXorbs = Math.floor(size / XORB_BYTES / 2);
  const ws = await makeWorkspace('s7');
  const file = path.join(ws.outbox, 'data/resume.bin');
  ctx.log(`s7: writing ${size / MiB} MiB of random data`);
  const sha256 = await writeRandomFile(file, size);
  await backdate([file]);
  const verifier = new Verifier();

  const result = await withEmulator(async (emu) => {
    ctx.log(`s7: first sync, killed with SIGKILL once ${acceptedXorbs} xorb(s) were accepted and the next one is held`);
    await emu.reset();
    await emu.hold('xorb', acceptedXorbs);
    const first = hfOutbox('sync', ws, emu);
    const firstStarted = Date.now();
    await first.started();
    let exitedEarly = false;
    void first.done.then(() => (exitedEarly = true));
    while ((await emu.held()) === 0) {
      if (exitedEarly) throw new Error(`s7: the first sync ended before ${acceptedXorbs} xorbs were accepted`);
      await sleep(100);
    }
    first.kill('SIGKILL');
    const killed = await first.done;
    const firstMs = Date.now() - firstStarted;
    const firstBytes = (await emu.counters()).bytesReceived;
    await emu.release();
    ctx.log('s7: second sync');
    const lines: string[] = [];
    const { run, counters } = await measureRun('hf-outbox sync (after kill -9)', emu, () => hfOutbox('sync', ws, emu, { onLine: (l) => lines.push(l) }));
    await verifier.file(emu, 'hf-outbox sync after kill -9', 'artifacts/data/resume_bench.bin', { size, sha256 }, 'emulator');
    const resumedLine = lines.find((l) => l.includes('"resuming:'));
    const resumedXorbs = resumedLine ? (JSON.parse(resumedLine) as { xorbs?: number }).xorbs : undefined;
    return { killed, firstMs, firstBytes, run, counters, resumedXorbs };
  });

  const { run, firstBytes, firstMs, resumedXorbs } = result;
  const second = run.bytesReceived;
  const bound = size - acceptedXorbs * XORB_BYTES + XORB_BYTES;
  const S = `7 resume after kill -9 (${size / MiB} MiB)`;
  const rows: Row[] = [
    {
      scenario: S,
      metric: 'bytes sent by run 2 / file size',
      hfOutbox: `${fmtMiB(second)} (${pct(second / size)})`,
      baselines: `run 1 sent ${fmtMiB(firstBytes)} in ${secs(firstMs)} before the kill; a restart from zero sends 100%`,
      ratio: pct(second / size),
      target: `≤ 50% + one xorb (${pct(bound / size)})`,
      verdict: judge(second, '<=', bound),
    },
    {
      scenario: S,
      metric: 'xorbs resumed / accepted before the kill',
      hfOutbox: `${resumedXorbs ?? 0} / ${acceptedXorbs}`,
      baselines: `run 2: ${run.requestsByEndpoint['xorb'] ?? 0} xorb uploads, ${secs(run.wallMs)}`,
      ratio: '',
      target: 'all',
      verdict: judge(resumedXorbs ?? 0, '>=', acceptedXorbs),
    },
    readBackRow(S, 'sha256 of the rebuilt file', verifier),
  ];
  const notes = [
    `Run 1 was killed after the emulator had answered ${acceptedXorbs} xorb upload(s) and was holding the next one (${fmtMiB(firstBytes)} received, the held xorb included).`,
    `Load average at start ${loadAtStart.map((l) => fx(l, 1)).join(' / ')} (1/5/15 min) on ${os.cpus().length} cores.`,
    ...contentionNotes([run]),
    ...errorNotes([run]),
  ];
  return {
    id: 7,
    name: 's7-resume',
    title: 'Resume after kill -9 at ~50%',
    params: { sizeBytes: size, acceptedXorbs, xorbBytes: XORB_BYTES, loadAtStart },
    measurements: { firstRun: { wallMs: firstMs, bytesReceived: firstBytes, signal: result.killed.signal, code: result.killed.code }, secondRun: run, boundBytes: bound },
    verification: { checks: verifier.checks, failures: verifier.failures },
    rows,
    notes,
  };
}
