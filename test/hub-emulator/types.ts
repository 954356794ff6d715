/** Public types of the emulator; other test suites and benchmarks code against these. */

export type EndpointName =
  | 'create'
  | 'bucket-info'
  | 'delete-bucket'
  | 'tree'
  | 'paths-info'
  | 'write-token'
  | 'read-token'
  | 'batch'
  | 'resolve'
  | 'xorb'
  | 'shard'
  | 'dedup'
  | 'reconstruction'
  | 'file-chunk-hashes'
  | 'xorb-read'
  | 'whoami'
  | 'not-found';

export interface TokenGrant {
  write: boolean;
  /** When set, the token only reaches buckets in these namespaces. */
  namespaces?: string[];
}

export interface HubEmulatorOptions {
  /** Default 0 (ephemeral). */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Accepted hf_ tokens. Default { hf_emulator_write_token: { write: true } }. */
  tokens?: Record<string, TokenGrant>;
  /** 'ns/name' buckets that exist (public) at start. */
  buckets?: string[];
  /** Tree listing page size. Default 1000. */
  treePageSize?: number;
  /**
   * Lifetime of CAS tokens and signed xorb URLs, in seconds. Default 3600. The client caches write
   * tokens per token URL while exp > now + 60 s, so a value <= 60 makes it fetch a token every time.
   */
  casTokenTtlSeconds?: number;
  /** `shard_key_expiry` of dedup answers, in seconds from the answer. Default 86400. */
  dedupKeyTtlSeconds?: number;
}

export interface FaultRule {
  endpoint: EndpointName | '*';
  /**
   * 'corrupt': the real answer is sent with one byte of its body flipped (the middle one), as a Hub
   * that stored or serves different bytes would (use on 'xorb-read' to fail a read-back check).
   */
  kind: 'status' | 'rate-limit' | 'latency' | 'drop' | 'corrupt';
  /**
   * Only shard uploads whose header says they carry a footer ('present', as @huggingface/hub sends
   * them) or not ('absent', as hf-outbox's own writer and xet-core send them).
   */
  shardFooter?: 'absent' | 'present';
  /** For 'status', e.g. 500 or 503. Default 500. */
  status?: number;
  /** For 'rate-limit': 429 with Retry-After and RateLimit headers. Default 1. */
  retryAfterSeconds?: number;
  /** For 'latency'. */
  latencyMs?: number;
  /** 0..1, default 1. */
  probability?: number;
  /** Apply at most N times, then expire. Default unlimited. */
  times?: number;
  /** For 'status': answer with this text body (text/plain; '' for an empty one) instead of the Hub's JSON error. */
  body?: string;
  /** For 'status' and 'rate-limit': the error body quotes the request's Authorization header (an echoing proxy). */
  echoAuthorization?: boolean;
}

export interface RequestLogEntry {
  /** Arrival time, ms since the epoch. */
  t: number;
  endpoint: string;
  method: string;
  path: string;
  /** Final status; 0 while in flight or when the connection was dropped. */
  status: number;
}

export interface HubEmulatorCounters {
  requests: Record<string, number>;
  totalRequests: number;
  /** Request body bytes. */
  bytesReceived: number;
  /** Most requests that arrived within any sliding 1000 ms window. */
  peakRequestsPerSecond: number;
  peakConcurrentRequests: number;
  requestLog: RequestLogEntry[];
}

export interface RequestHold {
  /** Resolves once a request is being held. */
  arrived(): Promise<void>;
  /** Requests held right now. */
  readonly waiting: number;
  /** Lets the held requests and all later ones through. */
  release(): void;
}

export interface HubEmulator {
  /** http://host:PORT, no trailing slash. */
  readonly url: string;
  readonly port: number;
  counters(): HubEmulatorCounters;
  resetCounters(): void;
  addFault(rule: FaultRule): void;
  clearFaults(): void;
  /**
   * Holds every request to `endpoint` once its body has arrived, answering none until `release()`
   * (also released by close/stopListening). The upload is then in flight for as long as the test
   * needs, on any machine, instead of for however long a throttle happens to last.
   * `after`: the first N requests to it are answered as usual (an upload stopped after N xorbs).
   */
  hold(endpoint: EndpointName, options?: { after?: number }): RequestHold;
  createBucket(id: string): void;
  /** The emulator's own rebuild of a stored file's bytes from its xorbs; undefined if absent. */
  readFile(bucketId: string, path: string): Buffer | undefined;
  /**
   * The sha256 (hex) a shard's metadata extension gave for the file with this Xet hash, once the
   * emulator checked it against the file's rebuilt bytes; undefined when no accepted shard carried
   * one (the JS client sends none).
   */
  verifiedSha256(xetHash: string): string | undefined;
  /** All file paths in a bucket, sorted. */
  listPaths(bucketId: string): string[];
  fileInfo(bucketId: string, path: string): { size: number; xetHash: string; uploadedAt: string } | undefined;
  /** Every write to the bucket in order (addFile, copyFile, seed), with the content hash written. */
  writes(bucketId: string): Array<{ path: string; xetHash: string; at: string }>;
  /**
   * Put a file directly (as if another agent uploaded it), bypassing HTTP. Throws if the bucket is
   * missing. `chunking`: how that client cut it, xet-core's rule (the `hf` CLI, default) or the
   * legacy one (`@huggingface/hub` with xetchunk-wasm 0.2.0, hf-outbox before 2026-12): the listed
   * xetHash differs for most files larger than 8 KiB.
   */
  seedFile(bucketId: string, path: string, bytes: Uint8Array, options?: { chunking?: 'xet-core' | 'legacy' }): void;
  /**
   * Forget every stored xorb, as a CAS that garbage-collected them would: files registered before
   * can no longer be read, and shards naming these xorbs are refused. Returns how many were dropped.
   */
  dropXorbs(): number;
  /** Close the listener (dropping open connections) but keep all state. */
  stopListening(): Promise<void>;
  /** Listen again on the same port with the same state. */
  listen(): Promise<void>;
  close(): Promise<void>;
}
