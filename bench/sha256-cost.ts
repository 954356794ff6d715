/**
 * What the sha256 the own Xet writer sends in each shard entry (the metadata extension) costs on
 * top of the raw single-core ceiling: CPU seconds per GiB (process.cpuUsage, so other load on a
 * shared machine does not count), in memory, in the writer's 8 MiB blocks, no I/O and no network.
 *
 *   ceiling            the writer's chunker: GEAR boundaries + keyed BLAKE3 per chunk (src/hash/xet-chunker.ts)
 *   ceiling + sha256   the same loop also feeding startSha256() (src/hash/sha256.ts) each block
 *   node:crypto        sha256 alone, OpenSSL (what startSha256 uses)
 *   hash-wasm          sha256 alone, hash-wasm's createSHA256 (the alternative measured)
 *
 * Usage: npx tsx bench/sha256-cost.ts [--gib 1] [--rounds 3]. Prints the best of the rounds of each
 * (the least disturbed by other load) and the added cost as a fraction of the ceiling.
 */
import { randomFillSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createSHA256 } from 'hash-wasm';
import { startSha256 } from '../src/hash/sha256.js';
import { XetChunker } from '../src/hash/xet-chunker.js';

const { values } = parseArgs({ options: { gib: { type: 'string', default: '1' }, rounds: { type: 'string', default: '3' } } });
const gib = Number(values.gib);
const rounds = Number(values.rounds);
const BLOCK = 8 * 1024 * 1024;
const data = randomFillSync(Buffer.allocUnsafe(64 * 1024 * 1024));
const passes = Math.max(1, Math.round((gib * 1024) / 64));

/** Calls `each` on every 8 MiB block of `gib` GiB (the 64 MiB of random data, over and over). */
function overBlocks(each: (block: Buffer) => void): void {
  for (let p = 0; p < passes; p++) for (let at = 0; at < data.length; at += BLOCK) each(data.subarray(at, at + BLOCK));
}

function cpuSecondsPerGiB(run: () => void): number {
  const before = process.cpuUsage();
  run();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6 / ((passes * data.length) / 2 ** 30);
}

const chunker = await XetChunker.create();
const wasm = await createSHA256();
const cases: Record<string, () => void> = {
  ceiling: () => overBlocks((b) => void chunker.push(b)),
  'ceiling + sha256': () => {
    const sha = startSha256();
    overBlocks((b) => {
      sha.update(b);
      chunker.push(b);
    });
    sha.digest();
  },
  'node:crypto sha256': () => {
    const sha = startSha256();
    overBlocks((b) => sha.update(b));
    sha.digest();
  },
  'hash-wasm sha256': () => {
    wasm.init();
    overBlocks((b) => void wasm.update(b));
    wasm.digest('binary');
  },
};
const best: Record<string, number> = {};
for (let r = 0; r < rounds; r++) {
  for (const [name, run] of Object.entries(cases)) best[name] = Math.min(best[name] ?? Infinity, cpuSecondsPerGiB(run));
}
const ceiling = best['ceiling'] as number;
const added = (best['ceiling + sha256'] as number) - ceiling;
for (const [name, s] of Object.entries(best)) console.log(`${name.padEnd(20)} ${s.toFixed(2)} CPU s/GiB  (${(2 ** 30 / 2 ** 20 / s).toFixed(0)} MiB per CPU second)`);
console.log(`sha256 adds ${added.toFixed(2)} CPU s/GiB to the ceiling: +${((added / ceiling) * 100).toFixed(0)}%`);
