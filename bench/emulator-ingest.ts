/**
 * The emulator measured apart: how fast it can take in xorbs when the client does (almost) no work.
 * Builds raw (uncompressed) xorbs of random data up front, then POSTs them one after another to the
 * CAS the way the client does (C1), timing only the POSTs. The emulator re-hashes every chunk of
 * every xorb it receives, so this is its ingest ceiling for incompressible data.
 *
 * Usage: node --import tsx bench/emulator-ingest.ts --hub URL --token hf_... --bucket ns/name --mib N [--emulator-pid PID] [--register]
 * Prints one JSON line: { bytes, xorbs, ms, mibPerS }. With --emulator-pid (the node process running
 * the emulator, same machine), also the emulator's CPU seconds over the timed phase and MiB per
 * emulator CPU second, read from /proc: on a small machine the client and the emulator share cores,
 * so CPU per byte is what counts. With --register, the xorbs then become one file the way a client
 * finishes an upload: one shard listing them all (C2) and a batch addFile (which makes the emulator
 * rebuild the file), timed apart as `register: { shardMs, batchMs, emulatorCpuS }`.
 */
import { randomFillSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import { getChunks, hashToHex, xorbHash, type Chunk } from '@huggingface/xetchunk-wasm';
import { buildRawXorb, CHUNK_HEADER_BYTES, XORB_MAX_BYTES } from '../test/hub-emulator/xorb.js';
import { buildShard, fileHashOf, type BuiltXorb } from '../test/integration/hub-emulator/xet-builders.js';
import { readProc } from './lib/proc.js';

const { values } = parseArgs({
  options: { hub: { type: 'string' }, token: { type: 'string' }, bucket: { type: 'string' }, mib: { type: 'string', default: '256' }, 'emulator-pid': { type: 'string' }, register: { type: 'boolean', default: false } },
});
const { hub, token, bucket } = values;
if (!hub || !token || !bucket) throw new Error('usage: emulator-ingest.ts --hub URL --token hf_... --bucket ns/name [--mib N]');

const emulatorPid = values['emulator-pid'] === undefined ? undefined : Number(values['emulator-pid']);
const emulatorCpuS = async (): Promise<number | undefined> => (emulatorPid === undefined ? undefined : (await readProc(emulatorPid))?.cpuS);

const MAX_CHUNKS = 8 * 1024;
const SEGMENT = 16 * 1024 * 1024;

const tokenRes = await fetch(`${hub}/api/buckets/${bucket}/xet-write-token`, { headers: { Authorization: `Bearer ${token}` } });
if (!tokenRes.ok) throw new Error(`write token: HTTP ${tokenRes.status}`);
const cas = (await tokenRes.json()) as { accessToken: string; casUrl: string };

// Build xorbs: random data cut by the real chunker, packed up to 64 MiB or 8,192 chunks each.
const xorbs: Array<BuiltXorb & { bytes: number }> = [];
let pending: Array<{ data: Uint8Array; chunk: Chunk }> = [];
let pendingBytes = 0;
const flush = () => {
  if (pending.length === 0) return;
  const body = buildRawXorb(pending.map((p) => p.data));
  const chunkHashes = new Uint8Array(pending.length * 32);
  pending.forEach((p, i) => chunkHashes.set(p.chunk.hash, i * 32));
  xorbs.push({
    hash: hashToHex(xorbHash(pending.map((p) => p.chunk))),
    body,
    chunkHashes,
    lengths: pending.map((p) => p.chunk.length),
    bytes: pending.reduce((s, p) => s + p.data.byteLength, 0),
  });
  pending = [];
  pendingBytes = 0;
};
const target = Number(values.mib) * 1024 * 1024;
for (let made = 0; made < target; made += SEGMENT) {
  const data = randomFillSync(new Uint8Array(SEGMENT));
  let offset = 0;
  for (const chunk of getChunks(data)) {
    const slice = data.subarray(offset, offset + chunk.length);
    offset += chunk.length;
    if (pendingBytes + CHUNK_HEADER_BYTES + chunk.length > XORB_MAX_BYTES || pending.length >= MAX_CHUNKS) flush();
    pending.push({ data: slice, chunk: { hash: chunk.hash, length: chunk.length } });
    pendingBytes += CHUNK_HEADER_BYTES + chunk.length;
  }
}
flush();

const cpuBefore = await emulatorCpuS();
const started = performance.now();
let bytes = 0;
for (const x of xorbs) {
  const res = await fetch(`${cas.casUrl}/v1/xorbs/default/${x.hash}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${cas.accessToken}` },
    body: x.body,
  });
  if (!res.ok) throw new Error(`xorb ${x.hash}: HTTP ${res.status} ${await res.text()}`);
  await res.body?.cancel();
  bytes += x.bytes;
}
const ms = performance.now() - started;
const cpuAfter = await emulatorCpuS();
const mibs = bytes / (1024 * 1024);
const cpu = cpuBefore === undefined || cpuAfter === undefined ? {} : {
  emulatorCpuS: Number((cpuAfter - cpuBefore).toFixed(2)),
  mibPerEmulatorCpuS: Math.round(mibs / Math.max(0.01, cpuAfter - cpuBefore)),
};

let register: { shardMs: number; batchMs: number; emulatorCpuS?: number } | undefined;
if (values.register) {
  const file = { terms: xorbs.map((xorb) => ({ xorb, start: 0, end: xorb.lengths.length })) };
  const shard = buildShard({ files: [file], xorbs });
  const cpu0 = await emulatorCpuS();
  const t0 = performance.now();
  const shardRes = await fetch(`${cas.casUrl}/v1/shards`, { method: 'POST', headers: { Authorization: `Bearer ${cas.accessToken}` }, body: shard });
  if (!shardRes.ok) throw new Error(`shard: HTTP ${shardRes.status} ${await shardRes.text()}`);
  await shardRes.body?.cancel();
  const t1 = performance.now();
  const batchRes = await fetch(`${hub}/api/buckets/${bucket}/batch`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/x-ndjson' },
    body: JSON.stringify({ type: 'addFile', path: `emulator-ingest/${Date.now()}.bin`, xetHash: fileHashOf(file), mtime: Date.now() }),
  });
  const report = (await batchRes.json()) as { failed?: unknown[] };
  if (!batchRes.ok || report.failed?.length) throw new Error(`batch: HTTP ${batchRes.status} ${JSON.stringify(report)}`);
  const t2 = performance.now();
  const cpu1 = await emulatorCpuS();
  register = {
    shardMs: Math.round(t1 - t0),
    batchMs: Math.round(t2 - t1),
    ...(cpu0 === undefined || cpu1 === undefined ? {} : { emulatorCpuS: Number((cpu1 - cpu0).toFixed(2)) }),
  };
}
console.log(JSON.stringify({ bytes, xorbs: xorbs.length, ms: Math.round(ms), mibPerS: Math.round(mibs / (ms / 1000)), ...cpu, ...(register ? { register } : {}) }));
