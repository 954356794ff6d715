/**
 * sd_notify through systemd's own systemd-notify helper, received on a REAL AF_UNIX SOCK_DGRAM
 * socket. Node cannot bind one, so a small python3 child plays the service manager: it binds the
 * socket, asks for sender credentials, closes the barrier fds systemd-notify passes (as PID 1
 * does), and prints every datagram as a JSON line. Also: the shipped unit files pass
 * `systemd-analyze verify` (scripts/verify-units.sh).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createNotifier, type NotifierDeps } from '../../src/service/notify.js';
import { waitFor } from '../helpers/cli.js';
import { Receiver } from '../helpers/notify-receiver.js';
import { tmpDir } from '../helpers/tmp.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const HAS_NOTIFY = has('systemd-notify') && has('python3');
const HAS_ANALYZE = has('systemd-analyze');

async function pathReceiver(): Promise<Receiver> {
  return new Receiver(path.join(tmpDir('hfo-notify-'), 'notify.sock')).ready();
}

function collectErrors(): { errors: string[]; deps: NotifierDeps } {
  const errors: string[] = [];
  return { errors, deps: { onError: (e, message) => errors.push(`${message}: ${e.message}`) } };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Skipped only where systemd-notify or python3 is missing.
describe.skipIf(!HAS_NOTIFY)('sd_notify through systemd-notify (real datagram socket)', () => {
  it('delivers READY=1 with its status, STATUS= and STOPPING=1 in order, each confirmed by a barrier', async () => {
    const rx = await pathReceiver();
    const { errors, deps } = collectErrors();
    const n = createNotifier({ NOTIFY_SOCKET: rx.address, PATH: process.env['PATH'] }, deps);
    expect(n.enabled).toBe(true);

    expect(await n.ready('watching /srv/outbox: 3 files')).toBe(true);
    expect(await n.status('uploading 1 file\nsecond line')).toBe(true);
    // Sent without awaiting in between: the notifier must still keep them in order.
    const both = await Promise.all([n.status('draining'), n.stopping()]);
    expect(both).toEqual([true, true]);

    await waitFor(() => rx.messages.length >= 4, 10_000, 'four messages');
    expect(rx.messages).toEqual([
      ['READY=1', 'STATUS=watching /srv/outbox: 3 files'],
      ['STATUS=uploading 1 file second line'],
      ['STATUS=draining'],
      ['STOPPING=1'],
    ]);
    // Not --no-block: every message is followed by BARRIER=1 carrying the pipe fd the helper waits
    // on, which is what keeps the helper alive until the service manager has read the message.
    await waitFor(() => rx.datagrams.length >= 8, 10_000, 'the barriers');
    expect(rx.datagrams.filter((d) => d.fields.includes('BARRIER=1')).every((d) => d.fds === 1)).toBe(true);
    expect(errors).toEqual([]);
  });

  it('sends RELOADING=1 with MONOTONIC_USEC from CLOCK_MONOTONIC, then READY=1 when the reload is done', async () => {
    const rx = await pathReceiver();
    const { errors, deps } = collectErrors();
    const n = createNotifier({ NOTIFY_SOCKET: rx.address, PATH: process.env['PATH'] }, deps);
    const before = process.hrtime.bigint() / 1000n;
    expect(await n.reloading('reloading the configuration')).toBe(true);
    const after = process.hrtime.bigint() / 1000n;
    expect(await n.ready('watching')).toBe(true);
    await waitFor(() => rx.messages.length >= 2, 10_000, 'two messages');
    const [reloading, ready] = rx.messages as [string[], string[]];
    expect(reloading.slice(0, 2)).toEqual(['RELOADING=1', 'STATUS=reloading the configuration']);
    const usec = BigInt((reloading.find((f) => f.startsWith('MONOTONIC_USEC=')) ?? '=0').split('=')[1] as string);
    expect(usec >= before && usec <= after).toBe(true);
    expect(ready).toEqual(['READY=1', 'STATUS=watching']);
    expect(errors).toEqual([]);
  });

  it('pings WATCHDOG=1 at half of WATCHDOG_USEC while started, and stops when told', async () => {
    const rx = await pathReceiver();
    const { errors, deps } = collectErrors();
    const n = createNotifier({ NOTIFY_SOCKET: rx.address, WATCHDOG_USEC: '200000', WATCHDOG_PID: String(process.pid) }, deps);
    expect(n.watchdogIntervalMs).toBe(100);
    const stop = n.startWatchdog();
    await waitFor(() => rx.count('WATCHDOG=1') >= 3, 10_000, 'three watchdog pings');
    stop();
    await sleep(300); // one ping may still have been in flight when stop() ran
    const after = rx.count('WATCHDOG=1');
    await sleep(500);
    expect(rx.count('WATCHDOG=1')).toBe(after);
    expect(errors).toEqual([]);
  });

  it('leaves the watchdog alone when WATCHDOG_PID names another process, or WATCHDOG_USEC is unset', async () => {
    const rx = await pathReceiver();
    const other = createNotifier({ NOTIFY_SOCKET: rx.address, WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' });
    const unset = createNotifier({ NOTIFY_SOCKET: rx.address });
    expect(other.watchdogIntervalMs).toBeUndefined();
    expect(unset.watchdogIntervalMs).toBeUndefined();
    const stops = [other.startWatchdog(), unset.startWatchdog()];
    await sleep(500);
    for (const stop of stops) stop();
    expect(rx.datagrams).toEqual([]);
  });

  it('sends to an abstract socket ("@" prefix)', async () => {
    const rx = await new Receiver(`@hf-outbox-test-${randomBytes(6).toString('hex')}`).ready();
    const n = createNotifier({ NOTIFY_SOCKET: rx.address, WATCHDOG_USEC: '200000' });
    expect(await n.ready()).toBe(true);
    const stop = n.startWatchdog();
    await waitFor(() => rx.count('WATCHDOG=1') >= 1, 10_000, 'a watchdog ping');
    stop();
    expect(await n.stopping()).toBe(true);
    await waitFor(() => rx.count('STOPPING=1') === 1, 10_000, 'STOPPING=1');
    expect(rx.messages[0]).toEqual(['READY=1']);
  });

  it('resolves false and reports the reason, never throws, when nobody listens on the socket', async () => {
    const { errors, deps } = collectErrors();
    const n = createNotifier({ NOTIFY_SOCKET: path.join(tmpDir(), 'nobody.sock'), PATH: process.env['PATH'] }, deps);
    expect(await n.ready('x')).toBe(false);
    expect(await n.stopping()).toBe(false);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^READY=1 STATUS=x: systemd-notify exited with status 1/);
  });
});

describe('sd_notify without a service manager', () => {
  it('is a no-op when NOTIFY_SOCKET is unset: nothing is spawned', async () => {
    const n = createNotifier(
      { WATCHDOG_USEC: '200000' },
      {
        spawn: (() => {
          throw new Error('must not spawn');
        }) as unknown as NonNullable<NotifierDeps['spawn']>,
      },
    );
    expect(n.enabled).toBe(false);
    expect(n.watchdogIntervalMs).toBeUndefined();
    expect(await n.ready('x')).toBe(false);
    expect(await n.status('x')).toBe(false);
    expect(await n.stopping()).toBe(false);
    expect(await n.watchdog()).toBe(false);
    n.startWatchdog()();
  });

  it('reports a missing helper through onError and resolves false', async () => {
    const { errors, deps } = collectErrors();
    const n = createNotifier({ NOTIFY_SOCKET: '/run/nothing/notify' }, { ...deps, command: '/nonexistent/systemd-notify' });
    expect(await n.watchdog()).toBe(false);
    expect(errors).toEqual(['WATCHDOG=1: /nonexistent/systemd-notify was not found on PATH; it ships with systemd (package "systemd")']);
  });
});

// Skipped only where systemd-analyze is missing (install it with: apt-get install -y systemd).
describe.skipIf(!HAS_ANALYZE)('systemd unit files (systemd-analyze verify)', () => {
  const script = path.join(REPO, 'scripts/verify-units.sh');

  it('pass systemd-analyze verify (scripts/verify-units.sh)', () => {
    const r = spawnSync('bash', [script], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok {3}system unit hf-outbox@agent-01\.service$/m);
    expect(r.stdout).toMatch(/^ok {3}user unit hf-outbox\.service$/m);
  });

  it('make verify-units.sh fail on a warning about the unit itself', () => {
    const dir = tmpDir('hfo-units-');
    cpSync(path.join(REPO, 'systemd'), dir, { recursive: true });
    const unit = path.join(dir, 'user/hf-outbox.service');
    writeFileSync(unit, readFileSync(unit, 'utf8').replace(/^NotifyAccess=all$/m, 'NotifyAccess=sometimes'));
    const r = spawnSync('bash', [script, dir], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FAIL user unit hf-outbox\.service/);
    expect(r.stdout).toMatch(/notify access/i);
  });

  it('keep the settings the daemon relies on', () => {
    const unit = readFileSync(path.join(REPO, 'systemd/hf-outbox@.service'), 'utf8');
    for (const line of [
      'Type=notify',
      'NotifyAccess=all',
      'ExecStart=/usr/bin/env hf-outbox watch --config /etc/hf-outbox/%i.yaml --agent-id %i',
      'StateDirectory=hf-outbox/%i',
      'LoadCredential=hf-token:/etc/hf-outbox/%i.token',
      'RestartPreventExitStatus=78',
      'TimeoutStopSec=30',
      'ExecReload=/bin/kill -HUP $MAINPID',
    ]) {
      expect(unit.split('\n')).toContain(line);
    }
    expect(readFileSync(path.join(REPO, 'systemd/user/hf-outbox.service'), 'utf8').split('\n')).toContain('ExecReload=/bin/kill -HUP $MAINPID');
    expect(unit).not.toMatch(/^MemoryDenyWriteExecute=yes/m);
    expect(unit).not.toMatch(/^DynamicUser=yes/m);
  });
});
