/**
 * Which xorbs already hold a chunk: the dedup memory of the upload side. It is filled from four
 * places: xorbs this process uploaded (each once the CAS accepted it), those an interrupted earlier
 * process had uploaded (AcceptedXorbs), the shards of earlier runs kept in the state directory
 * (see ShardCache), and the shards the CAS answers dedup queries with (whose chunk hashes are
 * keyed with an HMAC key of the answer). A hit lets a file's term point at chunks already stored
 * instead of sending them again. Bounded: past `maxChunks` the oldest xorbs are forgotten.
 * A dedup answer is only good until its shard's `shard_key_expiry` (xet-core uses a shard while
 * now <= expiry): past it, its xorbs are forgotten and its HMAC key is freed.
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
  /** Hashes as indexed (keyed with `hasher`'s key for server answers), for a full-length compare on a hit. */
  hashes: Uint8Array[];
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

function keyOf(hash: Uint8Array): string {
  return Buffer.from(hash.buffer, hash.byteOffset, 12).toString('latin1');
}

export interface ChunkHit {
  xorb: XorbRef;
  index: number;
}

export class ChunkIndex {
  readonly #entries = new Map<string, number>();
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
   * Starts an empty xorb record (for a xorb being filled); chunks are added with `addChunk`.
   * `expiresAt` (ms): the answer's key expiry; an answer already expired is not loaded (-1).
   */
  addXorb(ref: XorbRef, hashes: readonly Uint8Array[] = [], hmacKey?: Uint8Array, expiresAt?: number): number {
    this.#sweep();
    if (expiresAt !== undefined && expiresAt < this.#now()) return -1;
    const keyIdx = hmacKey ? this.#keyIndex(hmacKey) : 0;
    if (keyIdx < 0) return -1;
    const slot = this.#nextSlot++;
    const record: XorbRecord = { ref, hashes: [], keyIdx, expiresAt };
    (this.#keys[keyIdx] as KeySlot).records++;
    if (expiresAt !== undefined) this.#nextExpiry = Math.min(this.#nextExpiry, expiresAt);
    this.#xorbs.set(slot, record);
    for (const h of hashes) this.addChunk(slot, h);
    this.#evict();
    return slot;
  }

  addChunk(slot: number, hash: Uint8Array): void {
    const record = this.#xorbs.get(slot);
    if (!record || record.hashes.length >= CHUNKS_PER_SLOT) return;
    const index = record.hashes.length;
    record.hashes.push(hash);
    const key = keyOf(hash);
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
      const stored = record?.hashes[index];
      if (record && record.keyIdx === k && stored && Buffer.compare(stored, probe) === 0) return { xorb: record.ref, index };
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
    record.hashes.forEach((hash, index) => {
      const key = keyOf(hash);
      if (this.#entries.get(key) === slot * CHUNKS_PER_SLOT + index) this.#entries.delete(key);
    });
    this.#chunks -= record.hashes.length;
    this.#xorbs.delete(slot);
    const key = this.#keys[record.keyIdx];
    if (key && --key.records === 0 && record.keyIdx !== 0) this.#keys[record.keyIdx] = undefined;
  }
}
