/** Summaries of V8 .cpuprofile files (node --cpu-prof): top self-time functions and time per package. */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  where: string;
  ms: number;
  pct: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  top: SelfTime[];
  byArea: Array<{ area: string; ms: number; pct: number }>;
}

/** Which part of the stack a frame belongs to. */
function area(url: string, name: string): string {
  if (name === '(idle)' || name === '(program)' || name === '(garbage collector)') return name;
  if (url.startsWith('wasm://')) return 'wasm (xetchunk / hashing)';
  if (url === '') return 'native / builtins';
  if (url.startsWith('node:')) return 'node core';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? url);
  }
  if (url.includes('/dist/')) return 'hf-outbox (dist)';
  if (url.includes('/test/hub-emulator/')) return 'hub emulator';
  if (url.includes('/bench/')) return 'bench';
  return 'other';
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  for (const marker of ['/dist/', '/test/', '/bench/', '/src/']) {
    const at = url.lastIndexOf(marker);
    if (at >= 0) return url.slice(at + 1);
  }
  return url.replace(/^file:\/\//, '');
}

export async function summarizeProfile(file: string, topN = 15): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byFn = new Map<string, SelfTime>();
  const byArea = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    total += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const entry = byFn.get(key) ?? { name, where, ms: 0, pct: 0 };
    entry.ms += us / 1000;
    byFn.set(key, entry);
    const a = area(url, name);
    byArea.set(a, (byArea.get(a) ?? 0) + us / 1000);
  }
  const totalMs = total / 1000;
  const top = [...byFn.values()]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, topN)
    .map((e) => ({ ...e, ms: Math.round(e.ms), pct: totalMs ? e.ms / totalMs : 0 }));
  const areas = [...byArea.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([a, ms]) => ({ area: a, ms: Math.round(ms), pct: totalMs ? ms / totalMs : 0 }));
  return { file, totalMs: Math.round(totalMs), top, byArea: areas };
}

export async function summarizeDir(dir: string, topN = 15): Promise<ProfileSummary[]> {
  const files = (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.cpuprofile')).sort();
  return Promise.all(files.map((f) => summarizeProfile(path.join(dir, f), topN)));
}

export function profileMarkdown(title: string, s: ProfileSummary): string {
  const lines = [`#### ${title}`, '', `${path.basename(s.file)}: ${(s.totalMs / 1000).toFixed(1)} s sampled`, ''];
  lines.push('| area | self ms | share |', '|---|---|---|');
  for (const a of s.byArea.slice(0, 10)) lines.push(`| ${a.area} | ${a.ms} | ${(a.pct * 100).toFixed(1)}% |`);
  lines.push('', '| function | where | self ms | share |', '|---|---|---|---|');
  for (const t of s.top) lines.push(`| ${t.name} | ${t.where} | ${t.ms} | ${(t.pct * 100).toFixed(1)}% |`);
  return lines.join('\n');
}
