/**
 * Xorb ingest (C1) with chunk hashing done while the body arrives: the hashes it takes from the
 * streaming pass must be exactly those of the final body, and every kind of bad xorb must still be
 * refused with 400 when it is big enough to arrive in many pieces.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compressFrameSync } from 'lz4-napi';
import { getChunks } from '@huggingface/xetchunk-wasm';
import { startHubEmulator, type HubEmulator } from '../../hub-emulator/index.js';
import { HASH_BYTES } from '../../hub-emulator/hash.js';
import { parseXorbLayout, StreamingChunkHasher, verifyXorb, XorbFormatError } from '../../hub-emulator/xorb.js';
import { buildXorb, type BuiltXorb } from './xet-builders.js';

const TOKEN = 'hf_emulator_write_token';
const BUCKET = 'ingest/bucket';

/** Random data cut like the client does, as raw chunks. */
function rawXorb(bytes: number): BuiltXorb {
  const data = randomBytes(bytes);
  const chunks: Array<{ data: Uint8Array }> = [];
  let offset = 0;
  for (const c of getChunks(data)) {
    chunks.push({ data: data.subarray(offset, offset + c.length) });
    offset += c.length;
  }
  return buildXorb(chunks);
}

/** Feeds `body` to a StreamingChunkHasher through one up-front buffer, in pieces, like readBody does. */
function stream(body: Buffer, piece: number): { buffer: Buffer; hasher: StreamingChunkHasher } {
  const buffer = Buffer.allocUnsafe(body.byteLength);
  const hasher = new StreamingChunkHasher();
  for (let at = 0; at < body.byteLength; at += piece) {
    const end = Math.min(body.byteLength, at + piece);
    body.copy(buffer, at, at, end);
    hasher.update(buffer, end);
  }
  return { buffer, hasher };
}

describe('StreamingChunkHasher', () => {
  const xorb = rawXorb(3 * 1024 * 1024);
  const count = xorb.lengths.length;

  it('hashes every chunk while the pieces arrive, whatever their size', async () => {
    const small = rawXorb(200_000);
    const cases: Array<[BuiltXorb, number]> = [[small, 1], [xorb, 7], [xorb, 8], [xorb, 9], [xorb, 1000], [xorb, 65_536], [xorb, xorb.body.byteLength]];
    for (const [x, piece] of cases) {
      const { buffer, hasher } = stream(x.body, piece);
      const out = new Uint8Array(x.lengths.length * HASH_BYTES);
      expect(hasher.takeHashes(buffer, parseXorbLayout(buffer), out)).toBe(x.lengths.length);
      expect(Buffer.from(out).equals(Buffer.from(x.chunkHashes))).toBe(true);
      const verified = await verifyXorb(buffer, x.hash, hasher);
      expect(Buffer.from(verified.chunkHashes).equals(Buffer.from(x.chunkHashes))).toBe(true);
    }
  });

  it('gives nothing for other memory, even with the same bytes', () => {
    const { hasher } = stream(xorb.body, 65_536);
    const copy = Buffer.from(xorb.body);
    expect(hasher.takeHashes(copy, parseXorbLayout(copy), new Uint8Array(count * HASH_BYTES))).toBe(0);
  });

  it('only gives the chunks that were complete, and verifyXorb hashes the rest', async () => {
    const buffer = Buffer.from(xorb.body);
    const hasher = new StreamingChunkHasher();
    hasher.update(buffer, Math.floor(buffer.byteLength / 2));
    const taken = hasher.takeHashes(buffer, parseXorbLayout(buffer), new Uint8Array(count * HASH_BYTES));
    expect(taken).toBeGreaterThan(0);
    expect(taken).toBeLessThan(count);
    const verified = await verifyXorb(buffer, xorb.hash, hasher);
    expect(Buffer.from(verified.chunkHashes).equals(Buffer.from(xorb.chunkHashes))).toBe(true);
  });

  it('stops at a footer or a bad header and leaves the verdict to verifyXorb', async () => {
    const withFooter = Buffer.concat([xorb.body, Buffer.from('XETBLOB'), Buffer.alloc(100)]);
    const a = stream(withFooter, 65_536);
    expect((await verifyXorb(a.buffer, xorb.hash, a.hasher)).chunkHashes).toEqual(xorb.chunkHashes);

    const badScheme = Buffer.from(xorb.body);
    const second = parseXorbLayout(badScheme).chunkOffsets[1] ?? 0;
    badScheme[second + 4] = 9;
    const b = stream(badScheme, 65_536);
    await expect(verifyXorb(b.buffer, xorb.hash, b.hasher)).rejects.toThrow(XorbFormatError);
  });
});

describe('xorb upload (C1) of large bodies', () => {
  let emu: HubEmulator;
  let cas: { accessToken: string; casUrl: string };
  const post = (hash: string, body: Buffer) =>
    fetch(`${cas.casUrl}/v1/xorbs/default/${hash}`, { method: 'POST', body, headers: { Authorization: `Bearer ${cas.accessToken}` } });

  beforeAll(async () => {
    emu = await startHubEmulator({ buckets: [BUCKET] });
    const res = await fetch(`${emu.url}/api/buckets/${BUCKET}/xet-write-token`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    cas = (await res.json()) as { accessToken: string; casUrl: string };
  });

  afterAll(async () => {
    await emu.close();
  });

  it('accepts a 16 MiB raw xorb and refuses it with one flipped byte, one byte short, or under another hash', async () => {
    const xorb = rawXorb(16 * 1024 * 1024);
    const flipped = Buffer.from(xorb.body);
    const mid = (parseXorbLayout(flipped).chunkOffsets[Math.floor(xorb.lengths.length / 2)] ?? 0) + 100;
    flipped[mid] = (flipped[mid] ?? 0) ^ 1;
    const lastByte = Buffer.from(xorb.body);
    lastByte[lastByte.byteLength - 1] = (lastByte[lastByte.byteLength - 1] ?? 0) ^ 0x80;
    for (const body of [flipped, lastByte, xorb.body.subarray(0, xorb.body.byteLength - 1)]) {
      const res = await post(xorb.hash, body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/xorb hash mismatch|truncated/u);
    }
    const other = rawXorb(1024 * 1024);
    expect((await post(other.hash, xorb.body)).status).toBe(400);

    expect(await (await post(xorb.hash, xorb.body)).json()).toEqual({ was_inserted: true });
    expect(await (await post(xorb.hash, xorb.body)).json()).toEqual({ was_inserted: false });
  });

  it('refuses an LZ4 chunk whose frame decodes to another length than its header says', async () => {
    const data = randomBytes(50_000);
    const good = buildXorb([{ data: randomBytes(70_000) }, { data, encoding: 'lz4-frame' }]);
    const lying = buildXorb([{ data: randomBytes(70_000) }, { data, scheme: 1, payload: compressFrameSync(data.subarray(0, 40_000)) }]);
    const res = await post(good.hash, lying.body);
    expect(res.status).toBe(400);
    expect(await (await post(good.hash, good.body)).json()).toEqual({ was_inserted: true });
  });
});
