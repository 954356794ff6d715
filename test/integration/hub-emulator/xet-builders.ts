/**
 * Hand-built Xet payloads for protocol tests: xorbs in every chunk encoding (including ones the JS
 * client never writes) and shards with or without footer, so the emulator's checks can be driven
 * directly over HTTP.
 */
import { compressFrameSync, compressSync } from 'lz4-napi';
import { chunkHash, fileHashHex, HASH_BYTES, hexToBytes, verificationHashHex, xorbHashHex, ZERO_HASH } from '../../hub-emulator/hash.js';
import { SHARD_MAGIC_TAG } from '../../hub-emulator/shard.js';
import { bg4Split, SCHEME_BG4_LZ4, SCHEME_LZ4, SCHEME_NONE } from '../../hub-emulator/xorb.js';

export type Encoding = 'raw' | 'lz4-frame' | 'lz4-frame-checksums' | 'lz4-bare-block' | 'bg4-lz4';

const LZ4_MAGIC = Buffer.from([0x04, 0x22, 0x4d, 0x18]);

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

/** An LZ4 sequence with literals only (a valid last sequence of a block). */
function literals(bytes: Uint8Array): Buffer {
  const n = bytes.byteLength;
  const header: number[] = [];
  if (n < 15) header.push(n << 4);
  else {
    header.push(0xf0);
    let rest = n - 15;
    while (rest >= 255) {
      header.push(255);
      rest -= 255;
    }
    header.push(rest);
  }
  return Buffer.concat([Buffer.from(header), bytes]);
}

/**
 * `unit` repeated `times` times as a frame with two *linked* blocks (FLG 0x40, block independence
 * off, as the JS client writes): block 1 is `unit` as literals, block 2 one long match reaching back
 * into block 1's output, then the mandatory final literals. Only a decoder that keeps earlier blocks'
 * output as its window gets it right.
 */
export function linkedRepeatFrame(unit: Uint8Array, times: number): { frame: Buffer; data: Buffer } {
  const data = Buffer.concat(Array.from({ length: times }, () => unit));
  const tail = data.subarray(data.byteLength - 5);
  const matchLength = data.byteLength - unit.byteLength - 5;
  const extra: number[] = [];
  let rest = matchLength - 4 - 15;
  const token = 0x0f; // no literals, match length 15 + extra + 4
  while (rest >= 255) {
    extra.push(255);
    rest -= 255;
  }
  extra.push(rest);
  const block2 = Buffer.concat([Buffer.from([token]), u32(unit.byteLength).subarray(0, 2), Buffer.from(extra), literals(tail)]);
  const block = (payload: Buffer) => Buffer.concat([u32(payload.byteLength), payload]);
  return {
    frame: Buffer.concat([LZ4_MAGIC, Buffer.from([0x40, 0x70, 0xdf]), block(literals(unit)), block(block2), u32(0)]),
    data,
  };
}

function encode(data: Uint8Array, encoding: Encoding): { scheme: number; payload: Buffer } {
  const buf = Buffer.from(data);
  switch (encoding) {
    case 'raw':
      return { scheme: SCHEME_NONE, payload: buf };
    case 'lz4-frame':
      return { scheme: SCHEME_LZ4, payload: compressFrameSync(buf) };
    case 'lz4-frame-checksums':
      return { scheme: SCHEME_LZ4, payload: compressFrameSync(buf, { blockChecksums: true, contentChecksum: true }) };
    case 'lz4-bare-block':
      // lz4-napi prepends the decoded size; a bare block is what follows it.
      return { scheme: SCHEME_LZ4, payload: compressSync(buf).subarray(4) };
    case 'bg4-lz4':
      return { scheme: SCHEME_BG4_LZ4, payload: compressFrameSync(bg4Split(buf)) };
  }
}

export interface BuiltXorb {
  hash: string;
  body: Buffer;
  chunkHashes: Uint8Array;
  lengths: number[];
}

/** Serializes chunks with the given encodings and computes the xorb hash the CAS will expect. */
export function buildXorb(chunks: Array<{ data: Uint8Array; encoding?: Encoding; scheme?: number; payload?: Buffer }>): BuiltXorb {
  const parts: Buffer[] = [];
  const chunkHashes = new Uint8Array(chunks.length * HASH_BYTES);
  const lengths: number[] = [];
  chunks.forEach((chunk, i) => {
    const { scheme, payload } = chunk.payload && chunk.scheme !== undefined
      ? { scheme: chunk.scheme, payload: chunk.payload }
      : encode(chunk.data, chunk.encoding ?? 'raw');
    const header = Buffer.alloc(8);
    header.writeUIntLE(payload.byteLength, 1, 3);
    header[4] = scheme;
    header.writeUIntLE(chunk.data.byteLength, 5, 3);
    parts.push(header, payload);
    chunkHashes.set(chunkHash(chunk.data), i * HASH_BYTES);
    lengths.push(chunk.data.byteLength);
  });
  const hash = xorbHashHex({ hashes: chunkHashes, lengths, start: 0, end: chunks.length });
  return { hash, body: Buffer.concat(parts), chunkHashes, lengths };
}

export interface ShardFile {
  terms: Array<{ xorb: BuiltXorb; start: number; end: number }>;
  /** Override the file hash (to test rejection); computed from the terms by default. */
  hash?: string;
  /** Corrupt the verification entries (to test rejection). */
  badVerification?: boolean;
  /**
   * Add the metadata extension with this sha256 (hex, as sha256sum prints it), laid out as xet-core
   * does: the hex read as four u64 and written little-endian, i.e. what hexToBytes gives.
   */
  sha256?: string;
}

export function fileHashOf(file: ShardFile): string {
  return fileHashHex(file.terms.map((t) => ({ hashes: t.xorb.chunkHashes, lengths: t.xorb.lengths, start: t.start, end: t.end })));
}

/** A shard as the JS client writes it (footer_size 200), or footerless as xet-core does. */
export function buildShard(opts: { files?: ShardFile[]; xorbs?: BuiltXorb[]; footer?: boolean }): Buffer {
  const record = (fill: (b: Buffer) => void) => {
    const b = Buffer.alloc(48);
    fill(b);
    return b;
  };
  const bookend = record((b) => b.fill(0xff, 0, 32));
  const parts: Buffer[] = [];
  const withFooter = opts.footer ?? true;
  parts.push(record((b) => {
    SHARD_MAGIC_TAG.copy(b, 0);
    b.writeBigUInt64LE(2n, 32);
    b.writeBigUInt64LE(withFooter ? 200n : 0n, 40);
  }));
  for (const file of opts.files ?? []) {
    const hash = file.hash ?? (file.terms.length ? fileHashOf(file) : ZERO_HASH);
    parts.push(record((b) => {
      b.set(hexToBytes(hash), 0);
      b.writeUInt32LE(file.sha256 === undefined ? 0x80000000 : 0xc0000000, 32);
      b.writeUInt32LE(file.terms.length, 36);
    }));
    for (const t of file.terms) {
      parts.push(record((b) => {
        b.set(hexToBytes(t.xorb.hash), 0);
        b.writeUInt32LE(t.xorb.lengths.slice(t.start, t.end).reduce((s, n) => s + n, 0), 36);
        b.writeUInt32LE(t.start, 40);
        b.writeUInt32LE(t.end, 44);
      }));
    }
    for (const t of file.terms) {
      const v = verificationHashHex({ hashes: t.xorb.chunkHashes, lengths: t.xorb.lengths, start: t.start, end: t.end });
      parts.push(record((b) => b.set(hexToBytes(file.badVerification ? ZERO_HASH : v), 0)));
    }
    const sha256 = file.sha256;
    if (sha256 !== undefined) parts.push(record((b) => b.set(hexToBytes(sha256), 0)));
  }
  parts.push(bookend);
  for (const xorb of opts.xorbs ?? []) {
    parts.push(record((b) => {
      b.set(hexToBytes(xorb.hash), 0);
      b.writeUInt32LE(xorb.lengths.length, 36);
      b.writeUInt32LE(xorb.lengths.reduce((s, n) => s + n, 0), 40);
      b.writeUInt32LE(xorb.body.byteLength, 44);
    }));
    let offset = 0;
    xorb.lengths.forEach((length, i) => {
      parts.push(record((b) => {
        b.set(xorb.chunkHashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES), 0);
        b.writeUInt32LE(offset, 32);
        b.writeUInt32LE(length, 36);
      }));
      offset += length;
    });
  }
  parts.push(bookend);
  if (withFooter) {
    const footerOffset = parts.reduce((s, p) => s + p.byteLength, 0);
    const footer = Buffer.alloc(200);
    footer.writeBigUInt64LE(1n, 0);
    footer.writeBigUInt64LE(48n, 8);
    footer.writeBigUInt64LE(BigInt(footerOffset), 192);
    parts.push(footer);
  }
  return Buffer.concat(parts);
}
