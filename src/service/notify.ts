/**
 * The systemd notify protocol (sd_notify(3)) for `Type=notify` units: READY=1 once the first scan
 * is done, STATUS= lines, RELOADING=1 … READY=1 around a reload (SIGHUP, which the units'
 * `ExecReload=` sends), STOPPING=1 on shutdown and WATCHDOG=1 keep-alive pings.
 *
 * How a message is sent, and why: Node cannot open the AF_UNIX SOCK_DGRAM socket that
 * $NOTIFY_SOCKET names, so each message is handed to systemd's own `systemd-notify` helper,
 * spawned with the message as VARIABLE=VALUE arguments and awaited.
 *
 * - The known race: PID 1 attributes a notification to a unit by the sender's PID, reading
 *   /proc/<pid>/cgroup; a helper that exits before PID 1 reads its datagram is not attributed and
 *   the message is dropped (systemd issue #2737, documented in PR #5239). Since systemd 246 the
 *   helper closes that race itself: unless given --no-block it sends BARRIER=1 with a pipe after the
 *   message and waits (up to 5 s) until PID 1 has processed everything before it (the
 *   systemd-notify(1) man page of systemd 252, Debian 12's version, says so; its binary links
 *   sd_notify_barrier). So we never pass --no-block, and a message has arrived when our promise resolves.
 * - Attribution: the helper first tries to send with our PID (only works with CAP_SYS_ADMIN), then
 *   falls back to its own. The unit runs unprivileged with no capabilities, so the sender is the
 *   helper, a child of the main process: the unit needs `NotifyAccess=all` (`main` rejects it,
 *   `exec` only covers processes systemd forked itself). hf-outbox starts no other children, so
 *   `all` opens nothing in practice.
 * - Why not a native module: `unix-dgram` (nan, no prebuilt binaries) needs a C++ toolchain on every
 *   machine that installs hf-outbox, `sd-notify` links libsystemd and needs its headers, and
 *   `node-unix-socket` depends on per-platform prebuilt packages; each is one more native ABI to
 *   keep working across Node releases. `systemd-notify` is in the `systemd` package itself, so it
 *   is there wherever a unit can run us; the cost is one short-lived process per message (a
 *   watchdog ping every 30 s with WatchdogSec=60).
 *
 * Nothing here throws: every method resolves to whether the service manager took the message,
 * and reports a failure through `onError` (the caller logs it). A failed notification must never
 * stop the daemon; a missed READY=1 or WATCHDOG=1 is for systemd's own timeouts to act on.
 */
import { spawn as nodeSpawn } from 'node:child_process';

export interface ServiceNotifier {
  /** True when $NOTIFY_SOCKET is set: we run under a service manager that listens. */
  readonly enabled: boolean;
  /** Half of $WATCHDOG_USEC in ms when the watchdog is on for this process, else undefined. */
  readonly watchdogIntervalMs: number | undefined;
  /** READY=1 (with STATUS= when given): start-up is complete. */
  ready(status?: string): Promise<boolean>;
  /** STATUS=: one line shown by `systemctl status`. */
  status(text: string): Promise<boolean>;
  /**
   * RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC, which systemd 253+ requires of it; older
   * ones ignore it): a reload has begun; systemd shows the unit as "reloading" until the next READY=1.
   */
  reloading(status?: string): Promise<boolean>;
  /** STOPPING=1 (with STATUS= when given): shutdown has begun. */
  stopping(status?: string): Promise<boolean>;
  /** WATCHDOG=1: one keep-alive ping. */
  watchdog(): Promise<boolean>;
  /** Pings every `watchdogIntervalMs` until the returned function is called; a no-op without a watchdog. */
  startWatchdog(): () => void;
}

export interface NotifierDeps {
  /**
   * The helper to run.
   * @default 'systemd-notify' (looked up on PATH)
   */
  command?: string;
  /** Our PID, compared with $WATCHDOG_PID. @default process.pid */
  pid?: number;
  /**
   * A helper that has not exited by then is killed and the message counts as failed. The helper
   * itself gives up waiting for PID 1 after 5 s.
   * @default 10000
   */
  timeoutMs?: number;
  /** Told about every message that did not get through; never throws back. */
  onError?: (error: Error, message: string) => void;
  /** Injected by tests. */
  spawn?: typeof nodeSpawn;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export function createNotifier(env: NodeJS.ProcessEnv = process.env, deps: NotifierDeps = {}): ServiceNotifier {
  const socket = env['NOTIFY_SOCKET'];
  const enabled = socket !== undefined && socket !== '';
  const pid = deps.pid ?? process.pid;
  const watchdogIntervalMs = enabled ? watchdogInterval(env, pid) : undefined;
  const command = deps.command ?? 'systemd-notify';
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const spawn = deps.spawn ?? nodeSpawn;
  // The helper needs only the socket and a PATH; the token and the rest of our environment stay here.
  const childEnv: NodeJS.ProcessEnv = { NOTIFY_SOCKET: socket, PATH: env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin' };

  // One helper at a time, so READY=1 is processed before a STOPPING=1 sent right after it.
  let queue: Promise<unknown> = Promise.resolve();
  let pingInFlight = false;

  const send = (fields: string[]): Promise<boolean> => {
    if (!enabled) return Promise.resolve(false);
    const next = queue.then(() => runHelper(fields));
    queue = next;
    return next;
  };

  const runHelper = (fields: string[]): Promise<boolean> =>
    new Promise((resolve) => {
      const message = fields.join(' ');
      let settled = false;
      let stderr = '';
      const finish = (error: Error | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) deps.onError?.(error, message);
        resolve(error === undefined);
      };
      let child: ReturnType<typeof nodeSpawn>;
      try {
        child = spawn(command, fields, { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (error) {
        finish(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        finish(new Error(`${command} did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      child.stderr?.setEncoding('utf8').on('data', (d: string) => {
        if (stderr.length < 2000) stderr += d;
      });
      child.on('error', (error: NodeJS.ErrnoException) => {
        finish(
          error.code === 'ENOENT'
            ? new Error(`${command} was not found on PATH; it ships with systemd (package "systemd")`, { cause: error })
            : error,
        );
      });
      child.on('close', (code, signal) => {
        if (code === 0) finish(undefined);
        else finish(new Error(`${command} exited with ${signal ?? `status ${code}`}${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
      });
    });

  const withStatus = (field: string, status: string | undefined) =>
    status === undefined ? [field] : [field, `STATUS=${oneLine(status)}`];

  return {
    enabled,
    watchdogIntervalMs,
    ready: (status) => send(withStatus('READY=1', status)),
    status: (text) => send([`STATUS=${oneLine(text)}`]),
    // process.hrtime is libuv's uv_hrtime: CLOCK_MONOTONIC on Linux, the clock sd_notify(3) asks for.
    reloading: (status) => send([...withStatus('RELOADING=1', status), `MONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`]),
    stopping: (status) => send(withStatus('STOPPING=1', status)),
    watchdog: () => send(['WATCHDOG=1']),
    startWatchdog() {
      if (watchdogIntervalMs === undefined) return () => undefined;
      const handle = setInterval(() => {
        // A ping still waiting on PID 1 is enough; stacking more behind it would not help.
        if (pingInFlight) return;
        pingInFlight = true;
        void send(['WATCHDOG=1']).finally(() => {
          pingInFlight = false;
        });
      }, watchdogIntervalMs);
      // The watchdog alone must not keep a finished process alive.
      handle.unref();
      return () => clearInterval(handle);
    },
  };
}

/**
 * Half of $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises, when the watchdog is meant for this
 * process: $WATCHDOG_PID unset, or equal to our PID (it is not inherited meaningfully by children).
 */
function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env['WATCHDOG_USEC']);
  if (!Number.isSafeInteger(usec) || usec <= 0) return undefined;
  const forPid = env['WATCHDOG_PID'];
  if (forPid !== undefined && forPid !== '' && Number(forPid) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/** A field is one line of the datagram: a newline in a status text would start a new field. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').trim();
}
