import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/adapters/system-clock.js';
import { OutboxError } from '../../src/core/errors.js';
import { createLogger } from '../../src/log.js';
import { FAILED_RETRY_MS, REQUEUE_DELAY_MS, createRetries } from '../../src/pipeline/retry.js';
import type { UploadJob } from '../../src/pipeline/upload.js';
import type { FileRecord } from '../../src/state/store.js';

function job(localPath: string, unitPath = localPath): UploadJob {
  return { file: { localPath, unitPath, bucketPath: `artifacts/${localPath}`, sizeBytes: 1, mtimeMs: 1, ino: 1 }, enqueuedAt: 0 };
}

function harness(failedRecords: Array<{ unitPath: string; failedAt: number }> = []) {
  const resettled: Array<[string, boolean]> = [];
  const failed: Array<[string, string]> = [];
  const retrying: string[] = [];
  let aborted = false;
  const retries = createRetries({
    state: {
      markRetry: (p) => void retrying.push(p),
      failedBefore: (t) => failedRecords.filter((r) => r.failedAt <= t).map((r) => ({ unitPath: r.unitPath }) as FileRecord),
    },
    clock: systemClock,
    logger: createLogger({ level: 'silent' }),
    resettle: (u, changed) => void resettled.push([u, changed]),
    failed: (f, reason) => void failed.push([f.localPath, reason]),
    aborted: () => aborted,
  });
  return { retries, resettled, failed, retrying, abort: () => (aborted = true) };
}

describe('retries', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('settles a file rewritten during its upload again at once, waiting for it to stop changing', () => {
    const h = harness();
    h.retries.fileError(job('checkpoints/run1/a.bin', 'checkpoints/run1'), new OutboxError('HFO_FILE_CHANGED', 'changed'));
    expect(h.resettled).toEqual([['checkpoints/run1', true]]);
    expect(h.retrying).toEqual(['checkpoints/run1/a.bin']);
    expect(h.failed).toEqual([]);
  });

  it('sends a transient failure again after 30 s, or after the Hub\'s Retry-After', async () => {
    const h = harness();
    h.retries.fileError(job('a.py'), new OutboxError('HFO_NETWORK', 'reset'));
    h.retries.fileError(job('b.py'), new OutboxError('HFO_RATE_LIMITED', '429', { retryAfterMs: 90_000 }));
    await vi.advanceTimersByTimeAsync(REQUEUE_DELAY_MS - 1);
    expect(h.resettled).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.resettled).toEqual([['a.py', false]]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.resettled).toEqual([['a.py', false], ['b.py', false]]);
    expect(h.failed).toEqual([]);
  });

  it('marks a file failed with the reason on a permanent error, and every file of a call that threw', () => {
    const h = harness();
    h.retries.fileError(job('a.py'), new OutboxError('HFO_UPLOAD_REJECTED', '403 forbidden'));
    h.retries.batchError(new OutboxError('HFO_BUCKET_PATH_REFUSED', 'not yours'), [job('b.py'), job('c.py')]);
    expect(h.failed).toEqual([['a.py', '403 forbidden'], ['b.py', 'not yours'], ['c.py', 'not yours']]);
  });

  it('ignores the errors of calls aborted by shutdown, and cancels waiting retries on stop', async () => {
    const h = harness();
    h.retries.fileError(job('a.py'), new OutboxError('HFO_NETWORK', 'reset'));
    h.abort();
    h.retries.batchError(new OutboxError('HFO_NETWORK', 'hf-outbox is stopping'), [job('b.py')]);
    h.retries.stop();
    await vi.advanceTimersByTimeAsync(REQUEUE_DELAY_MS * 2);
    expect(h.resettled).toEqual([]);
    expect(h.retrying).toEqual(['a.py']);
  });

  it('retries failed files every 15 minutes (those failed at least that long ago), all at once when asked', async () => {
    const now = Date.now();
    const h = harness([
      { unitPath: 'old.py', failedAt: now - FAILED_RETRY_MS },
      { unitPath: 'new.py', failedAt: now + 10 * 60_000 },
    ]);
    h.retries.startFailedRetries();
    await vi.advanceTimersByTimeAsync(FAILED_RETRY_MS);
    expect(h.resettled).toEqual([['old.py', false]]);
    expect(h.retries.retryFailed(0)).toBe(2);
    expect(h.resettled.slice(1)).toEqual([['old.py', false], ['new.py', false]]);
    h.retries.stop();
    await vi.advanceTimersByTimeAsync(FAILED_RETRY_MS * 2);
    expect(h.resettled).toHaveLength(3);
  });
});
