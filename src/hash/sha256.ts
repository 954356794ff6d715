import { createHash } from 'node:crypto';

/** sha256 (hex) of a byte stream, without holding it in memory. */
export async function sha256Of(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest('hex');
}

/** sha256 (hex) of a Blob (a download's body), read through its stream. */
export async function sha256OfBlob(blob: Blob): Promise<string> {
  const hash = createHash('sha256');
  const reader = blob.stream().getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    hash.update(value);
  }
  return hash.digest('hex');
}

/** A sha256 fed block by block as a file is read; `digest` ends it. */
export interface BlockSha256 {
  update(block: Uint8Array): void;
  /** The 32-byte digest, in the standard (FIPS 180-4) byte order. */
  digest(): Uint8Array;
}

/**
 * A running sha256 over the blocks of one file. node:crypto (OpenSSL, SHA-NI where the CPU has it)
 * takes under a quarter of the CPU of hash-wasm's SHA-256 (0.68 against 3.19 CPU s per GiB,
 * bench/sha256-cost.ts on the project's shared 2-core machine), so it is the one used. Fed the
 * blocks as they are read, beside the chunker: a caller that moves hashing off the main thread can
 * move this along with it, block by block.
 */
export function startSha256(): BlockSha256 {
  const hash = createHash('sha256');
  return {
    update: (block) => void hash.update(block),
    digest: () => hash.digest(),
  };
}
