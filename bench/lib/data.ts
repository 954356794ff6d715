/** Test data: incompressible files, folders of small files, and a seeded PRNG for sizes and offsets. */
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const KiB = 1024;
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** mulberry32: small, fast, seeded; good enough for sizes and offsets (not for content). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes `size` bytes of random (incompressible) data in 8 MiB blocks; returns its sha256. */
export async function writeRandomFile(file: string, size: number): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  const fh = await open(file, 'w');
  const hash = createHash('sha256');
  const block = Buffer.allocUnsafe(8 * MiB);
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(block.length, size - done);
      randomFillSync(block, 0, n);
      hash.update(block.subarray(0, n));
      await fh.write(block, 0, n);
      done += n;
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 8 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface SmallFile {
  /** Relative to the folder given. */
  rel: string;
  size: number;
  sha256: string;
}

/**
 * `count` files of random content with sizes uniform in [minBytes, maxBytes], `perDir` per
 * sub-folder (0: all in one folder). Names sort in creation order.
 */
export async function writeSmallFiles(
  dir: string,
  count: number,
  opts: { minBytes: number; maxBytes: number; seed: number; perDir?: number; ext?: string },
): Promise<SmallFile[]> {
  const rand = prng(opts.seed);
  const files: SmallFile[] = [];
  const width = String(count).length;
  const made = new Set<string>();
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    const size = opts.minBytes + Math.floor(rand() * (opts.maxBytes - opts.minBytes + 1));
    const name = `f${String(i).padStart(width, '0')}${opts.ext ?? '.bin'}`;
    const sub = opts.perDir ? `d${String(Math.floor(i / opts.perDir)).padStart(4, '0')}` : '';
    const rel = sub ? `${sub}/${name}` : name;
    const data = randomFillSync(Buffer.allocUnsafe(size));
    const subDir = path.join(dir, sub);
    if (!made.has(subDir)) {
      await mkdir(subDir, { recursive: true });
      made.add(subDir);
    }
    pending.push(writeFile(path.join(dir, rel), data));
    if (pending.length >= 64) await Promise.all(pending.splice(0));
    files.push({ rel, size, sha256: sha256(data) });
  }
  await Promise.all(pending);
  return files;
}

/** Sets atime/mtime `ageMs` in the past, so a settle timer measured from mtime is already over. */
export async function backdate(files: string[], ageMs = 60_000): Promise<void> {
  const t = new Date(Date.now() - ageMs);
  for (let i = 0; i < files.length; i += 256) {
    await Promise.all(files.slice(i, i + 256).map((f) => utimes(f, t, t)));
  }
}

export const fmtMiB = (bytes: number): string => `${(bytes / MiB).toFixed(bytes < 10 * MiB ? 2 : 0)} MiB`;
