/**
 * The raw ceiling for scenario 1: read a file in fixed blocks and compute its Xet chunks and file
 * hash with @huggingface/xetchunk-wasm (createChunker / nextBlock / finalize / fileHash), exactly
 * the hashing work an upload cannot avoid, with no network and no compression.
 *
 * Usage: node --import tsx bench/raw-ceiling.ts FILE [--block-mib 8]
 * Prints one JSON line: { bytes, blockMiB, chunks, xetHash, readMs, totalMs, cpuS } (cpuS: this process's CPU
 * seconds over the same span as totalMs, module loading excluded).
 */
import { open } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createChunker, fileHash, finalize, hashToHex, nextBlock, type Chunk } from '@huggingface/xetchunk-wasm';

const { values, positionals } = parseArgs({ options: { 'block-mib': { type: 'string', default: '8' } }, allowPositionals: true });
const file = positionals[0];
if (file === undefined) throw new Error('usage: raw-ceiling.ts FILE [--block-mib N]');
const blockMiB = Number(values['block-mib']);

const started = performance.now();
const cpu0 = process.cpuUsage();
const fh = await open(file, 'r');
const block = Buffer.allocUnsafe(blockMiB * 1024 * 1024);
const chunker = createChunker();
const chunks: Chunk[] = [];
let bytes = 0;
let readMs = 0;
try {
  for (;;) {
    const t = performance.now();
    const { bytesRead } = await fh.read(block, 0, block.length, null);
    readMs += performance.now() - t;
    if (bytesRead === 0) break;
    bytes += bytesRead;
    for (const c of nextBlock(chunker, block.subarray(0, bytesRead))) chunks.push({ hash: c.hash, length: c.length });
  }
} finally {
  await fh.close();
}
const last = finalize(chunker);
if (last) chunks.push(last);
const xetHash = bytes === 0 ? '0'.repeat(64) : hashToHex(fileHash(chunks));
const totalMs = performance.now() - started;
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ bytes, blockMiB, chunks: chunks.length, xetHash, readMs: Math.round(readMs), totalMs: Math.round(totalMs), cpuS: (cpu.user + cpu.system) / 1e6 }));
