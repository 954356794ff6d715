/**
 * Scenario 6's measured child: the own Xet writer (src/adapters/xet/writer.ts) uploads one file of
 * generated incompressible bytes to a CAS that keeps nothing but counts (no emulator: the emulator
 * holds every xorb in memory and re-hashes every byte on the same cores, so at 10 GiB it would
 * measure itself). The bytes are an AES-128-CTR keystream: incompressible, reproducible from the
 * seed, and with `--changed-pct` a second version that differs in evenly spread regions.
 *
 *   node --import tsx bench/xet-writer-flat.ts --bytes N [--seed S] [--changed-pct P --regions R]
 *        [--cache DIR]   load earlier xorbs from this shard cache before, save this call's after
 *        [--hash-only]   only compute the Xet hash of the bytes (the independent read-back check)
 *
 * Prints one JSON line: { bytes, ms, cpuS, hwmKiB, xetHash, xorbs, xorbBytes, shards, shardBytes,
 * knownChunks, check }. `hwmKiB` is VmHWM when the writer has finished, before the checks below.
 * `check` rebuilds the file's chunk list from the shard(s) it sent and the cached shards (every term's
 * xorb known and in range, every verification entry and unpacked size right) and states whether its
 * file hash equals the writer's.
 */
import { createCipheriv } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileHash, hashToHex, verificationHash, type Chunk } from '@huggingface/xetchunk-wasm';
import { ChunkIndex } from '../src/adapters/xet/chunk-index.js';
import { parseShardXorbs } from '../src/adapters/xet/format.js';
import { ShardCache } from '../src/adapters/xet/shard-cache.js';
import { XetWriter, type CasWrites } from '../src/adapters/xet/writer.js';
import { xetHashOf } from '../src/hash/xet-hash.js';

const BLOCK = 8 * 1024 * 1024;

const { values } = parseArgs({
  options: {
    bytes: { type: 'string' },
    seed: { type: 'string', default: '1' },
    'changed-pct': { type: 'string', default: '0' },
    regions: { type: 'string', default: '64' },
    cache: { type: 'string' },
    'hash-only': { type: 'boolean', default: false },
  },
});
const size = Number(values.bytes);
if (!Number.isSafeInteger(size) || size <= 0) throw new Error('--bytes N (a positive integer) is required');
const seed = Number(values.seed);
const changedPct = Number(values['changed-pct']);
const regionCount = Number(values.regions);

/** The byte ranges that differ from the unchanged version: `regionCount` equal runs, evenly spread, 4 KiB aligned. */
function changedRegions(bytes: number, pct: number, count: number): Array<[number, number]> {
  if (pct <= 0) return [];
  const each = Math.max(4096, Math.floor((bytes * pct) / 100 / count / 4096) * 4096);
  const out: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    const start = Math.floor(((i + 0.5) * bytes) / count / 4096) * 4096;
    out.push([start, Math.min(bytes, start + each)]);
  }
  return out;
}

function keystream(key: number, offset: number): ReturnType<typeof createCipheriv> {
  const k = Buffer.alloc(16);
  k.writeUInt32LE(key >>> 0, 0);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(offset / 16), 8); // the CTR counter at this offset (regions are 16-byte aligned)
  return createCipheriv('aes-128-ctr', k, iv);
}

/** The file's bytes, 8 MiB at a time: the seed's keystream, with the changed regions from another key. */
async function* generate(): AsyncGenerator<Buffer> {
  const zeros = Buffer.alloc(BLOCK);
  const base = keystream(seed, 0);
  const regions = changedRegions(size, changedPct, regionCount);
  for (let at = 0; at < size; at += BLOCK) {
    const n = Math.min(BLOCK, size - at);
    const block = base.update(zeros.subarray(0, n));
    for (const [s, e] of regions) {
      const from = Math.max(s, at);
      const to = Math.min(e, at + n);
      if (from < to) keystream(seed + 0x9e3779b9, from).update(zeros.subarray(0, to - from)).copy(block, from - at);
    }
    yield block;
    // A file read gives the event loop a turn per block; so does this source (timers, napi finalizers).
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function hwmKiB(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
}

const started = performance.now();
const cpu0 = process.cpuUsage();
if (values['hash-only']) {
  const xetHash = await xetHashOf(generate());
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ bytes: size, ms: Math.round(performance.now() - started), cpuS: (cpu.user + cpu.system) / 1e6, hwmKiB: hwmKiB(), xetHash }));
  process.exit(0);
}

const known = new ChunkIndex();
const cache = values.cache ? new ShardCache(values.cache) : undefined;
const loaded = cache ? await cache.load(known) : { xorbs: 0, chunks: 0 };
const shards: Buffer[] = [];
let xorbs = 0;
let xorbBytes = 0;
const cas: CasWrites = {
  putXorb(_hash, body) {
    xorbs++;
    xorbBytes += body.length;
    return Promise.resolve();
  },
  putShard(body) {
    shards.push(Buffer.from(body));
    return Promise.resolve();
  },
  queryChunk: () => Promise.resolve(undefined),
};
const writer = new XetWriter({ cas, known, dedupQueryMinBytes: 64 * 1024 * 1024, expectedBytes: size });
const xetHash = await writer.addFile(generate(), size);
const stored = await writer.finish();
const ms = performance.now() - started;
const cpu = process.cpuUsage(cpu0);
const hwm = hwmKiB();
if (cache) await cache.save(stored);

console.log(
  JSON.stringify({
    bytes: size,
    ms: Math.round(ms),
    cpuS: (cpu.user + cpu.system) / 1e6,
    hwmKiB: hwm,
    xetHash,
    xorbs,
    xorbBytes,
    shards: shards.length,
    shardBytes: shards.reduce((n, s) => n + s.length, 0),
    knownChunks: loaded.chunks,
    check: checkShards(shards, values.cache, xetHash),
  }),
);

/**
 * What a CAS checks before it registers a file: the file's terms, read from the shard, name xorbs it
 * holds (sent now, or cached from the earlier version), ranges within them, verification entries and
 * sizes that match those chunks, and a chunk list whose file hash is the one claimed.
 */
function checkShards(sent: Buffer[], cacheDir: string | undefined, claimed: string): string {
  const xorbChunks = new Map<string, Chunk[]>();
  const learn = (buf: Buffer) => {
    for (const x of parseShardXorbs(buf).xorbs) xorbChunks.set(x.hash, Array.from(x.chunkLengths, (length, i) => ({ hash: x.chunkHashes.subarray(i * 32, (i + 1) * 32), length })));
  };
  for (const s of sent) learn(s);
  if (cacheDir) for (const n of readdirSync(cacheDir)) if (n.endsWith('.shard')) learn(readFileSync(path.join(cacheDir, n)));
  const last = sent.at(-1);
  if (!last) return 'no shard sent';
  let at = 48;
  const hash = hashToHex(last.subarray(at, at + 32));
  if (hash !== claimed) return `the shard registers ${hash}, the writer returned ${claimed}`;
  const terms = last.readUInt32LE(at + 36);
  at += 48;
  const chunks: Chunk[] = [];
  let bytes = 0;
  for (let t = 0; t < terms; t++) {
    const rec = at + t * 48;
    const xorb = hashToHex(last.subarray(rec, rec + 32));
    const unpacked = last.readUInt32LE(rec + 36);
    const start = last.readUInt32LE(rec + 40);
    const end = last.readUInt32LE(rec + 44);
    const all = xorbChunks.get(xorb);
    if (!all || end > all.length || start >= end) return `term ${t} names chunks ${start}-${end} of xorb ${xorb.slice(0, 12)}, which holds ${all?.length ?? 'nothing known'}`;
    const range = all.slice(start, end);
    if (range.reduce((n, c) => n + c.length, 0) !== unpacked) return `term ${t}: unpacked size ${unpacked} does not match its chunks`;
    const verification = last.subarray(at + (terms + t) * 48, at + (terms + t) * 48 + 32);
    if (!Buffer.from(verificationHash(range.map((c) => c.hash))).equals(verification)) return `term ${t}: wrong verification entry`;
    chunks.push(...range);
    bytes += unpacked;
  }
  if (bytes !== size) return `terms cover ${bytes} bytes of ${size}`;
  const rebuilt = hashToHex(fileHash(chunks));
  return rebuilt === claimed ? 'ok' : `the chunks the terms name hash to ${rebuilt}, not ${claimed}`;
}

