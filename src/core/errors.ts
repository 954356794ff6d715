/**
 * Every error hf-outbox raises on purpose is an OutboxError with a stable `code`.
 * Callers match on `code`, never on message text. Codes are never reused for a new meaning.
 *
 * `retry` says what the daemon should do about it:
 * - `retry`: transient (network, 5xx, 429); the same work may succeed later.
 * - `fail`: permanent for this artifact (bad name, 4xx); park it as failed with the reason.
 * - `fatal`: the daemon cannot work at all (bad config, bad credentials); stop, exit 78.
 */
import { scrubSecrets } from './secrets.js';

export type RetryClass = 'retry' | 'fail' | 'fatal';

export type ErrorCode =
  | 'HFO_CONFIG_INVALID'
  | 'HFO_STATE_INVALID'
  | 'HFO_AUTH'
  | 'HFO_BUCKET_NOT_FOUND'
  | 'HFO_BUCKET_PATH_REFUSED'
  | 'HFO_FILE_CHANGED'
  | 'HFO_FILE_UNREADABLE'
  | 'HFO_UPLOAD_FAILED'
  | 'HFO_UPLOAD_REJECTED'
  | 'HFO_RATE_LIMITED'
  | 'HFO_NETWORK'
  | 'HFO_CONFLICT'
  | 'HFO_INTERNAL';

export interface OutboxErrorOptions {
  retry?: RetryClass;
  cause?: unknown;
  /** Seconds the server asked us to wait (Retry-After), when it said. */
  retryAfterMs?: number;
}

export class OutboxError extends Error {
  override readonly name = 'OutboxError';
  readonly code: ErrorCode;
  readonly retry: RetryClass;
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, options: OutboxErrorOptions = {}) {
    // A server may echo the Authorization header into the text an error quotes: scrubbed here, once.
    super(scrubSecrets(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retry = options.retry ?? defaultRetryClass(code);
    this.retryAfterMs = options.retryAfterMs;
  }
}

function defaultRetryClass(code: ErrorCode): RetryClass {
  switch (code) {
    case 'HFO_CONFIG_INVALID':
    case 'HFO_STATE_INVALID':
    case 'HFO_AUTH':
    case 'HFO_BUCKET_NOT_FOUND':
      return 'fatal';
    case 'HFO_FILE_CHANGED':
    case 'HFO_RATE_LIMITED':
    case 'HFO_NETWORK':
    case 'HFO_UPLOAD_FAILED':
      return 'retry';
    case 'HFO_BUCKET_PATH_REFUSED':
    case 'HFO_FILE_UNREADABLE':
    case 'HFO_UPLOAD_REJECTED':
    case 'HFO_CONFLICT':
    case 'HFO_INTERNAL':
      return 'fail';
  }
}

/** Wraps anything thrown into an OutboxError, keeping the original as `cause`. */
export function toOutboxError(error: unknown, fallback: ErrorCode = 'HFO_INTERNAL'): OutboxError {
  if (error instanceof OutboxError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new OutboxError(fallback, message, { cause: error });
}

export function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string';
}
