/**
 * The many-small-files outbox the watch benchmarks share: `files` tiny files spread over
 * `folders` folders under data/, and an empty checkpoints/run1. Written once and kept between
 * runs (a marker says it is complete), since writing 100,000 files takes longer than a run.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export async function ensureFlatTree(base: string, files: number, folders: number, log: (line: string) => void): Promise<string> {
  const outbox = path.join(base, 'outbox');
  const marker = path.join(base, 'tree-complete');
  if (existsSync(marker)) return outbox;
  log(`writing ${files} files in ${folders} folders under ${outbox}`);
  await rm(base, { recursive: true, force: true });
  const perFolder = Math.ceil(files / folders);
  let written = 0;
  for (let d = 0; d < folders && written < files; d++) {
    const dir = path.join(outbox, 'data', `shard${String(d).padStart(5, '0')}`);
    await mkdir(dir, { recursive: true });
    const batch: Array<Promise<void>> = [];
    for (let i = 0; i < perFolder && written < files; i++, written++) batch.push(writeFile(path.join(dir, `f${i}.bin`), `file ${d}/${i}\n`));
    await Promise.all(batch);
  }
  await mkdir(path.join(outbox, 'checkpoints', 'run1'), { recursive: true });
  await writeFile(marker, '');
  return outbox;
}
