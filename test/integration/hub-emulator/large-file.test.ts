/** A file larger than one 64 MiB xorb, so its reconstruction spans xorbs (kept to one test: it is the slow one). */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFile, uploadFile } from '@huggingface/hub';
import { startHubEmulator, type HubEmulator } from '../../hub-emulator/index.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('a file over 64 MiB', () => {
  let emu: HubEmulator;

  beforeAll(async () => {
    emu = await startHubEmulator({ buckets: ['ns/big'] });
  });

  afterAll(async () => {
    await emu.close();
  });

  it('uploads across several xorbs and downloads byte-exact, including a slice over the xorb boundary', async () => {
    // Random bytes do not compress, so 70 MiB cannot fit one 64 MiB xorb.
    const bytes = randomBytes(70 * 1024 * 1024);
    const common = { repo: 'buckets/ns/big', hubUrl: emu.url, accessToken: 'hf_emulator_write_token' };
    await uploadFile({ ...common, file: { path: 'big/archive.bin', content: new Blob([bytes]) } });
    expect(emu.counters().requests.xorb).toBeGreaterThanOrEqual(2);
    expect(sha256(emu.readFile('ns/big', 'big/archive.bin')!)).toBe(sha256(bytes));

    const blob = await downloadFile({ ...common, path: 'big/archive.bin' });
    expect(blob?.size).toBe(bytes.byteLength);
    expect(sha256(new Uint8Array(await blob!.arrayBuffer()))).toBe(sha256(bytes));
    const [start, end] = [63 * 1024 * 1024 + 17, 66 * 1024 * 1024 - 3];
    expect(Buffer.from(await blob!.slice(start, end).arrayBuffer()).equals(bytes.subarray(start, end))).toBe(true);
  });
});
