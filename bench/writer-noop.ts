/**
 * The own Xet writer (src/adapters/xet/writer.ts) on one file, to a CAS that discards what it is
 * sent: the client's own cost of an upload, with no network and no emulator competing for the cores.
 *
 * Usage: node --import tsx bench/writer-noop.ts FILE [--threads N] [--block-mib 8]
 * Prints one JSON line: { bytes, threads, xetHash, xorbs, chunks, digest, totalMs, cpuS }.
 * `digest` is a sha256 over every sealed xorb's hash, size, chunk hashes and lengths, in order:
 * two runs that produced the same xorbs give the same digest.
 */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ChunkIndex } from '../src/adapters/xet/chunk-index.js';
import { XetWriter, type CasWrites } from '../src/adapters/xet/writer.js';
import type { ShardXorb } from '../src/adapters/xet/format.js';

const { values, positionals } = parseArgs({
  options: { threads: { type: 'string', default: '1' }, 'block-mib': { type: 'string', default: '8' } },
  allowPositionals: true,
});
const file = positionals[0];
if (file === undefined) throw new Error('usage: writer-noop.ts FILE [--threads N] [--block-mib N]');
const threads = Number(values.threads);
const blockBytes = Number(values['block-mib']) * 1024 * 1024;

let xorbBytes = 0;
const cas: CasWrites = {
  putXorb: async (_hash, body) => {
    xorbBytes += body.length;
  },
  putShard: async () => undefined,
  queryChunk: async () => undefined,
};

/** sha256 over the xorbs' hashes, sizes, chunk hashes and lengths, in order. */
export function xorbDigest(xorbs: readonly ShardXorb[]): string {
  const h = createHash('sha256');
  for (const x of xorbs) {
    h.update(`${x.hash}:${x.bytesOnDisk}:${x.chunkHashes.length}\n`);
    for (const c of x.chunkHashes) h.update(c);
    h.update(Uint32Array.from(x.chunkLengths));
  }
  return h.digest('hex');
}

const started = performance.now();
const cpu0 = process.cpuUsage();
const writer = new XetWriter({ cas, known: new ChunkIndex(), dedupQueryMinBytes: Number.POSITIVE_INFINITY, expectedBytes: Number.MAX_SAFE_INTEGER, threads });
let bytes = 0;
const xetHash = await writer.addFile(createReadStream(file, { highWaterMark: blockBytes }), statSync(file).size, (done) => (bytes = done));
const xorbs = await writer.finish();
const totalMs = performance.now() - started;
const cpu = process.cpuUsage(cpu0);
console.log(
  JSON.stringify({
    bytes,
    threads,
    xetHash,
    xorbs: xorbs.length,
    xorbBytes,
    chunks: xorbs.reduce((n, x) => n + x.chunkHashes.length, 0),
    digest: xorbDigest(xorbs),
    totalMs: Math.round(totalMs),
    cpuS: (cpu.user + cpu.system) / 1e6,
  }),
);
