/**
 * The safety net behind hf-outbox's own Xet writer: the same files uploaded through
 * `@huggingface/hub`'s own upload path (its chunker, xorbs, shards with footer, batch), and the
 * read-back check that compares one uploaded file, fetched through the library's download path
 * (the Hub's reconstruction and the library's decoder), with the local bytes. HubBucket decides
 * when to use them (`--xet-writer`); every request still goes through the `fetch` handed in.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { downloadFile, uploadFiles } from '@huggingface/hub';
import { OutboxError } from '../../core/errors.js';
import { sha256OfBlob } from '../../hash/sha256.js';

export type XetWriterSetting = 'auto' | 'own' | 'library';

/** What `status` and `doctor` show: which writer the last run used and why. */
export interface WriterState {
  writer: 'own' | 'library';
  setting: XetWriterSetting;
  /** Why the library writer is in use (absent for the own writer). */
  reason?: string;
  /** The read-back check of this start: pending, or when and which file it compared. */
  readBack?: { ok: boolean; path: string; at: string } | 'pending';
  at: string;
  pid: number;
}

export const WRITER_STATE_FILE = 'xet-writer.json';

/** Written whole (temp file + rename): `status` may read it while the daemon runs. */
export async function saveWriterState(stateDir: string, state: WriterState): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  const file = path.join(stateDir, WRITER_STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}

/** The recorded state, or undefined when none (or a malformed one: it is only informative). */
export function parseWriterState(text: string): WriterState | undefined {
  try {
    const v = JSON.parse(text) as Partial<WriterState>;
    if ((v.writer === 'own' || v.writer === 'library') && typeof v.at === 'string') return v as WriterState;
  } catch {
    // ignored
  }
  return undefined;
}

/** The recorded state of `stateDir`, if any. */
export function readWriterState(stateDir: string): WriterState | undefined {
  try {
    return parseWriterState(readFileSync(path.join(stateDir, WRITER_STATE_FILE), 'utf8'));
  } catch {
    return undefined;
  }
}

/** One line for `status` and `doctor`: which writer, since when, why. */
export function describeWriterState(state: WriterState): string {
  const check =
    state.readBack === 'pending'
      ? '; read-back check of this start pending'
      : state.readBack
        ? `; read-back of ${state.readBack.path} ${state.readBack.ok ? 'identical' : 'DIFFERED'} (${state.readBack.at})`
        : '';
  const who = state.writer === 'own' ? "hf-outbox's own writer" : '@huggingface/hub';
  return `Xet uploads by ${who} (setting ${state.setting}, since ${state.at}, pid ${state.pid})${state.reason ? `: ${state.reason}` : ''}${check}`;
}

/** A file as a Blob whose bytes are read from `open()` each time the library streams it. */
export class SourceBlob extends Blob {
  readonly #open: () => AsyncIterable<Uint8Array>;
  constructor(sizeBytes: number, open: () => AsyncIterable<Uint8Array>) {
    super([]);
    this.#open = open;
    Object.defineProperty(this, 'size', { value: sizeBytes, enumerable: true });
  }

  override stream(): ReturnType<Blob['stream']> {
    const iterator = this.#open()[Symbol.asyncIterator]();
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await iterator.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        await iterator.return?.();
      },
    }) as unknown as ReturnType<Blob['stream']>;
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    const parts: Uint8Array[] = [];
    for await (const part of this.#open()) parts.push(part);
    const all = Buffer.concat(parts);
    return all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  }
}

export interface LibraryTarget {
  bucketId: string;
  hubUrl: string;
  token: string;
  fetch?: typeof fetch;
}

/** One call of the library's upload for these files (it registers them in batches of its own). */
export async function uploadThroughLibrary(
  target: LibraryTarget,
  files: ReadonlyArray<{ path: string; content: Blob }>,
  signal: AbortSignal | undefined,
): Promise<void> {
  await uploadFiles({
    repo: { type: 'bucket', name: target.bucketId },
    files: files.map((f) => ({ path: f.path, content: f.content })),
    hubUrl: target.hubUrl,
    accessToken: target.token,
    ...(target.fetch ? { fetch: target.fetch } : {}),
    ...(signal ? { abortSignal: signal } : {}),
  });
}

/**
 * Downloads `bucketPath` through the library (reconstruction + its own decoder) and returns the
 * sha256 of what came back; throws when the download itself fails.
 */
export async function sha256ThroughLibrary(target: LibraryTarget, bucketPath: string): Promise<string> {
  const blob = await downloadFile({
    repo: { type: 'bucket', name: target.bucketId },
    path: bucketPath,
    hubUrl: target.hubUrl,
    accessToken: target.token,
    ...(target.fetch ? { fetch: target.fetch } : {}),
  });
  if (!blob) throw new OutboxError('HFO_UPLOAD_FAILED', `read-back of ${bucketPath}: the bucket does not list it`);
  return sha256OfBlob(blob);
}

/**
 * Whether an error is the Hub refusing what the own writer sent (its format), not auth, quota,
 * rate or size limits: HTTP 400 or 422 on a xorb, shard or batch call, with no such words in it.
 */
export function isFormatRefusal(error: unknown): boolean {
  if (!(error instanceof OutboxError) || error.code !== 'HFO_UPLOAD_REJECTED') return false;
  const status = (error.cause as { status?: unknown } | undefined)?.status;
  if (status !== 400 && status !== 422) return false;
  return !/\b(quota|limits?|too large|exceed\w*|storage|auth\w*|token|permission|forbidden|rate[- ]limit\w*)\b/i.test(error.message);
}
