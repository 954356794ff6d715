/**
 * Full walk of the outbox: the start-up scan, the periodic reconciliation, and the reader of a
 * unit directory. Symlinks are never followed; FIFOs, sockets and devices are reported, never opened.
 */
import path from 'node:path';
import type { OutboxFs } from '../core/ports.js';
import type { FileKind } from '../core/types.js';

export interface ScanEntry {
  /** Relative to the walk's root, '/'-separated. */
  relPath: string;
  kind: FileKind;
}

/**
 * Yields every entry that is not a directory under `root`, depth first, names sorted.
 * `skipDir(rel)` prunes folders that can hold no artifact (dot folders, ignored globs).
 */
export async function* walk(
  fs: OutboxFs,
  root: string,
  skipDir: (relDir: string) => boolean = () => false,
  relBase = '',
): AsyncGenerator<ScanEntry> {
  const entries = await fs.list(relBase === '' ? root : path.join(root, ...relBase.split('/')));
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const rel = relBase === '' ? entry.name : `${relBase}/${entry.name}`;
    if (entry.kind === 'directory') {
      if (!skipDir(rel)) yield* walk(fs, root, skipDir, rel);
    } else {
      yield { relPath: rel, kind: entry.kind };
    }
  }
}
