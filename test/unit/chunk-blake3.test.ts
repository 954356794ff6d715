/**
 * The chunk hash is the same bytes whichever BLAKE3 computes it: the native one (used where it
 * loads) and the WebAssembly fallback agree with each other and with the Hub library's own, so an
 * upload never depends on which one a machine has.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fileHash, getChunks, hashToHex } from '@huggingface/xetchunk-wasm';
import { keyedBlake3 } from '../../src/hash/chunk-blake3.js';
import { DATA_KEY } from '../../src/hash/xet-chunker.js';
import { xetHashOf } from '../../src/hash/xet-hash.js';
import { splitmixData } from '../fixtures/xet-core-chunking-vectors.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('chunk hash (keyed BLAKE3)', () => {
  it('native and WebAssembly give the same hash for empty, small, chunk-sized and shared-memory input', async () => {
    const native = await keyedBlake3(DATA_KEY);
    const wasm = await keyedBlake3(DATA_KEY, 'wasm');
    expect(native.impl).toBe('native'); // the package ships a build for this machine
    expect(wasm.impl).toBe('wasm');
    const shared = new Uint8Array(new SharedArrayBuffer(200_000));
    shared.set(randomBytes(200_000));
    for (const data of [new Uint8Array(0), randomBytes(1), randomBytes(1025), randomBytes(64 * 1024 + 3), randomBytes(128 * 1024), shared.subarray(7, 150_007)]) {
      expect(hashToHex(native.hash(data)), `${data.length} bytes`).toBe(hashToHex(wasm.hash(data)));
    }
  });

  it('native, and WebAssembly when the native package is not used (HF_OUTBOX_BLAKE3=wasm), give the file hash the Hub library computes', async () => {
    const data = splitmixData(1_000_000, 0n);
    // @huggingface/xetchunk-wasm: its own BLAKE3 and chunker (the legacy rule), an independent reference.
    const want = hashToHex(fileHash(getChunks(data)));
    expect(await xetHashOf((async function* () { yield data; })(), 'legacy')).toBe(want);
    const script = `
      const { xetHashOf } = await import(${JSON.stringify(new URL('../../src/hash/xet-hash.ts', import.meta.url).href)});
      const { keyedBlake3 } = await import(${JSON.stringify(new URL('../../src/hash/chunk-blake3.ts', import.meta.url).href)});
      const { splitmixData } = await import(${JSON.stringify(new URL('../fixtures/xet-core-chunking-vectors.ts', import.meta.url).href)});
      const data = splitmixData(1_000_000, 0n);
      console.log((await keyedBlake3(new Uint8Array(32))).impl, await xetHashOf((async function* () { yield data; })(), 'legacy'));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 50_000,
      env: { ...process.env, HF_OUTBOX_BLAKE3: 'wasm' },
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`wasm ${want}`);
  }, 60_000);
});
