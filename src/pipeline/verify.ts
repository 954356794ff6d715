/**
 * The bucket is the truth: one paginated listing of the agent's artifacts, compared with what the
 * records say was delivered. A delivered file the bucket no longer holds, or holds with another size
 * or content hash, becomes pending again, so the scan that follows sends it. Bounded cost: one
 * listing, no file is read.
 */
import type { BucketClient, RemoteEntry } from '../core/ports.js';
import type { Logger } from '../log.js';
import type { StateStore } from '../state/store.js';

export interface VerifyOutcome {
  checked: number;
  missing: string[];
  different: string[];
}

/** What the bucket's listing says about one delivered record: undefined when it matches. */
export function verifyProblem(record: { sizeBytes: number; contentHash: string | undefined }, remote: RemoteEntry | undefined): 'missing' | 'different' | undefined {
  if (remote === undefined) return 'missing';
  if (remote.sizeBytes !== record.sizeBytes) return 'different';
  if (record.contentHash !== undefined && remote.xetHash !== undefined && record.contentHash !== remote.xetHash) return 'different';
  return undefined;
}

export async function listBucket(bucket: Pick<BucketClient, 'list'>, prefix = 'artifacts/'): Promise<Map<string, RemoteEntry>> {
  const listing = new Map<string, RemoteEntry>();
  for await (const entry of bucket.list(prefix)) listing.set(entry.path, entry);
  return listing;
}

export async function verifyDelivered(deps: { state: StateStore; bucket: Pick<BucketClient, 'list' | 'description'>; logger: Logger }): Promise<VerifyOutcome> {
  const { state, bucket, logger } = deps;
  const listing = await listBucket(bucket);
  const outcome: VerifyOutcome = { checked: 0, missing: [], different: [] };
  const stale: Array<{ localPath: string; why: 'missing' | 'different' }> = [];
  for (const record of state.delivered()) {
    outcome.checked++;
    const why = verifyProblem(record, listing.get(record.bucketPath));
    if (why) stale.push({ localPath: record.localPath, why });
  }
  state.transaction(() => {
    for (const { localPath, why } of stale) {
      state.forgetDelivery(localPath, why === 'missing' ? `not in ${bucket.description} any more: sent again` : `differs in ${bucket.description}: sent again`);
      (why === 'missing' ? outcome.missing : outcome.different).push(localPath);
    }
    state.markVerified();
  });
  const level = stale.length > 0 ? 'warn' : 'info';
  logger[level]({ checked: outcome.checked, missing: outcome.missing.length, different: outcome.different.length, bucket: bucket.description }, stale.length > 0 ? 'verify: the bucket lacks files the records say were delivered; sending them again' : 'verify: the bucket holds every delivered file');
  return outcome;
}

/** A watch start verifies when the state has not been compared with the bucket for longer than the rescan interval. */
export function verifyDue(state: StateStore, rescanIntervalMs: number, now = Date.now()): boolean {
  const last = state.verifiedAt ?? state.lastChangeAt();
  return last !== undefined && now - last > rescanIntervalMs;
}

/**
 * At start: compares the records with the bucket `always` (sync --verify), or `if-stale` when they
 * have not been compared for longer than the rescan interval (watch); else not at all.
 */
export async function verifyAtStart(
  deps: { state: StateStore; bucket: Pick<BucketClient, 'list' | 'description'>; logger: Logger },
  when: 'always' | 'if-stale' | undefined,
  rescanIntervalMs: number,
  now = Date.now(),
): Promise<VerifyOutcome | undefined> {
  if (when === 'always' || (when === 'if-stale' && verifyDue(deps.state, rescanIntervalMs, now))) return verifyDelivered(deps);
  return undefined;
}
