import { describe, expect, it } from 'vitest';
import { parseBucket, parseConfig, type ParseInput } from '../../src/config/parse.js';

const base: ParseInput = { flags: {}, env: {}, file: undefined, cwd: '/work', homeDir: '/home/u' };

describe('parseConfig', () => {
  it('applies defaults and falls back to a documented agent id for a local-folder bucket, with a warning', () => {
    const r = parseConfig(base);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config).toMatchObject({ outbox: '/work/outbox', agentId: 'agent-local', settleMs: 2000, concurrency: 2 });
    expect(r.config.bucket).toEqual({ kind: 'local', root: '/work/bucket', uri: 'file:///work/bucket' });
    expect(r.config.stateDir).toMatch(/^\/home\/u\/\.local\/state\/hf-outbox\/agent-local\/[0-9a-f]{12}$/);
    expect(r.warnings.join()).toMatch(/no agent id given/);
  });

  it('requires an agent id for an hf:// bucket', () => {
    const r = parseConfig({ ...base, flags: { bucket: 'hf://buckets/org/shared' } });
    expect(r).toEqual({ ok: false, errors: [expect.stringMatching(/^agent-id: missing; publishing to hf:\/\/buckets\/org\/shared needs/)] });
  });

  it('takes flag over environment over file over default, and names the source of a bad value', () => {
    const file = { path: '/etc/x.yaml', settings: { 'settle-ms': 5, concurrency: 3, 'agent-id': 'file-agent' } };
    const r = parseConfig({ ...base, file, env: { HF_OUTBOX_SETTLE_MS: '7', AGENT_ID: 'env-agent' }, flags: { settleMs: 9 } });
    expect(r.ok && r.config).toMatchObject({ settleMs: 9, concurrency: 3, agentId: 'env-agent' });
    const bad = parseConfig({ ...base, file: { path: '/etc/x.yaml', settings: { concurrency: 'lots' } } });
    expect(bad).toEqual({ ok: false, errors: ['concurrency: got "lots" (from /etc/x.yaml), expected a whole number'] });
  });

  it('collects every problem at once', () => {
    const r = parseConfig({ ...base, env: { HF_OUTBOX_SETTLE_MS: '-1', HF_OUTBOX_LOG_LEVEL: 'loud' }, flags: { agentId: 'has space' } });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors.map((e) => e.split(':')[0])).toEqual(['agent-id', 'settle-ms', 'log-level']);
  });

  it('reads lists and booleans from the environment', () => {
    const r = parseConfig({ ...base, env: { HF_OUTBOX_IGNORE: '*.lock, **/wandb/**', HF_OUTBOX_CREATE_BUCKET: 'yes' } });
    expect(r.ok && r.config).toMatchObject({ ignore: ['*.lock', '**/wandb/**'], createBucket: true });
  });

  it('uses $STATE_DIRECTORY under systemd', () => {
    const r = parseConfig({ ...base, env: { STATE_DIRECTORY: '/var/lib/hf-outbox/agent-01' } });
    expect(r.ok && r.config.stateDir).toBe('/var/lib/hf-outbox/agent-01');
  });

  it('a typo in an hf: bucket is a configuration error showing the expected form, never a local folder', () => {
    const r = parseConfig({ ...base, flags: { bucket: 'hf:/buckets/org/name', agentId: 'agent-01' } });
    expect(r).toEqual({ ok: false, errors: ['bucket: got "hf:/buckets/org/name", expected hf://buckets/OWNER/NAME, e.g. hf://buckets/my-org/shared-artifacts (from --bucket)'] });
  });

  it('knows whether the outbox was named or is the default', () => {
    expect(parseConfig(base).ok && (parseConfig(base) as { config: { outboxSource: string } }).config.outboxSource).toBe('default');
    const given = parseConfig({ ...base, env: { HF_OUTBOX_OUTBOX: '/srv/outbox' } });
    expect(given.ok && given.config.outboxSource).toBe('given');
  });

  it('refuses an auto-announce name that is not a category, suggesting the nearest one', () => {
    const r = parseConfig({ ...base, flags: { autoAnnounce: ['checkpoint'] } });
    expect(r).toEqual({ ok: false, errors: ['auto-announce: "checkpoint" is not a category (did you mean "checkpoints"?); the categories are scripts, results, checkpoints, data (from --auto-announce)'] });
    const extra = parseConfig({ ...base, flags: { autoAnnounce: ['logs'], categories: ['scripts', 'logs'] } });
    expect(extra.ok && extra.config.autoAnnounce).toEqual(['logs']);
  });

  it('takes a plain YAML string for a list setting (auto-announce: checkpoints)', () => {
    const file = { path: '/etc/x.yaml', settings: { 'auto-announce': 'checkpoints', ignore: '*.lock, **/wandb/**' } };
    const r = parseConfig({ ...base, file });
    expect(r.ok && r.config).toMatchObject({ autoAnnounce: ['checkpoints'], ignore: ['*.lock', '**/wandb/**'] });
  });

  it('returns a frozen config', () => {
    const r = parseConfig(base);
    expect(r.ok && Object.isFrozen(r.config) && Object.isFrozen(r.config.ignore)).toBe(true);
  });
});

describe('parseBucket', () => {
  it.each([
    ['hf://buckets/org/shared', { kind: 'hf', owner: 'org', name: 'shared', id: 'org/shared', uri: 'hf://buckets/org/shared' }],
    ['hf://buckets/org/shared/', { kind: 'hf', owner: 'org', name: 'shared', id: 'org/shared', uri: 'hf://buckets/org/shared' }],
    ['file:///srv/bucket', { kind: 'local', root: '/srv/bucket', uri: 'file:///srv/bucket' }],
    ['../b', { kind: 'local', root: '/b', uri: 'file:///b' }],
  ])('%s', (raw, expected) => {
    expect(parseBucket(raw, '/work')).toEqual(expected);
  });

  it.each(['hf://org/shared', 'hf://buckets/org/shared/prefix', 's3://x/y', 'hf:/buckets/org/shared', 'hf:buckets/org/shared', 'HF://buckets/org/shared', 'hf:'])('rejects %s with what is expected', (raw) => {
    expect(parseBucket(raw, '/work')).toMatch(/expected hf:\/\/buckets\/OWNER\/NAME/);
  });
});
