/** Chooses the bucket backend for the configured target. */
import type { Config } from '../config/parse.js';
import type { BucketClient, OutboxFs } from '../core/ports.js';
import { LocalFolderBucket } from './local-bucket.js';

export async function openBucket(config: Config, fs: OutboxFs): Promise<BucketClient> {
  const target = config.bucket;
  if (target.kind === 'local') return new LocalFolderBucket(target.root, fs);
  const { openHubBucket } = await import('./hub-bucket.js');
  return openHubBucket(config, target, fs);
}
