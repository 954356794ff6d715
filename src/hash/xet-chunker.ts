/**
 * Xet content-defined chunking (docs/xet/chunking.md): a GEAR rolling hash over a 64-byte window
 * cuts where `hash & 0xffff000000000000 == 0`, never before 8 KiB (the scan starts 8 KiB − 65
 * bytes into a chunk) and always at 128 KiB; each chunk's hash is BLAKE3 keyed with the Xet data
 * key. The boundaries are exactly those of `@huggingface/xetchunk-wasm` (a test holds them equal
 * on random and repetitive data, whole and split at random points), so a file hashes the same
 * here, in the Hub client and in xet-core. The difference is the hash: hash-wasm's BLAKE3 runs
 * about 1.7× faster than the JavaScript one xetchunk-wasm is built on, and hashing is most of the
 * cost of an upload.
 */
import { Hasher as GearHasher } from 'gearhash-jit';
import { createBLAKE3, type IHasher } from 'hash-wasm';

const MIN_CHUNK = 8 * 1024;
const MAX_CHUNK = 128 * 1024;
const WINDOW = 64;
/** The first byte of a chunk that can end it is MIN_CHUNK − WINDOW − 1 bytes in. */
const SCAN_SKIP = MIN_CHUNK - WINDOW - 1;
/** Target 64 KiB: the top 16 bits of the rolling hash must be zero. */
const MASK = 0xffffn << 48n;

/** The Xet DATA_KEY (docs/xet/hashing.md). */
const DATA_KEY = Uint8Array.from([
  102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28, 157, 228, 33, 16, 155, 235, 43, 88, 180,
  208, 176, 75, 147, 173, 242, 41,
]);

export interface DataChunk {
  hash: Uint8Array;
  length: number;
  /** The chunk's bytes: a view valid until the next `push`/`finish` (copy what must outlive it). */
  data: Buffer;
}

let hasher: Promise<IHasher> | undefined;

export class XetChunker {
  readonly #gear = new GearHasher(MASK);
  readonly #blake: IHasher;
  #carry: Buffer | undefined;

  private constructor(blake: IHasher) {
    this.#blake = blake;
  }

  /** One keyed hasher serves every chunker: each hash is computed synchronously, start to end. */
  static async create(): Promise<XetChunker> {
    hasher ??= createBLAKE3(256, DATA_KEY);
    return new XetChunker(await hasher);
  }

  /** The chunks that end within this block (a chunk begun in earlier blocks included). */
  push(block: Buffer): DataChunk[] {
    const out: DataChunk[] = [];
    let pos = 0;
    const carry = this.#carry;
    if (carry) {
      // Only the unfinished chunk needs joining: at most MAX_CHUNK bytes, not the whole block.
      const head = Buffer.concat([carry, block.subarray(0, Math.min(block.length, MAX_CHUNK - carry.length))]);
      const end = this.#boundary(head, 0);
      if (end < 0) {
        this.#carry = head;
        return out;
      }
      out.push(this.#chunk(head.subarray(0, end)));
      pos = end - carry.length;
      this.#carry = undefined;
    }
    for (;;) {
      const end = this.#boundary(block, pos);
      if (end < 0) break;
      out.push(this.#chunk(block.subarray(pos, end)));
      pos = end;
    }
    if (pos < block.length) this.#carry = Buffer.from(block.subarray(pos));
    return out;
  }

  /** The last chunk: whatever is left once the input ended. */
  finish(): DataChunk | undefined {
    const carry = this.#carry;
    this.#carry = undefined;
    return carry && carry.length > 0 ? this.#chunk(carry) : undefined;
  }

  /** Where the chunk starting at `start` ends, or -1 when `data` ends first without a cut. */
  #boundary(data: Buffer, start: number): number {
    if (start >= data.length) return -1;
    const maxEnd = Math.min(data.length, start + MAX_CHUNK);
    const scanStart = start + SCAN_SKIP;
    if (scanStart < maxEnd) {
      this.#gear.resetHash();
      const at = this.#gear.nextMatch(data.subarray(scanStart, maxEnd));
      if (at !== -1) return scanStart + at;
    }
    return maxEnd - start >= MAX_CHUNK ? start + MAX_CHUNK : -1;
  }

  #chunk(data: Buffer): DataChunk {
    const blake = this.#blake;
    blake.init();
    blake.update(data);
    return { hash: blake.digest('binary'), length: data.length, data };
  }
}
