/**
 * The real @huggingface/hub client, unmodified, against the loopback emulator: uploads of every
 * awkward size, downloads through Xet and through plain resolve, listings, paths-info, dedup and a
 * listener restart.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFile, fileExists, listFiles, pathsInfo, uploadFiles, type ListFileEntry } from '@huggingface/hub';
import { startHubEmulator, type HubEmulator } from '../hub-emulator/index.js';

const TOKEN = 'hf_emulator_write_token';
const BUCKET = 'agents/outbox';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function compressible(size: number): Buffer {
  const out = Buffer.alloc(size);
  let offset = 0;
  for (let line = 0; offset < size; line++) offset += out.write(`line ${line}: the quick brown fox jumps over the lazy dog\n`, offset);
  return out;
}

const files: Record<string, Buffer> = {
  'empty.txt': Buffer.alloc(0),
  'one-byte.bin': Buffer.from([0x2a]),
  'random-100k.bin': randomBytes(100 * 1024),
  'logs/compressible-5m.txt': compressible(5 * 1024 * 1024),
  'unicodé/日本語 ✓ file.txt': Buffer.from('non-ASCII path ✓\n'),
};

describe('hub emulator driven by the real @huggingface/hub client', () => {
  let emu: HubEmulator;
  let common: { repo: { type: 'bucket'; name: string }; hubUrl: string; accessToken: string };

  beforeAll(async () => {
    emu = await startHubEmulator({ buckets: [BUCKET], treePageSize: 2 });
    common = { repo: { type: 'bucket', name: BUCKET }, hubUrl: emu.url, accessToken: TOKEN };
    await uploadFiles({ ...common, files: Object.entries(files).map(([path, bytes]) => ({ path, content: new Blob([bytes]) })) });
  });

  afterAll(async () => {
    await emu.close();
  });

  it('stores every uploaded file and rebuilds it byte for byte from its xorbs', () => {
    expect(emu.listPaths(BUCKET)).toEqual(Object.keys(files).sort());
    for (const [path, bytes] of Object.entries(files)) {
      expect(sha256(emu.readFile(BUCKET, path) ?? Buffer.from('missing')), path).toBe(sha256(bytes));
      expect(emu.fileInfo(BUCKET, path)?.size, path).toBe(bytes.byteLength);
    }
    expect(emu.fileInfo(BUCKET, 'empty.txt')?.xetHash).toBe('0'.repeat(64));
  });

  it('serves every file back through the client Xet download (XetBlob)', async () => {
    for (const [path, bytes] of Object.entries(files)) {
      const blob = await downloadFile({ ...common, path });
      expect(blob?.size, path).toBe(bytes.byteLength);
      expect(sha256(new Uint8Array(await blob!.arrayBuffer())), path).toBe(sha256(bytes));
    }
  });

  it('serves byte ranges through XetBlob.slice, starting and ending mid-chunk', async () => {
    const bytes = files['logs/compressible-5m.txt']!;
    const blob = await downloadFile({ ...common, path: 'logs/compressible-5m.txt' });
    const [start, end] = [1_234_567, 3_456_789];
    const slice = Buffer.from(await blob!.slice(start, end).arrayBuffer());
    expect(slice.equals(bytes.subarray(start, end))).toBe(true);
  });

  it('serves raw bytes on plain resolve GETs (xet: false), whole and ranged', async () => {
    const bytes = files['random-100k.bin']!;
    const blob = await downloadFile({ ...common, path: 'random-100k.bin', xet: false });
    expect(sha256(new Uint8Array(await blob!.arrayBuffer()))).toBe(sha256(bytes));
    expect(Buffer.from(await blob!.slice(100, 5000).arrayBuffer()).equals(bytes.subarray(100, 5000))).toBe(true);
    const unicode = await downloadFile({ ...common, repo: `buckets/${BUCKET}`, path: 'unicodé/日本語 ✓ file.txt', xet: false });
    expect(await unicode!.text()).toBe('non-ASCII path ✓\n');
  });

  it('returns null for a missing file and answers fileExists with HEAD', async () => {
    expect(await downloadFile({ ...common, path: 'nope.txt' })).toBeNull();
    expect(await fileExists({ ...common, path: 'one-byte.bin' })).toBe(true);
    expect(await fileExists({ ...common, path: 'nope.txt' })).toBe(false);
  });

  it('lists recursively across Link-paginated pages of 2, files only, with xetHash and dates', async () => {
    const entries: ListFileEntry[] = [];
    for await (const entry of listFiles({ ...common, recursive: true })) entries.push(entry);
    expect(entries.map((e) => e.path)).toEqual(Object.keys(files).sort());
    expect(entries.every((e) => e.type === 'file')).toBe(true);
    const one = entries.find((e) => e.path === 'one-byte.bin') as ListFileEntry & { mtime?: string };
    expect(one).toMatchObject({ size: 1, xetHash: emu.fileInfo(BUCKET, 'one-byte.bin')?.xetHash });
    expect(Date.parse(one.uploadedAt ?? '')).not.toBeNaN();
    expect(Date.parse(one.mtime ?? '')).not.toBeNaN();
    expect(emu.counters().requests.tree).toBeGreaterThanOrEqual(3);
  });

  it('lists non-recursively with directory entries, and a sub-folder by path', async () => {
    const root: Array<[string, string]> = [];
    for await (const entry of listFiles({ ...common })) root.push([entry.type, entry.path]);
    expect(root).toEqual([
      ['file', 'empty.txt'],
      ['directory', 'logs'],
      ['file', 'one-byte.bin'],
      ['file', 'random-100k.bin'],
      ['directory', 'unicodé'],
    ]);
    const sub: string[] = [];
    for await (const entry of listFiles({ ...common, path: 'unicodé' })) sub.push(entry.path);
    expect(sub).toEqual(['unicodé/日本語 ✓ file.txt']);
  });

  it('answers paths-info for existing paths and silently omits missing ones', async () => {
    const info = await pathsInfo({ ...common, paths: ['random-100k.bin', 'missing/file.txt', 'empty.txt'] });
    expect(info.map((i) => [i.path, i.size, i.type])).toEqual([
      ['random-100k.bin', 100 * 1024, 'file'],
      ['empty.txt', 0, 'file'],
    ]);
    expect(info[0]?.xetHash).toBe(emu.fileInfo(BUCKET, 'random-100k.bin')?.xetHash);
  });

  it('deduplicates a re-upload of an edited file against the xorbs already stored', async () => {
    const original = randomBytes(3 * 1024 * 1024);
    await uploadFiles({ ...common, files: [{ path: 'dedup/v1.bin', content: new Blob([original]) }] });
    const edited = Buffer.concat([original, Buffer.from('appended edit')]);
    edited.write('EDITED', 2 * 1024 * 1024);
    emu.resetCounters();
    await uploadFiles({ ...common, files: [{ path: 'dedup/v2.bin', content: new Blob([edited]) }] });
    const counters = emu.counters();
    expect(counters.requests.dedup).toBe(1);
    // Only the chunks around the edit and the tail travel again, not the 3 MiB.
    expect(counters.bytesReceived).toBeLessThan(original.byteLength / 4);
    const blob = await downloadFile({ ...common, path: 'dedup/v2.bin' });
    expect(sha256(new Uint8Array(await blob!.arrayBuffer()))).toBe(sha256(edited));
  });

  it('keeps all state and the port across stopListening/listen, with cached CAS tokens still valid', async () => {
    const port = emu.port;
    await emu.stopListening();
    await expect(fetch(`${emu.url}/api/buckets/${BUCKET}`)).rejects.toThrow();
    await emu.listen();
    expect(emu.port).toBe(port);
    const blob = await downloadFile({ ...common, path: 'random-100k.bin' });
    expect(sha256(new Uint8Array(await blob!.arrayBuffer()))).toBe(sha256(files['random-100k.bin']!));
    await uploadFiles({ ...common, files: [{ path: 'after-restart.txt', content: new Blob(['still here']) }] });
    expect(emu.readFile(BUCKET, 'after-restart.txt')?.toString()).toBe('still here');
  });
});
