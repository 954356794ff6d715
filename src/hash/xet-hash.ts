/**
 * The Xet file hash of local bytes, computed exactly as the Hub client does (content-defined
 * chunks, then the merkle file hash), streaming: memory stays at one read buffer plus 40 bytes
 * per 64 KiB chunk. Used to recognise a bucket file as identical to a local one (`sync --adopt`)
 * without uploading or downloading it.
 */
import { createChunker, fileHash, finalize, hashToHex, nextBlock, type Chunk } from '@huggingface/xetchunk-wasm';

/** The hash the client sends, and the Hub lists, for an empty file. */
export const EMPTY_FILE_XET_HASH = '0'.repeat(64);

export async function xetHashOf(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const chunker = createChunker();
  const chunks: Chunk[] = [];
  let bytes = 0;
  for await (const block of stream) {
    bytes += block.length;
    for (const c of nextBlock(chunker, block)) chunks.push({ hash: c.hash, length: c.length });
  }
  const last = finalize(chunker);
  if (last) chunks.push(last);
  return bytes === 0 ? EMPTY_FILE_XET_HASH : hashToHex(fileHash(chunks));
}
