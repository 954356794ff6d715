/**
 * The own Xet writer (src/adapters/xet/writer.ts) on one file, to a CAS that discards what it is
 * sent: the client's own cost of an upload, with no network and no emulator competing for the cores.
 *
 * Usage: node --import tsx bench/writer-noop.ts FILE [--threads N] [--block-mib 1] [--verify | --stages]
 *
 * Prints one JSON line: { bytes, threads, xetHash, xorbs, chunks, digest, totalMs, cpuS } where
 * `digest` is a sha256 over every sealed xorb's hash, size, chunk hashes and lengths, in order (two
 * runs that made the same xorbs give the same digest) and cpuS counts every thread of the process
 * from the first read to finish() (module loading excluded, as in raw-ceiling.ts); mainCpuS (and
 * mainCpuSPerGiB) the main thread's alone (Linux /proc), the figure that bounds N threads.
 *
 * --verify: the CAS checks every xorb with the Hub emulator's own code (test/hub-emulator: chunks
 *   decoded, re-hashed with its own BLAKE3, its own xorb Merkle hash) and adds `rebuilt`: the
 *   sha256 of the decoded chunks in order and the file hash rebuilt from them (valid for a file with
 *   no repeated chunk, which random data is).
 * --stages: no writer; CPU seconds per GiB of each stage alone, on this thread: read, + chunk
 *   boundaries, + BLAKE3 of the chunks, sha256 of the file; then the whole writer on one thread. Each
 *   stage's own cost is a difference of two least-of-N figures: on a busy machine it can come out
 *   negative, which the scenario reports as noise.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ChunkIndex } from '../src/adapters/xet/chunk-index.js';
import type { ShardXorb } from '../src/adapters/xet/format.js';
import { XetWriter, type CasWrites } from '../src/adapters/xet/writer.js';
import { NodeOutboxFs } from '../src/adapters/node-fs.js';
import type { FileReader } from '../src/core/ports.js';
import { keyedBlake3 } from '../src/hash/chunk-blake3.js';
import { DATA_KEY, XetChunker } from '../src/hash/xet-chunker.js';
import { fileHashHex, HASH_BYTES, type ChunkList } from '../test/hub-emulator/hash.js';
import { decodeChunk, verifyXorb } from '../test/hub-emulator/xorb.js';

const { values, positionals } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' },
    'block-mib': { type: 'string', default: '1' },
    verify: { type: 'boolean', default: false },
    stages: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const file = positionals[0];
if (file === undefined) throw new Error('usage: writer-noop.ts FILE [--threads N] [--block-mib N] [--verify | --stages]');
const input: string = file;
const threads = Number(values.threads);
const blockBytes = Number(values['block-mib']) * 1024 * 1024;
const size = statSync(input).size;
const GiB = 1024 * 1024 * 1024;

const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
/**
 * CPU seconds of this (the main) thread alone, from Linux's per-thread counters (utime + stime, in
 * clock ticks of 10 ms): what the hashing threads leave to it. NaN where /proc is missing.
 */
const mainThreadCpuNow = () => {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
};
/** The file as the daemon's upload reads it (src/adapters/node-fs.ts openReader: into the writer's buffers, checked at the end). */
async function reader(): Promise<FileReader> {
  const s = await lstat(input);
  return new NodeOutboxFs().openReader({ root: path.dirname(path.resolve(input)), relPath: path.basename(input) }, { sizeBytes: s.size, mtimeMs: s.mtimeMs, ino: s.ino });
}

/** The file in blocks, each a fresh Buffer (1 MiB reads), for the stages below. */
async function* read(): AsyncGenerator<Buffer> {
  const fh = await open(input, 'r');
  try {
    for (;;) {
      const block = Buffer.allocUnsafe(blockBytes);
      const { bytesRead } = await fh.read(block, 0, blockBytes, null);
      if (bytesRead === 0) return;
      yield bytesRead === blockBytes ? block : block.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/** sha256 over the xorbs' hashes, sizes, chunk hashes and lengths, in order. */
function xorbDigest(xorbs: readonly ShardXorb[]): string {
  const h = createHash('sha256');
  for (const x of xorbs) {
    h.update(`${x.hash}:${x.bytesOnDisk}:${x.chunkLengths.length}\n`);
    h.update(x.chunkHashes);
    h.update(new Uint8Array(Uint32Array.from(x.chunkLengths).buffer));
  }
  return h.digest('hex');
}

async function writerRun(): Promise<Record<string, unknown>> {
  let xorbBytes = 0;
  const runs: ChunkList[] = [];
  const content = createHash('sha256');
  let failures = 0;
  const cas: CasWrites = {
    putXorb: async (hash, body) => {
      xorbBytes += body.length;
      if (!values.verify) return;
      // Checked by the emulator's code: throws on a chunk or xorb hash that does not match the bytes.
      const data = Buffer.from(body);
      const { layout, chunkHashes } = await verifyXorb(data, hash).catch((error: unknown) => {
        failures++;
        throw error;
      });
      for (let i = 0; i < layout.uncompressedLengths.length; i++) content.update(decodeChunk(data, layout.chunkOffsets[i] as number));
      runs.push({ hashes: chunkHashes, lengths: layout.uncompressedLengths, start: 0, end: layout.uncompressedLengths.length });
    },
    putShard: async () => undefined,
    queryChunk: async () => undefined,
  };
  const started = performance.now();
  const cpu0 = cpuNow();
  const main0 = mainThreadCpuNow();
  const writer = new XetWriter({ cas, known: new ChunkIndex(), dedupQueryMinBytes: Number.POSITIVE_INFINITY, expectedBytes: size, threads });
  let bytes = 0;
  const xetHash = await writer.addFile(await reader(), size, (done) => (bytes = done));
  const xorbs = await writer.finish();
  const totalMs = performance.now() - started;
  const cpuS = cpuNow() - cpu0;
  const mainCpuS = mainThreadCpuNow() - main0;
  const out: Record<string, unknown> = {
    bytes,
    threads,
    blake3: (await keyedBlake3(DATA_KEY)).impl,
    xetHash,
    xorbs: xorbs.length,
    xorbBytes,
    chunks: xorbs.reduce((n, x) => n + x.chunkLengths.length, 0),
    digest: xorbDigest(xorbs),
    totalMs: Math.round(totalMs),
    cpuS,
    mainCpuS,
    mainCpuSPerGiB: (mainCpuS / Math.max(1, bytes)) * GiB,
  };
  if (values.verify) out['rebuilt'] = { failures, sha256: content.digest('hex'), xetHash: fileHashHex(runs), chunkHashBytes: runs.reduce((n, r) => n + r.end * HASH_BYTES, 0) };
  return out;
}

/** Runs per stage: at least 2, and at least 64 MiB in all, so a small file's figures are not noise. */
const STAGE_RUNS = Math.max(2, Math.ceil((64 * 1024 * 1024) / Math.max(1, size)));

/** CPU seconds per GiB of `f` run over the file: the least of STAGE_RUNS runs (a shared machine only ever adds). */
async function stage(f: () => Promise<void>): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < STAGE_RUNS; i++) {
    const cpu0 = cpuNow();
    await f();
    best = Math.min(best, cpuNow() - cpu0);
  }
  return (best / size) * GiB;
}

async function stagesRun(): Promise<Record<string, unknown>> {
  await writerRun(); // warm-up: page cache, JIT, wasm instances
  const readOnly = await stage(async () => {
    for await (const _ of read());
  });
  const boundaries = await stage(async () => {
    const c = await XetChunker.create();
    for await (const b of read()) c.cut(b);
    c.cutFinish();
  });
  const blake3 = await stage(async () => {
    const c = await XetChunker.create();
    for await (const b of read()) c.push(b);
    c.finish();
  });
  const sha256 = await stage(async () => {
    const h = createHash('sha256');
    for await (const b of read()) h.update(b);
    h.digest();
  });
  const writer = await stage(async () => void (await writerRun()));
  // Each stage's own cost: the differences (read is inside every one).
  return {
    bytes: size,
    cpuSPerGiB: {
      read: readOnly,
      boundaries: boundaries - readOnly,
      chunkBlake3: blake3 - boundaries,
      fileSha256: sha256 - readOnly,
      packCompressXorbHashRest: writer - blake3 - (sha256 - readOnly),
      writerOneThread: writer,
    },
  };
}

console.log(JSON.stringify(values.stages ? await stagesRun() : await writerRun()));
