/**
 * Scenario 4, checkpoint series: five checkpoints of incompressible data, each the previous one
 * with 5% of its bytes rewritten in four contiguous regions (one per quarter of the file). Each is
 * dropped in the outbox as checkpoints/step-k/model.bin and `hf-outbox sync` runs after each; the
 * bytes the emulator received during that sync, over the checkpoint's size, is what Xet dedup saved.
 * Baseline: `hfjs upload` of the same series, one call per checkpoint, on its own emulator.
 */
import { randomFillSync } from 'node:crypto';
import { link, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { backdate, MiB, prng, sha256 } from '../lib/data.js';
import { withEmulator } from '../lib/emulator.js';
import { contentionNotes, errorNotes, measureRun, type ToolRun } from '../lib/measure.js';
import { fx, judge, pct, ratio, secs, type Ctx, type Row, type ScenarioReport, readBackRow } from '../lib/report.js';
import { AGENT, hfjsUpload, hfOutbox, makeWorkspace } from '../lib/setup.js';
import { Verifier } from '../lib/verify.js';

/** Checkpoints in the series: full mode, and quick mode (the first plus two with changes: dedup still shown twice). */
const STEPS = 5;
const QUICK_STEPS = 3;
const CHANGED = 0.05;
const REGIONS = 4;

interface Step {
  k: number;
  file: string;
  sha256: string;
  /** [start, end) of the rewritten regions (none for k = 0). */
  regions: Array<[number, number]>;
}

export async function checkpointSeries(ctx: Ctx): Promise<ScenarioReport> {
  const size = ctx.quick ? 16 * MiB : 500 * MiB;
  const count = ctx.quick ? QUICK_STEPS : STEPS;
  const ws = await makeWorkspace('s4');
  const store = path.join(ws.root, 'series');
  const rand = prng(4);
  const verifier = new Verifier();

  ctx.log(`s4: writing ${count} checkpoints of ${size / MiB} MiB (${CHANGED * 100}% rewritten between steps)`);
  const buf = randomFillSync(Buffer.allocUnsafe(size));
  const steps: Step[] = [];
  for (let k = 0; k < count; k++) {
    const regions: Array<[number, number]> = [];
    if (k > 0) {
      const quarter = Math.floor(size / REGIONS);
      const len = Math.floor((size * CHANGED) / REGIONS);
      for (let r = 0; r < REGIONS; r++) {
        const start = r * quarter + Math.floor(rand() * (quarter - len));
        randomFillSync(buf, start, len);
        regions.push([start, start + len]);
      }
    }
    const file = path.join(store, `step-${k}`, 'model.bin');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, buf);
    await backdate([file]);
    steps.push({ k, file, sha256: sha256(buf), regions });
  }

  const hfoRuns: ToolRun[] = [];
  ctx.log('s4: hf-outbox sync after each checkpoint');
  await withEmulator(async (emu) => {
    for (const s of steps) {
      const dest = path.join(ws.outbox, 'checkpoints', `step-${s.k}`, 'model.bin');
      await mkdir(path.dirname(dest), { recursive: true });
      await link(s.file, dest);
      const { run } = await measureRun(`hf-outbox sync step ${s.k}`, emu, () => hfOutbox('sync', ws, emu));
      hfoRuns.push(run);
    }
    for (const s of steps) {
      await verifier.file(emu, 'hf-outbox sync', `artifacts/checkpoints/step-${s.k}_${AGENT}/model.bin`, { size, sha256: s.sha256 }, ctx.quick && s.k === count - 1 ? 'download' : 'emulator');
    }
  });

  const hfjsRuns: ToolRun[] = [];
  ctx.log('s4: hfjs upload of each checkpoint');
  await withEmulator(async (emu) => {
    for (const s of steps) {
      const { run } = await measureRun(`hfjs upload step ${s.k}`, emu, () => hfjsUpload(s.file, `hfjs/step-${s.k}`, emu));
      hfjsRuns.push(run);
    }
    for (const s of steps) await verifier.file(emu, 'hfjs upload', `hfjs/step-${s.k}/model.bin`, { size, sha256: s.sha256 }, 'emulator');
  });

  const S = `4 checkpoints (${count} × ${size / MiB} MiB)`;
  const rows: Row[] = steps.map((_s, k) => {
    const hfo = hfoRuns[k];
    const base = hfjsRuns[k];
    const sent = (hfo?.bytesReceived ?? Number.NaN) / size;
    const baseSent = (base?.bytesReceived ?? Number.NaN) / size;
    return {
      scenario: S,
      metric: k === 0 ? 'bytes sent, first checkpoint' : `bytes sent, checkpoint ${k} (${CHANGED * 100}% changed)`,
      hfOutbox: `${pct(sent)} (${fx((hfo?.bytesReceived ?? 0) / MiB, 1)} MiB, ${secs(hfo?.wallMs)})`,
      baselines: `hfjs ${pct(baseSent)} (${secs(base?.wallMs)})`,
      ratio: ratio(sent / baseSent),
      target: k === 0 ? 'context' : '≤ 15%',
      verdict: k === 0 ? 'info' : judge(sent, '<=', 0.15),
    };
  });
  rows.push(readBackRow(S, 'sha256 of every checkpoint', verifier));
  return {
    id: 4,
    name: 's4-checkpoints',
    title: 'Checkpoint series: bytes sent per checkpoint (Xet dedup)',
    params: { steps: count, sizeBytes: size, changedFraction: CHANGED, regionsPerStep: REGIONS, settleMs: 500 },
    measurements: {
      regions: steps.map((s) => s.regions),
      hfOutbox: hfoRuns.map((r, k) => ({ ...r, sentFraction: r.bytesReceived / size, k })),
      hfjs: hfjsRuns.map((r, k) => ({ ...r, sentFraction: r.bytesReceived / size, k })),
    },
    verification: { checks: verifier.checks, failures: verifier.failures },
    rows,
    notes: [
      'bytes sent = request-body bytes the emulator received during the run (xorbs, shards, batch and every other call), over the checkpoint size.',
      `The ideal for checkpoints 1-${count - 1} is about ${CHANGED * 100}% plus one chunk (~64 KiB) of re-chunking at each region edge.`,
      ...contentionNotes([...hfoRuns, ...hfjsRuns]),
      ...errorNotes([...hfoRuns, ...hfjsRuns]),
    ],
  };
}
