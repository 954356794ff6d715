/**
 * All emulator state: buckets (path -> file entry), the global CAS (xorbs, file reconstructions) and
 * the chunk index that answers dedup queries. Xorbs, files and chunks are indexed globally, not per
 * bucket or per shard, because terms may point at xorbs from earlier shards or dedup hits.
 *
 * Memory: a xorb is kept once, as the bytes that were uploaded; decoded data is never cached and
 * file bytes are rebuilt chunk by chunk on demand.
 */
import { createHash, randomBytes } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import {
  chunkBytes,
  fileHashHex,
  HASH_BYTES,
  hashToHex,
  keyedChunkHash,
  type SeedChunking,
  verificationHashHex,
  xorbHashHex,
  ZERO_HASH,
} from './hash.js';
import { buildDedupShard, type ParsedShard } from './shard.js';
import { buildRawXorb, decodeChunk, parseXorbLayout, XORB_MAX_BYTES, type XorbLayout } from './xorb.js';

export interface StoredXorb {
  /** The serialized xorb exactly as uploaded; served verbatim to byte-range reads. */
  data: Buffer;
  layout: XorbLayout;
  /** Raw chunk hashes, 32 bytes each. */
  chunkHashes: Uint8Array;
}

export interface Term {
  xorbHash: string;
  chunkStart: number;
  /** Exclusive. */
  chunkEnd: number;
  unpackedBytes: number;
}

export interface FileRecon {
  hash: string;
  size: number;
  terms: Term[];
}

export interface BucketFile {
  path: string;
  xetHash: string;
  size: number;
  mtime: string;
  uploadedAt: string;
}

export interface Bucket {
  id: string;
  private: boolean;
  createdAt: string;
  files: Map<string, BucketFile>;
  /** Every write (addFile/copyFile/seed) in order, so tests can tell a re-upload from a first upload. */
  writes: Array<{ path: string; xetHash: string; at: string }>;
}

/** The xorbs one shard registered, with the HMAC key dedup answers for them are keyed with. */
interface DedupGroup {
  xorbs: string[];
  hmacKey: Uint8Array;
}

export class CasValidationError extends Error {}

/** Reconstruction plan for a byte range: terms trimmed to whole chunks, and the chunk span needed per xorb. */
export interface ReconstructionPlan {
  offsetIntoFirstRange: number;
  terms: Array<{ hash: string; unpacked_length: number; range: { start: number; end: number } }>;
  xorbSpans: Map<string, { chunkStart: number; chunkEnd: number; byteStart: number; byteEnd: number }>;
}

const MAX_XORB_CHUNKS = 8 * 1024;
const EMPTY_SHA256 = createHash('sha256').digest('hex');
const YIELD_EVERY_BYTES = 8 * 1024 * 1024;

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, HASH_BYTES).equals(Buffer.from(b.buffer, b.byteOffset, HASH_BYTES));
}

function sumRange(lengths: Uint32Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum += lengths[i] ?? 0;
  return sum;
}

export class HubStore {
  readonly buckets = new Map<string, Bucket>();
  readonly xorbs = new Map<string, StoredXorb>();
  readonly files = new Map<string, FileRecon>();
  private readonly dedupIndex = new Map<string, DedupGroup>();
  /** File hashes whose bytes were rebuilt once already; xorbs are immutable so once is enough. */
  private readonly rebuiltFiles = new Set<string>();
  /** sha256 (hex) a shard's metadata extension claimed and the rebuilt bytes confirmed, by file hash. */
  private readonly fileSha256 = new Map<string, string>();

  createBucket(id: string, isPrivate = false): Bucket {
    const existing = this.buckets.get(id);
    if (existing) return existing;
    const bucket: Bucket = { id, private: isPrivate, createdAt: new Date().toISOString(), files: new Map(), writes: [] };
    this.buckets.set(id, bucket);
    return bucket;
  }

  /** Stores a verified xorb; false if it was already present (re-uploads are not errors). */
  addXorb(hash: string, xorb: StoredXorb): boolean {
    if (this.xorbs.has(hash)) return false;
    this.xorbs.set(hash, xorb);
    return true;
  }

  private requireXorb(hash: string): StoredXorb {
    const xorb = this.xorbs.get(hash);
    if (!xorb) throw new CasValidationError(`xorb ${hash} has not been uploaded`);
    return xorb;
  }

  /**
   * C2: checks every CAS block against the stored xorb and every file block's terms, verification
   * hashes and file hash against stored chunk hashes, and the sha256 of every file block that
   * carries the metadata extension against its rebuilt bytes, then registers it all. Nothing is
   * registered when any check fails. A block without the extension is accepted (the JS client
   * omits it).
   */
  async registerShard(shard: ParsedShard): Promise<void> {
    for (const cas of shard.xorbs) {
      const xorb = this.requireXorb(cas.xorbHash);
      const lengths = xorb.layout.uncompressedLengths;
      if (cas.numChunks !== lengths.length) {
        throw new CasValidationError(`xorb ${cas.xorbHash}: shard lists ${cas.numChunks} chunks, xorb has ${lengths.length}`);
      }
      if (cas.bytesOnDisk !== xorb.data.byteLength) {
        throw new CasValidationError(`xorb ${cas.xorbHash}: shard says ${cas.bytesOnDisk} bytes on disk, xorb has ${xorb.data.byteLength}`);
      }
      let offset = 0;
      cas.chunks.forEach((chunk, i) => {
        const stored = xorb.chunkHashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES);
        if (!sameHash(chunk.hash, stored) || chunk.unpackedBytes !== lengths[i] || chunk.byteRangeStart !== offset) {
          throw new CasValidationError(`xorb ${cas.xorbHash}: chunk ${i} does not match the stored xorb`);
        }
        offset += chunk.unpackedBytes;
      });
      if (cas.bytesInCas !== offset) {
        throw new CasValidationError(`xorb ${cas.xorbHash}: shard says ${cas.bytesInCas} unpacked bytes, chunks sum to ${offset}`);
      }
    }

    const recons: FileRecon[] = shard.files.map((file) => {
      let size = 0;
      const runs = file.terms.map((term) => {
        const xorb = this.requireXorb(term.xorbHash);
        const lengths = xorb.layout.uncompressedLengths;
        if (term.chunkStart >= term.chunkEnd || term.chunkEnd > lengths.length) {
          throw new CasValidationError(`file ${file.fileHash}: bad chunk range ${term.chunkStart}-${term.chunkEnd} in xorb ${term.xorbHash}`);
        }
        const unpacked = sumRange(lengths, term.chunkStart, term.chunkEnd);
        if (unpacked !== term.unpackedBytes) {
          throw new CasValidationError(`file ${file.fileHash}: term says ${term.unpackedBytes} bytes, chunks hold ${unpacked}`);
        }
        const run = { hashes: xorb.chunkHashes, lengths, start: term.chunkStart, end: term.chunkEnd };
        if (term.verification && hashToHex(term.verification) !== verificationHashHex(run)) {
          throw new CasValidationError(`file ${file.fileHash}: verification hash mismatch for xorb ${term.xorbHash}`);
        }
        size += unpacked;
        return run;
      });
      const actual = fileHashHex(runs);
      if (actual !== file.fileHash) {
        throw new CasValidationError(`file ${file.fileHash}: its terms hash to ${actual}`);
      }
      return {
        hash: file.fileHash,
        size,
        terms: file.terms.map(({ xorbHash, chunkStart, chunkEnd, unpackedBytes }) => ({ xorbHash, chunkStart, chunkEnd, unpackedBytes })),
      };
    });
    for (const [i, file] of shard.files.entries()) {
      if (file.sha256 !== undefined) await this.checkSha256(recons[i] as FileRecon, file.sha256);
    }

    for (const recon of recons) if (!this.files.has(recon.hash)) this.files.set(recon.hash, recon);
    this.indexForDedup(shard.xorbs.map((x) => x.xorbHash));
  }

  /** Indexes every chunk of these xorbs, first registration wins, so a dedup hit returns the whole group. */
  private indexForDedup(xorbHashes: string[]): void {
    if (xorbHashes.length === 0) return;
    const group: DedupGroup = { xorbs: xorbHashes, hmacKey: randomBytes(HASH_BYTES) };
    for (const hash of xorbHashes) {
      const xorb = this.requireXorb(hash);
      for (let i = 0; i < xorb.layout.uncompressedLengths.length; i++) {
        const key = hashToHex(xorb.chunkHashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES));
        if (!this.dedupIndex.has(key)) this.dedupIndex.set(key, group);
      }
    }
  }

  /** Forgets every xorb and the dedup entries naming them (test hook: a CAS that garbage-collected them). */
  dropXorbs(): number {
    const count = this.xorbs.size;
    this.xorbs.clear();
    this.dedupIndex.clear();
    this.rebuiltFiles.clear();
    this.fileSha256.clear();
    return count;
  }

  /** C3 answer for a chunk hash (its key valid for `ttlSeconds`), or undefined when the chunk is unknown. */
  dedupShard(chunkHashHex: string, ttlSeconds = 24 * 3600): Buffer | undefined {
    const group = this.dedupIndex.get(chunkHashHex);
    if (!group) return undefined;
    const xorbs = group.xorbs.map((hash) => {
      const xorb = this.requireXorb(hash);
      const count = xorb.layout.uncompressedLengths.length;
      const keyed = new Uint8Array(count * HASH_BYTES);
      for (let i = 0; i < count; i++) {
        keyed.set(keyedChunkHash(xorb.chunkHashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES), group.hmacKey), i * HASH_BYTES);
      }
      return { hash, keyedChunkHashes: keyed, uncompressedLengths: xorb.layout.uncompressedLengths, bytesOnDisk: xorb.data.byteLength };
    });
    return buildDedupShard(xorbs, group.hmacKey, Math.floor(Date.now() / 1000), ttlSeconds);
  }

  /** Decoded bytes of [start, end) of a registered file, one chunk (or part of one) at a time. */
  *fileSlices(recon: FileRecon, start = 0, end = recon.size): Generator<Buffer> {
    let pos = 0;
    for (const term of recon.terms) {
      if (pos >= end) return;
      const termEnd = pos + term.unpackedBytes;
      if (termEnd <= start) {
        pos = termEnd;
        continue;
      }
      const xorb = this.requireXorb(term.xorbHash);
      for (let i = term.chunkStart; i < term.chunkEnd && pos < end; i++) {
        const length = xorb.layout.uncompressedLengths[i] ?? 0;
        if (pos + length > start) {
          const chunk = decodeChunk(xorb.data, xorb.layout.chunkOffsets[i] ?? 0);
          if (chunk.byteLength !== length) throw new CasValidationError(`xorb ${term.xorbHash} chunk ${i} decoded to a wrong length`);
          yield chunk.subarray(Math.max(0, start - pos), Math.min(length, end - pos));
        }
        pos += length;
      }
    }
  }

  /** The whole file rebuilt into one buffer (test hook; synchronous by design). */
  rebuild(recon: FileRecon): Buffer {
    const out = Buffer.allocUnsafe(recon.size);
    let offset = 0;
    for (const slice of this.fileSlices(recon)) {
      out.set(slice, offset);
      offset += slice.byteLength;
    }
    if (offset !== recon.size) throw new CasValidationError(`file ${recon.hash} rebuilt to ${offset} of ${recon.size} bytes`);
    return out;
  }

  /**
   * Strict addFile check: decodes the whole file from its xorbs, yielding to the event loop now and
   * then so a multi-GiB rebuild does not freeze every other request. Throws when it cannot.
   */
  async checkRebuildable(recon: FileRecon): Promise<void> {
    if (this.rebuiltFiles.has(recon.hash)) return;
    await this.decodeWhole(recon, () => undefined);
  }

  /**
   * A shard's metadata extension claims the file's sha256: rebuilds the file (once per file hash)
   * and refuses the claim when the bytes hash otherwise. An empty file may claim all zeros, which
   * is what xet-core sends for it (its sha256 hasher is only fed chunks, and there are none).
   */
  private async checkSha256(recon: FileRecon, claimed: string): Promise<void> {
    let actual = this.fileSha256.get(recon.hash);
    if (recon.size === 0) actual = claimed === ZERO_HASH ? ZERO_HASH : EMPTY_SHA256;
    if (actual === undefined) {
      const hash = createHash('sha256');
      await this.decodeWhole(recon, (slice) => hash.update(slice));
      actual = hash.digest('hex');
    }
    if (actual !== claimed) {
      throw new CasValidationError(`file ${recon.hash}: the shard's metadata extension gives sha256 ${claimed}, but the file's bytes hash to ${actual}`);
    }
    this.fileSha256.set(recon.hash, actual);
  }

  /** The sha256 a shard's metadata extension gave for this file, once checked against its bytes; undefined if none did. */
  verifiedSha256(fileHash: string): string | undefined {
    return this.fileSha256.get(fileHash);
  }

  /** Decodes every byte of a file in order (yielding to the event loop every few MiB); throws when it cannot. */
  private async decodeWhole(recon: FileRecon, onSlice: (slice: Buffer) => void): Promise<void> {
    let total = 0;
    let sinceYield = 0;
    for (const slice of this.fileSlices(recon)) {
      onSlice(slice);
      total += slice.byteLength;
      sinceYield += slice.byteLength;
      if (sinceYield >= YIELD_EVERY_BYTES) {
        sinceYield = 0;
        await yieldToEventLoop();
      }
    }
    if (total !== recon.size) throw new CasValidationError(`file ${recon.hash} rebuilt to ${total} of ${recon.size} bytes`);
    this.rebuiltFiles.add(recon.hash);
  }

  /**
   * C4 planning for [start, end): keeps only the chunks that overlap the range, so the client fetches
   * no more than needed, and gives each xorb one chunk span covering all its terms (one fetch entry
   * with a single range; no multipart needed).
   */
  planReconstruction(recon: FileRecon, start: number, end: number): ReconstructionPlan {
    const plan: ReconstructionPlan = { offsetIntoFirstRange: 0, terms: [], xorbSpans: new Map() };
    let pos = 0;
    for (const term of recon.terms) {
      if (pos >= end) break;
      const termEnd = pos + term.unpackedBytes;
      if (termEnd <= start) {
        pos = termEnd;
        continue;
      }
      const xorb = this.requireXorb(term.xorbHash);
      const lengths = xorb.layout.uncompressedLengths;
      let first = term.chunkStart;
      while (first < term.chunkEnd - 1 && pos + (lengths[first] ?? 0) <= start) pos += lengths[first++] ?? 0;
      if (plan.terms.length === 0) plan.offsetIntoFirstRange = Math.max(0, start - pos);
      let last = first;
      let unpacked = 0;
      while (last < term.chunkEnd && pos < end) {
        unpacked += lengths[last] ?? 0;
        pos += lengths[last++] ?? 0;
      }
      pos = termEnd;
      plan.terms.push({ hash: term.xorbHash, unpacked_length: unpacked, range: { start: first, end: last } });
      const span = plan.xorbSpans.get(term.xorbHash);
      const chunkStart = Math.min(first, span?.chunkStart ?? first);
      const chunkEnd = Math.max(last, span?.chunkEnd ?? last);
      const offsets = xorb.layout.chunkOffsets;
      plan.xorbSpans.set(term.xorbHash, {
        chunkStart,
        chunkEnd,
        byteStart: offsets[chunkStart] ?? 0,
        byteEnd: (offsets[chunkEnd] ?? 0) - 1,
      });
    }
    return plan;
  }

  /**
   * Registers bytes as if another client had uploaded them: chunked like that client does (xet-core's
   * rule unless told `legacy`), stored as raw (uncompressed) xorbs, registered as a file and indexed
   * for dedup.
   */
  seedFile(bytes: Uint8Array, chunking?: SeedChunking): FileRecon {
    const chunks = chunkBytes(bytes, chunking);
    const terms: Term[] = [];
    const xorbHashes: string[] = [];
    let chunkIndex = 0;
    let offset = 0;
    while (chunkIndex < chunks.length) {
      const group: Uint8Array[] = [];
      const hashes: Uint8Array[] = [];
      let serialized = 0;
      while (chunkIndex < chunks.length && group.length < MAX_XORB_CHUNKS) {
        const chunk = chunks[chunkIndex];
        if (!chunk || (group.length > 0 && serialized + 8 + chunk.length > XORB_MAX_BYTES)) break;
        group.push(bytes.subarray(offset, offset + chunk.length));
        hashes.push(chunk.hash);
        serialized += 8 + chunk.length;
        offset += chunk.length;
        chunkIndex++;
      }
      const data = buildRawXorb(group);
      const layout = parseXorbLayout(data);
      const chunkHashes = new Uint8Array(hashes.length * HASH_BYTES);
      hashes.forEach((hash, i) => chunkHashes.set(hash, i * HASH_BYTES));
      const xorbHash = xorbHashHex({ hashes: chunkHashes, lengths: layout.uncompressedLengths, start: 0, end: group.length });
      this.addXorb(xorbHash, { data, layout, chunkHashes });
      xorbHashes.push(xorbHash);
      terms.push({ xorbHash, chunkStart: 0, chunkEnd: group.length, unpackedBytes: sumRange(layout.uncompressedLengths, 0, group.length) });
    }
    const hash = fileHashHex(
      terms.map((t) => {
        const xorb = this.requireXorb(t.xorbHash);
        return { hashes: xorb.chunkHashes, lengths: xorb.layout.uncompressedLengths, start: t.chunkStart, end: t.chunkEnd };
      }),
    );
    const recon = this.files.get(hash) ?? { hash, size: bytes.byteLength, terms };
    this.files.set(hash, recon);
    this.indexForDedup(xorbHashes);
    return recon;
  }

  upsertFile(bucket: Bucket, path: string, recon: FileRecon, mtime?: string): BucketFile {
    const now = new Date().toISOString();
    const entry: BucketFile = { path, xetHash: recon.hash, size: recon.size, mtime: mtime ?? now, uploadedAt: now };
    bucket.files.set(path, entry);
    bucket.writes.push({ path, xetHash: recon.hash, at: now });
    return entry;
  }
}
