import { constants } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { OutboxError, isErrnoException } from '../core/errors.js';
import type { DirEntry, OutboxFs } from '../core/ports.js';
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

  openVerified(absPath: string, expected: Fingerprint): Readable {
    return Readable.from(readVerified(absPath, expected), { objectMode: false });
  }
}

/**
 * Reads the file and, after the last byte, checks that neither the open file nor the path
 * changed (size, mtime, inode). A change is not an error of the artifact: the caller gets
 * HFO_FILE_CHANGED (retry class) and queues the file again once it settles.
 */
async function* readVerified(absPath: string, expected: Fingerprint): AsyncGenerator<Buffer> {
  let handle;
  try {
    // O_NOFOLLOW: a symlink swapped in after the scan is refused, not followed out of the outbox.
    // O_NONBLOCK: a FIFO swapped in must not block the daemon.
    handle = await open(absPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    throw openError(absPath, error);
  }
  try {
    const opened = toFileStat(await handle.stat());
    if (opened.kind !== 'file') {
      throw new OutboxError('HFO_FILE_UNREADABLE', `${absPath} is no longer a regular file; skipped`);
    }
    if (!sameFingerprint(opened, expected)) throw changed(absPath);
    let position = 0;
    while (position < expected.sizeBytes) {
      const want = Math.min(READ_CHUNK_BYTES, expected.sizeBytes - position);
      const buffer = Buffer.allocUnsafe(want);
      const { bytesRead } = await handle.read(buffer, 0, want, position);
      if (bytesRead === 0) throw changed(absPath);
      position += bytesRead;
      yield bytesRead === want ? buffer : buffer.subarray(0, bytesRead);
    }
    const after = toFileStat(await handle.stat());
    const atPath = await lstat(absPath).then(toFileStat, () => undefined);
    if (!sameFingerprint(after, expected) || atPath === undefined || !sameFingerprint(atPath, expected)) {
      throw changed(absPath);
    }
  } finally {
    await handle.close();
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
