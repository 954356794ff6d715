/**
 * Which xorbs already hold a chunk: the dedup memory of the upload side. It is filled from four
 * places: xorbs this process uploaded (each once the CAS accepted it), those an interrupted earlier
 * process had uploaded (AcceptedXorbs), the shards of earlier runs kept in the state directory
 * (see ShardCache), and the shards the CAS answers dedup queries with (whose chunk hashes are
 * keyed with an HMAC key of the answer). A hit lets a file's term point at chunks already stored
 * instead of sending them again. Bounded: past `maxChunks` the oldest xorbs are forgotten.
 * A dedup answer is only good until its shard's `shard_key_expiry` (xet-core uses a shard while
 * now <= expiry): past it, its xorbs are forgotten and its HMAC key is freed.
 *
 * Memory: about 70 bytes per chunk (the 32-byte hash in its xorb's one buffer, and one entry of a
 * Map from 30 bits of the hash, a small integer, to where it sits), so the default 512k chunks
 * (32 GiB of data) stay near 36 MiB. Two hashes sharing those 30 bits keep the first one indexed:
 * the other is only a lost dedup (about 1 chunk in 8,000 at 512k chunks), never a wrong hit, since a
 * hit is compared in full.
 */
import { Hasher } from '@huggingface/blake3-jit';
import { HASH_BYTES } from './format.js';

/** A xorb known to hold chunks; `hash` is undefined while this process is still filling it. */
export interface XorbRef {
  hash: string | undefined;
  /**
   * Where the xorb came from: this call (`session`), the shard cache, a dedup answer (`server`), or
   * an upload the CAS acknowledged that no accepted shard has registered yet (`accepted`, see
   * AcceptedXorbs). Hits on any but `session` are dropped if the CAS refuses a shard using them.
   */
  readonly origin: 'session' | 'cache' | 'server' | 'accepted';
}

interface XorbRecord {
  ref: XorbRef;
  /** Hashes as indexed (keyed with `hasher`'s key for server answers), concatenated, for a full-length compare on a hit. */
  hashes: Uint8Array;
  /** Chunks in `hashes` (its capacity grows while the xorb is being filled). */
  count: number;
  keyIdx: number;
  /** ms since the epoch after which the record is no longer used (a dedup answer's key expiry). */
  expiresAt: number | undefined;
}

interface KeySlot {
  key: string;
  hasher: Hasher | undefined;
  /** Records keyed with it; the slot is freed (reused) when none is left. */
  records: number;
}

/** Slots for xorbs are numbered; an index entry packs (slot, chunk index) into one number. */
const CHUNKS_PER_SLOT = 1 << 14;
const DEFAULT_MAX_CHUNKS = 512 * 1024;
/** Distinct HMAC keys kept from dedup answers (each costs one keyed hash per lookup). */
const MAX_KEYS = 32;
const EMPTY = new Uint8Array(0);

/** 30 bits of a hash: a small integer, so a Map entry costs no allocation of its own. */
function keyOf(hash: Uint8Array, at = 0): number {
  return ((hash[at] as number) | ((hash[at + 1] as number) << 8) | ((hash[at + 2] as number) << 16) | (((hash[at + 3] as number) & 0x3f) << 24)) >>> 0;
}

function sameHash(a: Uint8Array, aAt: number, b: Uint8Array): boolean {
  for (let i = 0; i < HASH_BYTES; i++) if (a[aAt + i] !== b[i]) return false;
  return true;
}

/** The hashes as one buffer (a list of 32-byte hashes is concatenated). */
function concatHashes(hashes: Uint8Array | readonly Uint8Array[]): Uint8Array {
  if (hashes instanceof Uint8Array) return hashes;
  const out = new Uint8Array(hashes.length * HASH_BYTES);
  hashes.forEach((h, i) => out.set(h.subarray(0, HASH_BYTES), i * HASH_BYTES));
  return out;
}

export interface ChunkHit {
  xorb: XorbRef;
  index: number;
}

export class ChunkIndex {
  readonly #entries = new Map<number, number>();
  readonly #xorbs = new Map<number, XorbRecord>();
  /** keyIdx 0 = raw hashes; others are keyed hashers from dedup answers (undefined: a free slot). */
  readonly #keys: Array<KeySlot | undefined> = [{ key: '', hasher: undefined, records: 0 }];
  readonly #maxChunks: number;
  readonly #now: () => number;
  #nextSlot = 0;
  #chunks = 0;
  /** The earliest expiry of any record (ms), when to sweep next. */
  #nextExpiry = Number.POSITIVE_INFINITY;

  constructor(options: { maxChunks?: number; now?: () => number } = {}) {
    this.#maxChunks = options.maxChunks ?? DEFAULT_MAX_CHUNKS;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Adds a xorb's record with its chunk hashes (concatenated, 32 bytes each, or a list), or an empty one
   * for a xorb being filled, whose chunks are added with `addChunk`. The index keeps `hashes` as given
   * (no copy): the caller must not change it afterwards.
   * `expiresAt` (ms): the answer's key expiry; an answer already expired is not loaded (-1).
   */
  addXorb(ref: XorbRef, hashes: Uint8Array | readonly Uint8Array[] = EMPTY, hmacKey?: Uint8Array, expiresAt?: number): number {
    this.#sweep();
    if (expiresAt !== undefined && expiresAt < this.#now()) return -1;
    const keyIdx = hmacKey ? this.#keyIndex(hmacKey) : 0;
    if (keyIdx < 0) return -1;
    const slot = this.#nextSlot++;
    const all = concatHashes(hashes);
    const count = Math.min(CHUNKS_PER_SLOT, Math.floor(all.length / HASH_BYTES));
    const record: XorbRecord = { ref, hashes: all, count, keyIdx, expiresAt };
    (this.#keys[keyIdx] as KeySlot).records++;
    if (expiresAt !== undefined) this.#nextExpiry = Math.min(this.#nextExpiry, expiresAt);
    this.#xorbs.set(slot, record);
    for (let i = 0; i < count; i++) this.#index(slot, record, i);
    this.#evict();
    return slot;
  }

  /** Appends a chunk to a record started empty (a xorb being filled). */
  addChunk(slot: number, hash: Uint8Array): void {
    const record = this.#xorbs.get(slot);
    if (!record || record.count >= CHUNKS_PER_SLOT) return;
    const at = record.count * HASH_BYTES;
    if (at + HASH_BYTES > record.hashes.length) {
      const grown = new Uint8Array(Math.min(CHUNKS_PER_SLOT * HASH_BYTES, Math.max(64 * HASH_BYTES, record.hashes.length * 2)));
      grown.set(record.hashes.subarray(0, at));
      record.hashes = grown;
    }
    record.hashes.set(hash.subarray(0, HASH_BYTES), at);
    this.#index(slot, record, record.count++);
  }

  #index(slot: number, record: XorbRecord, index: number): void {
    const key = keyOf(record.hashes, index * HASH_BYTES);
    if (!this.#entries.has(key)) this.#entries.set(key, slot * CHUNKS_PER_SLOT + index);
    this.#chunks++;
  }

  /** The stored chunk equal to `hash`, if any xorb known holds it. */
  lookup(hash: Uint8Array): ChunkHit | undefined {
    this.#sweep();
    for (let k = 0; k < this.#keys.length; k++) {
      const slot = this.#keys[k];
      if (slot === undefined) continue;
      const hasher = slot.hasher;
      const probe = hasher ? hasher.reset().update(hash).finalize(HASH_BYTES) : hash;
      const packed = this.#entries.get(keyOf(probe));
      if (packed === undefined) continue;
      const record = this.#xorbs.get(Math.floor(packed / CHUNKS_PER_SLOT));
      const index = packed % CHUNKS_PER_SLOT;
      if (record && record.keyIdx === k && index < record.count && sameHash(record.hashes, index * HASH_BYTES, probe)) return { xorb: record.ref, index };
    }
    return undefined;
  }

  /** Forgets these xorbs (by hash), whatever their origin. */
  forget(xorbHashes: ReadonlySet<string>): void {
    for (const [slot, record] of this.#xorbs) if (record.ref.hash !== undefined && xorbHashes.has(record.ref.hash)) this.#drop(slot, record);
  }

  /** Forgets every xorb (the CAS refused a shard that pointed at some of them). */
  clear(): void {
    for (const [slot, record] of this.#xorbs) this.#drop(slot, record);
  }

  /** Xorbs known, for tests and logs. */
  get size(): number {
    return this.#xorbs.size;
  }

  /** Chunks known. */
  get chunks(): number {
    return this.#chunks;
  }

  #keyIndex(hmacKey: Uint8Array): number {
    const key = Buffer.from(hmacKey).toString('hex');
    const found = this.#keys.findIndex((k) => k?.key === key);
    if (found >= 0) return found;
    const free = this.#keys.indexOf(undefined);
    if (free < 0 && this.#keys.length > MAX_KEYS) return -1;
    const slot: KeySlot = { key, hasher: Hasher.newKeyed(hmacKey), records: 0 };
    if (free >= 0) {
      this.#keys[free] = slot;
      return free;
    }
    this.#keys.push(slot);
    return this.#keys.length - 1;
  }

  /** Drops the records whose expiry has passed (checked only once the earliest one is due). */
  #sweep(): void {
    const now = this.#now();
    if (now <= this.#nextExpiry) return;
    this.#nextExpiry = Number.POSITIVE_INFINITY;
    for (const [slot, record] of this.#xorbs) {
      if (record.expiresAt === undefined) continue;
      if (record.expiresAt < now) this.#drop(slot, record);
      else this.#nextExpiry = Math.min(this.#nextExpiry, record.expiresAt);
    }
  }

  #evict(): void {
    for (const [slot, record] of this.#xorbs) {
      if (this.#chunks <= this.#maxChunks) return;
      if (record.ref.hash === undefined) continue; // never a xorb still being filled
      this.#drop(slot, record);
    }
  }

  #drop(slot: number, record: XorbRecord): void {
    for (let index = 0; index < record.count; index++) {
      const key = keyOf(record.hashes, index * HASH_BYTES);
      if (this.#entries.get(key) === slot * CHUNKS_PER_SLOT + index) this.#entries.delete(key);
    }
    this.#chunks -= record.count;
    this.#xorbs.delete(slot);
    const key = this.#keys[record.keyIdx];
    if (key && --key.records === 0 && record.keyIdx !== 0) this.#keys[record.keyIdx] = undefined;
  }
}
