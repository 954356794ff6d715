import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';

/** A fresh temp folder removed when the test ends. */
export function tmpDir(prefix = 'hfo-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * `root/outbox`, created: hf-outbox creates only the default ./outbox, an outbox named by a flag
 * must exist (a mistyped path is an error), as after `hf-outbox init`.
 */
export function outboxIn(root: string): string {
  const outbox = path.join(root, 'outbox');
  mkdirSync(outbox, { recursive: true });
  return outbox;
}

/** Writes a tree declared as data: { "scripts/a.py": "print(1)" }. */
export async function writeTree(root: string, files: Record<string, string | Uint8Array>): Promise<void> {
  const made = new Set<string>();
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(root, ...rel.split('/'));
    const dir = path.dirname(abs);
    if (!made.has(dir)) {
      await mkdir(dir, { recursive: true });
      made.add(dir);
    }
    await writeFile(abs, content);
  }
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Every regular file under `root` as { relPath: sha256 }, hidden temp files included (so leaks show). */
export function treeHashes(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (dir: string, rel: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const s = statSync(abs);
      if (s.isDirectory()) visit(abs, r);
      else if (s.isFile()) out[r] = sha256(readFileSync(abs));
    }
  };
  visit(root, '');
  return out;
}
