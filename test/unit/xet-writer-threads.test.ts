/**
 * Chunk hashing on worker threads (--upload-threads) changes where the work runs, never what is
 * uploaded: the threaded writer sends byte-identical xorbs and shards and gives identical file
 * hashes to the single-thread one, on multi-chunk data and on the edge sizes. A hashing thread that
 * fails is a clear error, and no thread outlives the upload or keeps the process alive.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ChunkIndex } from '../../src/adapters/xet/chunk-index.js';
import { XetWriter, type CasWrites } from '../../src/adapters/xet/writer.js';
import { ChunkHashPool, defaultUploadThreads } from '../../src/hash/chunk-hash-pool.js';
import { xetHashOf } from '../../src/hash/xet-hash.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Upload {
  fileHashes: string[];
  xorbs: Array<{ hash: string; sha256: string }>;
  shards: string[];
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Uploads the files in one call, each read in blocks of `block` bytes, to a CAS that records what it got. */
async function upload(files: Buffer[], threads: number, block = 256 * KiB, regionBytes?: number): Promise<Upload> {
  const got: Upload = { fileHashes: [], xorbs: [], shards: [] };
  const cas: CasWrites = {
    putXorb: async (hash, body) => void got.xorbs.push({ hash, sha256: sha(body) }),
    putShard: async (body) => void got.shards.push(sha(body)),
    queryChunk: async () => undefined,
  };
  const writer = new XetWriter({
    cas,
    known: new ChunkIndex(),
    dedupQueryMinBytes: Number.POSITIVE_INFINITY,
    expectedBytes: files.reduce((n, f) => n + f.length, 0),
    threads,
    threadsMinFileBytes: 0,
    ...(regionBytes === undefined ? {} : { regionBytes }),
  });
  for (const f of files) {
    const blocks = async function* () {
      for (let at = 0; at < f.length; at += block) yield Buffer.from(f.subarray(at, at + block));
    };
    got.fileHashes.push(await writer.addFile(blocks(), f.length));
  }
  await writer.finish();
  return got;
}

/** Random stretches, runs of one byte (forced 128 KiB cuts, compressible) and text-like stretches. */
function mixed(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let at = 0, kind = 0; at < size; kind = (kind + 1) % 3) {
    const n = Math.min(size - at, 50 * KiB + ((at * 7919) % (400 * KiB)));
    if (kind === 0) randomBytes(n).copy(out, at);
    else if (kind === 1) out.fill(at & 0xff, at, at + n);
    else out.write('step,loss\n0,1.234\n'.repeat(Math.ceil(n / 18)).slice(0, n), at, 'latin1');
    at += n;
  }
  return out;
}

describe('own Xet writer with chunk hashing on worker threads', () => {
  it('sends byte-identical xorbs and shards and the same file hashes as one thread, on multi-chunk data', async () => {
    const files = [randomBytes(3 * MiB + 12_345), mixed(2 * MiB)];
    files.push(Buffer.from(files[0] as Buffer)); // a copy: dedups within the call on both paths
    const one = await upload(files, 1);
    expect(one.xorbs.length).toBeGreaterThan(0);
    expect(one.fileHashes[0]).toBe(await xetHashOf((async function* () { yield files[0] as Buffer; })()));
    for (const threads of [2, 3]) expect(await upload(files, threads, 1 * MiB + 17), `${threads} threads`).toEqual(one);
  }, 60_000);

  it('cuts alike across the edges of the regions the threads share, whatever their size', async () => {
    // Regions smaller than a chunk (a chunk then spans several), around one, and larger; runs of
    // one byte make forced 128 KiB cuts that cross region edges.
    const files = [mixed(3 * MiB + 4321), randomBytes(1 * MiB + 99)];
    const one = await upload(files, 1);
    for (const region of [5000, 64 * KiB + 1, 128 * KiB, 300 * KiB + 7]) expect(await upload(files, 2, 256 * KiB, region), `regions of ${region} bytes`).toEqual(one);
  }, 60_000);

  it('gives the same result at the edge sizes: empty, under 8 KiB, a chunk, a batch and their neighbours', async () => {
    const sizes = [0, 1, 8191, 8192, 8193, 128 * KiB, 1 * MiB - 1, 1 * MiB, 1 * MiB + 1, 1 * MiB + 128 * KiB, 2 * MiB];
    const files = sizes.map((n) => randomBytes(n));
    const one = await upload(files, 1);
    const two = await upload(files, 2, 64 * KiB);
    expect(two).toEqual(one);
    expect(one.fileHashes[0]).toBe('0'.repeat(64));
    // Each alone, too: a file that is the whole call, read as one block.
    for (const f of files.slice(0, 6)) expect(await upload([f], 2, Number.MAX_SAFE_INTEGER)).toEqual(await upload([f], 1));
  }, 60_000);

  it('defaults to half the cores, at least one', () => {
    expect(defaultUploadThreads()).toBeGreaterThanOrEqual(1);
  });

  it('a hashing thread that crashes fails the batch and every later one with an error saying so', async () => {
    const pool = new ChunkHashPool(2, "require('node:worker_threads').parentPort.on('message', () => process.exit(7));");
    try {
      await expect(pool.hash(new SharedArrayBuffer(16), 0, [16])).rejects.toThrow(/chunk-hashing worker thread exited unexpectedly \(exit code 7\)/u);
      await expect(pool.hash(new SharedArrayBuffer(16), 0, [16])).rejects.toThrow(/exited unexpectedly/u);
    } finally {
      await pool.close();
    }
  });

  it('a hashing thread that throws is reported with its error', async () => {
    const pool = new ChunkHashPool(1, "require('node:worker_threads').parentPort.on('message', () => { throw new Error('no wasm here'); });");
    try {
      await expect(pool.hash(new SharedArrayBuffer(16), 0, [16])).rejects.toThrow(/chunk-hashing worker thread failed: no wasm here/u);
    } finally {
      await pool.close();
    }
  });

  it('hashing threads started but never given a batch do not keep the process alive', () => {
    const poolUrl = new URL('../../src/hash/chunk-hash-pool.ts', import.meta.url).href;
    const script = `const { ChunkHashPool } = await import(${JSON.stringify(poolUrl)}); new ChunkHashPool(2); console.log('started');`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 50_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0); // a thread holding the process would end in the timeout: status null
    expect(r.stdout.trim()).toBe('started');
  }, 60_000);

  it('no hashing thread keeps the process alive: after finish, and after a file whose read failed midway', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'hfo-threads-'));
    try {
      const script = path.join(dir, 'run.mts');
      const writerUrl = new URL('../../src/adapters/xet/writer.ts', import.meta.url).href;
      const indexUrl = new URL('../../src/adapters/xet/chunk-index.ts', import.meta.url).href;
      await writeFile(
        script,
        `import { randomBytes } from 'node:crypto';
import { XetWriter } from ${JSON.stringify(writerUrl)};
import { ChunkIndex } from ${JSON.stringify(indexUrl)};
const cas = { putXorb: async () => {}, putShard: async () => {}, queryChunk: async () => undefined };
const make = () => new XetWriter({ cas, known: new ChunkIndex(), dedupQueryMinBytes: Infinity, expectedBytes: 8 << 20, threads: 2 });
const data = randomBytes(6 << 20);
async function* whole() { yield data; }
const done = make();
console.log(await done.addFile(whole(), data.length));
await done.finish();
// A second call whose file fails to read after 4 MiB, left without finish() or close().
const broken = make();
async function* failing() { yield data.subarray(0, 4 << 20); throw new Error('disk gone'); }
await broken.addFile(failing(), data.length).catch((e) => console.log(e.constructor.name, e.message));
`,
      );
      const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0); // a timeout (a thread holding the process) would be status null
      expect(r.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^[0-9a-f]{64}$/u), 'SourceReadError disk gone']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
