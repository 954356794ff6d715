import { describe, expect, it } from 'vitest';
import { createLiveConfig } from '../../src/config/live.js';
import { parseConfig, type Config, type RawSettings } from '../../src/config/parse.js';
import { createLogger } from '../../src/log.js';
import { ignoredReason, mapPath } from '../../src/pipeline/naming.js';

function config(flags: RawSettings = {}): Config {
  const parsed = parseConfig({ flags: { outbox: '/tmp/o', bucket: '/tmp/b', agentId: 'agent-01', ...flags }, env: {}, file: undefined, cwd: '/tmp', homeDir: '/tmp' });
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  return parsed.config;
}

describe('live configuration', () => {
  it('a reload changes what the next read sees; settings that need a restart keep their running values', () => {
    const live = createLiveConfig(config(), createLogger({ level: 'silent' }));
    const seenBefore = live.config;
    const outcome = live.reconfigure(config({ settleMs: 5000, concurrency: 8 }));
    expect(outcome).toEqual({ applied: ['settleMs'], needRestart: ['concurrency'] });
    expect(live.config.settleMs).toBe(5000);
    expect(live.config.concurrency).toBe(seenBefore.concurrency);
    expect(seenBefore.settleMs).toBe(2000);
  });

  it('the naming rules follow a reload (new ignore patterns apply to the next path mapped; the agent id stays)', () => {
    const live = createLiveConfig(config(), createLogger({ level: 'silent' }));
    expect(ignoredReason('scripts/train.tmpl', live.rules)).toBeUndefined();
    live.reconfigure(config({ ignore: ['*.tmpl'], agentId: 'agent-02' }));
    expect(ignoredReason('scripts/train.tmpl', live.rules)).toBeDefined();
    expect(mapPath('scripts/train.py', live.rules)).toMatchObject({ bucketPath: 'artifacts/scripts/train_agent-01.py' });
  });

  it('a new log level applies to the logger at once', () => {
    const logger = createLogger({ level: 'info' });
    const live = createLiveConfig(config({ logLevel: 'info' }), logger);
    live.reconfigure(config({ logLevel: 'debug' }));
    expect(logger.level).toBe('debug');
    live.reconfigure(config({ logLevel: 'debug', settleMs: 10 }));
    expect(logger.level).toBe('debug');
  });
});
