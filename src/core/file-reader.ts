/**
 * FileReaders (src/core/ports.ts) over bytes already at hand: a block stream, or one buffer.
 * What a real file is read through is NodeOutboxFs.openReader; these serve in-memory content
 * (a generated message) and the callers that hold a stream.
 */
import type { FileReader } from './ports.js';

/** Reads a stream of blocks into the caller's buffers, a block split across reads where it must be. */
export function readerOf(blocks: AsyncIterable<Uint8Array>): FileReader {
  const iterator = blocks[Symbol.asyncIterator]();
  let rest: Uint8Array | undefined;
  let ended = false;
  return {
    async read(into, offset, length) {
      let filled = 0;
      while (filled < length && !ended) {
        if (rest === undefined || rest.length === 0) {
          // A partial fill is returned at once: the caller asks again for the rest.
          if (filled > 0) break;
          const next = await iterator.next();
          if (next.done) {
            ended = true;
            break;
          }
          rest = next.value;
          continue;
        }
        const n = Math.min(rest.length, length - filled);
        into.set(rest.subarray(0, n), offset + filled);
        rest = rest.subarray(n);
        filled += n;
      }
      return filled;
    },
    async close() {
      if (ended) return;
      ended = true;
      await iterator.return?.();
    },
  };
}

/** Reads one buffer. */
export function bytesReader(bytes: Uint8Array): FileReader {
  let at = 0;
  return {
    async read(into, offset, length) {
      const n = Math.min(length, bytes.length - at);
      into.set(bytes.subarray(at, at + n), offset);
      at += n;
      return n;
    },
    async close() {
      at = bytes.length;
    },
  };
}

/** The blocks of a reader, each a fresh buffer of at most `blockBytes` (for the callers that want a stream). */
export async function* blocksOf(reader: FileReader, blockBytes: number): AsyncGenerator<Buffer> {
  try {
    for (;;) {
      const block = Buffer.allocUnsafe(blockBytes);
      const n = await reader.read(block, 0, blockBytes);
      if (n === 0) return;
      yield n === blockBytes ? block : block.subarray(0, n);
    }
  } finally {
    await reader.close();
  }
}
