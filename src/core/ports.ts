/**
 * The only doors to the outside world. Stages receive these from the composition root
 * (src/daemon.ts), so tests can hand in fakes and drive time, disk and network.
 */
import type { Readable } from 'node:stream';
import type { OutboxError } from './errors.js';
import type { FileStat, Fingerprint } from './types.js';

export interface Clock {
  now(): number;
  /** Runs `fn` after `ms`; returns a cancel function. */
  setTimer(fn: () => void, ms: number): () => void;
  /** Resolves after `ms`, or rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface DirEntry {
  name: string;
  kind: FileStat['kind'];
}

/** A file inside the outbox: the outbox folder and the file's '/'-separated path below it. */
export interface OutboxFile {
  root: string;
  relPath: string;
}

export interface OutboxFs {
  /** lstat: a symlink is reported as a symlink, never followed. Undefined when the path is gone. */
  stat(absPath: string): Promise<FileStat | undefined>;
  /** Entries of a directory; empty when it is gone or unreadable. */
  list(absPath: string): Promise<DirEntry[]>;
  /**
   * A stream of the file's bytes that fails with HFO_FILE_CHANGED if the file changed while read.
   * The open proves the file lies inside `root` (no symlink on any part of `relPath`) and every
   * byte comes from that one descriptor; a file reached through a symlink fails HFO_FILE_UNREADABLE.
   */
  openVerified(file: OutboxFile, expected: Fingerprint): Readable;
  /**
   * The same bytes and checks as openVerified, read into the caller's buffers: an upload reads
   * straight into the buffers its hashing threads share, with no copy and no buffer per block.
   */
  openReader(file: OutboxFile, expected: Fingerprint): FileReader;
}

/** A file read front to back into the caller's buffers. */
export interface FileReader {
  /**
   * Reads up to `length` bytes into `into` at `offset`, from where the last read ended; resolves
   * how many were read, 0 only at the end (once the end's checks passed). Rejects as the stream would.
   */
  read(into: Uint8Array, offset: number, length: number): Promise<number>;
  /** Releases the file; safe to call more than once, and before the end. */
  close(): Promise<void>;
}

/** One file to put in the bucket. Either a local file (streamed) or bytes held in memory. */
export interface UploadSource {
  bucketPath: string;
  sizeBytes: number;
  /** The outbox file and the fingerprint it must still have when its last byte is read. */
  local?: OutboxFile & { fingerprint: Fingerprint };
  /** In-memory content (a generated message, a results file with filled fields). */
  content?: Uint8Array;
  /**
   * The path was free at the conflict check and this agent never wrote it: it must still be free
   * right before the write (the bucket API has no conditional write), else the result is HFO_CONFLICT.
   */
  mustBeFree?: boolean;
  /**
   * The checkpoint folder this file belongs to. A call's files of one folder become visible together,
   * in the order given (the completion file last), and none of them is registered when one fails.
   */
  folder?: { id: string; bucketPath: string };
}

export type UploadResult = { bucketPath: string; ok: true } | { bucketPath: string; ok: false; error: OutboxError };

export interface UploadProgress {
  bucketPath: string;
  bytesDone: number;
  bytesTotal: number;
}

export interface RemoteEntry {
  path: string;
  sizeBytes: number;
  xetHash?: string;
  uploadedAt?: string;
}

/** Files per upload call of a bucket that names no limit of its own (`BucketClient.maxFilesPerCall`). */
export const DEFAULT_FILES_PER_CALL = 100;

export interface BucketClient {
  /** Human-readable identity for logs (`hf://buckets/o/n`, `file:///…`); never holds a secret. */
  readonly description: string;
  /** Most files one upload call should carry (the daemon batches up to this many; default DEFAULT_FILES_PER_CALL). */
  readonly maxFilesPerCall?: number;
  /** Checks the bucket exists and is writable (creating it when asked); throws a fatal OutboxError otherwise. */
  check(options: { create: boolean }): Promise<void>;
  /** Uploads all sources; reports each path's own outcome (batches are not transactional). */
  upload(
    sources: readonly UploadSource[],
    options: { signal?: AbortSignal; onProgress?: (p: UploadProgress) => void },
  ): Promise<UploadResult[]>;
  /** Entries for the paths that exist; missing paths are absent from the map. */
  stat(paths: readonly string[]): Promise<Map<string, RemoteEntry>>;
  /** Every file under a folder prefix (recursive). */
  list(prefix: string): AsyncIterable<RemoteEntry>;
  /** The bytes of one file. */
  download(path: string, options?: { signal?: AbortSignal }): Promise<Readable>;
}
