/**
 * Own names only: the one check every bucket write goes through. hf-outbox writes
 * - artifacts: a path under `artifacts/` in which some folder ends with `_<agent-id>` (a unit
 *   directory such as `checkpoints/lora_r16_ep3_agent-01/`) or whose file name carries
 *   `_<agent-id>` before its extension (`train_lora_agent-01.py`, `shards_agent-01.tar.gz`,
 *   `Makefile_agent-01`);
 * - messages: `message_board/<name>_<agent-id>.md`, directly in message_board/.
 * Anything else is refused with HFO_BUCKET_PATH_REFUSED. `OwnNamesBucket` wraps a BucketClient
 * so a refused path never reaches it, whatever code path built the upload.
 */
import { OutboxError } from '../core/errors.js';
import type { BucketClient, RemoteEntry, UploadProgress, UploadResult, UploadSource } from '../core/ports.js';
import type { Readable } from 'node:stream';
import { BUCKET_ARTIFACTS_ROOT, agentSuffix, splitExtension } from '../pipeline/naming.js';
import { agentIdProblem } from './agent-id.js';
import { MESSAGE_BOARD_ROOT } from './message.js';

/** Why hf-outbox may not write `bucketPath` as `agentId`, or undefined when it may. */
export function ownPathProblem(bucketPath: string, agentId: string): string | undefined {
  if (agentId === '') return 'no agent id';
  const badId = agentIdProblem(agentId);
  if (badId !== undefined) return badId;
  const segments = bucketPath.split('/');
  const bad = segments.find((s) => s === '' || s === '.' || s === '..' || /[\\\u0000-\u001f\u007f]/u.test(s));
  if (bad !== undefined) return 'it is not a clean relative path (empty, "." or ".." segment, backslash or control character)';
  const suffix = agentSuffix(agentId);
  const [root, ...rest] = segments;
  if (root === MESSAGE_BOARD_ROOT) {
    const name = rest[0];
    if (rest.length !== 1 || name === undefined) return `messages go directly in ${MESSAGE_BOARD_ROOT}/, not in a sub-folder`;
    if (!name.endsWith(`${suffix}.md`) || name.length <= `${suffix}.md`.length) return `a message name must end with "${suffix}.md"`;
    return undefined;
  }
  if (root === BUCKET_ARTIFACTS_ROOT) {
    const file = rest[rest.length - 1];
    if (file === undefined) return `it names no file under ${BUCKET_ARTIFACTS_ROOT}/`;
    const folders = rest.slice(0, -1);
    const ownFolder = folders.some((f) => f.endsWith(suffix) && f.length > suffix.length);
    const [stem] = splitExtension(file);
    const ownFile = (stem.endsWith(suffix) && stem.length > suffix.length) || (file.endsWith(suffix) && file.length > suffix.length);
    if (ownFolder || ownFile) return undefined;
    return `neither the file name nor a folder in it carries "${suffix}"`;
  }
  return `hf-outbox writes only under ${BUCKET_ARTIFACTS_ROOT}/ and ${MESSAGE_BOARD_ROOT}/`;
}

/** Throws HFO_BUCKET_PATH_REFUSED unless `bucketPath` is one this agent may write (see the module comment). */
export function assertOwnPath(bucketPath: string, agentId: string): void {
  const problem = ownPathProblem(bucketPath, agentId);
  if (problem === undefined) return;
  throw new OutboxError(
    'HFO_BUCKET_PATH_REFUSED',
    `refusing to write "${bucketPath}" as ${agentId}: ${problem}; hf-outbox writes only names that carry its own agent id`,
  );
}

/**
 * A BucketClient that refuses, per path, every upload whose path fails `assertOwnPath`, and
 * passes the rest to the wrapped client. Reads are passed through unchanged.
 */
export class OwnNamesBucket implements BucketClient {
  readonly inner: BucketClient;
  readonly agentId: string;

  constructor(inner: BucketClient, agentId: string) {
    this.inner = inner;
    this.agentId = agentId;
  }

  get description(): string {
    return this.inner.description;
  }

  get maxFilesPerCall(): number | undefined {
    return this.inner.maxFilesPerCall;
  }

  check(options: { create: boolean }): Promise<void> {
    return this.inner.check(options);
  }

  async upload(
    sources: readonly UploadSource[],
    options: { signal?: AbortSignal; onProgress?: (p: UploadProgress) => void } = {},
  ): Promise<UploadResult[]> {
    const refused = new Map<number, UploadResult>();
    const allowed: UploadSource[] = [];
    sources.forEach((source, index) => {
      try {
        assertOwnPath(source.bucketPath, this.agentId);
        allowed.push(source);
      } catch (error) {
        refused.set(index, { bucketPath: source.bucketPath, ok: false, error: error as OutboxError });
      }
    });
    const passed = allowed.length === 0 ? [] : await this.inner.upload(allowed, options);
    const byPath = new Map(passed.map((r) => [r.bucketPath, r]));
    return sources.map(
      (source, index) =>
        refused.get(index) ??
        byPath.get(source.bucketPath) ?? {
          bucketPath: source.bucketPath,
          ok: false,
          error: new OutboxError('HFO_UPLOAD_FAILED', `the bucket reported no outcome for "${source.bucketPath}"`),
        },
    );
  }

  stat(paths: readonly string[]): Promise<Map<string, RemoteEntry>> {
    return this.inner.stat(paths);
  }

  list(prefix: string): AsyncIterable<RemoteEntry> {
    return this.inner.list(prefix);
  }

  download(path: string, options?: { signal?: AbortSignal }): Promise<Readable> {
    return this.inner.download(path, options);
  }
}
