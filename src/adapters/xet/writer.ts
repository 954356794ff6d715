/**
 * Turns files into Xet storage for one upload call: content-defined chunks (src/hash/xet-chunker.ts), dedup
 * against chunks already stored, new chunks packed into xorbs of 32 MiB that go up while
 * the next one fills (two buffers, so memory stays near 2 × 32 MiB whatever the file size), then
 * one shard that registers the files and the new xorbs. Every file of the call shares the xorbs:
 * 1,000 small files cost one xorb and one shard, not one of each per file.
 *
 * The CAS answers for the bytes: it rebuilds each chunk hash, xorb hash and file hash itself.
 */
import { hashToHex, xorbHash, type Chunk } from '@huggingface/xetchunk-wasm';
import { ChunkHashPool } from '../../hash/chunk-hash-pool.js';
import { cutsFromCandidates, MAX_CHUNK, XetChunker, type DataChunk } from '../../hash/xet-chunker.js';
import { readerOf } from '../../core/file-reader.js';
import type { FileReader } from '../../core/ports.js';
import { startSha256 } from '../../hash/sha256.js';
import { EMPTY_FILE_XET_HASH } from '../../hash/xet-hash.js';
import { DedupRateLimited } from './cas-client.js';
import { ChunkIndex, type ChunkHit, type XorbRef } from './chunk-index.js';
import { ChunkEncoder, type EncodedChunk } from './compress.js';
import {
  CHUNK_HEADER_BYTES,
  HASH_BYTES,
  SHARD_SOFT_MAX_BYTES,
  XORB_MAX_BYTES,
  XORB_MAX_CHUNKS,
  parseShardXorbs,
  serializeShard,
  shardSize,
  writeChunkHeader,
  type ShardFile,
  type ShardXorb,
} from './format.js';
import { FileHashStream, VerificationStream } from './streaming-hashes.js';

/** The CAS calls a writer makes. */
export interface CasWrites {
  putXorb(hash: string, body: Uint8Array): Promise<void>;
  putShard(body: Uint8Array): Promise<void>;
  /** The shard a dedup query answers with, or undefined when the CAS knows no xorb holding the chunk. */
  queryChunk(chunkHash: string): Promise<Buffer | undefined>;
}

export interface XetWriterOptions {
  cas: CasWrites;
  /** Chunks stored before this call (earlier calls, the shard cache, dedup answers); read, and fed with answers. */
  known: ChunkIndex;
  /** Ask the CAS about a file's first chunk (and 1 in 1,024 chunks) when it is at least this large; Infinity: never. */
  dedupQueryMinBytes: number;
  /** Total bytes the call will carry, to size the first xorb buffer (a call of small files never takes 64 MiB). */
  expectedBytes: number;
  encoder?: () => ChunkEncoder;
  /**
   * Bytes of the call's files, counted in the order they were added, that the CAS has acknowledged:
   * in a xorb whose upload completed, or (dedup) already stored. Never counts bytes only read, so
   * progress shown from it cannot run ahead of a rate cap or a stalled upload.
   */
  onAcknowledged?: (bytes: number) => void;
  /**
   * Called with each xorb the CAS has just accepted, and awaited before the next xorb goes up, so a
   * record of it (AcceptedXorbs) is written before the process can be further along. Must not throw.
   */
  onXorbStored?: (xorb: ShardXorb) => Promise<void>;
  /**
   * The CAS block of a xorb in `known` that the CAS accepted but no accepted shard has registered
   * yet (an interrupted upload's): a term pointing at it puts that block in this call's shard.
   */
  unregistered?: (xorbHash: string) => ShardXorb | undefined;
  /**
   * Threads that hash (the --upload-threads setting). 1 or unset: all on this thread. More: that
   * many worker threads find where chunks may end, hash the chunks and compute the sha256, region
   * by region, while this thread reads, picks the cuts and packs the chunks already hashed, in order.
   */
  threads?: number;
  /** Files from this size use the worker threads (default 2 regions: a smaller file could not use two). */
  threadsMinFileBytes?: number;
  /** Bytes per region of the threaded path (default regionBytesFor(threads); at least 64; tests use small ones to cross many region edges). */
  regionBytes?: number;
}

/** Thrown when reading a file failed: the file fails, the rest of the call goes on. */
export class SourceReadError extends Error {
  readonly source: unknown;
  constructor(source: unknown) {
    super(source instanceof Error ? source.message : String(source), { cause: source });
    this.source = source;
  }
}

/**
 * What the writer keeps grows with the file only by about 100 bytes per 64 KiB chunk (the session
 * index's entry and the xorb's hash for the shard): the file hash and each term's verification entry
 * are computed as the chunks go by (streaming-hashes.ts), and hashes sit in one buffer per xorb,
 * never an object per chunk.
 */
interface PendingTerm {
  xorb: XorbRef;
  start: number;
  end: number;
  bytes: number;
  /** Set when the term is closed (the next chunk went elsewhere, or the file ended). */
  verification: Uint8Array | undefined;
}

interface OpenXorb {
  ref: XorbRef;
  slot: number;
  buf: Buffer;
  used: number;
  /** Chunk hashes, concatenated; `count` of them are set. */
  hashes: Uint8Array;
  lengths: Uint32Array;
  count: number;
}

/** A file being chunked: its hash so far, its terms, and the verification entry of its open (last) term. */
interface FileState {
  hash: FileHashStream;
  terms: PendingTerm[];
  verify: VerificationStream;
}

interface FileOut {
  fileHash: string;
  terms: PendingTerm[];
  sha256: Uint8Array;
}

const MIN_BUFFER_BYTES = 256 * 1024;
/**
 * Xorbs are cut at this size, half the format's 64 MiB: with one xorb uploading while the next
 * fills, this bounds the writer's buffers to 64 MiB; requests per GiB stay at 32.
 */
const XORB_TARGET_BYTES = XORB_MAX_BYTES / 2;
/** A run of this many bytes sent without a dedup hit triggers a query (the sample alone can miss a whole region). */
const QUERY_AFTER_BYTES = 8 * 1024 * 1024;
const QUERY_AFTER_MAX_BYTES = 512 * 1024 * 1024;
const ANSWER_WAIT_AFTER_BYTES = 4 * 1024 * 1024;
/**
 * What xet-core puts in an empty file's sha256 extension: all zero, because its sha256 hasher is
 * only ever fed chunks and an empty file has none (data/src/sha256.rs returns the default hash).
 */
const EMPTY_FILE_SHA256_FIELD = new Uint8Array(32);
/** The single-thread path reads in blocks of this size, into one buffer. */
const READ_BLOCK_BYTES = 1024 * 1024;
/**
 * The threaded path reads the file in regions of at most this size: large enough that the four
 * messages a region costs are few next to its hashing, and no more than REGIONS_MAX_BYTES held in
 * all: 4 MiB regions up to 3 threads, 3 MiB at 4, 2 MiB at 5 to 7, 1 MiB from 8 (regionBytesFor).
 */
const REGION_BYTES = 4 * 1024 * 1024;
const REGION_MIN_BYTES = 1024 * 1024;
const REGIONS_MAX_BYTES = 32 * 1024 * 1024;
/** Room before a region's bytes for the unfinished chunk of the region before it (always under 128 KiB). */
const REGION_LEAD = MAX_CHUNK;
/** The rolling hash's window: the bytes before a region a thread needs to judge its first places. */
const WINDOW_BYTES = 64;
/** Regions per hashing thread held at once: read ahead, being hashed, being taken. */
const REGIONS_PER_THREAD = 2;

/** The region size for this many hashing threads (see REGION_BYTES). */
function regionBytesFor(threads: number): number {
  const share = Math.floor(REGIONS_MAX_BYTES / (threads * REGIONS_PER_THREAD + 2) / REGION_MIN_BYTES) * REGION_MIN_BYTES;
  return Math.min(REGION_BYTES, Math.max(REGION_MIN_BYTES, share));
}

/** A region of a file in a shared buffer, on its way through #readAllPooled. */
interface Region {
  buf: SharedArrayBuffer;
  view: Buffer;
  /** Bytes of the file in it, from REGION_LEAD. */
  length: number;
  summed: Promise<void>;
  cuts: Promise<Uint32Array>;
  /** Where its first chunk begins (the carried chunk, before REGION_LEAD), and the lengths of the chunks that end in it. */
  start: number;
  lengths: number[];
  hashed: Promise<Uint8Array> | undefined;
  /** Its hashes are back. */
  ready: boolean;
}

export class XetWriter {
  readonly #o: XetWriterOptions;
  /** This call's own xorbs (local dedup within the call); each goes into `known` once the CAS accepted it (onXorbStored). */
  readonly session = new ChunkIndex({ maxChunks: Number.MAX_SAFE_INTEGER });
  readonly #files = new Map<string, FileOut>();
  readonly #sealed: ShardXorb[] = [];
  /** Xorbs stored before this call that no shard registered yet, which this call's terms use. */
  readonly #carried = new Map<string, ShardXorb>();
  readonly #queried = new Set<string>();
  #spare: Buffer | undefined;
  #open: OpenXorb | undefined;
  #inflight: Promise<void> | undefined;
  #usedDedup = false;
  #dedupRateLimited = false;
  #failedAt: 'xorb' | 'shard' | undefined;
  /** Bytes of all files chunked so far (see takenBytes). */
  #taken = 0;
  #acked = 0;
  /** The background dedup query in flight, if any (one at a time). */
  #asking: Promise<void> | undefined;
  /** The hashing threads (started with the first file that uses them), and region buffers back from them for reuse. */
  #pool: ChunkHashPool | undefined;
  readonly #freeRegions: SharedArrayBuffer[] = [];
  /** Numbers the files whose sha256 runs on the hashing threads. */
  #pooledFiles = 0;

  readonly #regionBytes: number;

  constructor(options: XetWriterOptions) {
    this.#o = options;
    this.#regionBytes = Math.max(WINDOW_BYTES, options.regionBytes ?? regionBytesFor(options.threads ?? 1));
  }

  /** Bytes of every file added so far that went through the chunker: where the next file starts in onAcknowledged's count. */
  get takenBytes(): number {
    return this.#taken;
  }

  #acknowledge(upTo: number): void {
    if (upTo <= this.#acked) return;
    this.#acked = upTo;
    this.#o.onAcknowledged?.(upTo);
  }

  /**
   * Whether a term of this call points at a xorb stored before it (an earlier call, the shard cache,
   * a dedup answer): if the CAS refuses the shard, one of those may be gone.
   */
  get usedDedup(): boolean {
    return this.#usedDedup;
  }

  /** Whether a dedup query was answered 429, after which this call asked no more. */
  get dedupRateLimited(): boolean {
    return this.#dedupRateLimited;
  }

  /** Which CAS call failed, when one did: a xorb upload or a shard registration. */
  get failedAt(): 'xorb' | 'shard' | undefined {
    return this.#failedAt;
  }

  /**
   * Chunks one file and returns its Xet hash. A read error of the source (file changed, gone)
   * is thrown as SourceReadError and the file is left out; its chunks already packed are harmless.
   * The source is closed when this returns or throws.
   */
  async addFile(source: FileReader | AsyncIterable<Uint8Array>, sizeBytes: number, onBytes?: (done: number) => void): Promise<string> {
    const encoder = this.#o.encoder?.() ?? new ChunkEncoder();
    const file: FileState = { hash: new FileHashStream(), terms: [], verify: new VerificationStream() };
    const queryDedup = sizeBytes >= this.#o.dedupQueryMinBytes;
    let unmatched = 0;
    let queryEvery = QUERY_AFTER_BYTES;
    let sinceAsk = 0;
    const take = async (chunk: DataChunk) => {
      file.hash.push(chunk.hash, chunk.length);
      sinceAsk += chunk.length;
      // An answer still out after a few MiB is waited for: otherwise a read from memory or cache
      // never yields to the event loop and the answer would arrive after the file is packed.
      if (this.#asking && sinceAsk >= ANSWER_WAIT_AFTER_BYTES) await this.#asking;
      // The CAS is asked about the first chunk (awaited: a whole identical file dedups), xet-core's
      // 1-in-1,024 sample, and a chunk after a run of bytes sent without a hit (8 MiB, doubling)
      // (in the background: the answer serves the chunks that follow).
      let query: 'wait' | 'background' | undefined;
      if (queryDedup) {
        if (file.hash.chunks === 1) query = 'wait';
        else if (isDedupEligible(chunk.hash)) query = 'background';
        else if (unmatched >= queryEvery) {
          query = 'background';
          queryEvery = Math.min(queryEvery * 2, QUERY_AFTER_MAX_BYTES); // a file with nothing stored costs a few queries, not one per run
        }
      }
      const sent = await this.#addChunk(chunk, chunk.data, encoder, file, query);
      this.#taken += chunk.length;
      if (query === 'background') {
        unmatched = 0;
        sinceAsk = 0;
      }
      unmatched = sent ? unmatched + chunk.length : 0;
    };
    const reader = Symbol.asyncIterator in source ? readerOf(source) : source;
    const threads = this.#o.threads ?? 1;
    const pooled = threads > 1 && sizeBytes >= (this.#o.threadsMinFileBytes ?? 2 * this.#regionBytes);
    let sha256: Uint8Array;
    try {
      sha256 = pooled
        ? await this.#readAllPooled(reader, take, onBytes, (this.#pool ??= new ChunkHashPool(threads)))
        : await this.#readAll(reader, take, onBytes);
    } finally {
      // Also when stopped early (a CAS call failed): the file handle is released now.
      await reader.close().catch(() => undefined);
    }
    const last = file.terms.at(-1);
    if (last) last.verification = file.verify.take();
    const empty = file.hash.chunks === 0;
    const hash = empty ? EMPTY_FILE_XET_HASH : file.hash.digest();
    // A file's hash is registered once per shard; identical content needs no second block.
    if (!this.#files.has(hash)) this.#files.set(hash, { fileHash: hash, terms: file.terms, sha256: empty ? EMPTY_FILE_SHA256_FIELD : sha256 });
    return hash;
  }

  async #readAll(reader: FileReader, take: (chunk: DataChunk) => Promise<void>, onBytes: ((done: number) => void) | undefined): Promise<Uint8Array> {
    const chunker = await XetChunker.create();
    const sha256 = startSha256();
    // One buffer for every read: each chunk is taken (copied into a xorb) before the next read, and the chunker copies what it carries.
    const buf = Buffer.allocUnsafe(READ_BLOCK_BYTES);
    let done = 0;
    for (;;) {
      const n = await readSome(reader, buf, 0, READ_BLOCK_BYTES);
      if (n === 0) break;
      const block = buf.subarray(0, n);
      sha256.update(block);
      for (const chunk of chunker.push(block)) await take(chunk);
      done += n;
      onBytes?.(done);
    }
    const last = chunker.finish();
    if (last) await take(last);
    return sha256.digest();
  }

  /**
   * As #readAll, with the work split over the hashing threads. The file is read in regions straight
   * into shared buffers (regionBytesFor(threads) each by default, after REGION_LEAD bytes of room); for each region:
   * 1. as soon as it is read, a thread feeds it to the file's sha256 (the first thread, in file
   *    order) and another lists where chunks may end in it (ChunkHashPool.cuts, given the 64 bytes
   *    before it, copied into the lead);
   * 2. in file order, this thread copies the previous region's unfinished chunk into the lead, just
   *    before the region's bytes, and picks the cuts (cutsFromCandidates: cheap); a thread hashes the chunks;
   * 3. in file order, the chunks go to `take` as views of the region.
   * A region's buffer is reused once its chunks are taken, its sha256 fed and its unfinished chunk
   * copied on. At most REGIONS_PER_THREAD × threads + 2 regions are held. Returns the file's sha256.
   */
  async #readAllPooled(
    reader: FileReader,
    take: (chunk: DataChunk) => Promise<void>,
    onBytes: ((done: number) => void) | undefined,
    pool: ChunkHashPool,
  ): Promise<Uint8Array> {
    const file = this.#pooledFiles++;
    const held: Region[] = [];
    const limit = pool.threads * REGIONS_PER_THREAD + 2;
    /** held[0 .. resolved) have their cuts picked and their hashes asked for. */
    let resolved = 0;
    let reading: Promise<Region | undefined> | undefined;
    let ended = false;
    let done = 0;
    /** Where the unfinished chunk begins in the last resolved region. */
    let rest = 0;
    const readRegion = async (): Promise<Region | undefined> => {
      const buf = this.#freeRegions.pop() ?? new SharedArrayBuffer(REGION_LEAD + this.#regionBytes);
      const view = Buffer.from(buf);
      const length = await readSome(reader, view, REGION_LEAD, this.#regionBytes);
      if (length === 0) {
        this.#freeRegions.push(buf);
        return undefined;
      }
      const before = held.at(-1);
      // The 64 bytes before the region, so that a thread can judge its first windows (the carried chunk brings the same bytes later).
      if (before) copyBytes(view, REGION_LEAD - WINDOW_BYTES, before.view.subarray(REGION_LEAD + before.length - WINDOW_BYTES, REGION_LEAD + before.length));
      const summed = pool.sha256(file, buf, REGION_LEAD, length);
      const cuts = pool.cuts(buf, REGION_LEAD, REGION_LEAD + length, before !== undefined);
      summed.catch(() => undefined);
      cuts.catch(() => undefined);
      done += length;
      onBytes?.(done);
      return { buf, view, length, summed, cuts, start: REGION_LEAD, lengths: [], hashed: undefined, ready: false };
    };
    const resolve = async (index: number) => {
      const region = held[index] as Region;
      const candidates = await region.cuts;
      const before = held[index - 1];
      let start = REGION_LEAD;
      if (before) {
        const carried = before.view.subarray(rest, REGION_LEAD + before.length);
        start = REGION_LEAD - carried.length;
        copyBytes(region.view, start, carried);
      }
      const end = REGION_LEAD + region.length;
      const cut = cutsFromCandidates(candidates, start, end, ended && index === held.length - 1);
      rest = cut.rest;
      region.start = start;
      region.lengths = cut.lengths;
      if (cut.lengths.length === 0) {
        region.ready = true;
        return;
      }
      const hashed = pool.hash(region.buf, start, cut.lengths);
      hashed.then(
        () => (region.ready = true),
        () => undefined,
      );
      region.hashed = hashed;
    };
    const takeOldest = async () => {
      const region = held.shift() as Region;
      resolved--;
      const hashes = region.hashed ? await region.hashed : new Uint8Array(0);
      let offset = region.start;
      for (let i = 0; i < region.lengths.length; i++) {
        const length = region.lengths[i] as number;
        // Views: the hashes came from the thread (transferred), and take() copies what it keeps.
        await take({ hash: hashes.subarray(32 * i, 32 * i + 32), length, data: region.view.subarray(offset, offset + length) });
        offset += length;
      }
      await region.summed;
      this.#freeRegions.push(region.buf);
    };
    try {
      for (;;) {
        if (!ended && reading === undefined && held.length < limit) reading = readRegion();
        // A region's cuts are picked once it is known whether the file ends with it.
        if (resolved < held.length && (resolved + 1 < held.length || ended)) {
          await resolve(resolved++);
          continue;
        }
        // The oldest region goes once the next one has copied its unfinished chunk, or when it is the last.
        const oldest = held[0];
        const takeable = oldest !== undefined && (resolved >= 2 || (ended && resolved === held.length));
        if (takeable && (oldest.ready || reading === undefined)) {
          await takeOldest();
          continue;
        }
        if (reading !== undefined) {
          const region = await reading;
          reading = undefined;
          if (region) held.push(region);
          else ended = true;
          continue;
        }
        if (held.length === 0) break;
      }
    } finally {
      // Stopped early: a read still out must not become an unhandled rejection.
      if (reading !== undefined) await reading.catch(() => undefined);
    }
    return pool.sha256Digest(file);
  }

  /** Stops the hashing threads, if any were started. finish() does it too; call it when a call ends early. */
  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    this.#freeRegions.length = 0;
    await pool?.close();
  }

  /**
   * Seals the last xorb, waits for every xorb to be stored, then registers files and xorbs in shards.
   * Returns the xorbs the shards registered: the new ones and the unregistered ones the terms used.
   */
  async finish(): Promise<ShardXorb[]> {
    await this.close();
    if (this.#open && this.#open.count > 0) this.#seal();
    await this.#inflight;
    await this.#asking;
    const files: ShardFile[] = [...this.#files.values()].map((f) => ({
      fileHash: f.fileHash,
      sha256: f.sha256,
      terms: f.terms.map((t) => {
        if (t.xorb.hash === undefined) throw new Error('a term points at a xorb that was never sealed');
        if (t.verification === undefined) throw new Error('a term of a file still being chunked');
        return { xorbHash: t.xorb.hash, chunkStart: t.start, chunkEnd: t.end, unpackedBytes: t.bytes, verification: t.verification };
      }),
    }));
    // Past the shard size limit, xorbs go first in shards of their own; files always come last.
    const registered = [...this.#carried.values(), ...this.#sealed];
    let xorbs = [...registered];
    const putShard = (body: Uint8Array) =>
      this.#o.cas.putShard(body).catch((error: unknown) => {
        this.#failedAt ??= 'shard';
        throw error;
      });
    while (shardSize(files, xorbs) > SHARD_SOFT_MAX_BYTES && xorbs.length > 1) {
      const part: ShardXorb[] = [];
      while (xorbs.length > 0 && shardSize([], [...part, xorbs[0] as ShardXorb]) <= SHARD_SOFT_MAX_BYTES) part.push(xorbs.shift() as ShardXorb);
      if (part.length === 0) part.push(xorbs.shift() as ShardXorb);
      await putShard(serializeShard([], part));
    }
    if (files.length > 0 || xorbs.length > 0) await putShard(serializeShard(files, xorbs));
    this.#acknowledge(this.#taken);
    return registered;
  }

  /** Adds one chunk of a file to its terms; returns whether it had to be sent (no stored copy known). */
  async #addChunk(chunk: Chunk, bytes: Buffer, encoder: ChunkEncoder, file: FileState, query: 'wait' | 'background' | undefined): Promise<boolean> {
    let hit = this.#lookup(chunk.hash);
    if (!hit && query && !this.#dedupRateLimited) {
      const hex = hashToHex(chunk.hash);
      if (!this.#queried.has(hex)) {
        if (query === 'wait') {
          this.#queried.add(hex);
          await this.#ask(hex);
          hit = this.#lookup(chunk.hash);
        } else if (this.#asking === undefined) {
          this.#queried.add(hex);
          this.#asking = this.#ask(hex).finally(() => {
            this.#asking = undefined;
          });
        }
      }
    }
    const sent = !hit;
    if (!hit) {
      const encoded = encoder.encode(bytes);
      const open = this.#open;
      if (open && (open.used + CHUNK_HEADER_BYTES + encoded.payload.length > XORB_TARGET_BYTES || open.count >= XORB_MAX_CHUNKS)) {
        // Back-pressure: at most one xorb uploading while the next one fills.
        await this.#inflight;
        this.#seal();
      }
      hit = this.#pack(chunk, encoded);
    }
    const term = file.terms.at(-1);
    if (term && term.xorb === hit.xorb && term.end === hit.index) {
      term.end++;
      term.bytes += chunk.length;
    } else {
      if (term) term.verification = file.verify.take();
      file.terms.push({ xorb: hit.xorb, start: hit.index, end: hit.index + 1, bytes: chunk.length, verification: undefined });
    }
    file.verify.add(chunk.hash);
    return sent;
  }

  /** One dedup query; its answer goes into the index. A failed query only means no dedup; a 429 ends the queries of this call. */
  async #ask(chunkHash: string): Promise<void> {
    try {
      const answer = await this.#o.cas.queryChunk(chunkHash);
      if (answer) learnDedupAnswer(answer, this.#o.known);
    } catch (error) {
      // no answer, no dedup: the chunks are sent
      if (error instanceof DedupRateLimited) this.#dedupRateLimited = true;
    }
  }

  #lookup(hash: Uint8Array): ChunkHit | undefined {
    const own = this.session.lookup(hash);
    if (own) return own;
    const stored = this.#o.known.lookup(hash);
    if (stored) {
      this.#usedDedup = true;
      const xorbHash = stored.xorb.hash as string;
      const block = this.#carried.has(xorbHash) ? undefined : this.#o.unregistered?.(xorbHash);
      if (block) this.#carried.set(xorbHash, block);
    }
    return stored;
  }

  /** Appends a chunk to the open xorb (which has room for it) and returns where it landed. */
  #pack(chunk: Chunk, { scheme, payload }: EncodedChunk): ChunkHit {
    const need = CHUNK_HEADER_BYTES + payload.length;
    const open = this.#open ?? this.#openXorb();
    if (open.used + need > open.buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(XORB_TARGET_BYTES, Math.max(open.buf.length * 2, open.used + need)));
      open.buf.copy(grown, 0, 0, open.used);
      open.buf = grown;
    }
    writeChunkHeader(open.buf, open.used, payload.length, scheme, chunk.length);
    copyBytes(open.buf, open.used + CHUNK_HEADER_BYTES, payload);
    open.used += need;
    const index = open.count++;
    open.hashes.set(chunk.hash, index * HASH_BYTES);
    open.lengths[index] = chunk.length;
    this.session.addChunk(open.slot, chunk.hash);
    return { xorb: open.ref, index };
  }

  #openXorb(): OpenXorb {
    const ref: XorbRef = { hash: undefined, origin: 'session' };
    const size = Math.min(XORB_TARGET_BYTES, Math.max(MIN_BUFFER_BYTES, this.#o.expectedBytes + (this.#o.expectedBytes >>> 10)));
    const buf = this.#spare && this.#spare.length >= size ? this.#spare : Buffer.allocUnsafe(size);
    this.#spare = undefined;
    // Room for the most chunks a xorb may hold (8,192: 288 KiB), for the one xorb being filled.
    this.#open = {
      ref,
      slot: this.session.addXorb(ref),
      buf,
      used: 0,
      hashes: new Uint8Array(XORB_MAX_CHUNKS * HASH_BYTES),
      lengths: new Uint32Array(XORB_MAX_CHUNKS),
      count: 0,
    };
    return this.#open;
  }

  /**
   * Closes the open xorb and starts its upload once the previous one is stored: one upload in
   * flight while the next xorb fills, so reading, chunking and sending overlap.
   */
  #seal(): void {
    const open = this.#open;
    if (!open) return;
    this.#open = undefined;
    const count = open.count;
    const chunks: Chunk[] = [];
    for (let i = 0; i < count; i++) chunks.push({ hash: open.hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES), length: open.lengths[i] as number });
    const hash = hashToHex(xorbHash(chunks));
    open.ref.hash = hash;
    // Kept until the shard: trimmed copies, 36 bytes a chunk.
    const sealed: ShardXorb = { hash, bytesOnDisk: open.used, chunkHashes: open.hashes.slice(0, count * HASH_BYTES), chunkLengths: open.lengths.slice(0, count) };
    this.#sealed.push(sealed);
    const previous = this.#inflight ?? Promise.resolve();
    const body = open.buf.subarray(0, open.used);
    // Everything chunked before this seal is in this xorb or an earlier one, or was already stored.
    const upTo = this.#taken;
    const upload = previous.then(async () => {
      await this.#o.cas.putXorb(hash, body).catch((error: unknown) => {
        this.#failedAt ??= 'xorb';
        throw error;
      });
      await this.#o.onXorbStored?.(sealed);
      this.#acknowledge(upTo);
      // The previous buffer is free once its xorb is stored: the next xorb after this one reuses it.
      if (open.buf.length === XORB_TARGET_BYTES) this.#spare = open.buf;
    });
    upload.catch(() => undefined); // awaited by the next seal or finish(); never an unhandled rejection
    this.#inflight = upload;
  }
}

/**
 * Copies `source` into `target` at `offset` (which has room). Not Buffer#copy: when either side is
 * a SharedArrayBuffer (the hashing threads' batches), V8 copies word by word with relaxed atomics,
 * about 3 times the CPU of the plain memcpy that Buffer#fill with a Buffer value of the range's
 * length does (one memcpy, then nothing left to repeat). Most of the main thread's time in the
 * threaded path went to these two copies per byte.
 */
function copyBytes(target: Buffer, offset: number, source: Uint8Array): void {
  if (source.length > 0) target.fill(source, offset, offset + source.length);
}

/** Fills `into` from `offset` with up to `length` bytes (fewer only at the end); a read error becomes SourceReadError. */
async function readSome(reader: FileReader, into: Uint8Array, offset: number, length: number): Promise<number> {
  let filled = 0;
  try {
    while (filled < length) {
      const n = await reader.read(into, offset + filled, length - filled);
      if (n === 0) break;
      filled += n;
    }
  } catch (error) {
    throw new SourceReadError(error);
  }
  return filled;
}

/** xet-core's global-dedup sample: a chunk whose hash's last u64 is a multiple of 1,024 is worth a query. */
export function isDedupEligible(hash: Uint8Array): boolean {
  return ((hash[24] as number) | (((hash[25] as number) & 0x03) << 8)) === 0;
}

/** A dedup answer's xorbs go into the index under the answer's HMAC key; a malformed answer only means no dedup. */
function learnDedupAnswer(answer: Buffer, into: ChunkIndex): void {
  let parsed;
  try {
    parsed = parseShardXorbs(answer);
  } catch {
    return;
  }
  // Only until the answer's key expires: past it the CAS may have dropped what it named.
  for (const x of parsed.xorbs) into.addXorb({ hash: x.hash, origin: 'server' }, x.chunkHashes, parsed.hmacKey, parsed.expiresAt);
}
