/** Small reading helpers shared by the commands that read the bucket (board, results, pull, dashboard). */
import type { Readable } from 'node:stream';

/** Reads a stream into memory, stopping (and destroying the stream) after `maxBytes`. */
export async function readCapped(stream: Readable, maxBytes: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
    chunks.push(b);
    size += b.length;
    if (size >= maxBytes) {
      stream.destroy();
      break;
    }
  }
  const all = Buffer.concat(chunks);
  return all.length > maxBytes ? all.subarray(0, maxBytes) : all;
}

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(workers);
}
