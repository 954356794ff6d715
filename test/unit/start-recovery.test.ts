/**
 * What a start does about the last run: uploads a stop cut off are checked against the bucket before
 * they are redone (upload stage), and the records are compared with the bucket when asked (verify).
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/adapters/system-clock.js';
import type { BucketClient, RemoteEntry, UploadSource } from '../../src/core/ports.js';
import { UploadStage, type UploadJob } from '../../src/pipeline/upload.js';
import { verifyAtStart } from '../../src/pipeline/verify.js';
import type { StateStore, TrackedFile } from '../../src/state/store.js';
import { logSink } from '../fakes/log-sink.js';
import { MemoryFs } from '../fakes/memory-fs.js';

const ROOT = '/outbox';
const HOUR = 3_600_000;

/** A bucket holding `files` (path → bytes); records what is uploaded and what is listed. */
function fakeBucket(files: Record<string, string>) {
  const uploaded: string[] = [];
  let listings = 0;
  const entry = (path: string): RemoteEntry => ({ path, sizeBytes: Buffer.byteLength(files[path] as string) });
  const bucket = {
    description: 'fake://bucket',
    check: async () => undefined,
    upload: async (sources: readonly UploadSource[]) => sources.map((s) => (uploaded.push(s.bucketPath), { bucketPath: s.bucketPath, ok: true as const })),
    stat: async (paths: readonly string[]) => new Map(paths.filter((p) => p in files).map((p) => [p, entry(p)])),
    list: async function* () {
      listings++;
      for (const p of Object.keys(files)) yield entry(p);
    },
    download: async (p: string) => Readable.from([Buffer.from(files[p] ?? '')]),
  } satisfies BucketClient;
  return { bucket, uploaded, listings: () => listings };
}

describe('resuming uploads the last stop cut off', () => {
  it('records a file that landed whole without sending it again, and sends the one that did not land', async () => {
    const fs = new MemoryFs();
    fs.write(`${ROOT}/scripts/a.py`, 'print(1)');
    fs.write(`${ROOT}/scripts/b.py`, 'print(2)');
    const { bucket, uploaded } = fakeBucket({ 'artifacts/scripts/a_agent-01.py': 'print(1)' });
    const recorded: string[] = [];
    const state = {
      requeueInterrupted: () => ['scripts/a.py', 'scripts/b.py'],
      hasWritten: () => true,
      markUploaded: (f: TrackedFile) => void recorded.push(f.localPath),
      markUploading: () => undefined,
      clearProgress: () => undefined,
      transaction: <R>(fn: () => R) => fn(),
    };
    const { logger, lines } = logSink();
    const stage = new UploadStage({
      fs,
      bucket,
      state: state as unknown as StateStore,
      clock: systemClock,
      logger,
      live: { config: { outbox: ROOT, agentId: 'agent-01', categories: ['scripts'], unitCategories: [] } },
      adopt: false,
      signal: new AbortController().signal,
      onUploaded: () => undefined,
      onAdopted: () => undefined,
      onProblem: (f, kind, reason) => expect.fail(`${f.localPath} ${kind}: ${reason}`),
      onFileError: (j, e) => expect.fail(`${j.file.localPath}: ${e.message}`),
      onDelivered: () => undefined,
    });
    expect(stage.resumeInterrupted()).toBe(2);
    expect(lines).toContainEqual(expect.objectContaining({ files: 2, msg: expect.stringMatching(/^uploads interrupted by the last stop: checking the bucket/) }));
    const job = async (name: string): Promise<UploadJob> => {
      const s = await fs.stat(`${ROOT}/scripts/${name}.py`);
      const file = { localPath: `scripts/${name}.py`, unitPath: `scripts/${name}.py`, bucketPath: `artifacts/scripts/${name}_agent-01.py`, sizeBytes: s?.sizeBytes ?? 0, mtimeMs: s?.mtimeMs ?? 0, ino: s?.ino ?? 0 };
      return { file, enqueuedAt: 0 };
    };
    await stage.run([await job('a'), await job('b')]);
    expect(uploaded).toEqual(['artifacts/scripts/b_agent-01.py']);
    expect(recorded.sort()).toEqual(['scripts/a.py', 'scripts/b.py']);
    expect(lines).toContainEqual(expect.objectContaining({ local: 'scripts/a.py', msg: 'already in the bucket: it landed before the last stop' }));
  });
});

describe('verifying the records against the bucket at start', () => {
  const NOW = Date.UTC(2026, 0, 1);
  /** Records saying one file was delivered; last compared with the bucket `verifiedAgoMs` ago. */
  function records(verifiedAgoMs: number) {
    const forgotten: string[] = [];
    const state = {
      verifiedAt: NOW - verifiedAgoMs,
      lastChangeAt: () => NOW - verifiedAgoMs,
      *delivered() {
        yield { localPath: 'results/r.json', bucketPath: 'artifacts/results/r_agent-01.json', sizeBytes: 2, contentHash: undefined };
      },
      forgetDelivery: (localPath: string) => void forgotten.push(localPath),
      markVerified: () => undefined,
      transaction: <R>(fn: () => R) => fn(),
    };
    return { state: state as unknown as StateStore, forgotten };
  }

  it('always (sync --verify): lists the bucket and sends again what it lacks', async () => {
    const { state, forgotten } = records(0);
    const { bucket, listings } = fakeBucket({});
    const outcome = await verifyAtStart({ state, bucket, logger: logSink().logger }, 'always', HOUR, NOW);
    expect(listings()).toBe(1);
    expect(outcome?.missing).toEqual(['results/r.json']);
    expect(forgotten).toEqual(['results/r.json']);
  });

  it('if-stale (watch): lists the bucket only when the records were compared longer ago than the rescan interval', async () => {
    const fresh = fakeBucket({});
    expect(await verifyAtStart({ state: records(HOUR - 1).state, bucket: fresh.bucket, logger: logSink().logger }, 'if-stale', HOUR, NOW)).toBeUndefined();
    expect(fresh.listings()).toBe(0);
    const stale = fakeBucket({ 'artifacts/results/r_agent-01.json': '{}' });
    const outcome = await verifyAtStart({ state: records(HOUR + 1).state, bucket: stale.bucket, logger: logSink().logger }, 'if-stale', HOUR, NOW);
    expect(stale.listings()).toBe(1);
    expect(outcome).toEqual({ checked: 1, missing: [], different: [] });
  });

  it('without a verify option: never lists the bucket', async () => {
    const { bucket, listings } = fakeBucket({});
    expect(await verifyAtStart({ state: records(100 * HOUR).state, bucket, logger: logSink().logger }, undefined, HOUR, NOW)).toBeUndefined();
    expect(listings()).toBe(0);
  });
});
