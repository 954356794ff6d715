/**
 * `hf-outbox doctor` against real folders, a real state database, and the loopback Hub emulator.
 * runDoctor is called with a context from loadContext, as the CLI command does.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { runDoctor, runDoctorCommand, type CheckResult, type DoctorOptions } from '../../src/cli/doctor.js';
import { loadContext, stateIdentity } from '../../src/cli/context.js';
import type { RawSettings } from '../../src/config/parse.js';
import { classifyFsType } from '../../src/pipeline/fs-type.js';
import { saveWriterState } from '../../src/adapters/xet/library-writer.js';
import { MIGRATIONS } from '../../src/state/migrations.js';
import { STATE_FILE, StateStore } from '../../src/state/store.js';
import { READ_TOKEN, WRITE_TOKEN, startEmulator, writeTokenFile } from '../helpers/hub.js';
import { tmpDir, writeTree } from '../helpers/tmp.js';

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

interface Run {
  code: number;
  text: string;
  checks: CheckResult[];
  get(name: CheckResult['check']): CheckResult | undefined;
}

async function doctor(flags: RawSettings, options: Partial<DoctorOptions> = {}): Promise<Run> {
  const out = new Sink();
  const json = options.json ?? true;
  // env {}: no $HF_TOKEN or $CREDENTIALS_DIRECTORY of the machine running the tests is consulted.
  const code = await runDoctor(await loadContext(flags), { env: {}, ...options, json, out });
  const checks = json ? out.text.trim().split('\n').map((l) => JSON.parse(l) as CheckResult) : [];
  return { code, text: out.text, checks, get: (name) => checks.find((c) => c.check === name) };
}

function localSetup() {
  const root = tmpDir('hfo-doctor-');
  const outbox = path.join(root, 'outbox');
  const bucket = path.join(root, 'bucket');
  const stateDir = path.join(root, 'state');
  const flags: RawSettings = { outbox, bucket, stateDir, agentId: 'agent-01' };
  return { root, outbox, bucket, stateDir, flags };
}

async function hubSetup(token: string = WRITE_TOKEN) {
  const root = tmpDir('hfo-doctor-hub-');
  const outbox = path.join(root, 'outbox');
  await mkdir(outbox);
  const tokenFile = await writeTokenFile(root, token);
  const emu = await startEmulator();
  const flags: RawSettings = {
    outbox,
    bucket: 'hf://buckets/team/shared',
    stateDir: path.join(root, 'state'),
    agentId: 'agent-01',
    hubUrl: emu.url,
    tokenFile,
  };
  return { root, outbox, tokenFile, emu, flags };
}

/** A stand-in Hub that answers whoami-v2 as the real one does (and 404 to everything else). */
async function fakeWhoami(status: number, body: unknown): Promise<{ url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization ?? '');
    if (req.url === '/api/whoami-v2') {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const STATUS_ORDER = ['config', 'token', 'bucket', 'outbox', 'filesystem', 'inotify', 'disk', 'state'];

describe('hf-outbox doctor and the token file', () => {
  it('warns about a token file other users may read, with the chmod to fix it', async () => {
    const t = await hubSetup();
    await chmod(t.tokenFile, 0o644);
    const r = await doctor(t.flags);
    expect(r.get('token')).toEqual({ check: 'token', status: 'warn', detail: `found in ${t.tokenFile}, which other users may read or change (mode 644); chmod 600 ${t.tokenFile}` });
    await chmod(t.tokenFile, 0o600);
    expect((await doctor(t.flags)).get('token')?.status).toBe('ok');
  });
});

describe('hf-outbox doctor on a local-folder bucket', () => {
  it('passes a healthy setup: every check ok, the state database read-only with its schema', async () => {
    const t = localSetup();
    await writeTree(t.outbox, { 'scripts/a.py': 'a', 'results/gsm8k/eval.json': '{}', 'checkpoints/lora/adapter.bin': 'x' });
    const store = StateStore.open(t.stateDir, stateIdentity((await loadContext(t.flags)).config));
    store.close();

    const r = await doctor(t.flags);
    expect(r.code, r.text).toBe(0);
    expect(r.checks.map((c) => c.check)).toEqual(STATUS_ORDER);
    // Free space depends on the machine running the tests; the rest must be ok.
    expect(r.checks.filter((c) => c.check !== 'disk').every((c) => c.status === 'ok'), r.text).toBe(true);
    expect(r.get('disk')?.status).not.toBe('fail');
    expect(r.get('config')?.detail).toMatch(/^no config file: from flags, environment and defaults; agent agent-01/);
    expect(r.get('bucket')?.detail).toBe(`file://${t.bucket} exists and accepts writes`);
    expect(r.get('inotify')?.detail).toMatch(/^6 folders to watch, fs\.inotify\.max_user_watches is \d+/);
    expect(r.get('state')?.detail).toBe(
      `${path.join(t.stateDir, STATE_FILE)} opens read-only: schema ${MIGRATIONS.length} (current); no files recorded yet`,
    );
  });

  it('names the config file it loaded', async () => {
    const t = localSetup();
    await mkdir(t.outbox, { recursive: true });
    const configFile = path.join(t.root, 'agent-01.yaml');
    await writeFile(configFile, `outbox: ${t.outbox}\nbucket: ${t.bucket}\nstate-dir: ${t.stateDir}\n`);
    const r = await doctor({ config: configFile, agentId: 'agent-01' });
    expect(r.get('config')).toEqual({
      check: 'config',
      status: 'ok',
      detail: expect.stringMatching(new RegExp(`^loaded from ${configFile} \\(flags and environment override it\\)`)) as unknown,
    });
    expect(r.get('state')?.detail).toMatch(/no state database yet/);
    expect(r.code).toBe(0);
  });

  it('fails a broken setup: missing outbox, a bucket folder that cannot be written', async () => {
    const t = localSetup();
    // A regular file where the bucket's parent folder should be: even root cannot create it.
    await writeFile(path.join(t.root, 'not-a-folder'), '');
    const flags = { ...t.flags, bucket: path.join(t.root, 'not-a-folder', 'bucket') };
    const r = await doctor(flags);
    expect(r.code).toBe(1);
    expect(r.get('bucket')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/is not writable \(ENOTDIR\)/) as unknown });
    expect(r.get('outbox')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/does not exist; create it \(mkdir -p /) as unknown });
    expect(r.get('inotify')).toBeUndefined(); // nothing to count without an outbox
    expect(r.get('state')?.status).toBe('ok');
  });

  // Root reads and writes through any mode bits, so these run only as another user.
  it.skipIf(process.getuid?.() === 0)('fails folders the user cannot use: bucket, outbox, state (not as root)', async () => {
    const t = localSetup();
    for (const [dir, mode] of [[t.outbox, 0o000], [t.bucket, 0o555], [t.stateDir, 0o555]] as const) {
      await mkdir(dir);
      await chmod(dir, mode);
      onTestFinished(() => chmod(dir, 0o755));
    }
    const r = await doctor(t.flags);
    expect(r.code).toBe(1);
    expect(r.get('bucket')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/not writable \(EACCES\)/) as unknown });
    expect(r.get('outbox')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/is not readable by .* \(EACCES\); grant read access/) as unknown });
    expect(r.get('disk')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/is not writable by .* \(EACCES\)/) as unknown });
  });

  it('warns about a world-writable outbox', async () => {
    const t = localSetup();
    await mkdir(t.outbox);
    await chmod(t.outbox, 0o777);
    const r = await doctor(t.flags);
    expect(r.get('outbox')).toEqual({
      check: 'outbox',
      status: 'warn',
      detail: `${t.outbox} is world-writable (mode 777): any local user can publish under your agent id; chmod o-w ${t.outbox}`,
    });
    expect(r.code).toBe(0);
  });

  it('names the outbox\'s file system and how it is watched: polling on NFS (no inotify check), a warning when events are forced there', async () => {
    const t = localSetup();
    await mkdir(t.outbox);
    const local = await doctor(t.flags);
    expect(local.get('filesystem')).toEqual({ check: 'filesystem', status: 'ok', detail: expect.stringMatching(/^the outbox is on .+ \(statfs type 0x[0-9A-F]{4,8}\), a local file system; watching it with inotify/) as unknown });
    const nfs = { fsType: async () => classifyFsType(0x6969) };
    const polled = await doctor(t.flags, nfs);
    expect(polled.get('filesystem')?.status).toBe('ok');
    expect(polled.get('filesystem')?.detail).toMatch(/^the outbox is on nfs \(statfs type 0x6969\), a network or cluster file system: .*; polling its folders every 2 s; NFS caches folder attributes .*actimeo=/);
    expect(polled.get('inotify')).toBeUndefined();
    const forced = await doctor({ ...t.flags, watchMode: 'events' }, nfs);
    expect(forced.get('filesystem')?.status).toBe('warn');
    expect(forced.get('filesystem')?.detail).toMatch(/--watch-mode events was asked for, so those are found only by the full rescan/);
    expect(forced.code).toBe(0);
  });

  it('warns past half of the inotify watch limit and fails past all of it, with the sysctl to raise it', async () => {
    const t = localSetup();
    await writeTree(t.outbox, { 'a/1/x': '', 'a/2/x': '', 'b/x': '' }); // outbox, a, a/1, a/2, b: 5 folders
    const limitFile = path.join(t.root, 'max_user_watches');
    await writeFile(limitFile, '8\n');
    const warn = await doctor(t.flags, { inotifyLimitFile: limitFile });
    expect(warn.get('inotify')?.status).toBe('warn');
    expect(warn.get('inotify')?.detail).toMatch(/^5 folders to watch, fs\.inotify\.max_user_watches is 8 .*: over half the limit; raise it: sudo sysctl -w fs\.inotify\.max_user_watches=524288/);
    expect(warn.code).toBe(0);

    await writeFile(limitFile, '4\n');
    const fail = await doctor(t.flags, { inotifyLimitFile: limitFile });
    expect(fail.get('inotify')?.status).toBe('fail');
    expect(fail.code).toBe(1);

    await writeFile(limitFile, '10\n');
    expect((await doctor(t.flags, { inotifyLimitFile: limitFile })).get('inotify')?.status).toBe('ok');
  });

  it('fails a state database that belongs to another outbox, or was written by a newer hf-outbox', async () => {
    const t = localSetup();
    await mkdir(t.outbox);
    StateStore.open(t.stateDir, { outbox: '/elsewhere', bucket: 'file:///elsewhere', agentId: 'agent-09' }).close();
    const other = await doctor(t.flags);
    expect(other.get('state')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/belongs to \/elsewhere → file:\/\/\/elsewhere \(agent agent-09\).*give this outbox its own --state-dir/) as unknown });
    expect(other.code).toBe(1);

    const t2 = localSetup();
    await mkdir(t2.outbox);
    StateStore.open(t2.stateDir, stateIdentity((await loadContext(t2.flags)).config)).close();
    const db = new Database(path.join(t2.stateDir, STATE_FILE));
    db.pragma('user_version = 99');
    db.close();
    const newer = await doctor(t2.flags);
    expect(newer.get('state')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/schema 99, written by a newer hf-outbox/) as unknown });
  });

  it('prints aligned "status  check  detail" lines without --json', async () => {
    const t = localSetup();
    await mkdir(t.outbox);
    const r = await doctor(t.flags, { json: false });
    const lines = r.text.trim().split('\n');
    expect(lines).toHaveLength(STATUS_ORDER.length);
    expect(lines[0]).toMatch(/^ok {4}config {7}no config file/);
    expect(lines[2]).toMatch(/^ok {4}bucket {7}file:\/\//);
  });

  it('reports a configuration that does not load as a failed check (runDoctorCommand)', async () => {
    const out = new Sink();
    const code = await runDoctorCommand({ bucket: 'hf://buckets/team/shared', settleMs: 'soon' }, { json: true, out, env: {} });
    expect(code).toBe(1);
    const [line, ...rest] = out.text.trim().split('\n');
    expect(rest).toEqual([]);
    expect(JSON.parse(line as string)).toMatchObject({ check: 'config', status: 'fail', detail: expect.stringMatching(/^invalid configuration: - settle-ms: got "soon"/) as unknown });
  });
});

describe('hf-outbox doctor on an hf:// bucket (Hub emulator)', () => {
  it('passes with a write token: token source named, its owner and role, bucket writable', async () => {
    const t = await hubSetup();
    const r = await doctor(t.flags);
    expect(r.code, r.text).toBe(0);
    expect(r.checks.map((c) => c.check)).toEqual(['config', 'token', 'token-owner', 'bucket', 'xet-writer', 'outbox', 'filesystem', 'inotify', 'disk', 'state']);
    expect(r.get('xet-writer')).toEqual({ check: 'xet-writer', status: 'ok', detail: 'setting auto; no upload recorded yet' });
    expect(r.get('token')).toEqual({ check: 'token', status: 'ok', detail: `found in ${t.tokenFile}` });
    expect(r.get('token-owner')).toEqual({ check: 'token-owner', status: 'ok', detail: 'token "emulator token" belongs to user emulator-user, role write' });
    expect(r.get('bucket')).toEqual({ check: 'bucket', status: 'ok', detail: 'hf://buckets/team/shared exists and accepts writes' });
    expect(r.text).not.toContain(WRITE_TOKEN);
  });

  it('fails a token file that does not hold a token, without printing it, and checks no further', async () => {
    const t = await hubSetup('this is not a token');
    const r = await doctor(t.flags);
    expect(r.code).toBe(1);
    expect(r.get('token')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/does not look like a Hugging Face token/) as unknown });
    expect(r.get('token-owner')).toBeUndefined();
    expect(r.get('bucket')).toBeUndefined();
    expect(r.text).not.toContain('this is not a token');
    expect(t.emu.counters().totalRequests).toBe(0);
  });

  it('fails a token the Hub does not know, and a read-only token, at the bucket check', async () => {
    const unknown = await hubSetup('hf_unknown_token_0123456789abcdef');
    const r = await doctor(unknown.flags);
    expect(r.code).toBe(1);
    expect(r.get('token')?.status).toBe('ok');
    expect(r.get('bucket')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/401/) as unknown });
    expect(r.text).not.toContain('hf_unknown_token_0123456789abcdef');

    const readOnly = await hubSetup(READ_TOKEN);
    const ro = await doctor(readOnly.flags);
    expect(ro.code).toBe(1);
    expect(ro.get('bucket')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/lacks write access.*HTTP 403/) as unknown });
  });

  it('fails a bucket that does not exist', async () => {
    const t = await hubSetup();
    const r = await doctor({ ...t.flags, bucket: 'hf://buckets/team/missing' });
    expect(r.code).toBe(1);
    expect(r.get('bucket')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/does not exist/) as unknown });
  });

  it('fails a missing token file', async () => {
    const t = await hubSetup();
    const r = await doctor({ ...t.flags, tokenFile: path.join(t.root, 'no-such-token') });
    expect(r.code).toBe(1);
    expect(r.get('token')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/cannot read the token file .*no-such-token \(ENOENT\)/) as unknown });
  });

  it('names the token owner when the Hub answers whoami-v2, and fails a token it rejects', async () => {
    const t = await hubSetup();
    const hub = await fakeWhoami(200, { type: 'user', name: 'alice', auth: { accessToken: { displayName: 'ci', role: 'write' } } });
    const r = await doctor({ ...t.flags, hubUrl: hub.url });
    expect(r.get('token-owner')).toEqual({ check: 'token-owner', status: 'ok', detail: 'token "ci" belongs to user alice, role write' });
    expect(hub.seen[0]).toBe(`Bearer ${WRITE_TOKEN}`);

    const rejecting = await fakeWhoami(401, { error: 'Invalid credentials in Authorization header' });
    const bad = await doctor({ ...t.flags, hubUrl: rejecting.url });
    expect(bad.get('token-owner')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/does not accept this token \(HTTP 401\)/) as unknown });
    expect(bad.code).toBe(1);
  });

  it('warns when the last run switched to the library Xet writer, and says why', async () => {
    const t = await hubSetup();
    await saveWriterState(t.flags.stateDir as string, {
      writer: 'library',
      setting: 'auto',
      reason: "the Hub refused the own Xet writer's shard: HTTP 400",
      at: '2026-12-01T23:00:00.000Z',
      pid: 4242,
    });
    const r = await doctor(t.flags);
    expect(r.get('xet-writer')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/@huggingface\/hub \(setting auto, since 2026-12-01T23:00:00.000Z, pid 4242\): the Hub refused the own Xet writer's shard: HTTP 400/u) });
  });
});
