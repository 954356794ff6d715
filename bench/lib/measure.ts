/** One measured tool run against an emulator: the child's own figures plus the emulator's side. */
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { summarizeDir, type ProfileSummary } from './cpuprofile.js';
import type { EmulatorCounters, EmulatorProcess } from './emulator.js';
import { cpuS, mib, type ChildResult, type MeasuredChild } from './proc.js';

export interface ToolRun {
  tool: string;
  wallMs: number;
  cpuS: number;
  peakRssMiB: number;
  /** VmHWM seen by sampling every 100 ms: a cross-check of peakRssMiB. */
  sampledHwmMiB: number;
  requests: number;
  requestsByEndpoint: Record<string, number>;
  bytesReceived: number;
  emulatorCpuS: number;
  /** Emulator CPU seconds per wall second of the run: near 1.0 means the emulator was the bottleneck. */
  emulatorBusy: number;
  stdoutLines: number;
  /** Emulator responses >= 400 during the run ("endpoint status" → count). */
  errorResponses: Record<string, number>;
  /**
   * CPU seconds the rest of the machine used during the run (all cores busy time minus the tool's
   * and the emulator's): other people's test runs on this shared 2-core box skew the figures.
   */
  otherCpuS: number;
}

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat. */
export async function machineBusyS(): Promise<number> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = v;
    return (user + nice + system + irq + softirq + steal) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Resets the emulator's counters, runs the child to completion and collects both sides. */
export async function measureRun(
  tool: string,
  emu: EmulatorProcess,
  start: () => MeasuredChild,
  check: (r: ChildResult) => void = (r) => {
    if (r.code !== 0) throw new Error(`${tool} exited ${r.code ?? r.signal}\n${r.stdoutTail.slice(-30).join('\n')}\n${r.stderr.slice(-4000)}`);
  },
): Promise<{ run: ToolRun; result: ChildResult; counters: EmulatorCounters }> {
  await emu.reset();
  const before = await emu.usage();
  const busy0 = await machineBusyS();
  const result = await start().done;
  const busy1 = await machineBusyS();
  const after = await emu.usage();
  check(result);
  const counters = await emu.counters();
  const emulatorCpuS = (after?.cpuS ?? 0) - (before?.cpuS ?? 0);
  return {
    result,
    counters,
    run: {
      tool,
      wallMs: result.wallMs,
      cpuS: cpuS(result),
      peakRssMiB: mib(result.maxRssKiB),
      sampledHwmMiB: mib(result.sampledHwmKiB),
      requests: counters.totalRequests,
      requestsByEndpoint: counters.requests,
      bytesReceived: counters.bytesReceived,
      emulatorCpuS,
      emulatorBusy: result.wallMs > 0 ? emulatorCpuS / (result.wallMs / 1000) : 0,
      stdoutLines: result.stdoutLines,
      errorResponses: counters.errorResponses,
      otherCpuS: Math.max(0, busy1 - busy0 - cpuS(result) - emulatorCpuS),
    },
  };
}

/** node flags for a profiled run, and a reader for what it wrote. */
export async function profileFlags(dir: string): Promise<string[]> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return ['--cpu-prof', '--cpu-prof-dir', dir];
}

export async function readProfiles(dir: string): Promise<ProfileSummary[]> {
  return summarizeDir(dir);
}

export function profileDir(base: string, scenario: string, tool: string): string {
  return path.join(base, `${scenario}-${tool}`);
}

/** A note for each run during which the rest of the machine used more than a fifth of a core. */
export function contentionNotes(runs: ToolRun[]): string[] {
  const notes: string[] = [];
  for (const r of runs) {
    const cores = r.otherCpuS / Math.max(0.001, r.wallMs / 1000);
    if (cores > 0.2) {
      notes.push(`${r.tool}: other processes on this machine used ${r.otherCpuS.toFixed(1)} CPU s (${(cores * 100).toFixed(0)}% of a core) during the run, so its figures are skewed.`);
    }
  }
  return notes;
}

/** A note for each run that got error responses from the emulator (retries, conflicts, faults). */
export function errorNotes(runs: ToolRun[]): string[] {
  const notes: string[] = [];
  for (const r of runs) {
    // A dedup query that finds nothing is a 404 by design: not an error.
    const errors = Object.entries(r.errorResponses).filter(([k]) => k !== 'dedup 404');
    if (errors.length) notes.push(`${r.tool}: the emulator answered with errors: ${errors.map(([k, n]) => `${k} ×${n}`).join(', ')}.`);
  }
  return notes;
}
