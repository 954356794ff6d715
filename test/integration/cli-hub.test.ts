/**
 * The real CLI publishing to an hf:// bucket on the loopback Hub emulator, read back with the
 * client's own downloadFile and with the emulator's rebuild from xorbs.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { Daemon, cleanEnv, runCli } from '../helpers/cli.js';
import { startForwardProxy } from '../helpers/forward-proxy.js';
import { READ_TOKEN, WRITE_TOKEN, hubWorkspace, readBack } from '../helpers/hub.js';
import { sha256, writeTree } from '../helpers/tmp.js';

const setup = hubWorkspace;

function compressible(bytes: number): Buffer {
  const line = Buffer.from('step=1000 loss=0.1234 lr=3e-4 grad_norm=0.98 tokens/s=4312\n');
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += line.length) line.copy(out, i);
  return out;
}

describe('hf-outbox on an hf:// bucket (Hub emulator)', () => {
  it('sync lands every size and kind of artifact at its mapped path, byte-identical through the client and the rebuild', async () => {
    const t = await setup();
    const files: Record<string, Buffer> = {
      'data/empty.txt': Buffer.alloc(0),
      'data/one.bin': Buffer.from([42]),
      'data/random.bin': randomBytes(100 * 1024),
      'results/train_log.txt': compressible(5 * 1024 * 1024),
      'data/big.bin': randomBytes(50 * 1024 * 1024),
      'scripts/nested/deeper/tool.py': Buffer.from('print("deep")\n'),
      'data/unicodé/日本語 ✓ file.txt': Buffer.from('unicode ✓'),
      'checkpoints/lora_r16_ep3/adapter_model.safetensors': randomBytes(300 * 1024),
      'checkpoints/lora_r16_ep3/adapter_config.json': Buffer.from('{"r":16}'),
    };
    await writeTree(t.outbox, files);
    const expected: Record<string, string> = {
      'artifacts/data/empty_agent-01.txt': sha256(files['data/empty.txt'] as Buffer),
      'artifacts/data/one_agent-01.bin': sha256(files['data/one.bin'] as Buffer),
      'artifacts/data/random_agent-01.bin': sha256(files['data/random.bin'] as Buffer),
      'artifacts/results/train_log_agent-01.txt': sha256(files['results/train_log.txt'] as Buffer),
      'artifacts/data/big_agent-01.bin': sha256(files['data/big.bin'] as Buffer),
      'artifacts/scripts/nested/deeper/tool_agent-01.py': sha256(files['scripts/nested/deeper/tool.py'] as Buffer),
      'artifacts/data/unicodé/日本語 ✓ file_agent-01.txt': sha256(files['data/unicodé/日本語 ✓ file.txt'] as Buffer),
      'artifacts/checkpoints/lora_r16_ep3_agent-01/adapter_model.safetensors': sha256(files['checkpoints/lora_r16_ep3/adapter_model.safetensors'] as Buffer),
      'artifacts/checkpoints/lora_r16_ep3_agent-01/adapter_config.json': sha256(files['checkpoints/lora_r16_ep3/adapter_config.json'] as Buffer),
    };
    const r = await runCli(['sync', ...t.args()], { timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(t.emu.listPaths('team/shared')).toEqual(Object.keys(expected).sort());
    for (const [remote, hash] of Object.entries(expected)) {
      expect(await readBack(t.emu, 'team/shared', remote), remote).toEqual({ client: hash, emulator: hash });
    }
    expect(r.stdout + r.stderr).not.toContain(WRITE_TOKEN);
  });

  it("sync sends each file's sha256 in its shard, and the Hub's check of it against the uploaded bytes passes", async () => {
    const t = await setup();
    const twin = randomBytes(3 * 1024 * 1024);
    const files: Record<string, Buffer> = {
      'data/a.bin': twin,
      'data/copy_of_a.bin': twin,
      'results/log.txt': compressible(1024 * 1024),
      'scripts/tiny.py': Buffer.from('print(1)\n'),
      'data/empty.txt': Buffer.alloc(0),
    };
    await writeTree(t.outbox, files);
    const r = await runCli(['sync', ...t.args()], { timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const claimed = (remote: string) => t.emu.verifiedSha256(t.emu.fileInfo('team/shared', remote)?.xetHash ?? 'missing');
    expect(claimed('artifacts/data/a_agent-01.bin')).toBe(sha256(twin));
    expect(claimed('artifacts/data/copy_of_a_agent-01.bin')).toBe(sha256(twin));
    expect(claimed('artifacts/results/log_agent-01.txt')).toBe(sha256(files['results/log.txt'] as Buffer));
    expect(claimed('artifacts/scripts/tiny_agent-01.py')).toBe(sha256(files['scripts/tiny.py'] as Buffer));
    expect(claimed('artifacts/data/empty_agent-01.txt')).toBe('0'.repeat(64)); // xet-core's field for an empty file
  });

  it('watch publishes files as they are dropped and stops cleanly on SIGTERM', async () => {
    const t = await setup();
    const d = new Daemon(['watch', ...t.args()], { env: cleanEnv() });
    await d.waitForLog((l) => /^watching the outbox/.test(l.msg));
    const bytes = randomBytes(64 * 1024);
    await writeTree(t.outbox, { 'results/eval.json': '{"experiment":"e","score":1}', 'data/sample.bin': bytes });
    await d.waitForLog((l) => l.msg === 'uploaded' && l['local'] === 'data/sample.bin');
    await d.waitForLog((l) => l.msg === 'uploaded' && l['local'] === 'results/eval.json');
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(await readBack(t.emu, 'team/shared', 'artifacts/data/sample_agent-01.bin')).toEqual({ client: sha256(bytes), emulator: sha256(bytes) });
  });

  it('sends 300 small files that settle together in at most 3 batch calls', async () => {
    const t = await setup();
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 300; i++) files[`data/small/f${String(i).padStart(3, '0')}.txt`] = randomBytes(2048);
    await writeTree(t.outbox, files);
    const r = await runCli(['sync', ...t.args()], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(t.emu.listPaths('team/shared')).toHaveLength(300);
    expect(t.emu.counters().requests['batch']).toBeLessThanOrEqual(3);
    const one = await readBack(t.emu, 'team/shared', 'artifacts/data/small/f123_agent-01.txt');
    expect(one.emulator).toBe(sha256(files['data/small/f123.txt'] as Buffer));
  });

  it('refuses to overwrite a file another agent put at the same path', async () => {
    const t = await setup();
    t.emu.seedFile('team/shared', 'artifacts/scripts/train_agent-01.py', Buffer.from('not mine'));
    await writeTree(t.outbox, { 'scripts/train.py': 'mine', 'scripts/other.py': 'other' });
    const r = await runCli(['sync', ...t.args()]);
    expect(r.code).toBe(1);
    expect(r.logs.find((l) => l['state'] === 'conflict')?.msg).toMatch(/already exists .* not written by this agent/);
    expect(t.emu.readFile('team/shared', 'artifacts/scripts/train_agent-01.py')?.toString()).toBe('not mine');
    expect(t.emu.readFile('team/shared', 'artifacts/scripts/other_agent-01.py')?.toString()).toBe('other');
  });
});

describe('hf-outbox start-up checks of the bucket and token', () => {
  it('a wrong token: exit 78 with a message that says so, the token not printed, and nothing lost', async () => {
    const t = await setup();
    await writeTree(t.outbox, { 'scripts/a.py': 'a' });
    const badToken = 'hf_wrong_token_should_never_be_printed';
    await writeFile(t.tokenFile, badToken);
    const r = await runCli(['sync', ...t.args()]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/token is invalid/);
    expect(r.stdout + r.stderr).not.toContain(badToken);
    await writeFile(t.tokenFile, WRITE_TOKEN);
    const again = await runCli(['sync', ...t.args()]);
    expect(again.code).toBe(0);
    expect(t.emu.listPaths('team/shared')).toEqual(['artifacts/scripts/a_agent-01.py']);
  });

  it('a read-only token: exit 78, saying it lacks write access to the bucket', async () => {
    const t = await setup();
    await writeFile(t.tokenFile, READ_TOKEN);
    await writeTree(t.outbox, { 'scripts/a.py': 'a' });
    const r = await runCli(['sync', ...t.args()]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/lacks write access to bucket hf:\/\/buckets\/team\/shared/);
    expect(t.emu.listPaths('team/shared')).toEqual([]);
  });

  it('a missing bucket: exit 78 naming it; --create-bucket creates it (private, logged) and publishes', async () => {
    const t = await setup('team/new-bucket');
    await writeTree(t.outbox, { 'scripts/a.py': 'a' });
    const r = await runCli(['sync', ...t.args()]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/bucket hf:\/\/buckets\/team\/new-bucket does not exist.*--create-bucket/);
    const created = await runCli(['sync', ...t.args(['--create-bucket'])]);
    expect(created.code, created.stderr).toBe(0);
    expect(t.emu.listPaths('team/new-bucket')).toEqual(['artifacts/scripts/a_agent-01.py']);
    const said = created.logs.filter((l) => /created bucket/.test(l.msg));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ bucket: 'hf://buckets/team/new-bucket', visibility: 'private' });
    expect(said[0]?.msg).toContain('created bucket hf://buckets/team/new-bucket (private)');
    // The bucket exists now: the next start creates nothing and says nothing of it.
    const again = await runCli(['sync', ...t.args(['--create-bucket'])]);
    expect(again.logs.filter((l) => /created bucket/.test(l.msg))).toEqual([]);
  });

  it('plan against a missing bucket says sync would stop there (exit 78) and how to fix it, not a green plan', async () => {
    const t = await setup('team/not-yet');
    await writeTree(t.outbox, { 'scripts/a.py': 'a' });
    const r = await runCli(['plan', ...t.args()]);
    expect(r.code).toBe(78);
    expect(r.stdout).toMatch(/^upload +scripts\/a\.py → artifacts\/scripts\/a_agent-01\.py/m);
    expect(r.stderr).toMatch(/sync would stop before uploading anything \(exit 78\): bucket hf:\/\/buckets\/team\/not-yet does not exist.*--create-bucket/);
    // With --create-bucket the same plan is fine, and says the bucket will be created; still nothing is written.
    const creating = await runCli(['plan', ...t.args(['--create-bucket'])]);
    expect(creating.code, creating.stderr).toBe(0);
    expect(creating.stdout).toContain('The bucket does not exist yet: sync creates it (private)');
    // seedFile throws for a bucket that does not exist: plan created none.
    expect(() => t.emu.seedFile('team/not-yet', 'artifacts/probe', new Uint8Array(1))).toThrow();
  });

  it('no token anywhere: exit 78 listing where it looked', async () => {
    const t = await setup();
    const args = t.args().filter((a, i, all) => a !== '--token-file' && all[i - 1] !== '--token-file');
    const r = await runCli(['sync', ...args], { env: cleanEnv({ HOME: t.root }) });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/no Hugging Face token found.*HF_TOKEN/);
  });

  it('watch does not crash-loop on a missing bucket: it reports and keeps checking', async () => {
    const t = await setup('team/later');
    const d = new Daemon(['watch', ...t.args()]);
    await d.waitForLog((l) => /does not exist/.test(l.msg));
    expect(d.child.exitCode).toBeNull();
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(existsSync(t.outbox)).toBe(true);
  });
});

describe('hf-outbox behind an HTTP proxy', () => {
  it('sends every Hub request through HTTP_PROXY, and none when NO_PROXY names the Hub', async () => {
    const t = await setup();
    const proxy = await startForwardProxy();
    const bytes = randomBytes(200_000);
    await writeTree(t.outbox, { 'data/through.bin': bytes });
    const r = await runCli(['sync', ...t.args()], { env: cleanEnv({ HTTP_PROXY: proxy.url }) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.logs.find((l) => /through a proxy/.test(l.msg))).toMatchObject({ proxy: proxy.url });
    expect(proxy.requests).toBeGreaterThan(0);
    expect(proxy.requests).toBe(t.emu.counters().totalRequests);
    expect(await readBack(t.emu, 'team/shared', 'artifacts/data/through_agent-01.bin')).toEqual({ client: sha256(bytes), emulator: sha256(bytes) });
    const before = proxy.requests;
    await writeTree(t.outbox, { 'data/direct.bin': randomBytes(1000) });
    const direct = await runCli(['sync', ...t.args()], { env: cleanEnv({ HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' }) });
    expect(direct.code).toBe(0);
    expect(proxy.requests).toBe(before);
  });
});
