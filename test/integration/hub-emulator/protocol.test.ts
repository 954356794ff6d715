/**
 * Protocol edges the JS client does not (or not always) produce, driven over HTTP with hand-built
 * xorbs and shards: other writers' LZ4 frames, footerless and partial shards, verification failures,
 * the sha256 metadata extension,
 * batch `failed` reporting, resolve ranges, reconstruction trimming and signed xorb URLs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, deleteFile, deleteFiles, downloadFile, listFiles, uploadFiles } from '@huggingface/hub';
import { startHubEmulator, type HubEmulator } from '../../hub-emulator/index.js';
import { decodeChunk, parseXorbLayout } from '../../hub-emulator/xorb.js';
import { buildShard, buildXorb, fileHashOf, linkedRepeatFrame, type BuiltXorb } from './xet-builders.js';

const TOKEN = 'hf_emulator_write_token';
const READ_ONLY = 'hf_read_only';
const BUCKET = 'proto/bucket';
const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

function text(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size);
  for (let offset = 0, i = 0; offset < size; i++) offset += out.write(`${seed} record ${i} value=${(i * 7919) % 1000}\n`, offset);
  return out;
}

/** Little-endian float32 ramp: the kind of data byte grouping helps. */
function floats(count: number): Buffer {
  const out = Buffer.alloc(count * 4 + 1);
  for (let i = 0; i < count; i++) out.writeFloatLE(i / 3, i * 4);
  return out;
}

describe('hub emulator protocol edges', () => {
  let emu: HubEmulator;
  let cas: { accessToken: string; casUrl: string };
  let readCas: { accessToken: string; casUrl: string };

  const token = async (kind: 'write' | 'read', hfToken = TOKEN) => {
    const res = await fetch(`${emu.url}/api/buckets/${BUCKET}/xet-${kind}-token`, { headers: auth(hfToken) });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-xet-cas-url')).toBe(`${emu.url}/cas`);
    return (await res.json()) as { accessToken: string; casUrl: string; exp: number };
  };
  const postXorb = (xorb: BuiltXorb, bearer = cas.accessToken, body: Buffer = xorb.body) =>
    fetch(`${cas.casUrl}/v1/xorbs/default/${xorb.hash}`, { method: 'POST', body, headers: auth(bearer) });
  const postShard = (shard: Buffer, bearer = cas.accessToken) => fetch(`${cas.casUrl}/v1/shards`, { method: 'POST', body: shard, headers: auth(bearer) });
  const batch = async (lines: object[], trailingNewline = false) => {
    const body = lines.map((l) => JSON.stringify(l)).join('\n') + (trailingNewline ? '\n' : '');
    const res = await fetch(`${emu.url}/api/buckets/${BUCKET}/batch`, {
      method: 'POST',
      body,
      headers: { ...auth(TOKEN), 'Content-Type': 'application/x-ndjson' },
    });
    return { status: res.status, json: (await res.json()) as { success: boolean; processed: number; succeeded: number; failed: Array<{ path: string; error: string }> } };
  };

  beforeAll(async () => {
    emu = await startHubEmulator({ buckets: [BUCKET, 'proto/other'], tokens: { [TOKEN]: { write: true }, [READ_ONLY]: { write: false } } });
    cas = await token('write');
    readCas = await token('read');
  });

  afterAll(async () => {
    await emu.close();
  });

  describe('xorb upload (C1)', () => {
    it('decodes raw, multi-block and checksummed LZ4 frames, linked blocks, bare blocks and BG4, then rebuilds the file', async () => {
      const linked = linkedRepeatFrame(randomBytes(1000), 50);
      const chunks = [
        { data: randomBytes(20_000), encoding: 'raw' as const },
        { data: text(100_000, 'frame'), encoding: 'lz4-frame' as const },
        { data: text(90_000, 'checksummed'), encoding: 'lz4-frame-checksums' as const },
        { data: linked.data, scheme: 1, payload: linked.frame },
        { data: text(30_000, 'bare'), encoding: 'lz4-bare-block' as const },
        { data: floats(10_000), encoding: 'bg4-lz4' as const },
      ];
      const xorb = buildXorb(chunks);
      expect(await (await postXorb(xorb)).json()).toEqual({ was_inserted: true });
      expect(await (await postXorb(xorb)).json()).toEqual({ was_inserted: false });
      const file = { terms: [{ xorb, start: 0, end: chunks.length }] };
      expect((await postShard(buildShard({ files: [file], xorbs: [xorb] }))).status).toBe(200);
      expect((await batch([{ type: 'addFile', path: 'codec/all.bin', xetHash: fileHashOf(file) }])).status).toBe(200);

      const expected = Buffer.concat(chunks.map((c) => c.data));
      expect(emu.readFile(BUCKET, 'codec/all.bin')?.equals(expected)).toBe(true);
      const raw = await fetch(`${emu.url}/buckets/${BUCKET}/resolve/codec/all.bin`, { headers: auth(TOKEN) });
      expect(Buffer.from(await raw.arrayBuffer()).equals(expected)).toBe(true);
    });

    it('answers 400 to a hash mismatch, truncation, an unknown scheme and an empty body', async () => {
      const xorb = buildXorb([{ data: randomBytes(5000) }]);
      const other = buildXorb([{ data: randomBytes(5000) }]);
      const badScheme = Buffer.from(xorb.body);
      badScheme[4] = 9;
      for (const body of [other.body, xorb.body.subarray(0, xorb.body.byteLength - 1), badScheme, Buffer.alloc(0)]) {
        const res = await postXorb(xorb, cas.accessToken, body);
        expect(res.status).toBe(400);
        expect((await res.json()) as object).toHaveProperty('error');
      }
    });

    it('needs a write-scoped CAS token: 401 without one or with a forged one, 403 with a read token', async () => {
      const xorb = buildXorb([{ data: randomBytes(100) }]);
      expect((await fetch(`${cas.casUrl}/v1/xorbs/default/${xorb.hash}`, { method: 'POST', body: xorb.body })).status).toBe(401);
      expect((await postXorb(xorb, `${cas.accessToken.slice(0, -2)}xx`)).status).toBe(401);
      expect((await postXorb(xorb, readCas.accessToken)).status).toBe(403);
      expect((await fetch(`${emu.url}/api/buckets/${BUCKET}/xet-write-token`, { headers: auth(READ_ONLY) })).status).toBe(403);
    });
  });

  describe('shard upload (C2)', () => {
    it('accepts footerless, CAS-only and file-only shards and a zero-entry empty-file block', async () => {
      const a = buildXorb([{ data: randomBytes(3000) }, { data: randomBytes(4000) }]);
      const b = buildXorb([{ data: randomBytes(5000), encoding: 'lz4-frame' }]);
      await postXorb(a);
      await postXorb(b);
      const footerless = { terms: [{ xorb: a, start: 1, end: 2 }] };
      expect((await postShard(buildShard({ files: [footerless], xorbs: [a], footer: false }))).status).toBe(200);
      expect((await postShard(buildShard({ xorbs: [b] }))).status).toBe(200);
      // A file whose terms only point at xorbs registered by earlier shards, one of them twice.
      const later = { terms: [{ xorb: b, start: 0, end: 1 }, { xorb: a, start: 0, end: 2 }, { xorb: b, start: 0, end: 1 }] };
      const empty = { terms: [] };
      expect((await postShard(buildShard({ files: [later, empty] }))).status).toBe(200);

      const { status, json } = await batch([
        { type: 'addFile', path: 'shards/footerless.bin', xetHash: fileHashOf(footerless) },
        { type: 'addFile', path: 'shards/later.bin', xetHash: fileHashOf(later) },
        { type: 'addFile', path: 'shards/empty.bin', xetHash: '0'.repeat(64) },
      ]);
      expect([status, json.failed]).toEqual([200, []]);
      expect(emu.fileInfo(BUCKET, 'shards/later.bin')?.size).toBe(5000 + 3000 + 4000 + 5000);
      expect(emu.fileInfo(BUCKET, 'shards/empty.bin')?.size).toBe(0);
      expect(emu.verifiedSha256(fileHashOf(later))).toBeUndefined(); // no extension sent, none checked, still accepted
      const blob = await downloadFile({ repo: `buckets/${BUCKET}`, hubUrl: emu.url, accessToken: TOKEN, path: 'shards/later.bin' });
      expect(Buffer.from(await blob!.arrayBuffer()).equals(emu.readFile(BUCKET, 'shards/later.bin')!)).toBe(true);
    });

    it('checks a metadata extension against the rebuilt bytes: a wrong sha256 gets 400 and registers nothing, the right one is accepted with or without a footer', async () => {
      const parts = [randomBytes(3000), text(60_000, 'sha')];
      const x = buildXorb([{ data: parts[0]! }, { data: parts[1]!, encoding: 'lz4-frame' }]);
      await postXorb(x);
      const file = { terms: [{ xorb: x, start: 0, end: 2 }] };
      const right = createHash('sha256').update(Buffer.concat(parts)).digest('hex');
      const wrong = createHash('sha256').update('other bytes').digest('hex');

      const refused = await postShard(buildShard({ files: [{ ...file, sha256: wrong }], xorbs: [x], footer: false }));
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: string }).error).toBe(
        `file ${fileHashOf(file)}: the shard's metadata extension gives sha256 ${wrong}, but the file's bytes hash to ${right}`,
      );
      const unknown = await batch([{ type: 'addFile', path: 'sha/refused.bin', xetHash: fileHashOf(file) }]);
      expect([unknown.status, unknown.json.failed[0]?.error]).toEqual([422, expect.stringMatching(/Unknown xetHash/u)]);

      expect((await postShard(buildShard({ files: [{ ...file, sha256: right }], xorbs: [x], footer: false }))).status).toBe(200);
      expect((await postShard(buildShard({ files: [{ ...file, sha256: right }], footer: true }))).status).toBe(200);
      expect(emu.verifiedSha256(fileHashOf(file))).toBe(right);
      // Once known, a wrong claim about the same file is still refused (from the remembered sha256).
      expect((await postShard(buildShard({ files: [{ ...file, sha256: wrong }] }))).status).toBe(400);
      // An empty file: xet-core's all-zero field and the true sha256 of no bytes are both accepted.
      const empty = { terms: [] };
      expect((await postShard(buildShard({ files: [{ ...empty, sha256: '0'.repeat(64) }] }))).status).toBe(200);
      expect((await postShard(buildShard({ files: [{ ...empty, sha256: createHash('sha256').digest('hex') }] }))).status).toBe(200);
      expect((await postShard(buildShard({ files: [{ ...empty, sha256: wrong }] }))).status).toBe(400);
    });

    it('answers 400 to a missing xorb, a bad chunk range, a wrong verification or file hash, and registers nothing', async () => {
      const x = buildXorb([{ data: randomBytes(2000) }, { data: randomBytes(2000) }]);
      const missing = buildXorb([{ data: randomBytes(2000) }]);
      await postXorb(x);
      const bad = [
        buildShard({ files: [{ terms: [{ xorb: missing, start: 0, end: 1 }] }] }),
        buildShard({ xorbs: [missing] }),
        buildShard({ files: [{ terms: [{ xorb: x, start: 0, end: 3 }], hash: 'cd'.repeat(32) }] }),
        buildShard({ files: [{ terms: [{ xorb: x, start: 0, end: 2 }], badVerification: true }] }),
        buildShard({ files: [{ terms: [{ xorb: x, start: 0, end: 2 }], hash: 'cd'.repeat(32) }] }),
        Buffer.from('not a shard at all, not even close to 144 bytes long'),
      ];
      for (const shard of bad) expect((await postShard(shard)).status).toBe(400);
      const { status, json } = await batch([{ type: 'addFile', path: 'never.bin', xetHash: fileHashOf({ terms: [{ xorb: x, start: 0, end: 2 }] }) }]);
      expect(status).toBe(422);
      expect(json.failed[0]?.error).toMatch(/Unknown xetHash/u);
    });
  });

  describe('batch (H8)', () => {
    it('reports unknown hashes, invalid paths and missing deletes in `failed`; 422 only when all failed', async () => {
      emu.seedFile(BUCKET, 'batch/seed.txt', Buffer.from('seeded'));
      const hash = emu.fileInfo(BUCKET, 'batch/seed.txt')!.xetHash;
      const mixed = await batch([
        { type: 'addFile', path: 'batch/ok.txt', xetHash: hash, mtime: 1_700_000_000_000 },
        { type: 'addFile', path: 'batch/unknown.txt', xetHash: 'ef'.repeat(32) },
        { type: 'addFile', path: '../escape.txt', xetHash: hash },
        { type: 'deleteFile', path: 'batch/never-existed.txt' },
        { type: 'renameFile', path: 'batch/x' },
      ], true);
      expect(mixed.status).toBe(200);
      expect(mixed.json).toMatchObject({ success: false, processed: 5, succeeded: 1 });
      expect(mixed.json.failed.map((f) => f.path)).toEqual(['batch/unknown.txt', '../escape.txt', 'batch/never-existed.txt', 'batch/x']);
      const listed = [];
      for await (const e of listFiles({ repo: `buckets/${BUCKET}`, hubUrl: emu.url, accessToken: TOKEN, path: 'batch/ok.txt' })) listed.push(e);
      expect(listed).toMatchObject([{ path: 'batch/ok.txt', mtime: '2023-11-14T22:13:20.000Z' }]);
      expect(emu.listPaths(BUCKET)).not.toContain('batch/unknown.txt');
      const allFailed = await batch([{ type: 'addFile', path: 'batch/u2.txt', xetHash: '12'.repeat(32) }]);
      expect([allFailed.status, allFailed.json.success, allFailed.json.succeeded]).toEqual([422, false, 0]);
    });

    it('copies server-side by xetHash from another bucket, and deletes through the client', async () => {
      const common = { hubUrl: emu.url, accessToken: TOKEN };
      emu.seedFile('proto/other', 'src/data.bin', randomBytes(70_000));
      await copyFile({
        ...common,
        source: { repo: { type: 'bucket', name: 'proto/other' }, path: 'src/data.bin' },
        destination: { repo: { type: 'bucket', name: BUCKET }, path: 'copied/data.bin' },
      });
      expect(emu.readFile(BUCKET, 'copied/data.bin')?.equals(emu.readFile('proto/other', 'src/data.bin')!)).toBe(true);
      await deleteFile({ ...common, repo: `buckets/${BUCKET}`, path: 'copied/data.bin' });
      expect(emu.fileInfo(BUCKET, 'copied/data.bin')).toBeUndefined();
      // Deleting what is not there lands in `failed`. For deletes the client throws either way:
      // a plain Error when some succeeded (200), a HubApiError when all failed (422).
      emu.seedFile(BUCKET, 'copied/other.bin', Buffer.from('x'));
      await expect(deleteFiles({ ...common, repo: `buckets/${BUCKET}`, paths: ['copied/other.bin', 'copied/data.bin'] })).rejects.toThrow(
        /^Failed to delete 1 file\(s\): copied\/data.bin, request ID: [0-9a-f-]{36}$/u,
      );
      expect(emu.fileInfo(BUCKET, 'copied/other.bin')).toBeUndefined();
      await expect(deleteFile({ ...common, repo: `buckets/${BUCKET}`, path: 'copied/data.bin' })).rejects.toMatchObject({ statusCode: 422 });
    });
  });

  describe('resolve (H9/H10)', () => {
    const bytes = randomBytes(300_000);
    const url = () => `${emu.url}/buckets/${BUCKET}/resolve/ranged/file.bin`;

    beforeAll(() => {
      emu.seedFile(BUCKET, 'ranged/file.bin', bytes);
    });

    it('answers the Xet Accept with file info headers and absolute xet-auth / reconstruction links', async () => {
      const res = await fetch(url(), { headers: { ...auth(TOKEN), Accept: 'application/vnd.xet-fileinfo+json, */*', Range: 'bytes=0-0' } });
      const hash = emu.fileInfo(BUCKET, 'ranged/file.bin')!.xetHash;
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/vnd.xet-fileinfo+json');
      expect(res.headers.get('x-linked-size')).toBe('300000');
      expect(res.headers.get('x-xet-hash')).toBe(hash);
      expect(res.headers.get('etag')).toBe(`"${hash}"`);
      expect(res.headers.get('link')).toBe(
        `<${emu.url}/api/buckets/${BUCKET}/xet-read-token>; rel="xet-auth", <${emu.url}/cas/v1/reconstructions/${hash}>; rel="xet-reconstruction-info"`,
      );
    });

    it('serves raw bytes: whole, ranged (206), suffix, unsatisfiable (416), HEAD sizes and %2F-encoded paths', async () => {
      const get = async (range?: string, target = url()) => {
        const res = await fetch(target, { headers: { ...auth(TOKEN), ...(range ? { Range: range } : {}) } });
        return { res, body: Buffer.from(await res.arrayBuffer()) };
      };
      const whole = await get();
      expect([whole.res.status, whole.body.equals(bytes)]).toEqual([200, true]);
      const mid = await get('bytes=70000-200000');
      expect([mid.res.status, mid.res.headers.get('content-range'), mid.body.equals(bytes.subarray(70_000, 200_001))]).toEqual([
        206,
        'bytes 70000-200000/300000',
        true,
      ]);
      const suffix = await get('bytes=-10');
      expect(suffix.body.equals(bytes.subarray(-10))).toBe(true);
      expect((await get('bytes=300000-')).res.status).toBe(416);
      const head = await fetch(url(), { method: 'HEAD', headers: auth(TOKEN) });
      expect([head.status, head.headers.get('content-length')]).toEqual([200, '300000']);
      const pythonStyle = await get(undefined, `${emu.url}/buckets/${BUCKET}/resolve/ranged%2Ffile.bin`);
      expect(pythonStyle.body.equals(bytes)).toBe(true);
      const missing = await fetch(`${emu.url}/buckets/${BUCKET}/resolve/ranged/nope.bin`, { headers: auth(TOKEN) });
      expect([missing.status, missing.headers.get('x-error-code')]).toEqual([404, 'EntryNotFound']);
    });
  });

  describe('reconstruction and signed xorb reads (C4/C5)', () => {
    it('trims terms to the requested range, and serves only the signed byte span without Authorization', async () => {
      const bytes = randomBytes(1024 * 1024);
      emu.seedFile(BUCKET, 'recon/file.bin', bytes);
      const hash = emu.fileInfo(BUCKET, 'recon/file.bin')!.xetHash;
      const res = await fetch(`${readCas.casUrl}/v2/reconstructions/${hash}`, { headers: { ...auth(readCas.accessToken), Range: 'bytes=500000-500009' } });
      const info = (await res.json()) as {
        offset_into_first_range: number;
        terms: Array<{ hash: string; unpacked_length: number; range: { start: number; end: number } }>;
        xorbs: Record<string, Array<{ url: string; ranges: Array<{ chunks: { start: number; end: number }; bytes: { start: number; end: number } }> }>>;
      };
      expect(info.terms).toHaveLength(1);
      const [term] = info.terms;
      const [entry] = info.xorbs[term!.hash]!;
      const [range] = entry!.ranges;
      expect(range!.chunks).toEqual(term!.range);

      const read = await fetch(entry!.url, { headers: { Range: `bytes=${range!.bytes.start}-${range!.bytes.end}` } });
      expect(read.status).toBe(206);
      const served = Buffer.from(await read.arrayBuffer());
      const layout = parseXorbLayout(served);
      const decoded = Buffer.concat([...layout.chunkOffsets.subarray(0, -1)].map((offset) => decodeChunk(served, offset)));
      expect(decoded.byteLength).toBe(term!.unpacked_length);
      const at = info.offset_into_first_range;
      expect(decoded.subarray(at, at + 10).equals(bytes.subarray(500_000, 500_010))).toBe(true);

      const { start, end } = range!.bytes;
      expect((await fetch(entry!.url, { headers: { Range: `bytes=${start}-${end + 1}` } })).status).toBe(403);
      expect((await fetch(entry!.url.replace(/Signature=[^&]+/u, 'Signature=forged'), { headers: { Range: `bytes=${start}-${end}` } })).status).toBe(403);
      const multi = await fetch(entry!.url, { headers: { Range: `bytes=${start}-${start + 7},${start + 8}-${end}` } });
      expect(multi.status).toBe(206);
      expect(multi.headers.get('content-type')).toMatch(/^multipart\/byteranges; boundary=/u);
      const body = Buffer.from(await multi.arrayBuffer()).toString('latin1');
      expect(body.match(/Content-Range: bytes \d+-\d+\/\d+/gu)).toHaveLength(2);
    });

    it('answers 404 for an unknown file and 416 for a range past its end', async () => {
      const unknown = await fetch(`${readCas.casUrl}/v2/reconstructions/${'aa'.repeat(32)}`, { headers: auth(readCas.accessToken) });
      expect(unknown.status).toBe(404);
      emu.seedFile(BUCKET, 'recon/small.txt', Buffer.from('small'));
      const hash = emu.fileInfo(BUCKET, 'recon/small.txt')!.xetHash;
      const past = await fetch(`${readCas.casUrl}/v2/reconstructions/${hash}`, { headers: { ...auth(readCas.accessToken), Range: 'bytes=5-9' } });
      expect(past.status).toBe(416);
    });
  });

  describe('seedFile', () => {
    it('gives seeded files the xetHash the client computes, serves them to downloadFile and dedups uploads of the same bytes', async () => {
      const bytes = randomBytes(2 * 1024 * 1024);
      // The JS library still cuts by the legacy rule; seeded the same way, its upload dedups whole.
      emu.seedFile(BUCKET, 'seeded/agent-a.bin', bytes, { chunking: 'legacy' });
      const common = { repo: `buckets/${BUCKET}`, hubUrl: emu.url, accessToken: TOKEN };
      const blob = await downloadFile({ ...common, path: 'seeded/agent-a.bin' });
      expect(Buffer.from(await blob!.arrayBuffer()).equals(bytes)).toBe(true);

      emu.resetCounters();
      await uploadFiles({ ...common, files: [{ path: 'seeded/agent-b.bin', content: new Blob([bytes]) }] });
      expect(emu.fileInfo(BUCKET, 'seeded/agent-b.bin')?.xetHash).toBe(emu.fileInfo(BUCKET, 'seeded/agent-a.bin')?.xetHash);
      expect(emu.counters().requests.xorb ?? 0).toBe(0);
      expect(() => emu.seedFile('proto/missing', 'x', Buffer.from('x'))).toThrow(/does not exist/u);
    });
  });

  describe('tree (H4)', () => {
    it('matches recursive listings by string prefix like the Hub, and 404s a missing folder when not recursive', async () => {
      for (const path of ['prefix/sub/a.txt', 'prefix/submarine.txt', 'prefix/other.txt']) emu.seedFile(BUCKET, path, Buffer.from(path));
      const list = async (path: string, recursive: boolean) => {
        const out: string[] = [];
        for await (const e of listFiles({ repo: `buckets/${BUCKET}`, hubUrl: emu.url, accessToken: TOKEN, path, recursive })) out.push(`${e.type}:${e.path}`);
        return out;
      };
      expect(await list('prefix/sub', true)).toEqual(['file:prefix/sub/a.txt', 'file:prefix/submarine.txt']);
      expect(await list('prefix/sub', false)).toEqual(['file:prefix/sub/a.txt']);
      expect(await list('prefix', false)).toEqual(['file:prefix/other.txt', 'directory:prefix/sub', 'file:prefix/submarine.txt']);
      expect(await list('prefix/nothing', true)).toEqual([]);
      await expect(list('prefix/nothing', false)).rejects.toMatchObject({ statusCode: 404 });
    });
  });
});
