import { describe, expect, it } from 'vitest';
import { parseConfig, type Config, type RawSettings } from '../../src/config/parse.js';
import { LIVE_SETTINGS, RESTART_SETTINGS, planReload, reloadConfig } from '../../src/config/reload.js';
import { createLogger } from '../../src/log.js';

function config(flags: RawSettings = {}): Config {
  const parsed = parseConfig({ flags: { outbox: '/tmp/o', bucket: '/tmp/b', agentId: 'agent-01', ...flags }, env: {}, file: undefined, cwd: '/tmp', homeDir: '/tmp' });
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  return parsed.config;
}

describe('configuration reload', () => {
  it('knows of every setting whether a reload applies it or it waits for a restart (none is silently ignored)', () => {
    const meta = new Set(['configFile', 'outboxSource', 'bucketSource']);
    const settings = Object.keys(config()).filter((k) => !meta.has(k)).sort();
    const known = [...LIVE_SETTINGS, ...RESTART_SETTINGS] as string[];
    expect(new Set(known).size).toBe(known.length);
    expect([...known].sort()).toEqual(settings);
  });


  it('applies live settings at once and names those that need a restart, keeping their running values', () => {
    const current = config();
    const plan = planReload(current, config({ settleMs: 5000, ignore: ['*.tmpl'], concurrency: 8, createBucket: true }));
    expect(plan.applied.sort()).toEqual(['ignore', 'settleMs']);
    expect(plan.needRestart.sort()).toEqual(['concurrency', 'createBucket']);
    expect(plan.config.settleMs).toBe(5000);
    expect(plan.config.ignore).toEqual(['*.tmpl']);
    expect(plan.config.concurrency).toBe(current.concurrency);
    expect(plan.config.createBucket).toBe(false);
    expect(Object.isFrozen(plan.config)).toBe(true);
  });

  it('applies a valid configuration to the daemon, or keeps the running one and says why', async () => {
    const seen: Config[] = [];
    const daemon = { reconfigure: (next: Config) => (seen.push(next), { applied: ['settleMs'], needRestart: [] }) };
    const logger = createLogger({ level: 'silent' });
    const next = config({ settleMs: 10 });
    expect(await reloadConfig(daemon, async () => next, logger, 'SIGHUP')).toEqual({ ok: true, applied: ['settleMs'], needRestart: [] });
    const refused = await reloadConfig(daemon, async () => { throw new Error('concurrency: "lots" is not a number'); }, logger, 'SIGHUP');
    expect(refused).toEqual({ ok: false, reason: 'concurrency: "lots" is not a number' });
    expect(seen).toEqual([next]);
  });
});
