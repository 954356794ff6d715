import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { uploadFiles } from '@huggingface/hub';
import { describe, expect, it } from 'vitest';
import { EMPTY_FILE_XET_HASH, xetHashOf } from '../../src/hash/xet-hash.js';
import { WRITE_TOKEN, startEmulator } from '../helpers/hub.js';

function inPieces(bytes: Buffer, piece: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += piece) parts.push(bytes.subarray(i, i + piece));
  return Readable.from(parts);
}

describe('local Xet hash', () => {
  it('equals the xetHash the Hub lists for the same bytes, however the stream is cut', async () => {
    const emu = await startEmulator();
    const files = { 'a.bin': randomBytes(3 * 1024 * 1024 + 17), 'b.txt': Buffer.from('hello'), 'e.txt': Buffer.alloc(0) };
    await uploadFiles({
      repo: { type: 'bucket', name: 'team/shared' },
      files: Object.entries(files).map(([path, bytes]) => ({ path, content: new Blob([bytes]) })),
      hubUrl: emu.url,
      accessToken: WRITE_TOKEN,
    });
    for (const [path, bytes] of Object.entries(files)) {
      const listed = emu.fileInfo('team/shared', path)?.xetHash;
      expect(await xetHashOf(inPieces(bytes, 1 << 20))).toBe(listed);
      expect(await xetHashOf(inPieces(bytes, 7919))).toBe(listed);
    }
    expect(await xetHashOf(Readable.from([]))).toBe(EMPTY_FILE_XET_HASH);
  });
});
