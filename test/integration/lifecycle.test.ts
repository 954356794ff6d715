/** The daemon's life as a service manager drives it: SIGTERM drains, SIGHUP reloads. */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Daemon, cleanEnv, freePort, runCli, waitFor } from '../helpers/cli.js';
import { Receiver } from '../helpers/notify-receiver.js';
import { startEmulator, writeTokenFile } from '../helpers/hub.js';
import { outboxIn, sha256, tmpDir, writeTree } from '../helpers/tmp.js';

describe('lifecycle', () => {
  it('SIGTERM during a 50 MiB upload: exit 0 within the grace period, and the file lands after a restart', async () => {
    const root = tmpDir();
    const outbox = outboxIn(root);
    const emu = await startEmulator();
    const tokenFile = await writeTokenFile(root);
    const args = ['--outbox', outbox, '--bucket', 'hf://buckets/team/shared', '--state-dir', path.join(root, 'state'), '--agent-id', 'agent-01', '--hub-url', emu.url, '--token-file', tokenFile, '--settle-ms', '0'];
    const bytes = randomBytes(50 * 1024 * 1024);
    await writeTree(outbox, { 'data/big.bin': bytes });
    // The emulator answers no xorb upload until released: the upload is surely still in flight
    // when SIGTERM arrives, however fast or slow the machine.
    const xorbs = emu.hold('xorb');
    const d = new Daemon(['watch', ...args, '--shutdown-grace-ms', '2000']);
    await xorbs.arrived();
    const sentAt = Date.now();
    const code = await d.stop('SIGTERM');
    const tookMs = Date.now() - sentAt;
    xorbs.release();
    expect(code).toBe(0);
    expect(tookMs).toBeLessThan(2000 + 3000);
    expect(d.logs.some((l) => /stopped before these uploads finished/.test(l.msg))).toBe(true);
    expect(emu.listPaths('team/shared')).toEqual([]);
    const status = JSON.parse((await runCli(['status', '--json', ...args])).stdout) as { counts: Record<string, number> };
    expect(status.counts).toMatchObject({ pending: 1, uploading: 0 });
    const again = await runCli(['sync', ...args], { timeoutMs: 120_000 });
    expect(again.code).toBe(0);
    expect(sha256(emu.readFile('team/shared', 'artifacts/data/big_agent-01.bin') ?? Buffer.alloc(0))).toBe(sha256(bytes));
  }, 150_000);

  it('SIGHUP with a broken config keeps running on the old one; a valid one applies at once', async () => {
    const root = tmpDir();
    const outbox = outboxIn(root);
    const bucket = path.join(root, 'bucket');
    const configFile = path.join(root, 'hf-outbox.yaml');
    const base = `outbox: ${outbox}\nbucket: ${bucket}\nstate-dir: ${path.join(root, 'state')}\nagent-id: agent-01\nsettle-ms: 100\nwatch-config: false\n`;
    await writeFile(configFile, base);
    const d = new Daemon(['watch', '--config', configFile]);
    await d.waitForLog((l) => /^watching the outbox/.test(l.msg));
    await writeFile(configFile, `${base}concurrency: lots\n`);
    d.child.kill('SIGHUP');
    await d.waitForLog((l) => /SIGHUP: the new configuration is invalid; still running on the previous one/.test(l.msg));
    await writeTree(outbox, { 'scripts/a.py': 'a', 'scripts/skip.lock': 'x' });
    await d.waitForLog((l) => l.msg === 'uploaded' && l['local'] === 'scripts/a.py');
    await writeFile(configFile, `${base}ignore: ["*.tmpl"]\nlog-level: debug\n`);
    d.child.kill('SIGHUP');
    await d.waitForLog((l) => l.msg === 'SIGHUP: configuration reloaded');
    await writeTree(outbox, { 'scripts/b.tmpl': 'ignored now', 'scripts/c.py': 'c' });
    await d.waitForLog((l) => l.msg === 'uploaded' && l['local'] === 'scripts/c.py');
    expect(d.child.exitCode).toBeNull();
    expect(d.logs.some((l) => l['local'] === 'scripts/b.tmpl' && l.msg === 'uploaded')).toBe(false);
    expect(await d.stop()).toBe(0);
  });
});

describe.skipIf(!hasNotifyTools())('lifecycle under systemd (Type=notify)', () => {
  it('sends READY=1 after the first scan, WATCHDOG=1 pings, and STOPPING=1 on SIGTERM', async () => {
    const root = tmpDir();
    const receiver = await new Receiver(path.join(root, 'notify.sock')).ready();
    await writeTree(path.join(root, 'outbox'), { 'scripts/a.py': 'a' });
    const d = new Daemon(
      ['watch', '--outbox', path.join(root, 'outbox'), '--bucket', path.join(root, 'bucket'), '--state-dir', path.join(root, 'state'), '--agent-id', 'agent-01'],
      { env: cleanEnv({ NOTIFY_SOCKET: receiver.address, WATCHDOG_USEC: '400000' }) },
    );
    await waitFor(() => receiver.count('READY=1') === 1, 20_000, 'READY=1');
    // Ready only once the first scan is done.
    expect(d.logs.some((l) => /watching the outbox/.test(l.msg))).toBe(true);
    await waitFor(() => receiver.count('WATCHDOG=1') >= 2, 10_000, 'watchdog pings');
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(receiver.count('STOPPING=1')).toBe(1);
  });
});

describe.skipIf(!hasNotifyTools())('systemctl reload (ExecReload= sends SIGHUP)', () => {
  it('reports RELOADING=1, reloads the config, then READY=1 again; an invalid config is refused and READY=1 still follows', async () => {
    const root = tmpDir();
    const receiver = await new Receiver(path.join(root, 'notify.sock')).ready();
    const configFile = path.join(root, 'hf-outbox.yaml');
    // watch-config off: here only the signal reloads (an edit alone would reload too, see config-watch.test.ts).
    const base = `outbox: ${outboxIn(root)}\nbucket: ${path.join(root, 'bucket')}\nstate-dir: ${path.join(root, 'state')}\nagent-id: agent-01\nwatch-config: false\n`;
    await writeFile(configFile, base);
    const d = new Daemon(['watch', '--config', configFile], { env: cleanEnv({ NOTIFY_SOCKET: receiver.address }) });
    await waitFor(() => receiver.count('READY=1') === 1, 20_000, 'READY=1');
    await writeFile(configFile, `${base}settle-ms: 50\n`);
    d.child.kill('SIGHUP');
    await waitFor(() => receiver.count('READY=1') === 2, 20_000, 'READY=1 after the reload');
    expect(d.logs.some((l) => l.msg === 'SIGHUP: configuration reloaded')).toBe(true);
    await writeFile(configFile, `${base}settle-ms: soon\n`);
    d.child.kill('SIGHUP');
    await waitFor(() => receiver.count('READY=1') === 3, 20_000, 'READY=1 after the refused reload');
    expect(d.logs.some((l) => /SIGHUP: the new configuration is invalid; still running on the previous one/.test(l.msg))).toBe(true);
    // Each reload is bracketed: RELOADING=1 (with the monotonic time systemd 253+ asks for) before its READY=1.
    const order = receiver.messages.map((m) => m[0]).filter((f) => f === 'READY=1' || f === 'RELOADING=1');
    expect(order).toEqual(['READY=1', 'RELOADING=1', 'READY=1', 'RELOADING=1', 'READY=1']);
    expect(receiver.messages.filter((m) => m[0] === 'RELOADING=1').every((m) => m.some((f) => /^MONOTONIC_USEC=\d+$/.test(f)))).toBe(true);
    expect(await d.stop('SIGTERM')).toBe(0);
  });
});

function hasNotifyTools(): boolean {
  const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
  return has('systemd-notify') && has('python3');
}

describe('observability', () => {
  it('--metrics-port serves /healthz once ready and Prometheus /metrics with uploads counted', async () => {
    const root = tmpDir();
    const port = await freePort();
    const d = new Daemon(['watch', '--outbox', outboxIn(root), '--bucket', path.join(root, 'bucket'), '--state-dir', path.join(root, 'state'), '--agent-id', 'agent-01', '--settle-ms', '0', '--metrics-port', String(port)]);
    await d.waitForLog((l) => /^watching the outbox/.test(l.msg));
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    await writeTree(path.join(root, 'outbox'), { 'scripts/a.py': 'print(1)\n' });
    await d.waitForLog((l) => l.msg === 'uploaded');
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(/^hf_outbox_files_uploaded_total 1$/m);
    expect(text).toMatch(/^hf_outbox_bytes_uploaded_total 9$/m);
    expect(text).toMatch(/^hf_outbox_queue_waiting /m);
    expect(await d.stop()).toBe(0);
  });
});
