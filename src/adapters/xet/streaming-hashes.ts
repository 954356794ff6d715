/**
 * The two hashes a writer computes over a file's chunk list, fed one chunk at a time so that no list
 * is kept: memory stays flat whatever the file size (a 10 GiB file has about 164k chunks).
 * - The file hash (docs/xet/hashing.md): the merkle root of all chunks, keyed with zeros. Built
 *   with xetchunk-wasm's MerkleHashSubtree, which keeps only the unstable right edge of the tree
 *   (a few hundred nodes for a 10 GiB file) and merges batches as they close.
 * - A term's verification entry: BLAKE3 keyed with the verification key over the term's raw chunk
 *   hashes concatenated, fed hash by hash.
 */
import { Hasher } from '@huggingface/blake3-jit';
import { hashToHex, hmac, MerkleHashSubtree, type Chunk } from '@huggingface/xetchunk-wasm';
import { HASH_BYTES } from './format.js';

/** Chunks merged into the tree at a time. */
const BATCH = 1024;
const ZERO_KEY = new Uint8Array(HASH_BYTES);
/** xet-core's chunk_verification key (VERIFICATION_KEY). */
const VERIFICATION_KEY = Uint8Array.from([
  127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243, 164, 205, 38, 213, 181, 219, 73, 230, 65, 36,
  152, 127, 40, 251, 148, 195,
]);

/** The Xet file hash of chunks pushed in order. */
export class FileHashStream {
  #tree: MerkleHashSubtree | undefined;
  #pending: Chunk[] = [];
  #count = 0;

  push(hash: Uint8Array, length: number): void {
    if (this.#pending.length === BATCH) this.#merge(false);
    this.#pending.push({ hash, length });
    this.#count++;
  }

  get chunks(): number {
    return this.#count;
  }

  /** The hash in hex; all zeros when no chunk was pushed (an empty file). Ends the stream. */
  digest(): string {
    if (this.#count === 0) return hashToHex(ZERO_KEY);
    this.#merge(true);
    const root = this.#tree?.finalHash();
    if (!root) throw new Error('file hash: the merkle tree did not close');
    return hashToHex(hmac(root, ZERO_KEY));
  }

  #merge(atEnd: boolean): void {
    const part = MerkleHashSubtree.fromChunks(this.#tree === undefined, this.#pending, atEnd);
    this.#pending = [];
    if (this.#tree) this.#tree.mergeInto(part);
    else this.#tree = part;
  }
}

/** A term's verification entry, fed chunk hash by chunk hash; `take` returns it and starts the next term. */
export class VerificationStream {
  readonly #hasher = Hasher.newKeyed(VERIFICATION_KEY);

  add(hash: Uint8Array): void {
    this.#hasher.update(hash);
  }

  take(): Uint8Array {
    const out = this.#hasher.finalize(HASH_BYTES);
    this.#hasher.reset();
    return out;
  }
}
