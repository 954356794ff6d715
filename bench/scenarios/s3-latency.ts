/**
 * Scenario 3, latency: while `hf-outbox watch --settle-ms S` runs, a writer in the bench process
 * creates 10 files a second (x.tmp, then rename to x, the close time recorded right after the
 * rename). A file's latency is the emulator's uploadedAt (stamped when its batch commits, i.e.
 * when it becomes listable) minus its close time; both clocks are this machine's.
 */
import { randomFillSync } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { prng, sha256 } from '../lib/data.js';
import { withEmulator, type StoredFile } from '../lib/emulator.js';
import { isReady, isUploaded, LogWatch, parseLogLine } from '../lib/logs.js';
import { mib } from '../lib/proc.js';
import { fx, judge, secs, type Ctx, type Row, type ScenarioReport, readBackRow } from '../lib/report.js';
import { AGENT, hfOutbox, makeWorkspace } from '../lib/setup.js';
import { Verifier } from '../lib/verify.js';

const SETTLE_MS = 2000;
const QUICK_SETTLE_MS = 1000;
const PER_SECOND = 10;

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

export async function latency(ctx: Ctx): Promise<ScenarioReport> {
  // Quick: a shorter settle (the targets are relative to it) and fewer seconds of writing.
  const seconds = ctx.quick ? 3 : 60;
  const settleMs = ctx.quick ? QUICK_SETTLE_MS : SETTLE_MS;
  const count = seconds * PER_SECOND;
  const ws = await makeWorkspace('s3');
  const dir = path.join(ws.outbox, 'data', 'lat');
  await mkdir(dir, { recursive: true });
  const verifier = new Verifier();
  const rand = prng(3);
  const written: Array<{ name: string; closedAt: number; size: number; sha256: string }> = [];
  const logs = new LogWatch();
  let uploadedLines = 0;

  const m = await withEmulator(async (emu) => {
    const child = hfOutbox('watch', ws, emu, {
      settleMs,
      timeoutMs: (seconds + 180) * 1000,
      onLine: (line) => {
        logs.feed(line);
        const l = parseLogLine(line);
        if (l && isUploaded(l)) uploadedLines++;
      },
    });
    try {
      await child.started();
      await logs.waitFor(isReady, 60_000, 'hf-outbox watch to be ready', child.done);
      await emu.reset();
      const cpu0 = await child.sample();
      ctx.log(`s3: writing ${PER_SECOND} files/s for ${seconds} s (settle ${settleMs} ms)`);
      const t0 = Date.now();
      let maxLagMs = 0;
      for (let i = 0; i < count; i++) {
        const due = t0 + (i * 1000) / PER_SECOND;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
        maxLagMs = Math.max(maxLagMs, Date.now() - due);
        const name = `f${String(i).padStart(5, '0')}.bin`;
        const data = randomFillSync(Buffer.allocUnsafe(1024 + Math.floor(rand() * 7 * 1024)));
        await writeFile(path.join(dir, `${name}.tmp`), data);
        await rename(path.join(dir, `${name}.tmp`), path.join(dir, name));
        written.push({ name, closedAt: Date.now(), size: data.byteLength, sha256: sha256(data) });
      }
      const writerMs = Date.now() - t0;
      // Wait (bounded) until every file is listed, or nothing new has been listed for a while.
      const deadline = Date.now() + settleMs + 60_000;
      const stallMs = settleMs + (ctx.quick ? 8_000 : 20_000);
      let listed: StoredFile[] = [];
      let progressAt = Date.now();
      while (Date.now() < deadline && Date.now() - progressAt < stallMs) {
        const now = await emu.files();
        if (now.length > listed.length) progressAt = Date.now();
        listed = now;
        if (listed.length >= count) break;
        await sleep(250);
      }
      const cpu1 = await child.sample();
      const counters = await emu.counters();
      const rss = cpu1?.rssKiB ?? 0;
      const byName = new Map(listed.map((f) => [path.posix.basename(f.path).replace(`_${AGENT}`, ''), f]));
      await verifier.many(
        emu,
        'hf-outbox watch',
        written.map((w) => ({ bucketPath: `artifacts/data/lat/${w.name.replace('.bin', `_${AGENT}.bin`)}`, expected: { size: w.size, sha256: w.sha256 } })),
        ctx.quick ? 6 : 20,
      );
      return {
        writerMs,
        maxWriterLagMs: maxLagMs,
        byName,
        listedCount: listed.length,
        requests: counters.totalRequests,
        requestsByEndpoint: counters.requests,
        cpuS: (cpu1?.cpuS ?? 0) - (cpu0?.cpuS ?? 0),
        rssMiB: mib(rss),
      };
    } finally {
      child.kill('SIGTERM');
      await child.done;
    }
  });

  const lat: number[] = [];
  let missing = 0;
  for (const w of written) {
    const f = m.byName.get(w.name);
    if (!f) missing++;
    else lat.push(Date.parse(f.uploadedAt) - w.closedAt);
  }
  lat.sort((a, b) => a - b);
  const p50 = quantile(lat, 0.5);
  const p95 = quantile(lat, 0.95);
  const max = lat.at(-1) ?? Number.NaN;
  const S = `3 latency (${PER_SECOND}/s for ${seconds} s)`;
  const notes = [
    `settle-ms ${settleMs}: a file cannot go before it has been still that long, so the floor is ${secs(settleMs)}; the baseline column is that floor.`,
    `The writer kept to its schedule within ${m.maxWriterLagMs} ms.`,
  ];
  if (missing) notes.push(`${missing} of ${count} files were never listed (waited until nothing new had appeared for settle + ${ctx.quick ? 8 : 20} s; counted as misses).`);
  const rows: Row[] = [
    {
      scenario: S,
      metric: 'close → listed p50',
      hfOutbox: secs(p50),
      baselines: `settle ${secs(settleMs)}`,
      ratio: `+${secs(p50 - settleMs)}`,
      target: `≤ settle + 1 s`,
      verdict: missing ? 'miss' : judge(p50, '<=', settleMs + 1000),
    },
    {
      scenario: S,
      metric: 'close → listed p95',
      hfOutbox: secs(p95),
      baselines: `settle ${secs(settleMs)}`,
      ratio: `+${secs(p95 - settleMs)}`,
      target: `≤ settle + 3 s`,
      verdict: missing ? 'miss' : judge(p95, '<=', settleMs + 3000),
    },
    {
      scenario: S,
      metric: 'close → listed max',
      hfOutbox: secs(max),
      baselines: `settle ${secs(settleMs)}`,
      ratio: `+${secs(max - settleMs)}`,
      target: 'context',
      verdict: 'info',
    },
    {
      scenario: S,
      metric: 'requests / CPU s / RSS while writing',
      hfOutbox: `${m.requests} req (${fx(count / Math.max(1, m.requests), 1)} files/req), ${fx(m.cpuS, 1)} s CPU, ${fx(m.rssMiB, 0)} MiB`,
      baselines: '',
      ratio: '',
      target: 'context',
      verdict: 'info',
    },
    readBackRow(S, 'listing + sha256 sample', verifier),
  ];
  return {
    id: 3,
    name: 's3-latency',
    title: 'Latency: close to listed while watch runs',
    params: { settleMs, perSecond: PER_SECOND, seconds, count },
    measurements: {
      p50Ms: p50,
      p95Ms: p95,
      maxMs: max,
      minMs: lat[0],
      missing,
      uploadedLogLines: uploadedLines,
      writerMs: m.writerMs,
      maxWriterLagMs: m.maxWriterLagMs,
      requests: m.requests,
      requestsByEndpoint: m.requestsByEndpoint,
      cpuS: m.cpuS,
      rssMiB: m.rssMiB,
      warnings: logs.lines.filter((l) => l.level >= 40).slice(0, 20),
      latenciesMs: lat,
    },
    verification: { checks: verifier.checks, failures: verifier.failures },
    rows,
    notes,
  };
}
