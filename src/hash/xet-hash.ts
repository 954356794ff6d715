/**
 * The Xet file hash of local bytes, computed exactly as the Hub client does (content-defined
 * chunks, then the merkle file hash), streaming: memory stays at one read buffer plus 40 bytes
 * per 64 KiB chunk. Used to recognise a bucket file as identical to a local one (`sync --adopt`,
 * an upload a crash cut off) without uploading or downloading it.
 */
import { fileHash, hashToHex, type Chunk } from '@huggingface/xetchunk-wasm';
import { XetChunker } from './xet-chunker.js';

/** The hash the client sends, and the Hub lists, for an empty file. */
export const EMPTY_FILE_XET_HASH = '0'.repeat(64);

export async function xetHashOf(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const chunker = await XetChunker.create();
  const chunks: Chunk[] = [];
  for await (const block of stream) {
    const buf = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    for (const c of chunker.push(buf)) chunks.push({ hash: c.hash, length: c.length });
  }
  const last = chunker.finish();
  if (last) chunks.push({ hash: last.hash, length: last.length });
  return chunks.length === 0 ? EMPTY_FILE_XET_HASH : hashToHex(fileHash(chunks));
}
