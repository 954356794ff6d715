/**
 * Xet content-defined chunking (docs/xet/chunking.md): a GEAR rolling hash over a 64-byte window
 * marks a candidate cut where `hash & 0xffff000000000000 == 0`; a chunk is at least 8 KiB and at
 * most 128 KiB; each chunk's hash is BLAKE3 keyed with the Xet data key.
 *
 * Two rules for the 8 KiB minimum exist in the wild:
 * - `xet-core` (the default; xet-core since 1.1.10, what the `hf` CLI and the Hub's own tools use):
 *   the scan starts 8 KiB − 65 bytes into a chunk, and a candidate that would end the chunk before
 *   8 KiB is skipped, the scan going on with the same rolling hash. Every chunk but a file's last is
 *   8,192–131,072 bytes. test/unit/xet-chunker.test.ts holds this to xet-core's own test vectors.
 * - `legacy` (xet-core before 1.1.10, `@huggingface/xetchunk-wasm` 0.2.0, hf-outbox before this
 *   change): the first candidate after the scan start is a cut, so a chunk can end at 8,128–8,191
 *   bytes. About 8% of the chunks of random data differ, so a multi-chunk file usually gets another
 *   file hash. Kept only to recognise files uploaded under it (see xet-hash.ts).
 *
 * The chunk hash is native BLAKE3 where it loads, else hash-wasm's (src/hash/chunk-blake3.ts): hashing
 * was most of the cost of an upload.
 */
import { Hasher as GearHasher } from 'gearhash-jit';
import { keyedBlake3, type ChunkHashFn } from './chunk-blake3.js';

export const MIN_CHUNK = 8 * 1024;
export const MAX_CHUNK = 128 * 1024;
const WINDOW = 64;
/** The first byte of a chunk that can end it is MIN_CHUNK − WINDOW − 1 bytes in. */
const SCAN_SKIP = MIN_CHUNK - WINDOW - 1;
/**
 * The rolling hash is fed at most this many bytes per call: gearhash-jit copies each call's input
 * into its own memory, so a call given the 120 KiB to the largest cut copied about twice what it
 * scanned before the match (the hash carries over between calls, so the cuts are the same).
 */
export const SCAN_STEP = 32 * 1024;
/** Target 64 KiB: the top 16 bits of the rolling hash must be zero. */
export const GEAR_MASK = 0xffffn << 48n;

/** The Xet DATA_KEY (docs/xet/hashing.md). */
export const DATA_KEY = Uint8Array.from([
  102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28, 157, 228, 33, 16, 155, 235, 43, 88, 180,
  208, 176, 75, 147, 173, 242, 41,
]);

/** Which minimum-size rule cuts the chunks (see the module comment). */
export type ChunkRule = 'xet-core' | 'legacy';

export interface DataChunk {
  hash: Uint8Array;
  length: number;
  /** The chunk's bytes: a view valid until the next `push`/`finish` (copy what must outlive it). */
  data: Buffer;
}

let hasher: Promise<{ hash: ChunkHashFn }> | undefined;

export class XetChunker {
  readonly #gear = new GearHasher(GEAR_MASK);
  readonly #blake: ChunkHashFn;
  readonly #legacy: boolean;
  /** Bytes of the unfinished chunk from earlier blocks (copies), and how many. */
  #carry: Buffer[] = [];
  #carried = 0;

  private constructor(blake: ChunkHashFn, rule: ChunkRule) {
    this.#blake = blake;
    this.#legacy = rule === 'legacy';
  }

  /** One keyed hasher serves every chunker: each hash is computed synchronously, start to end. */
  static async create(rule: ChunkRule = 'xet-core'): Promise<XetChunker> {
    hasher ??= keyedBlake3(DATA_KEY);
    return new XetChunker((await hasher).hash, rule);
  }

  /**
   * The chunks that end within this block (a chunk begun in earlier blocks included). The rolling
   * hash carries over from the last block, so every byte is scanned once however the input is cut.
   */
  push(block: Buffer): DataChunk[] {
    return this.cut(block).map((data) => this.#chunk(data));
  }

  /** The last chunk: whatever is left once the input ended. */
  finish(): DataChunk | undefined {
    const last = this.cutFinish();
    return last ? this.#chunk(last) : undefined;
  }

  /**
   * As push, without hashing: the bytes of each chunk that ends within this block (views valid
   * until the next call), for a caller that hashes them elsewhere (src/hash/chunk-hash-pool.ts).
   */
  cut(block: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < block.length) {
      const end = this.#boundary(block, pos);
      if (end < 0) {
        this.#carry.push(Buffer.from(block.subarray(pos)));
        this.#carried += block.length - pos;
        break;
      }
      const carry = this.#carry;
      out.push(carry.length === 0 ? block.subarray(pos, end) : Buffer.concat([...carry, block.subarray(pos, end)]));
      this.#carry = [];
      this.#carried = 0;
      pos = end;
    }
    return out;
  }

  /** As finish, without hashing: the last chunk's bytes. */
  cutFinish(): Buffer | undefined {
    const carry = this.#carry;
    this.#carry = [];
    this.#carried = 0;
    return carry.length > 0 ? (carry.length === 1 ? (carry[0] as Buffer) : Buffer.concat(carry)) : undefined;
  }

  /**
   * Where in `block` the chunk that has `#carried` bytes before `start` ends, or -1 when the block
   * ends first. Bytes of the chunk already scanned in earlier blocks are not scanned again.
   */
  #boundary(block: Buffer, start: number): number {
    const before = this.#carried;
    const maxEnd = Math.min(block.length, start + MAX_CHUNK - before);
    // The scan starts SCAN_SKIP bytes into the chunk (the rolling hash fresh there); past that it goes on.
    let pos = start + Math.max(0, SCAN_SKIP - before);
    if (pos < maxEnd) {
      if (before <= SCAN_SKIP) this.#gear.resetHash();
      while (pos < maxEnd) {
        const step = Math.min(maxEnd, pos + SCAN_STEP);
        const at = this.#gear.nextMatch(block.subarray(pos, step));
        if (at === -1) {
          pos = step;
          continue;
        }
        pos += at;
        if (this.#legacy || before + pos - start >= MIN_CHUNK) return pos;
        // Under 8 KiB: not a cut. The hash state carries on, so every later candidate is judged on
        // the 64 bytes before it, as xet-core does.
      }
    }
    return before + maxEnd - start >= MAX_CHUNK ? maxEnd : -1;
  }

  #chunk(data: Buffer): DataChunk {
    return { hash: this.#blake(data), length: data.length, data };
  }
}

/**
 * xet-core's rule, cut in two so that the costly half runs anywhere, in parallel:
 * - where a chunk *may* end depends only on the 64 bytes before that place: every accepted cut is
 *   at least 8 KiB into its chunk, and the hash restarts 8 KiB − 65 bytes in, so the hash there
 *   always covers a full 64-byte window. Any thread can list these candidates (`e`, the offset after
 *   the byte whose window matched) for any part of a file, given the 64 bytes before it
 *   (ChunkHashPool.cuts).
 * - which candidates *are* cuts depends on the previous cut, and is cheap: the first candidate at
 *   least MIN_CHUNK after it, else MAX_CHUNK after it. This function does that part.
 *
 * `candidates` (ascending, each in (start, end]) are those of the bytes [start, end), where a chunk
 * begins at `start`. Returns the lengths of the chunks that end by `end`, and where the unfinished
 * chunk begins; with `last` (the file ends at `end`) the rest is one more chunk. test/unit/xet-chunker.test.ts
 * holds this to XetChunker on the same bytes.
 */
export function cutsFromCandidates(candidates: Uint32Array, start: number, end: number, last: boolean): { lengths: number[]; rest: number } {
  const lengths: number[] = [];
  let at = start;
  let i = 0;
  for (;;) {
    while (i < candidates.length && (candidates[i] as number) < at + MIN_CHUNK) i++;
    const candidate = i < candidates.length ? (candidates[i] as number) : Number.POSITIVE_INFINITY;
    const cut = Math.min(candidate, at + MAX_CHUNK);
    if (cut > end) break;
    lengths.push(cut - at);
    at = cut;
  }
  if (last && at < end) {
    lengths.push(end - at);
    at = end;
  }
  return { lengths, rest: at };
}

