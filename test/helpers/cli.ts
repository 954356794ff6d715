/** Runs the built CLI (dist/cli/main.js) as a child process, the way users and systemd do. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli/main.js');

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  logs: LogLine[];
}

/** Environment with nothing inherited that could point hf-outbox at a real account or state. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'NODE_OPTIONS'];
  const env: Record<string, string> = {};
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k] as string;
  // A checkpoint folder of no known layout waits 60 s by default; tests about other behaviour give it
  // the file's quiet period (--settle-ms). test/integration/training-run.test.ts sets its own.
  env.HF_OUTBOX_UNIT_SETTLE_MS = '0';
  return { ...env, ...extra };
}

export function parseLogs(stdout: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      /* not a log line */
    }
  }
  return out;
}

export interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  /**
   * Runs the CLI with this many file descriptors at most (`ulimit -n`, soft and hard: Node raises a
   * soft limit to the hard one at start), so a test can prove work beyond the limit never hits EMFILE.
   */
  openFilesLimit?: number;
}

/** The command line that starts the CLI, under `ulimit -n` when asked. */
function cliCommand(args: string[], openFilesLimit?: number): [string, string[]] {
  if (openFilesLimit === undefined) return [process.execPath, [CLI, ...args]];
  return ['/bin/sh', ['-c', `ulimit -n ${Math.floor(openFilesLimit)} && exec "$0" "$@"`, process.execPath, CLI, ...args]];
}

export function runCli(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const [command, argv] = cliCommand(args, options.openFilesLimit);
    const child = spawn(command, argv, { env: options.env ?? cleanEnv(), cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hf-outbox ${args.join(' ')} did not exit within ${options.timeoutMs ?? 60_000} ms\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, logs: parseLogs(stdout) });
    });
  });
}

/** A long-running daemon; killed when the test ends. */
export class Daemon {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  /** Log lines parsed so far, and how much of stdout they cover (parsed once, not on every poll). */
  #logs: LogLine[] = [];
  #parsedTo = 0;

  constructor(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}) {
    this.child = spawn(process.execPath, [CLI, ...args], { env: options.env ?? cleanEnv(), cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.setEncoding('utf8');
    this.child.stdout?.on('data', (d: string) => (this.stdout += d));
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
    onTestFinished(async () => {
      if (this.child.exitCode === null && this.child.signalCode === null) {
        this.child.kill('SIGKILL');
        await this.exited;
      }
    });
  }

  /** Every complete log line so far (a copy: later lines do not appear in it). */
  get logs(): LogLine[] {
    const end = this.stdout.lastIndexOf('\n') + 1;
    if (end > this.#parsedTo) {
      for (const line of parseLogs(this.stdout.slice(this.#parsedTo, end))) this.#logs.push(line);
      this.#parsedTo = end;
    }
    return [...this.#logs];
  }

  /** Waits (bounded) until a log line matches. */
  async waitForLog(match: (l: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.find(match);
      if (found) return found;
      if (this.child.exitCode !== null) throw new Error(`daemon exited (${this.child.exitCode}) before the log line\n${this.stdout}\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for a log line\n${this.stdout}\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    this.child.kill(signal);
    return this.exited;
  }
}

/** Polls `check` until it returns true (bounded). */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A loopback TCP port free right now (the system picks it; the listener is closed again), for a
 * daemon that must be told its port: a random guess could hit a port in use.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
