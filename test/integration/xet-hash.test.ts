import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { uploadFiles } from '@huggingface/hub';
import { describe, expect, it } from 'vitest';
import { EMPTY_FILE_XET_HASH, matchXetHash, xetHashOf } from '../../src/hash/xet-hash.js';
import { WRITE_TOKEN, startEmulator } from '../helpers/hub.js';
import { triggeringData } from '../fixtures/xet-core-chunking-vectors.js';

function inPieces(bytes: Buffer, piece: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += piece) parts.push(bytes.subarray(i, i + piece));
  return Readable.from(parts);
}

describe('local Xet hash', () => {
  it("equals the xetHash the Hub lists for bytes the hf CLI's rule cut, however the stream is cut", async () => {
    const emu = await startEmulator();
    // It starts with xet-core's triggering pattern, which the legacy rule cuts under 8 KiB: the two
    // rules then always differ (on random bytes alone they can agree, about 2% of the time for 3 MiB).
    const files = { 'a.bin': Buffer.concat([triggeringData(65536, 1), randomBytes(3 * 1024 * 1024 + 17)]), 'b.txt': Buffer.from('hello') };
    for (const [path, bytes] of Object.entries(files)) emu.seedFile('team/shared', path, bytes);
    for (const [path, bytes] of Object.entries(files)) {
      const listed = emu.fileInfo('team/shared', path)?.xetHash;
      expect(await xetHashOf(inPieces(bytes, 1 << 20))).toBe(listed);
      expect(await xetHashOf(inPieces(bytes, 7919))).toBe(listed);
      expect(await matchXetHash(() => inPieces(bytes, 1 << 20), listed ?? '', bytes.length)).toBe('xet-core');
    }
    expect(await xetHashOf(Readable.from([]))).toBe(EMPTY_FILE_XET_HASH);
    await emu.close();
  });

  it('recognises files @huggingface/hub uploaded under the legacy rule (a different hash for the same bytes)', async () => {
    const emu = await startEmulator();
    // It starts with xet-core's triggering pattern, which the legacy rule cuts under 8 KiB: the two
    // rules then always differ (on random bytes alone they can agree, about 2% of the time for 3 MiB).
    const files = { 'a.bin': Buffer.concat([triggeringData(65536, 1), randomBytes(3 * 1024 * 1024 + 17)]), 'b.txt': Buffer.from('hello'), 'e.txt': Buffer.alloc(0) };
    await uploadFiles({
      repo: { type: 'bucket', name: 'team/shared' },
      files: Object.entries(files).map(([path, bytes]) => ({ path, content: new Blob([bytes]) })),
      hubUrl: emu.url,
      accessToken: WRITE_TOKEN,
    });
    const big = files['a.bin'];
    const listed = emu.fileInfo('team/shared', 'a.bin')?.xetHash ?? '';
    expect(await xetHashOf(inPieces(big, 7919), 'legacy')).toBe(listed);
    expect(await xetHashOf(inPieces(big, 1 << 20))).not.toBe(listed);
    expect(await matchXetHash(() => inPieces(big, 1 << 20), listed, big.length)).toBe('legacy');
    // Small files are one chunk under both rules.
    expect(await matchXetHash(() => inPieces(files['b.txt'], 2), emu.fileInfo('team/shared', 'b.txt')?.xetHash ?? '', 5)).toBe('xet-core');
    expect(await matchXetHash(() => Readable.from([]), emu.fileInfo('team/shared', 'e.txt')?.xetHash ?? '', 0)).toBe('xet-core');
    // Other bytes of the same size match neither.
    expect(await matchXetHash(() => inPieces(randomBytes(big.length), 1 << 20), listed, big.length)).toBeUndefined();
    await emu.close();
  });
});
