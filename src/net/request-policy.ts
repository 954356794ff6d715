/**
 * What one request asks of the layers below it (the retry door in hub-fetch.ts and the transport in
 * proxy.ts), carried on its RequestInit under a symbol, so the callers in between pass it on
 * without knowing it.
 *
 * - `optional`: the caller can do without an answer (a Xet dedup query: no answer only means the
 *   chunks are sent). A 429 is handed back at once, neither retried nor counted towards the
 *   breaker that pauses every request; xet-core does not retry dedup queries on 429 either.
 * - `noReadTimeout`: the server may think for a long time before it answers (a Xet shard: the CAS
 *   checks every file entry before it replies, so the wait grows with the number of files); no
 *   headers or body timeout applies, as xet-core's shard client has none. Connecting still times out.
 */
export interface RequestPolicy {
  optional?: boolean;
  noReadTimeout?: boolean;
}

const POLICY = Symbol.for('hf-outbox.request-policy');

/** `init` with this policy attached (the same object, for chaining). */
export function withPolicy<T extends RequestInit>(init: T, policy: RequestPolicy): T {
  Object.defineProperty(init, POLICY, { value: policy, enumerable: false, configurable: true });
  return init;
}

export function policyOf(init: RequestInit | undefined): RequestPolicy {
  return ((init as Record<symbol, unknown> | undefined)?.[POLICY] as RequestPolicy | undefined) ?? {};
}
