/**
 * The Xet file hash of local bytes, computed exactly as the Hub client does (content-defined
 * chunks, then the merkle file hash), streaming: memory stays at one read buffer plus 40 bytes
 * per 64 KiB chunk. Used to recognise a bucket file as identical to a local one (`sync --adopt`,
 * an upload a crash cut off) without uploading or downloading it.
 */
import { fileHash, hashToHex, type Chunk } from '@huggingface/xetchunk-wasm';
import { XetChunker, type ChunkRule } from './xet-chunker.js';

/** The hash the client sends, and the Hub lists, for an empty file. */
export const EMPTY_FILE_XET_HASH = '0'.repeat(64);

/** The legacy rule's shortest chunk: below it, both rules see one chunk. */
const LEGACY_EARLIEST_CUT = 8 * 1024 - 64;

/** The file hash under one chunking rule: xet-core's (what uploads use) unless told otherwise. */
export async function xetHashOf(stream: AsyncIterable<Uint8Array>, rule: ChunkRule = 'xet-core'): Promise<string> {
  const chunker = await XetChunker.create(rule);
  const chunks: Chunk[] = [];
  for await (const block of stream) {
    const buf = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    for (const c of chunker.push(buf)) chunks.push({ hash: c.hash, length: c.length });
  }
  const last = chunker.finish();
  if (last) chunks.push({ hash: last.hash, length: last.length });
  return chunks.length === 0 ? EMPTY_FILE_XET_HASH : hashToHex(fileHash(chunks));
}

/**
 * Which chunking rule gives these bytes the listed hash, or undefined when none does. A file in the
 * bucket may have been cut by xet-core's rule (the `hf` CLI, hf-outbox now) or by the legacy one
 * (`@huggingface/hub` with xetchunk-wasm 0.2.0, hf-outbox before): both are the same bytes. The
 * legacy hash is computed (a second read) only when the first does not match; a file of at most
 * 8,128 bytes is one chunk under both rules, so it is read once.
 */
export async function matchXetHash(open: () => AsyncIterable<Uint8Array>, listed: string, sizeBytes: number): Promise<ChunkRule | undefined> {
  if ((await xetHashOf(open())) === listed) return 'xet-core';
  if (sizeBytes <= LEGACY_EARLIEST_CUT) return undefined;
  return (await xetHashOf(open(), 'legacy')) === listed ? 'legacy' : undefined;
}
