import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/adapters/system-clock.js';
import type { SettledUnit } from '../../src/core/types.js';
import { createSettler, type UnitSnapshot } from '../../src/pipeline/settle.js';
import { logSink } from '../fakes/log-sink.js';
import { MemoryFs } from '../fakes/memory-fs.js';

const ROOT = '/outbox';

function harness(settleMs = 2000, settleTimeoutMs = 60_000) {
  const fs = new MemoryFs();
  const settled: SettledUnit[] = [];
  const unsettled: string[] = [];
  const { logger, lines } = logSink();
  const settler = createSettler({
    clock: systemClock,
    logger,
    timing: () => ({ settleMs, settleTimeoutMs }),
    async snapshot(unitPath): Promise<UnitSnapshot | undefined> {
      const s = await fs.stat(`${ROOT}/${unitPath}`);
      if (s?.kind !== 'file') return undefined;
      return { unitKind: 'file', unitBucketPath: `artifacts/${unitPath}`, files: [{ localPath: unitPath, bucketPath: `artifacts/${unitPath}`, sizeBytes: s.sizeBytes, mtimeMs: s.mtimeMs, ino: s.ino }] };
    },
    onSettled: (u) => settled.push(u),
    onUnsettled: (u) => unsettled.push(u),
    onError: (_u, e) => {
      throw e;
    },
  });
  return { fs, settler, settled, unsettled, lines };
}

/** A writer that never pauses: appends to the file every 250 ms for `forMs`, telling the settler each time. */
async function keepWriting(h: ReturnType<typeof harness>, name: string, forMs: number): Promise<void> {
  h.fs.write(`${ROOT}/${name}`, 'x');
  h.settler.touch(name, { changed: true });
  for (let t = 0; t < forMs; t += 250) {
    await vi.advanceTimersByTimeAsync(250);
    h.fs.append(`${ROOT}/${name}`, 'x');
    h.settler.touch(name, { changed: true });
  }
}

describe('settle stage', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('releases a file that was already old at once (measured from its mtime)', async () => {
    const h = harness();
    h.fs.write(`${ROOT}/a.txt`, 'old');
    await vi.advanceTimersByTimeAsync(10_000);
    h.settler.touch('a.txt', { changed: false });
    await vi.advanceTimersByTimeAsync(1);
    expect(h.settled.map((u) => u.unitPath)).toEqual(['a.txt']);
  });

  it('waits until the file stops growing for settleMs', async () => {
    const h = harness(2000);
    h.fs.write(`${ROOT}/grow.bin`, 'a');
    h.settler.touch('grow.bin', { changed: true });
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(500);
      h.fs.append(`${ROOT}/grow.bin`, 'b');
      h.settler.touch('grow.bin', { changed: true });
    }
    expect(h.settled).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1999);
    expect(h.settled).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(100);
    expect(h.settled).toHaveLength(1);
    expect(h.settled[0]?.files[0]?.sizeBytes).toBe(11);
  });

  it('notices a change made without any watcher event (polling the signature)', async () => {
    const h = harness(1000);
    h.fs.write(`${ROOT}/quiet.bin`, 'a');
    h.settler.touch('quiet.bin', { changed: true });
    await vi.advanceTimersByTimeAsync(900);
    h.fs.append(`${ROOT}/quiet.bin`, 'more'); // no touch: a missed inotify event
    await vi.advanceTimersByTimeAsync(200);
    expect(h.settled).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(h.settled).toHaveLength(1);
    expect(h.settled[0]?.files[0]?.sizeBytes).toBe(5);
  });

  it('reports a file still changing after settleTimeoutMs once, and never releases it half-written', async () => {
    const h = harness(1000, 5000);
    await keepWriting(h, 'log.txt', 10_000);
    expect(h.unsettled).toEqual(['log.txt']);
    expect(h.settled).toHaveLength(0);
  });

  it('warns once that a file still changing after settleTimeoutMs is not sent until it stops changing', async () => {
    const h = harness(1000, 5000);
    await keepWriting(h, 'log.txt', 10_000);
    const warnings = h.lines.filter((l) => l.level === 40);
    expect(warnings).toEqual([expect.objectContaining({ unit: 'log.txt', msg: expect.stringMatching(/still being written; it is not sent until it stops changing/) })]);
    expect(warnings[0]?.changingForMs).toBeGreaterThanOrEqual(5000);
  });

  it('logs a unit it cannot read as an error, and stops waiting for it', async () => {
    const { logger, lines } = logSink();
    const settler = createSettler({
      clock: systemClock,
      logger,
      timing: () => ({ settleMs: 1000, settleTimeoutMs: 60_000 }),
      snapshot: () => Promise.reject(new Error('EACCES: permission denied')),
      onSettled: () => undefined,
      onUnsettled: () => undefined,
    });
    settler.touch('secret.bin', { changed: false });
    await vi.advanceTimersByTimeAsync(10);
    expect(lines).toEqual([expect.objectContaining({ level: 50, unit: 'secret.bin', msg: 'cannot read artifact' })]);
    expect(settler.count()).toBe(0);
  });

  it('forgets a unit that disappeared before it settled', async () => {
    const h = harness(1000);
    h.fs.write(`${ROOT}/gone.txt`, 'x');
    h.settler.touch('gone.txt', { changed: true });
    await vi.advanceTimersByTimeAsync(200);
    h.fs.remove(`${ROOT}/gone.txt`);
    await vi.advanceTimersByTimeAsync(2000);
    expect(h.settled).toHaveLength(0);
    expect(h.settler.waiting()).toEqual([]);
  });

  it('does not wait forever on an mtime in the future (clock skew)', async () => {
    const h = harness(1000);
    h.fs.write(`${ROOT}/skew.txt`, 'x');
    vi.setSystemTime(Date.now() - 3_600_000); // the file now looks an hour in the future
    h.settler.touch('skew.txt', { changed: false });
    await vi.advanceTimersByTimeAsync(1100);
    expect(h.settled).toHaveLength(1);
  });
  it('counts waiting units and reports each one released (settled or vanished)', async () => {
    const released: string[] = [];
    const fs = new MemoryFs();
    const settler = createSettler({
      clock: systemClock,
      logger: logSink().logger,
      timing: () => ({ settleMs: 2000, settleTimeoutMs: 60_000 }),
      async snapshot(unitPath): Promise<UnitSnapshot | undefined> {
        const s = await fs.stat(`${ROOT}/${unitPath}`);
        if (s?.kind !== 'file') return undefined;
        return { unitKind: 'file', unitBucketPath: `artifacts/${unitPath}`, files: [{ localPath: unitPath, bucketPath: `artifacts/${unitPath}`, sizeBytes: s.sizeBytes, mtimeMs: s.mtimeMs, ino: s.ino }] };
      },
      onSettled: () => undefined,
      onReleased: (u) => released.push(u),
      onUnsettled: () => undefined,
      onError: (_u, e) => {
        throw e;
      },
    });
    fs.write(`${ROOT}/a.txt`, 'old');
    await vi.advanceTimersByTimeAsync(10_000);
    settler.touch('a.txt', { changed: false });
    settler.touch('gone.txt', { changed: false });
    settler.touch('c.txt', { changed: false });
    expect(settler.count()).toBe(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(released.sort()).toEqual(['a.txt', 'c.txt', 'gone.txt']);
    expect(settler.count()).toBe(0);
  });
});
