import { constants } from 'node:fs';
import { type FileHandle, lstat, open, readdir, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { OutboxError, isErrnoException } from '../core/errors.js';
import { blocksOf } from '../core/file-reader.js';
import type { DirEntry, FileReader, OutboxFile, OutboxFs } from '../core/ports.js';
import { sameFingerprint, type FileKind, type FileStat, type Fingerprint } from '../core/types.js';

const READ_CHUNK_BYTES = 1 << 20;

function kindOf(s: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): FileKind {
  if (s.isSymbolicLink()) return 'symlink';
  if (s.isFile()) return 'file';
  if (s.isDirectory()) return 'directory';
  return 'other';
}

function toFileStat(s: Awaited<ReturnType<typeof lstat>>): FileStat {
  return {
    kind: kindOf(s),
    sizeBytes: Number(s.size),
    mtimeMs: Number(s.mtimeMs),
    ino: Number(s.ino),
    mode: Number(s.mode) & 0o7777,
  };
}

/** OutboxFs over node:fs. Never follows symlinks; never opens anything but regular files. */
export class NodeOutboxFs implements OutboxFs {
  /** Real path of each outbox root (resolved again whenever an open does not match it). */
  readonly #roots = new Map<string, string>();

  async stat(absPath: string): Promise<FileStat | undefined> {
    try {
      return toFileStat(await lstat(absPath));
    } catch (error) {
      if (isErrnoException(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return undefined;
      throw error;
    }
  }

  async list(absPath: string): Promise<DirEntry[]> {
    try {
      const entries = await readdir(absPath, { withFileTypes: true });
      return entries.map((e) => ({ name: e.name, kind: kindOf(e) }));
    } catch (error) {
      if (isErrnoException(error) && ['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM'].includes(error.code ?? '')) return [];
      throw error;
    }
  }

  openVerified(file: OutboxFile, expected: Fingerprint): Readable {
    return Readable.from(blocksOf(this.openReader(file, expected), READ_CHUNK_BYTES), { objectMode: false });
  }

  openReader(file: OutboxFile, expected: Fingerprint): FileReader {
    return new VerifiedReader(file, expected, this.#roots);
  }
}

/**
 * Opens an outbox file and proves the descriptor is that file inside the outbox: the last part is
 * opened with O_NOFOLLOW, and the kernel's own path of the open descriptor (/proc/self/fd/N) must be
 * the outbox's real path joined with `relPath`. A folder on the way that is (or was swapped for) a
 * symlink makes the two differ, whatever was swapped back since: such a file is refused, never read.
 */
async function openInside(file: OutboxFile, roots: Map<string, string>): Promise<FileHandle> {
  const parts = file.relPath.split('/');
  const absPath = path.join(file.root, ...parts);
  if (parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new OutboxError('HFO_FILE_UNREADABLE', `${absPath} is not a path inside the outbox (${JSON.stringify(file.relPath)})`);
  }
  let handle: FileHandle;
  try {
    // O_NOFOLLOW: a symlink swapped in after the scan is refused, not followed out of the outbox.
    // O_NONBLOCK: a FIFO swapped in must not block the daemon.
    handle = await open(absPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    throw openError(absPath, error);
  }
  try {
    await proveInside(handle, file, parts, absPath, roots);
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

async function proveInside(handle: FileHandle, file: OutboxFile, parts: string[], absPath: string, roots: Map<string, string>): Promise<void> {
  const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
  if (opened === undefined) return proveByWalk(handle, file, parts, absPath);
  const expectedAt = (root: string) => path.join(root, ...parts);
  let root = roots.get(file.root);
  if (root === undefined || opened !== expectedAt(root)) {
    root = await realpath(file.root).catch(() => file.root);
    roots.set(file.root, root);
  }
  if (opened === expectedAt(root)) return;
  if (opened.endsWith(' (deleted)')) throw changed(absPath);
  const where = opened.startsWith(`${root}${path.sep}`) ? 'elsewhere in the outbox' : 'outside the outbox';
  throw new OutboxError(
    'HFO_FILE_UNREADABLE',
    `${absPath} was reached through a symlinked or swapped folder and opened ${opened}, ${where}; ` +
      'links are never followed, so it is not uploaded (make every folder on its path a real folder)',
  );
}

/**
 * Without /proc (not Linux): every folder on the way must be a real folder, and the path's last
 * part the very file (device and inode) that was opened.
 */
async function proveByWalk(handle: FileHandle, file: OutboxFile, parts: string[], absPath: string): Promise<void> {
  for (let i = 1; i < parts.length; i++) {
    const dir = path.join(file.root, ...parts.slice(0, i));
    const s = await lstat(dir).catch(() => undefined);
    if (s === undefined) throw changed(absPath);
    if (!s.isDirectory()) {
      throw new OutboxError('HFO_FILE_UNREADABLE', `${absPath} is reached through ${dir}, which is not a real folder (a symlink?); links are never followed out of the outbox`);
    }
  }
  const [atPath, fd] = await Promise.all([lstat(absPath).catch(() => undefined), handle.stat()]);
  if (atPath === undefined || atPath.dev !== fd.dev || atPath.ino !== fd.ino) throw changed(absPath);
}

/**
 * Reads the file and, after the last byte, checks that neither the open file nor the path
 * changed (size, mtime, inode). A change is not an error of the artifact: the caller gets
 * HFO_FILE_CHANGED (retry class) and queues the file again once it settles. The file is opened
 * at the first read.
 */
class VerifiedReader implements FileReader {
  readonly #file: OutboxFile;
  readonly #expected: Fingerprint;
  readonly #roots: Map<string, string>;
  readonly #absPath: string;
  #handle: Promise<FileHandle> | undefined;
  #position = 0;
  #ended = false;
  #closed = false;

  constructor(file: OutboxFile, expected: Fingerprint, roots: Map<string, string>) {
    this.#file = file;
    this.#expected = expected;
    this.#roots = roots;
    this.#absPath = path.join(file.root, ...file.relPath.split('/'));
  }

  async read(into: Uint8Array, offset: number, length: number): Promise<number> {
    if (this.#ended) return 0;
    if (this.#closed) throw new Error(`${this.#absPath}: read after close`);
    const handle = await (this.#handle ??= this.#open());
    const size = this.#expected.sizeBytes;
    if (this.#position >= size) {
      await this.#checkEnd(handle);
      this.#ended = true;
      return 0;
    }
    const want = Math.min(length, size - this.#position);
    const { bytesRead } = await handle.read(into, offset, want, this.#position);
    if (bytesRead === 0) throw changed(this.#absPath);
    this.#position += bytesRead;
    return bytesRead;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const handle = this.#handle;
    if (handle) await (await handle.catch(() => undefined))?.close();
  }

  async #open(): Promise<FileHandle> {
    const handle = await openInside(this.#file, this.#roots);
    try {
      const opened = toFileStat(await handle.stat());
      if (opened.kind !== 'file') throw new OutboxError('HFO_FILE_UNREADABLE', `${this.#absPath} is no longer a regular file; skipped`);
      if (!sameFingerprint(opened, this.#expected)) throw changed(this.#absPath);
      return handle;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async #checkEnd(handle: FileHandle): Promise<void> {
    const after = toFileStat(await handle.stat());
    const atPath = await lstat(this.#absPath).then(toFileStat, () => undefined);
    if (!sameFingerprint(after, this.#expected) || atPath === undefined || !sameFingerprint(atPath, this.#expected)) {
      throw changed(this.#absPath);
    }
  }
}

function changed(absPath: string): OutboxError {
  return new OutboxError('HFO_FILE_CHANGED', `${absPath} changed while it was being read; it will be sent again once it settles`);
}

function openError(absPath: string, error: unknown): OutboxError {
  if (isErrnoException(error)) {
    if (error.code === 'ENOENT') {
      return new OutboxError('HFO_FILE_CHANGED', `${absPath} disappeared before it could be read`, { cause: error });
    }
    if (error.code === 'ELOOP') {
      return new OutboxError('HFO_FILE_UNREADABLE', `${absPath} is a symlink; links are never followed out of the outbox`, {
        cause: error,
      });
    }
    if (error.code === 'EACCES' || error.code === 'EPERM') {
      return new OutboxError('HFO_FILE_UNREADABLE', `${absPath} is not readable by hf-outbox (${error.code}); fix its permissions`, {
        cause: error,
      });
    }
  }
  return new OutboxError('HFO_FILE_UNREADABLE', `cannot open ${absPath}: ${String(error)}`, { cause: error });
}
