/**
 * The sha256 metadata extension the Xet spec requires of uploaded shards: the own writer computes
 * each file's sha256 while it reads the file and puts it where xet-core does. The shards are read
 * back with the emulator's parser (separate code) and compared against node:crypto.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChunkIndex } from '../../src/adapters/xet/chunk-index.js';
import { serializeShard, writeSha256Field } from '../../src/adapters/xet/format.js';
import { XetWriter } from '../../src/adapters/xet/writer.js';
import { parseShard } from '../hub-emulator/shard.js';

const sha256Hex = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** The bytes in blocks of `block` (the writer must hash every block, however the file is cut). */
async function* blocks(data: Buffer, block: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += block) yield data.subarray(at, at + block);
}

/** Runs the writer over files against a CAS that stores nothing and keeps the shards it is sent. */
async function shardsFor(files: Array<{ data: Buffer; block: number }>): Promise<{ hashes: string[]; shards: Buffer[] }> {
  const shards: Buffer[] = [];
  const writer = new XetWriter({
    cas: {
      putXorb: async () => undefined,
      putShard: async (body) => void shards.push(Buffer.from(body)),
      queryChunk: async () => undefined,
    },
    known: new ChunkIndex(),
    dedupQueryMinBytes: Infinity,
    expectedBytes: files.reduce((n, f) => n + f.data.length, 0),
  });
  const hashes: string[] = [];
  for (const f of files) hashes.push(await writer.addFile(blocks(f.data, f.block), f.data.length));
  await writer.finish();
  return { hashes, shards };
}

describe('sha256 metadata extension', () => {
  it("the writer's shard carries each file's correct sha256, once per distinct content, an empty file's as xet-core's zeros", async () => {
    const big = randomBytes(700 * 1024); // many chunks, read in odd-sized blocks
    const small = randomBytes(1000);
    const text = Buffer.from('some data');
    const { hashes, shards } = await shardsFor([
      { data: big, block: 65_537 },
      { data: small, block: 1000 },
      { data: Buffer.alloc(0), block: 1 },
      { data: text, block: 4 },
      { data: Buffer.from(big), block: 1 << 20 }, // the same content again
    ]);
    expect(shards).toHaveLength(1);
    const files = parseShard(shards[0] as Buffer).files;
    expect(files.map((f) => f.fileHash)).toEqual([hashes[0], hashes[1], hashes[2], hashes[3]]);
    expect(files.map((f) => f.sha256)).toEqual([sha256Hex(big), sha256Hex(small), '0'.repeat(64), sha256Hex(text)]);
    expect(hashes[4]).toBe(hashes[0]);
  });

  it('lays the sha256 out as xet-core does: each 8-byte group of the digest byte-reversed, then 16 reserved zero bytes', () => {
    // xet-core's own test vector (data/src/sha256.rs): sha256("some data").
    const digest = createHash('sha256').update('some data').digest();
    expect(digest.toString('hex')).toBe('1307990e6ba5ca145eb35e99182a9bec46531bc54ddf656a602c780fa0240dee');
    const field = Buffer.alloc(32);
    writeSha256Field(field, 0, digest);
    expect(field.toString('hex')).toBe('14caa56b0e990713' + 'ec9b2a18995eb35e' + '6a65df4dc51b5346' + 'ee0d24a00f782c60');

    const shard = serializeShard([{ fileHash: '0'.repeat(64), terms: [], sha256: digest }], []);
    const header = 48;
    expect(shard.readUInt32LE(header + 32)).toBe(0xc0000000); // with verification | with metadata extension
    expect(shard.subarray(header + 48, header + 80).equals(field)).toBe(true);
    expect(shard.subarray(header + 80, header + 96).every((b) => b === 0)).toBe(true);
    expect(parseShard(shard).files[0]?.sha256).toBe(digest.toString('hex'));
  });
});
