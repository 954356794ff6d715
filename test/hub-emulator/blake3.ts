/**
 * Keyed BLAKE3 (one key, many messages) running four BLAKE3 chunks at a time in WebAssembly SIMD.
 *
 * Why: the emulator recomputes the hash of every Xet chunk it is sent, and `@huggingface/blake3-jit`'s
 * `Hasher` (the only keyed API it exports) is scalar JavaScript that reads its input byte by byte;
 * at 64 KiB per Xet chunk that was most of the emulator's CPU time per uploaded byte. Its SIMD path
 * serves only the unkeyed one-shot `hash()`. This is the same algorithm as the spec
 * (https://github.com/BLAKE3-team/BLAKE3-specs), computed with i32x4 lanes:
 *
 *  - `compress4` runs one block chain in each of up to four lanes: lane i reads its blocks at
 *    `in + i * stride + 64 * b`, starts from the key, and stores its 8-word chaining value at
 *    `out + 32 * i`. Four consecutive 1 KiB chunks are one call (stride 1024, 16 blocks); four parent
 *    nodes are one call too, because the two children of parent k are the 64 bytes at 64 * k in an
 *    array of chaining values (stride 64, one block), so a tree level is folded in place.
 *  - The tree is then built level by level, pairing nodes from the left and carrying an odd last
 *    node up unchanged, which yields exactly BLAKE3's left-filled tree; the final compression (the
 *    last parent, or the only chunk's last block) gets the ROOT flag.
 *
 * Every result can be checked against the scalar `Hasher` (test/integration/hub-emulator/blake3.test.ts does),
 * and `KeyedBlake3` falls back to it where WebAssembly SIMD is missing.
 */
import { Hasher } from '@huggingface/blake3-jit';

const CHUNK_START = 1;
const CHUNK_END = 2;
const PARENT = 4;
const ROOT = 8;
const KEYED_HASH = 16;

const CHUNK_LEN = 1024;
const BLOCK_LEN = 64;
const OUT_LEN = 32;

const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a];
const MSG_PERMUTATION = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];

// ---------------------------------------------------------------------------------------------
// A tiny WebAssembly assembler: just what compress4 needs.

const I32 = 0x7f;
const V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  let value = n | 0;
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function name(text: string): number[] {
  const bytes = [...Buffer.from(text, 'utf8')];
  return [...uleb(bytes.length), ...bytes];
}

const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  if: [0x04, 0x40],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  select: [0x1b],
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  tee: (i: number) => [0x22, ...uleb(i)],
  i32Const: (n: number) => [0x41, ...sleb(n)],
  i32Eqz: [0x45],
  i32Eq: [0x46],
  i32GtU: [0x4b],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Or: [0x72],
  // SIMD (0xfd prefix); memarg = align (log2), offset.
  v128Load: (offset: number) => [0xfd, ...uleb(0x00), 0x00, ...uleb(offset)],
  v128Load32Splat: (offset: number) => [0xfd, ...uleb(0x09), 0x00, ...uleb(offset)],
  v128Store: (offset: number) => [0xfd, ...uleb(0x0b), 0x00, ...uleb(offset)],
  v128Const: (words: number[]) => [0xfd, ...uleb(0x0c), ...words.flatMap((w) => [w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, (w >>> 24) & 0xff])],
  shuffle: (lanes: number[]) => [0xfd, ...uleb(0x0d), ...lanes],
  i32x4Splat: [0xfd, ...uleb(0x11)],
  v128Or: [0xfd, ...uleb(0x50)],
  v128Xor: [0xfd, ...uleb(0x51)],
  i32x4Shl: [0xfd, ...uleb(0xab)],
  i32x4ShrU: [0xfd, ...uleb(0xad)],
  i32x4Add: [0xfd, ...uleb(0xae)],
  i32x4Mul: [0xfd, ...uleb(0xb5)],
};

/** Byte lanes of i8x16.shuffle that rotate every 32-bit lane right by 16 and by 8 bits. */
const ROTR16 = [2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13];
const ROTR8 = [1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12];
/** 4x4 transpose of 32-bit lanes: interleave low/high words, then low/high halves. */
const LO32 = [0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23];
const HI32 = [8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31];
const LO64 = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
const HI64 = [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31];

/**
 * compress4(in, stride, counter, counterStep, blocks, lastBlockLen, flags, startFlag, endFlag, out, lanes)
 * Memory: the 32-byte key at 0. Lane i: counter + i * counterStep; block b gets `flags`, plus
 * `startFlag` when b = 0 and `endFlag` (and length `lastBlockLen`) when b = blocks - 1.
 */
function moduleBytes(): Uint8Array {
  // Parameters.
  const P_IN = 0, P_STRIDE = 1, P_COUNTER = 2, P_STEP = 3, P_BLOCKS = 4, P_LAST_LEN = 5;
  const P_FLAGS = 6, P_START = 7, P_END = 8, P_OUT = 9, P_LANES = 10;
  // i32 locals.
  const L_B = 11, L_P0 = 12, L_P1 = 13, L_P2 = 14, L_P3 = 15, L_LAST = 16;
  const I32_LOCALS = 6;
  // v128 locals.
  const V_BASE = 11 + I32_LOCALS;
  const H = (i: number) => V_BASE + i; // 8 chaining-value words
  const S = (i: number) => V_BASE + 8 + i; // 16 state words
  const M = (i: number) => V_BASE + 24 + i; // 16 message words
  const T = (i: number) => V_BASE + 40 + i; // 8 temporaries
  const CTR = V_BASE + 48;
  const V128_LOCALS = 49;

  const c: number[] = [];
  const emit = (...parts: number[][]) => {
    for (const p of parts) c.push(...p);
  };

  /** Transposes the four vectors in locals a..d (lane-major rows) into locals r0..r3. */
  const transpose = (a: number, b: number, cc: number, d: number, r: number[]) => {
    emit(op.get(a), op.get(b), op.shuffle(LO32), op.set(T(4)));
    emit(op.get(cc), op.get(d), op.shuffle(LO32), op.set(T(5)));
    emit(op.get(a), op.get(b), op.shuffle(HI32), op.set(T(6)));
    emit(op.get(cc), op.get(d), op.shuffle(HI32), op.set(T(7)));
    emit(op.get(T(4)), op.get(T(5)), op.shuffle(LO64), op.set(r[0] ?? 0));
    emit(op.get(T(4)), op.get(T(5)), op.shuffle(HI64), op.set(r[1] ?? 0));
    emit(op.get(T(6)), op.get(T(7)), op.shuffle(LO64), op.set(r[2] ?? 0));
    emit(op.get(T(6)), op.get(T(7)), op.shuffle(HI64), op.set(r[3] ?? 0));
  };

  const rotrShift = (n: number, local: number) => {
    // x = (x >>> n) | (x << (32 - n)), with x in `local`.
    emit(op.tee(local), op.i32Const(n), op.i32x4ShrU, op.get(local), op.i32Const(32 - n), op.i32x4Shl, op.v128Or);
  };

  const g = (a: number, b: number, cc: number, d: number, mx: number, my: number) => {
    const tmp = T(0);
    emit(op.get(S(a)), op.get(S(b)), op.i32x4Add, op.get(M(mx)), op.i32x4Add, op.tee(S(a)));
    emit(op.get(S(d)), op.v128Xor, op.get(tmp), op.shuffle(ROTR16), op.tee(S(d)));
    emit(op.get(S(cc)), op.i32x4Add, op.tee(S(cc)));
    emit(op.get(S(b)), op.v128Xor);
    rotrShift(12, tmp);
    emit(op.set(S(b)));
    emit(op.get(S(a)), op.get(S(b)), op.i32x4Add, op.get(M(my)), op.i32x4Add, op.tee(S(a)));
    emit(op.get(S(d)), op.v128Xor, op.get(tmp), op.shuffle(ROTR8), op.tee(S(d)));
    emit(op.get(S(cc)), op.i32x4Add, op.tee(S(cc)));
    emit(op.get(S(b)), op.v128Xor);
    rotrShift(7, tmp);
    emit(op.set(S(b)));
  };

  // h = key, splatted.
  for (let i = 0; i < 8; i++) emit(op.i32Const(0), op.v128Load32Splat(4 * i), op.set(H(i)));
  // Per-lane counters: counter + [0, 1, 2, 3] * step.
  emit(op.get(P_COUNTER), op.i32x4Splat, op.get(P_STEP), op.i32x4Splat, op.v128Const([0, 1, 2, 3]), op.i32x4Mul, op.i32x4Add, op.set(CTR));
  emit(op.i32Const(0), op.set(L_B));
  emit(op.get(P_IN), op.set(L_P0));

  emit(op.block, op.loop);
  {
    // Lane addresses of this block.
    emit(op.get(L_P0), op.get(P_STRIDE), op.i32Add, op.tee(L_P1), op.get(P_STRIDE), op.i32Add, op.tee(L_P2));
    emit(op.get(P_STRIDE), op.i32Add, op.set(L_P3));
    // Message words, transposed so that M(w) holds word w of every lane.
    for (let grp = 0; grp < 4; grp++) {
      emit(op.get(L_P0), op.v128Load(16 * grp), op.set(T(0)));
      emit(op.get(L_P1), op.v128Load(16 * grp), op.set(T(1)));
      emit(op.get(L_P2), op.v128Load(16 * grp), op.set(T(2)));
      emit(op.get(L_P3), op.v128Load(16 * grp), op.set(T(3)));
      transpose(T(0), T(1), T(2), T(3), [M(4 * grp), M(4 * grp + 1), M(4 * grp + 2), M(4 * grp + 3)]);
    }
    // last = (b + 1 == blocks)
    emit(op.get(L_B), op.i32Const(1), op.i32Add, op.get(P_BLOCKS), op.i32Eq, op.set(L_LAST));
    // State: h, IV, counter low, counter high (0), block length, flags.
    for (let i = 0; i < 8; i++) emit(op.get(H(i)), op.set(S(i)));
    for (let i = 0; i < 4; i++) emit(op.v128Const([IV[i] ?? 0, IV[i] ?? 0, IV[i] ?? 0, IV[i] ?? 0]), op.set(S(8 + i)));
    emit(op.get(CTR), op.set(S(12)));
    emit(op.v128Const([0, 0, 0, 0]), op.set(S(13)));
    emit(op.get(P_LAST_LEN), op.i32Const(BLOCK_LEN), op.get(L_LAST), op.select, op.i32x4Splat, op.set(S(14)));
    emit(op.get(P_FLAGS));
    emit(op.get(P_START), op.i32Const(0), op.get(L_B), op.i32Eqz, op.select, op.i32Or);
    emit(op.get(P_END), op.i32Const(0), op.get(L_LAST), op.select, op.i32Or);
    emit(op.i32x4Splat, op.set(S(15)));
    // Seven rounds; the message schedule is applied through the indices, not by moving words.
    let schedule = Array.from({ length: 16 }, (_, i) => i);
    for (let round = 0; round < 7; round++) {
      const m = (i: number) => schedule[i] ?? 0;
      g(0, 4, 8, 12, m(0), m(1));
      g(1, 5, 9, 13, m(2), m(3));
      g(2, 6, 10, 14, m(4), m(5));
      g(3, 7, 11, 15, m(6), m(7));
      g(0, 5, 10, 15, m(8), m(9));
      g(1, 6, 11, 12, m(10), m(11));
      g(2, 7, 8, 13, m(12), m(13));
      g(3, 4, 9, 14, m(14), m(15));
      schedule = MSG_PERMUTATION.map((p) => schedule[p] ?? 0);
    }
    for (let i = 0; i < 8; i++) emit(op.get(S(i)), op.get(S(i + 8)), op.v128Xor, op.set(H(i)));
    // Next block, or done.
    emit(op.get(L_LAST), op.brIf(1));
    emit(op.get(L_B), op.i32Const(1), op.i32Add, op.set(L_B));
    emit(op.get(L_P0), op.i32Const(BLOCK_LEN), op.i32Add, op.set(L_P0));
    emit(op.br(0)); // loop again
  }
  emit(op.end, op.end);

  // Store each live lane's chaining value (8 words) at out + 32 * lane.
  transpose(H(0), H(1), H(2), H(3), [T(0), T(1), T(2), T(3)]);
  transpose(H(4), H(5), H(6), H(7), [M(0), M(1), M(2), M(3)]);
  for (let lane = 0; lane < 4; lane++) {
    emit(op.get(P_LANES), op.i32Const(lane), op.i32GtU, op.if);
    emit(op.get(P_OUT), op.get(T(lane)), op.v128Store(32 * lane));
    emit(op.get(P_OUT), op.get(M(lane)), op.v128Store(32 * lane + 16));
    emit(op.end);
  }
  emit(op.end);

  const body = [...vec([[...uleb(I32_LOCALS), I32], [...uleb(V128_LOCALS), V128]]), ...c];
  const funcType = [0x60, ...vec(Array.from({ length: 11 }, () => [I32])), ...vec([])];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([funcType])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, ...uleb(1)]])),
    ...section(7, vec([[...name('compress4'), 0x00, 0], [...name('memory'), 0x02, 0]])),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ]);
}

type Compress4 = (
  input: number, stride: number, counter: number, counterStep: number, blocks: number, lastBlockLen: number,
  flags: number, startFlag: number, endFlag: number, out: number, lanes: number,
) => void;

/** The slice of the WebAssembly JS API used here (the project's `lib` has no DOM types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

let compiled: object | null | undefined;

function simdModule(): object | null {
  if (compiled === undefined) {
    try {
      const bytes = moduleBytes();
      compiled = wasm?.validate(bytes) ? new wasm.Module(bytes) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

const PAGE = 64 * 1024;
/** Reads past the last chunk or node by lanes that are not stored land here. */
const SLACK = 4 * CHUNK_LEN;
const CV_AREA = 64;

/** Keyed BLAKE3 with 32-byte output, for many messages under one key. Not reentrant. */
export class KeyedBlake3 {
  private readonly key: Uint8Array;
  private readonly fallback: Hasher;
  private readonly compress4: Compress4 | undefined;
  private readonly memory: WasmMemory | undefined;
  private bytes = new Uint8Array(0);
  /** Largest message the memory holds now; grown on demand. */
  private capacity = 0;
  private input = 0;

  constructor(key: Uint8Array) {
    if (key.byteLength !== OUT_LEN) throw new RangeError(`BLAKE3 key must be 32 bytes, got ${key.byteLength}`);
    this.key = Uint8Array.from(key);
    this.fallback = Hasher.newKeyed(this.key);
    const module = simdModule();
    if (module && wasm) {
      const instance = new wasm.Instance(module);
      this.compress4 = instance.exports.compress4 as Compress4;
      this.memory = instance.exports.memory as WasmMemory;
      this.reserve(128 * 1024);
    }
  }

  /** True when hashing runs in WebAssembly SIMD rather than the scalar fallback. */
  get simd(): boolean {
    return this.compress4 !== undefined;
  }

  /** Layout: key at 0, chaining values at CV_AREA, input after them; each area has SLACK to spare. */
  private reserve(messageBytes: number): void {
    if (!this.memory) return;
    const chunks = Math.max(1, Math.ceil(messageBytes / CHUNK_LEN));
    const input = CV_AREA + (chunks + 8) * OUT_LEN;
    const alignedInput = Math.ceil(input / 64) * 64;
    const needed = alignedInput + Math.ceil(messageBytes / BLOCK_LEN) * BLOCK_LEN + SLACK;
    const have = this.memory.buffer.byteLength;
    if (needed > have) this.memory.grow(Math.ceil((needed - have) / PAGE));
    this.bytes = new Uint8Array(this.memory.buffer);
    this.bytes.set(this.key, 0);
    this.input = alignedInput;
    this.capacity = messageBytes;
  }

  hash(data: Uint8Array): Uint8Array {
    const out = new Uint8Array(OUT_LEN);
    this.hashInto(data, out, 0);
    return out;
  }

  /** Writes the 32-byte keyed hash of `data` at out[offset]. */
  hashInto(data: Uint8Array, out: Uint8Array, offset: number): void {
    const compress4 = this.compress4;
    if (!compress4) {
      out.set(this.fallback.reset().update(data).finalize(OUT_LEN), offset);
      return;
    }
    const len = data.byteLength;
    if (len > this.capacity) this.reserve(Math.max(len, this.capacity * 2));
    const mem = this.bytes;
    const input = this.input;
    mem.set(data, input);
    // Zero the rest of the last block: BLAKE3 pads a short block with zeros.
    mem.fill(0, input + len, input + (len === 0 ? BLOCK_LEN : Math.ceil(len / BLOCK_LEN) * BLOCK_LEN));

    const fullChunks = Math.floor(len / CHUNK_LEN);
    const tail = len - fullChunks * CHUNK_LEN;
    const chunks = fullChunks + (tail > 0 || len === 0 ? 1 : 0);
    const flags = KEYED_HASH;

    if (chunks === 1) {
      const blocks = Math.max(1, Math.ceil(len / BLOCK_LEN));
      compress4(input, CHUNK_LEN, 0, 1, blocks, len - (blocks - 1) * BLOCK_LEN, flags, CHUNK_START, CHUNK_END | ROOT, CV_AREA, 1);
    } else {
      for (let c = 0; c < fullChunks; c += 4) {
        const lanes = Math.min(4, fullChunks - c);
        compress4(input + c * CHUNK_LEN, CHUNK_LEN, c, 1, CHUNK_LEN / BLOCK_LEN, BLOCK_LEN, flags, CHUNK_START, CHUNK_END, CV_AREA + c * OUT_LEN, lanes);
      }
      if (tail > 0) {
        const blocks = Math.ceil(tail / BLOCK_LEN);
        compress4(
          input + fullChunks * CHUNK_LEN, CHUNK_LEN, fullChunks, 1, blocks, tail - (blocks - 1) * BLOCK_LEN,
          flags, CHUNK_START, CHUNK_END, CV_AREA + fullChunks * OUT_LEN, 1,
        );
      }
      // Fold levels in place until two nodes are left; those are the root's children.
      let nodes = chunks;
      while (nodes > 2) {
        const parents = nodes >>> 1;
        for (let k = 0; k < parents; k += 4) {
          const at = CV_AREA + k * 2 * OUT_LEN;
          compress4(at, 2 * OUT_LEN, 0, 0, 1, BLOCK_LEN, flags | PARENT, 0, 0, CV_AREA + k * OUT_LEN, Math.min(4, parents - k));
        }
        if (nodes & 1) {
          const from = CV_AREA + (nodes - 1) * OUT_LEN;
          mem.copyWithin(CV_AREA + parents * OUT_LEN, from, from + OUT_LEN);
        }
        nodes = parents + (nodes & 1);
      }
      compress4(CV_AREA, 2 * OUT_LEN, 0, 0, 1, BLOCK_LEN, flags | PARENT, 0, ROOT, CV_AREA, 1);
    }
    out.set(mem.subarray(CV_AREA, CV_AREA + OUT_LEN), offset);
  }
}
