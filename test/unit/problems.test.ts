import { describe, expect, it } from 'vitest';
import type { SettledUnit } from '../../src/core/types.js';
import { createLogger } from '../../src/log.js';
import { admitSettled, routeSettled } from '../../src/pipeline/admit.js';
import type { UploadJob } from '../../src/pipeline/upload.js';
import { createProblems, type ProblemEvent } from '../../src/pipeline/problems.js';
import type { TrackedFile } from '../../src/state/store.js';
import { MemoryFs } from '../fakes/memory-fs.js';

const ROOT = '/outbox';
const silent = createLogger({ level: 'silent' });

function problemHarness() {
  const fs = new MemoryFs();
  const marked: Array<[string, string, string]> = [];
  const events: ProblemEvent[] = [];
  const held: string[] = [];
  const problems = createProblems({
    fs,
    state: { markProblem: (f, kind, reason) => void marked.push([f.localPath, kind, reason]) },
    logger: silent,
    outbox: () => ROOT,
    unitProblem: (u) => void held.push(u),
    report: (e) => void events.push(e),
  });
  return { fs, problems, marked, events, held };
}

const file = (localPath: string, unitPath = localPath): TrackedFile => ({ localPath, unitPath, bucketPath: `artifacts/${localPath}`, sizeBytes: 1, mtimeMs: 1, ino: 1 });

describe('rejection reporting', () => {
  it('records, reports and holds back the artifact of a file that failed, was rejected or conflicts', () => {
    const h = problemHarness();
    h.problems.file(file('checkpoints/run1/a.bin', 'checkpoints/run1'), 'conflict', 'someone else wrote it');
    expect(h.marked).toEqual([['checkpoints/run1/a.bin', 'conflict', 'someone else wrote it']]);
    expect(h.held).toEqual(['checkpoints/run1']);
    expect(h.events).toEqual([{ localPath: 'checkpoints/run1/a.bin', bucketPath: 'artifacts/checkpoints/run1/a.bin', state: 'conflict', reason: 'someone else wrote it' }]);
  });

  it('reports a refused path once per version, again once it changes, and not at all once it is gone', async () => {
    const h = problemHarness();
    h.fs.write(`${ROOT}/scripts/bad?.py`, 'x');
    await h.problems.path('scripts/bad?.py', 'has a ?');
    await h.problems.path('scripts/bad?.py', 'has a ?');
    expect(h.events).toEqual([{ localPath: 'scripts/bad?.py', bucketPath: undefined, state: 'rejected', reason: 'has a ?' }]);
    h.fs.write(`${ROOT}/scripts/bad?.py`, 'longer');
    await h.problems.path('scripts/bad?.py', 'has a ?');
    await h.problems.path('scripts/gone?.py', 'has a ?');
    expect(h.events).toHaveLength(2);
    expect(h.marked.map((m) => m[1])).toEqual(['rejected', 'rejected']);
  });
});

describe('admitting a settled artifact', () => {
  it('skips files already delivered, rejects the second of two files mapping to one bucket path naming both, queues the rest as pending', () => {
    const pending: string[] = [];
    const queued: string[] = [];
    const rejected: Array<[string, string]> = [];
    const unit: SettledUnit = {
      unitPath: 'scripts',
      unitKind: 'directory',
      unitBucketPath: 'artifacts/scripts',
      settledAtMs: 0,
      files: [
        { localPath: 'scripts/same.py', bucketPath: 'artifacts/scripts/same_agent-01.py', sizeBytes: 1, mtimeMs: 1, ino: 1 },
        { localPath: 'scripts/a_agent-01.py', bucketPath: 'artifacts/scripts/a_agent-01.py', sizeBytes: 1, mtimeMs: 1, ino: 2 },
        { localPath: 'scripts/new.py', bucketPath: 'artifacts/scripts/new_agent-01.py', sizeBytes: 1, mtimeMs: 1, ino: 3 },
      ],
    };
    admitSettled(unit, {
      state: {
        isDelivered: (f) => f.localPath === 'scripts/same.py',
        otherHolder: (bucketPath) => (bucketPath === 'artifacts/scripts/a_agent-01.py' ? 'scripts/a.py' : undefined),
        markPending: (f) => void pending.push(f.localPath),
      },
      logger: silent,
      queue: (files) => void queued.push(...files.map((f) => f.localPath)),
      rejected: (f, reason) => void rejected.push([f.localPath, reason]),
    });
    expect(queued).toEqual(['scripts/new.py']);
    expect(pending).toEqual(['scripts/new.py']);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.[0]).toBe('scripts/a_agent-01.py');
    expect(rejected[0]?.[1]).toMatch(/scripts\/a_agent-01\.py and scripts\/a\.py both map to artifacts\/scripts\/a_agent-01\.py/);
  });

  it('queues a unit folder as one group, the file that marks it complete last', () => {
    const queued: string[][] = [];
    const f = (name: string, sizeBytes: number) => ({ localPath: `checkpoints/run1/${name}`, bucketPath: `artifacts/checkpoints/run1_agent-01/${name}`, sizeBytes, mtimeMs: 1, ino: sizeBytes });
    admitSettled(
      { unitPath: 'checkpoints/run1', unitKind: 'directory', unitBucketPath: 'artifacts/checkpoints/run1_agent-01', settledAtMs: 0, files: [f('trainer_state.json', 5), f('model.safetensors', 500), f('optimizer.pt', 50)] },
      {
        state: { isDelivered: () => false, otherHolder: () => undefined, markPending: () => undefined },
        logger: silent,
        queue: (files) => void queued.push(files.map((x) => x.localPath.split('/').pop() as string)),
        rejected: () => undefined,
      },
    );
    expect(queued).toEqual([['model.safetensors', 'optimizer.pt', 'trainer_state.json']]);
  });
});

describe('routing a settled unit', () => {
  function route(unit: SettledUnit) {
    const notes: string[] = [];
    const artifacts: string[] = [];
    const jobs: UploadJob[] = [];
    routeSettled(unit, {
      state: { isDelivered: () => false, otherHolder: () => undefined, markPending: () => undefined },
      logger: silent,
      clock: { now: () => 42 },
      note: (p) => void notes.push(p),
      artifact: (u) => void artifacts.push(u.unitPath),
      queue: (js) => void jobs.push(...js),
      rejected: () => undefined,
    });
    return { notes, artifacts, jobs };
  }
  const f = (localPath: string, bucketPath: string) => ({ localPath, bucketPath, sizeBytes: 1, mtimeMs: 1, ino: 1 });

  it('hands a settled note to the announcer, never to the queue', () => {
    const r = route({ unitPath: 'results/r.json.note.md', unitKind: 'file', unitBucketPath: '', settledAtMs: 0, files: [f('results/r.json.note.md', '')] });
    expect(r).toEqual({ notes: ['results/r.json.note.md'], artifacts: [], jobs: [] });
  });

  it('queues a unit folder\'s files as jobs carrying its bucket path (one call), a single file\'s without', () => {
    const folder = route({ unitPath: 'checkpoints/run1', unitKind: 'directory', unitBucketPath: 'artifacts/checkpoints/run1_agent-01', settledAtMs: 0, files: [f('checkpoints/run1/model.safetensors', 'artifacts/checkpoints/run1_agent-01/model.safetensors')] });
    expect(folder.artifacts).toEqual(['checkpoints/run1']);
    expect(folder.jobs).toEqual([expect.objectContaining({ unitBucketPath: 'artifacts/checkpoints/run1_agent-01', enqueuedAt: 42 })]);
    const single = route({ unitPath: 'scripts/a.py', unitKind: 'file', unitBucketPath: 'artifacts/scripts/a_agent-01.py', settledAtMs: 0, files: [f('scripts/a.py', 'artifacts/scripts/a_agent-01.py')] });
    expect(single.jobs).toHaveLength(1);
    expect(single.jobs[0]).not.toHaveProperty('unitBucketPath');
    expect(single.notes).toEqual([]);
  });
});
