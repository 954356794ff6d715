import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/adapters/system-clock.js';
import { createBatchQueue, createUploadQueue } from '../../src/pipeline/queue.js';
import { LARGE_FILE_BYTES, type UploadJob } from '../../src/pipeline/upload.js';

interface Item {
  id: string;
  size: number;
  prio: number;
  group?: string;
}

function harness(concurrency = 2, work = (_b: Item[]) => Promise.resolve()) {
  const calls: string[][] = [];
  const q = createBatchQueue<Item>({
    clock: systemClock,
    concurrency,
    lingerMs: 100,
    maxLingerMs: 1000,
    maxBatchItems: 100,
    maxBatchBytes: 1000,
    key: (i) => i.id,
    sizeBytes: (i) => i.size,
    priority: (i) => i.prio,
    group: (i) => i.group,
    run: async (batch) => {
      calls.push(batch.map((i) => i.id));
      await work(batch);
    },
    onError: (e) => {
      throw e;
    },
  });
  return { q, calls };
}

describe('batch queue', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sends a checkpoint folder's files in one call of their own, in the order given, past the item and byte limits", async () => {
    const h = harness();
    h.q.add({ id: 'results.json', size: 1, prio: 0 });
    const folder = [
      { id: 'c/model.safetensors', size: 5000, prio: 3, group: 'c' },
      ...Array.from({ length: 150 }, (_, i) => ({ id: `c/shard-${i}`, size: 1, prio: 3, group: 'c' })),
      { id: 'c/trainer_state.json', size: 1, prio: 3, group: 'c' },
    ];
    h.q.addMany(folder);
    h.q.add({ id: 'loose.bin', size: 1, prio: 3 });
    const idle = h.q.onIdle();
    await vi.runAllTimersAsync();
    await idle;
    const call = h.calls.find((c) => c.includes('c/trainer_state.json'));
    expect(call).toEqual(folder.map((i) => i.id));
    expect(h.calls.flat().sort()).toEqual(['loose.bin', 'results.json', ...folder.map((i) => i.id)].sort());
  });

  it('sends 300 small files that arrive together in 3 calls of 100', async () => {
    const h = harness();
    for (let i = 0; i < 300; i++) h.q.add({ id: `f${i}`, size: 1, prio: 0 });
    const idle = h.q.onIdle();
    await vi.runAllTimersAsync();
    await idle;
    expect(h.calls.map((c) => c.length)).toEqual([100, 100, 100]);
  });

  it('groups files that arrive a few milliseconds apart (linger) and sends a large file alone', async () => {
    const h = harness();
    for (let i = 0; i < 5; i++) {
      h.q.add({ id: `s${i}`, size: 10, prio: 1 });
      await vi.advanceTimersByTimeAsync(20);
    }
    h.q.add({ id: 'big', size: 5000, prio: 1 });
    const idle = h.q.onIdle();
    await vi.runAllTimersAsync();
    await idle;
    expect(h.calls).toEqual([['s0', 's1', 's2', 's3', 's4'], ['big']]);
  });

  it('takes the highest priority first, oldest first within a class', async () => {
    const h = harness(1);
    h.q.add({ id: 'ckpt', size: 5000, prio: 3 });
    h.q.add({ id: 'result-old', size: 5000, prio: 0 });
    h.q.add({ id: 'script', size: 5000, prio: 1 });
    h.q.add({ id: 'result-new', size: 5000, prio: 0 });
    const idle = h.q.onIdle();
    await vi.runAllTimersAsync();
    await idle;
    expect(h.calls.flat()).toEqual(['result-old', 'result-new', 'script', 'ckpt']);
  });

  it('keeps only the newest version of an item that is still waiting', async () => {
    const h = harness();
    h.q.add({ id: 'a', size: 1, prio: 0 });
    h.q.add({ id: 'a', size: 2, prio: 0 });
    const idle = h.q.onIdle();
    await vi.runAllTimersAsync();
    await idle;
    expect(h.calls).toEqual([['a']]);
  });

  it('a newer version of a file inside a running call waits for that call to end, then goes (never two calls writing one path at once)', async () => {
    const log: string[] = [];
    const h = harness(2, async (batch) => {
      const label = batch.map((i) => `${i.id}@${i.size}`).join(',');
      log.push(`start ${label}`);
      await new Promise((r) => setTimeout(r, 500));
      log.push(`end ${label}`);
    });
    h.q.add({ id: 'model.bin', size: 5000, prio: 0 });
    await vi.advanceTimersByTimeAsync(120); // the first version's call is running
    h.q.add({ id: 'model.bin', size: 6000, prio: 0 });
    h.q.add({ id: 'other.bin', size: 5000, prio: 0 });
    const idle = h.q.onIdle();
    await vi.runAllTimersAsync();
    await idle;
    // other.bin uses the second slot at once; the new model.bin starts only after the old one ended.
    expect(log.indexOf('start model.bin@6000')).toBeGreaterThan(log.indexOf('end model.bin@5000'));
    expect(log.indexOf('start other.bin@5000')).toBeLessThan(log.indexOf('end model.bin@5000'));
    expect(h.calls).toEqual([['model.bin'], ['other.bin'], ['model.bin']]);
  });

  it('never runs more than `concurrency` calls at once', async () => {
    let running = 0;
    let peak = 0;
    const h = harness(2, async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 50));
      running--;
    });
    for (let i = 0; i < 10; i++) h.q.add({ id: `big${i}`, size: 5000, prio: 0 });
    const idle = h.q.onIdle();
    await vi.runAllTimersAsync();
    await idle;
    expect(h.calls).toHaveLength(10);
    expect(peak).toBe(2);
  });
});

describe('upload queue', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const job = (localPath: string, sizeBytes = 1, unitPath = localPath, unitBucketPath?: string): UploadJob => ({
    file: { localPath, unitPath, bucketPath: `artifacts/${localPath}`, sizeBytes, mtimeMs: 1, ino: 1 },
    enqueuedAt: 0,
    ...(unitBucketPath === undefined ? {} : { unitBucketPath }),
  });

  async function send(maxFilesPerCall: number | undefined, jobs: UploadJob[], concurrency = 1) {
    const calls: string[][] = [];
    const q = createUploadQueue({
      clock: systemClock,
      concurrency,
      maxFilesPerCall,
      run: async (batch) => void calls.push(batch.map((j) => j.file.localPath)),
      onError: (e) => {
        throw e;
      },
    });
    q.addMany(jobs);
    const idle = q.onIdle();
    await vi.runAllTimersAsync();
    await idle;
    return { calls, batchFiles: q.batchFiles };
  }

  it('sends 100 small files per call, or as many as the bucket takes', async () => {
    const files = Array.from({ length: 250 }, (_, i) => job(`scripts/f${i}.py`));
    const plain = await send(undefined, files);
    expect(plain.batchFiles).toBe(100);
    expect(plain.calls.map((c) => c.length)).toEqual([100, 100, 50]);
    const small = await send(40, files);
    expect(small.batchFiles).toBe(40);
    expect(small.calls.map((c) => c.length)).toEqual([40, 40, 40, 40, 40, 40, 10]);
  });

  it('sends a large file alone and a unit folder\'s files in one call of their own', async () => {
    const folder = ['checkpoints/run1/model.safetensors', 'checkpoints/run1/trainer_state.json'].map((p) => job(p, 10, 'checkpoints/run1', 'artifacts/checkpoints/run1_agent-01'));
    const { calls } = await send(undefined, [job('data/big.bin', LARGE_FILE_BYTES), job('data/a.csv'), ...folder, job('data/b.csv')]);
    expect(calls).toContainEqual(['data/big.bin']);
    expect(calls).toContainEqual(folder.map((j) => j.file.localPath));
    expect(calls).toContainEqual(['data/a.csv', 'data/b.csv']);
    expect(calls).toHaveLength(3);
  });

  it('reports each job as queued when it is added, and each batch as taken before its call runs', async () => {
    const log: string[] = [];
    const q = createUploadQueue({
      clock: systemClock,
      concurrency: 1,
      maxFilesPerCall: 2,
      run: async (batch) => void log.push(`run ${batch.map((j) => j.file.localPath).join(' ')}`),
      onError: (e) => {
        throw e;
      },
      onQueued: (j) => void log.push(`queued ${j.file.localPath} ${j.file.sizeBytes}`),
      onTaken: () => void log.push(`taken (${q.waiting()} waiting)`),
    });
    const settle = async () => {
      const idle = q.onIdle();
      await vi.runAllTimersAsync();
      await idle;
    };
    q.addMany([job('scripts/a.py', 3), job('scripts/b.py', 4), job('scripts/c.py', 5), job('scripts/d.py', 6)]);
    await settle();
    q.add(job('scripts/e.py', 7));
    await settle();
    expect(log).toEqual([
      'queued scripts/a.py 3',
      'queued scripts/b.py 4',
      'queued scripts/c.py 5',
      'queued scripts/d.py 6',
      'taken (2 waiting)',
      'run scripts/a.py scripts/b.py',
      'taken (0 waiting)',
      'run scripts/c.py scripts/d.py',
      'queued scripts/e.py 7',
      'taken (0 waiting)',
      'run scripts/e.py',
    ]);
  });

  it('sends results first, then scripts, then the rest, heavy categories last', async () => {
    const big = (p: string) => job(p, LARGE_FILE_BYTES);
    const { calls } = await send(undefined, [big('checkpoints/c.bin'), big('notes/n.md'), big('scripts/s.py'), big('results/r.json')]);
    expect(calls.flat()).toEqual(['results/r.json', 'scripts/s.py', 'notes/n.md', 'checkpoints/c.bin']);
  });
});
