/** The Hub emulator as a child process (bench/emulator-server.ts) and a client for its admin API. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HubEmulatorCounters } from '../../test/hub-emulator/index.js';
import { compiledScript } from './compile.js';
import { readProc, type ProcSample } from './proc.js';
import { BENCH_DIR, BUCKET, TOKEN, baseEnv } from './setup.js';

/** The emulator's own counters (without the request log), plus the error responses the admin API tallies. */
export type EmulatorCounters = Omit<HubEmulatorCounters, 'requestLog'> & {
  /** "endpoint status" → count, for responses >= 400 (and 0: dropped or still open). */
  errorResponses: Record<string, number>;
};

export interface StoredFile {
  path: string;
  size: number;
  xetHash: string;
  uploadedAt: string;
}

export interface EmulatorOptions {
  /** e.g. --cpu-prof flags, to profile the emulator itself. */
  nodeFlags?: string[];
}

export class EmulatorProcess {
  readonly url: string;
  readonly adminUrl: string;
  readonly pid: number;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;

  private constructor(child: ChildProcess, url: string, adminUrl: string, exited: Promise<void>) {
    this.#child = child;
    this.url = url;
    this.adminUrl = adminUrl;
    this.pid = child.pid ?? 0;
    this.#exited = exited;
  }

  static async start(options: EmulatorOptions = {}): Promise<EmulatorProcess> {
    // Plain node on the compiled server: tsx's loader would add ~0.3 s to every start (see compile.ts).
    const { script } = await compiledScript(path.join(BENCH_DIR, 'emulator-server.ts'));
    const child = spawn(process.execPath, [...(options.nodeFlags ?? []), script, '--token', TOKEN, '--bucket', BUCKET], {
      env: baseEnv(),
      cwd: path.dirname(BENCH_DIR),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const first = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`emulator did not start within 20 s\n${stderr}`)), 20_000);
      const onData = (d: Buffer) => {
        out += d.toString();
        const nl = out.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          child.stdout?.resume();
          resolve(out.slice(0, nl));
        }
      };
      child.stdout?.on('data', onData);
      child.once('close', (code) => {
        clearTimeout(timer);
        reject(new Error(`emulator exited (${code}) before it was ready\n${stderr}`));
      });
    });
    const info = JSON.parse(first) as { url: string; adminUrl: string };
    return new EmulatorProcess(child, info.url, info.adminUrl, exited);
  }

  async #get<T>(route: string): Promise<T> {
    const res = await fetch(`${this.adminUrl}${route}`);
    if (!res.ok) throw new Error(`emulator admin ${route}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  counters(): Promise<EmulatorCounters> {
    return this.#get('/counters');
  }

  async reset(): Promise<void> {
    const res = await fetch(`${this.adminUrl}/reset`, { method: 'POST' });
    await res.body?.cancel();
  }

  files(): Promise<StoredFile[]> {
    return this.#get(`/files?bucket=${encodeURIComponent(BUCKET)}`);
  }

  /** sha256 of the emulator's own rebuild of a stored file (undefined if absent). */
  async sha256(filePath: string): Promise<{ size: number; sha256: string } | undefined> {
    const res = await fetch(`${this.adminUrl}/sha256?bucket=${encodeURIComponent(BUCKET)}&path=${encodeURIComponent(filePath)}`);
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    const body = (await res.json()) as { size: number; sha256: string } | { error: string };
    if ('error' in body) throw new Error(`emulator could not rebuild ${filePath}: ${body.error}`);
    return body;
  }

  async #post(route: string): Promise<void> {
    const res = await fetch(`${this.adminUrl}${route}`, { method: 'POST' });
    if (!res.ok) throw new Error(`emulator admin ${route}: HTTP ${res.status} ${await res.text()}`);
    await res.body?.cancel();
  }

  /** Holds requests to `endpoint` (answering none) once `after` of them were answered, until release(). */
  hold(endpoint: string, after = 0): Promise<void> {
    return this.#post(`/hold?endpoint=${encodeURIComponent(endpoint)}&after=${after}`);
  }

  /** Requests held right now. */
  async held(): Promise<number> {
    return (await this.#get<{ waiting: number }>('/hold')).waiting;
  }

  release(): Promise<void> {
    return this.#post('/release');
  }

  /** CPU seconds and RSS of the emulator process (from /proc). */
  usage(): Promise<ProcSample | undefined> {
    return readProc(this.pid);
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.kill('SIGTERM');
    const timedOut = await Promise.race([this.#exited.then(() => false), sleep(5000).then(() => true)]);
    if (timedOut) {
      this.#child.kill('SIGKILL');
      await this.#exited;
    }
  }
}

/** Runs `fn` against a fresh emulator (so no run dedups against another's uploads), always stopping it. */
export async function withEmulator<T>(fn: (emu: EmulatorProcess) => Promise<T>, options: EmulatorOptions = {}): Promise<T> {
  const emu = await EmulatorProcess.start(options);
  try {
    return await fn(emu);
  } finally {
    await emu.stop();
  }
}
