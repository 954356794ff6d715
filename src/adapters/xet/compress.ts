/**
 * Per-chunk compression for xorbs. The Hub client compresses every chunk twice in JavaScript
 * (LZ4, and byte-grouping + LZ4) and keeps the smaller; that is most of its upload time on
 * incompressible checkpoints. Here the choice is made on a sample: the first chunk of a file and
 * then every PROBE_EVERY-th chunk try all schemes, the chunks in between use the winner, and a
 * chunk that does not shrink is stored raw. LZ4 is the native lz4-napi (the LZ4 *frame* format,
 * lz4_flex's defaults, as xet-core writes it); if it cannot load, every chunk is stored raw,
 * which the format allows, so an upload never depends on it.
 */
import { createRequire } from 'node:module';
import { Scheme } from './format.js';

/** Chunks between two probes of all schemes. */
const PROBE_EVERY = 32;
/** A scheme must save at least this fraction to be worth the decoder's time on download. */
const MIN_SAVING = 0.03;

interface Lz4 {
  compressFrameSync(data: Buffer): Buffer;
}

let lz4Module: Lz4 | null | undefined;

/** The native LZ4 frame compressor, or null when the package is missing or fails to load. */
export function loadLz4(): Lz4 | null {
  if (lz4Module === undefined) {
    try {
      lz4Module = createRequire(import.meta.url)('lz4-napi') as Lz4;
    } catch {
      lz4Module = null;
    }
  }
  return lz4Module;
}

export interface EncodedChunk {
  scheme: Scheme;
  /** The bytes stored after the chunk header (the raw chunk itself when scheme is None). */
  payload: Buffer;
}

/** One per file: carries the scheme the last probe chose. */
export class ChunkEncoder {
  readonly #lz4: Lz4 | null;
  #scheme: Scheme = Scheme.None;
  #sinceProbe = PROBE_EVERY;

  constructor(lz4: Lz4 | null = loadLz4()) {
    this.#lz4 = lz4;
  }

  encode(chunk: Buffer): EncodedChunk {
    const lz4 = this.#lz4;
    if (lz4 === null) return { scheme: Scheme.None, payload: chunk };
    if (this.#sinceProbe >= PROBE_EVERY) {
      this.#sinceProbe = 1;
      return this.#probe(lz4, chunk);
    }
    this.#sinceProbe++;
    if (this.#scheme === Scheme.None) return { scheme: Scheme.None, payload: chunk };
    const payload = this.#scheme === Scheme.Lz4 ? lz4.compressFrameSync(chunk) : lz4.compressFrameSync(bg4Split(chunk));
    return payload.length < chunk.length ? { scheme: this.#scheme, payload } : { scheme: Scheme.None, payload: chunk };
  }

  #probe(lz4: Lz4, chunk: Buffer): EncodedChunk {
    const limit = chunk.length * (1 - MIN_SAVING);
    let best: EncodedChunk = { scheme: Scheme.None, payload: chunk };
    const plain = lz4.compressFrameSync(chunk);
    if (plain.length < limit) best = { scheme: Scheme.Lz4, payload: plain };
    const grouped = lz4.compressFrameSync(bg4Split(chunk));
    if (grouped.length < Math.min(limit, best.payload.length)) best = { scheme: Scheme.ByteGrouping4Lz4, payload: grouped };
    this.#scheme = best.scheme;
    return best;
  }
}

/**
 * ByteGrouping4: byte i goes to group i % 4; the groups are concatenated. With n = len/4 and
 * r = len%4, group k holds n + (k < r ? 1 : 0) bytes.
 */
export function bg4Split(data: Uint8Array): Buffer {
  const len = data.length;
  const out = Buffer.allocUnsafe(len);
  const n = len >>> 2;
  const r = len & 3;
  const start1 = n + (r > 0 ? 1 : 0);
  const start2 = start1 + n + (r > 1 ? 1 : 0);
  const start3 = start2 + n + (r > 2 ? 1 : 0);
  let i = 0;
  for (let j = 0; j < n; j++, i += 4) {
    out[j] = data[i] as number;
    out[start1 + j] = data[i + 1] as number;
    out[start2 + j] = data[i + 2] as number;
    out[start3 + j] = data[i + 3] as number;
  }
  if (r > 0) out[n] = data[i] as number;
  if (r > 1) out[start1 + n] = data[i + 1] as number;
  if (r > 2) out[start2 + n] = data[i + 2] as number;
  return out;
}
