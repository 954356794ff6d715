/**
 * An in-memory OutboxFs: files with size/mtime/ino driven by the test's (fake) clock.
 * Models: regular files, directories implied by paths, symlinks and FIFOs as kinds.
 * Does not model: permissions, hard links, partial reads.
 */
import path from 'node:path';
import { Readable } from 'node:stream';
import { OutboxError } from '../../src/core/errors.js';
import { readerOf } from '../../src/core/file-reader.js';
import type { DirEntry, FileReader, OutboxFile, OutboxFs } from '../../src/core/ports.js';
import type { FileKind, FileStat, Fingerprint } from '../../src/core/types.js';

interface Node {
  kind: FileKind;
  bytes: Uint8Array;
  mtimeMs: number;
  ino: number;
}

export class MemoryFs implements OutboxFs {
  readonly #files = new Map<string, Node>();
  #nextIno = 1;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  write(absPath: string, content: string | Uint8Array, kind: FileKind = 'file'): void {
    const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
    const existing = this.#files.get(absPath);
    this.#files.set(absPath, { kind, bytes, mtimeMs: this.#now(), ino: existing?.ino ?? this.#nextIno++ });
  }

  append(absPath: string, content: string): void {
    const existing = this.#files.get(absPath);
    const add = new TextEncoder().encode(content);
    const bytes = new Uint8Array((existing?.bytes.length ?? 0) + add.length);
    if (existing) bytes.set(existing.bytes);
    bytes.set(add, existing?.bytes.length ?? 0);
    this.write(absPath, bytes);
  }

  /** Paths of the files under a folder prefix (`/outbox/x/`), relative to it, sorted. */
  namesUnder(prefix: string): string[] {
    return [...this.#files.keys()].filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length)).sort();
  }

  remove(absPath: string): void {
    this.#files.delete(absPath);
  }

  async stat(absPath: string): Promise<FileStat | undefined> {
    const node = this.#files.get(absPath);
    if (node) return { kind: node.kind, sizeBytes: node.bytes.length, mtimeMs: node.mtimeMs, ino: node.ino, mode: 0o644 };
    const prefix = `${absPath}/`;
    for (const p of this.#files.keys()) if (p.startsWith(prefix)) return { kind: 'directory', sizeBytes: 0, mtimeMs: 0, ino: 0, mode: 0o755 };
    return undefined;
  }

  async list(absPath: string): Promise<DirEntry[]> {
    const prefix = `${absPath}/`;
    const entries = new Map<string, FileKind>();
    for (const [p, node] of this.#files) {
      if (!p.startsWith(prefix)) continue;
      const rest = p.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash === -1) entries.set(rest, node.kind);
      else entries.set(rest.slice(0, slash), 'directory');
    }
    return [...entries].map(([name, kind]) => ({ name, kind }));
  }

  openVerified(file: OutboxFile, expected: Fingerprint): Readable {
    const absPath = path.posix.join(file.root, file.relPath);
    const node = this.#files.get(absPath);
    const same = node !== undefined && node.bytes.length === expected.sizeBytes && node.mtimeMs === expected.mtimeMs && node.ino === expected.ino;
    if (!same) {
      return new Readable({
        read() {
          this.destroy(new OutboxError('HFO_FILE_CHANGED', `${absPath} changed while it was being read`));
        },
      });
    }
    return Readable.from([Buffer.from(node.bytes)]);
  }

  openReader(file: OutboxFile, expected: Fingerprint): FileReader {
    return readerOf(this.openVerified(file, expected));
  }
}
