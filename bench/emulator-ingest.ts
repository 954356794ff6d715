/**
 * The emulator measured apart: how fast it can take in xorbs when the client does (almost) no work.
 * Builds raw (uncompressed) xorbs of random data up front, then POSTs them one after another to the
 * CAS the way the client does (C1), timing only the POSTs. The emulator re-hashes every chunk of
 * every xorb it receives, so this is its ingest ceiling for incompressible data.
 *
 * Usage: node --import tsx bench/emulator-ingest.ts --hub URL --token hf_... --bucket ns/name --mib N [--emulator-pid PID]
 * Prints one JSON line: { bytes, xorbs, ms, mibPerS }. With --emulator-pid (the node process running
 * the emulator, same machine), also the emulator's CPU seconds over the timed phase and MiB per
 * emulator CPU second, read from /proc: on a small machine the client and the emulator share cores,
 * so CPU per byte is what counts.
 */
import { randomFillSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import { getChunks, hashToHex, xorbHash, type Chunk } from '@huggingface/xetchunk-wasm';
import { buildRawXorb, CHUNK_HEADER_BYTES, XORB_MAX_BYTES } from '../test/hub-emulator/xorb.js';
import { readProc } from './lib/proc.js';

const { values } = parseArgs({
  options: { hub: { type: 'string' }, token: { type: 'string' }, bucket: { type: 'string' }, mib: { type: 'string', default: '256' }, 'emulator-pid': { type: 'string' } },
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
const xorbs: Array<{ hash: string; body: Buffer; bytes: number }> = [];
let pending: Array<{ data: Uint8Array; chunk: Chunk }> = [];
let pendingBytes = 0;
const flush = () => {
  if (pending.length === 0) return;
  const body = buildRawXorb(pending.map((p) => p.data));
  xorbs.push({ hash: hashToHex(xorbHash(pending.map((p) => p.chunk))), body, bytes: pending.reduce((s, p) => s + p.data.byteLength, 0) });
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
console.log(JSON.stringify({ bytes, xorbs: xorbs.length, ms: Math.round(ms), mibPerS: Math.round(mibs / (ms / 1000)), ...cpu }));
