/** A temp outbox publishing to a local-folder bucket, with its parsed config: for tests that build the daemon in-process. */
import path from 'node:path';
import { parseConfig, type Config } from '../../src/config/parse.js';
import { tmpDir } from './tmp.js';

export function localWorkspace(): { root: string; outbox: string; bucketDir: string; config: Config } {
  const root = tmpDir();
  const outbox = path.join(root, 'outbox');
  const bucketDir = path.join(root, 'bucket');
  const parsed = parseConfig({ flags: { outbox, bucket: bucketDir, agentId: 'agent-01', settleMs: 0 }, env: {}, file: undefined, cwd: root, homeDir: root });
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  return { root, outbox, bucketDir, config: parsed.config };
}
