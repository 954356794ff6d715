import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/adapters/system-clock.js';
import { createShutdown } from '../../src/pipeline/shutdown.js';
import type { UploadJob } from '../../src/pipeline/upload.js';

const job = (localPath: string): UploadJob => ({ file: { localPath, unitPath: localPath, bucketPath: `artifacts/${localPath}`, sizeBytes: 1, mtimeMs: 1, ino: 1 }, enqueuedAt: 0 });

/** Uploads in flight that end when their call is aborted, or when `end()` is called. */
function harness(inFlight: UploadJob[]) {
  const redo: Array<[string, string]> = [];
  const shutdown = createShutdown({ clock: systemClock, state: { markRetry: (p, why) => void redo.push([p, why]) }, inFlight: () => inFlight });
  let end!: () => void;
  const finished = new Promise<void>((resolve) => {
    end = resolve;
    shutdown.signal.addEventListener('abort', () => resolve());
  });
  return { shutdown, finished, end, redo };
}

describe('stopping within a grace period', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lets uploads that end within the grace finish, cutting nothing off', async () => {
    const h = harness([job('a.bin')]);
    const stopped = h.shutdown.finish(h.finished, 10_000);
    await vi.advanceTimersByTimeAsync(9_000);
    h.end();
    expect(await stopped).toEqual({ interrupted: 0 });
    expect(h.shutdown.signal.aborted).toBe(false);
    expect(h.redo).toEqual([]);
  });

  it('aborts the uploads still running after the grace and marks each to be redone at the next start', async () => {
    const h = harness([job('a.bin'), job('checkpoints/run1/model.safetensors')]);
    let done = false;
    const stopped = h.shutdown.finish(h.finished, 10_000).finally(() => (done = true));
    await vi.advanceTimersByTimeAsync(9_999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await stopped).toEqual({ interrupted: 2 });
    expect(h.shutdown.signal.aborted).toBe(true);
    expect(h.shutdown.signal.reason).toMatchObject({ code: 'HFO_NETWORK', message: expect.stringMatching(/stopping/) });
    expect(h.redo.map(([p]) => p)).toEqual(['a.bin', 'checkpoints/run1/model.safetensors']);
    expect(h.redo[0]?.[1]).toMatch(/redone at the next start/);
  });

  it('without a grace period, waits for the uploads in flight however long they take', async () => {
    const h = harness([job('a.bin')]);
    let done = false;
    const stopped = h.shutdown.finish(h.finished, undefined).finally(() => (done = true));
    await vi.advanceTimersByTimeAsync(24 * 3_600_000);
    expect(done).toBe(false);
    h.end();
    expect(await stopped).toEqual({ interrupted: 0 });
    expect(h.shutdown.signal.aborted).toBe(false);
  });
});
