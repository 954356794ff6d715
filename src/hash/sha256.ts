import { createHash } from 'node:crypto';

/** sha256 (hex) of a byte stream, without holding it in memory. */
export async function sha256Of(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest('hex');
}
