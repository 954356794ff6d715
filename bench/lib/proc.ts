/**
 * Child processes under measurement. Each runs under GNU `/usr/bin/time` when it is available, so
 * peak RSS (ru_maxrss) and CPU seconds come from wait4() at exit and miss nothing; the node process
 * itself (time's child) is also sampled through /proc every `sampleMs` for live RSS, VmHWM and CPU,
 * which is what the long-running `watch` measurements read.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const TIME_BIN = '/usr/bin/time';
const CLOCK_TICKS = 100; // getconf CLK_TCK on Linux

export interface ProcSample {
  /** utime + stime, seconds. */
  cpuS: number;
  rssKiB: number;
  hwmKiB: number;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  wallMs: number;
  /** From /usr/bin/time when available, else the last /proc sample. */
  userS: number;
  sysS: number;
  maxRssKiB: number;
  /** Highest VmHWM seen by sampling (a cross-check of maxRssKiB). */
  sampledHwmKiB: number;
  measuredBy: 'time' | 'proc';
  stdoutTail: string[];
  stderr: string;
  stdoutLines: number;
}

export interface SpawnOptions {
  env: Record<string, string>;
  cwd?: string;
  /** Kill (SIGKILL) after this long: every child is bounded. */
  timeoutMs: number;
  /** Every complete stdout line as it arrives. */
  onLine?: (line: string) => void;
  sampleMs?: number;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
}

export async function readProc(pid: number): Promise<ProcSample | undefined> {
  try {
    const [stat, status] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8'), readFile(`/proc/${pid}/status`, 'utf8')]);
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { cpuS: ticks / CLOCK_TICKS, rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
  } catch {
    return undefined;
  }
}

async function childPidOf(pid: number, deadline: number): Promise<number | undefined> {
  while (Date.now() < deadline) {
    try {
      const text = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim();
      const first = Number(text.split(/\s+/)[0]);
      if (text !== '' && Number.isInteger(first)) return first;
    } catch {
      return undefined;
    }
    await sleep(2);
  }
  return undefined;
}

export class MeasuredChild {
  /** pid of the node process itself (not of /usr/bin/time). */
  pid = 0;
  readonly done: Promise<ChildResult>;
  readonly #started = Date.now();
  #last: ProcSample | undefined;
  #hwm = 0;
  #stderr = '';
  #tail: string[] = [];
  #lines = 0;
  #ready: Promise<void>;
  #exited = false;

  constructor(script: string, args: string[], options: SpawnOptions) {
    const useTime = existsSync(TIME_BIN);
    const nodeArgs = [...(options.nodeFlags ?? []), script, ...args];
    let resolveReady!: () => void;
    this.#ready = new Promise((r) => (resolveReady = r));
    this.done = (async () => {
      const tmp = await mkdtemp(path.join(os.tmpdir(), 'bench-time-'));
      const timeFile = path.join(tmp, 'time.txt');
      const [cmd, argv] = useTime
        ? [TIME_BIN, ['-f', '%e %U %S %M', '-o', timeFile, process.execPath, ...nodeArgs]]
        : [process.execPath, nodeArgs];
      const child = spawn(cmd, argv, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (code, signal) => resolve({ code, signal }));
      });
      const outerPid = child.pid ?? 0;
      this.pid = useTime ? ((await childPidOf(outerPid, Date.now() + 5000)) ?? outerPid) : outerPid;
      resolveReady();
      let partial = '';
      child.stdout.on('data', (d: Buffer) => {
        const text = partial + d.toString();
        const parts = text.split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) {
          this.#lines++;
          this.#tail.push(line);
          if (this.#tail.length > 200) this.#tail.shift();
          options.onLine?.(line);
        }
      });
      child.stderr.on('data', (d: Buffer) => {
        if (this.#stderr.length < 1_000_000) this.#stderr += d.toString();
      });
      const timer = setTimeout(() => {
        this.#stderr += `\n[bench] killed after ${options.timeoutMs} ms\n`;
        try {
          process.kill(this.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }, options.timeoutMs);
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const s = await readProc(this.pid);
          if (s) {
            this.#last = s;
            this.#hwm = Math.max(this.#hwm, s.hwmKiB);
          }
          await sleep(options.sampleMs ?? 100);
        }
      })();
      const { code, signal } = await exited;
      this.#exited = true;
      clearTimeout(timer);
      sampling = false;
      await sampler;
      if (partial !== '') {
        this.#lines++;
        this.#tail.push(partial);
        options.onLine?.(partial);
      }
      const wallMs = Date.now() - this.#started;
      let timed: number[] | undefined;
      if (useTime) {
        const text = await readFile(timeFile, 'utf8').catch(() => '');
        // GNU time writes "Command exited with non-zero status N" before the format line.
        const last = text.trim().split('\n').pop() ?? '';
        const nums = last.split(' ').map(Number);
        if (nums.length === 4 && nums.every((n) => Number.isFinite(n))) timed = nums;
      }
      await rm(tmp, { recursive: true, force: true });
      // GNU time reports a signal death as exit 128+n with no signal; report the code it saw.
      return {
        code,
        signal,
        wallMs,
        userS: timed?.[1] ?? this.#last?.cpuS ?? 0,
        sysS: timed?.[2] ?? 0,
        maxRssKiB: timed?.[3] ?? this.#hwm,
        sampledHwmKiB: this.#hwm,
        measuredBy: timed ? 'time' : 'proc',
        stdoutTail: this.#tail,
        stderr: this.#stderr,
        stdoutLines: this.#lines,
      };
    })();
  }

  /** Resolves once the node pid is known (signals and /proc reads need it). */
  started(): Promise<void> {
    return this.#ready;
  }

  sample(): Promise<ProcSample | undefined> {
    return readProc(this.pid);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.#exited || this.pid === 0) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Runs a script to completion; throws with its output if it fails. */
export async function runMeasured(script: string, args: string[], options: SpawnOptions & { allowFailure?: boolean }): Promise<ChildResult> {
  const child = new MeasuredChild(script, args, options);
  const result = await child.done;
  if (!options.allowFailure && result.code !== 0) {
    throw new Error(
      `${path.basename(script)} ${args.slice(0, 2).join(' ')} exited ${result.code ?? result.signal}\n` +
        `--- stdout (tail) ---\n${result.stdoutTail.slice(-30).join('\n')}\n--- stderr ---\n${result.stderr.slice(-4000)}`,
    );
  }
  return result;
}

export const cpuS = (r: ChildResult): number => r.userS + r.sysS;
export const mib = (kib: number): number => kib / 1024;
