/** A temp outbox publishing to a local-folder bucket, for tests that build the daemon in-process. */
import path from 'node:path';
import { LocalFolderBucket } from '../../src/adapters/local-bucket.js';
import { NodeOutboxFs } from '../../src/adapters/node-fs.js';
import { systemClock } from '../../src/adapters/system-clock.js';
import { parseConfig, type Config, type RawSettings } from '../../src/config/parse.js';
import { Outbox, type OutboxDeps } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { StateStore } from '../../src/state/store.js';
import { outboxIn, tmpDir } from './tmp.js';

/** A watcher that never reports anything: the test drives the daemon through scans. */
export const noWatcher: NonNullable<OutboxDeps['watch']> = () => ({ ready: Promise.resolve(), close: async () => undefined });

export function localWorkspace(settings: RawSettings = {}): {
  root: string;
  outbox: string;
  bucketDir: string;
  config: Config;
  /** The daemon on this workspace (real fs, clock and local bucket, silent logs unless overridden) and its state store. */
  open(deps?: Partial<OutboxDeps>): { daemon: Outbox; state: StateStore };
} {
  const root = tmpDir();
  const outbox = outboxIn(root);
  const bucketDir = path.join(root, 'bucket');
  const parsed = parseConfig({ flags: { outbox, bucket: bucketDir, agentId: 'agent-01', settleMs: 0, unitSettleMs: 0, ...settings }, env: {}, file: undefined, cwd: root, homeDir: root });
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  const config = parsed.config;
  const open = (deps: Partial<OutboxDeps> = {}) => {
    const fs = new NodeOutboxFs();
    const state = StateStore.open(path.join(root, 'state'), { outbox, bucket: config.bucket.uri, agentId: 'agent-01' });
    const daemon = new Outbox(config, {
      fs,
      bucket: new LocalFolderBucket(bucketDir, fs),
      state,
      clock: systemClock,
      logger: createLogger({ level: 'silent' }),
      ...deps,
    });
    return { daemon, state };
  };
  return { root, outbox, bucketDir, config, open };
}
