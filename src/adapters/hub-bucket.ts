import type { BucketTarget, Config } from '../config/parse.js';
import type { BucketClient, OutboxFs } from '../core/ports.js';
export async function openHubBucket(_c: Config, _t: Extract<BucketTarget, { kind: 'hf' }>, _fs: OutboxFs): Promise<BucketClient> {
  throw new Error('WIP');
}
