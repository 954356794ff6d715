/**
 * The own Xet writer where it must follow xet-core against a Hub that disagrees or changes: dedup
 * answers expire, a refused shard poisons nothing, dedup queries are optional under 429, and shard
 * registration is never cut off by a read timeout.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { HubBucket } from '../../src/adapters/hub-bucket.js';
import { NodeOutboxFs } from '../../src/adapters/node-fs.js';
import { systemClock } from '../../src/adapters/system-clock.js';
import type { UploadSource } from '../../src/core/ports.js';
import { createHubFetch, type HubFetchEvent } from '../../src/net/hub-fetch.js';
import { policyOf, type RequestPolicy } from '../../src/net/request-policy.js';
import type { HubEmulator } from '../hub-emulator/index.js';
import { WRITE_TOKEN, readBack, startEmulator } from '../helpers/hub.js';
import { sha256 } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const BUCKET = 'team/shared';

function bucketOn(emu: HubEmulator, fetchImpl?: typeof fetch): HubBucket {
  return new HubBucket({
    target: { kind: 'hf', id: BUCKET, owner: 'team', name: 'shared', uri: `hf://buckets/${BUCKET}` },
    hubUrl: emu.url,
    token: WRITE_TOKEN,
    fs: new NodeOutboxFs(),
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
}

const bytes = (bucketPath: string, content: Uint8Array): UploadSource => ({ bucketPath, sizeBytes: content.length, content });

async function expectLanded(emu: HubEmulator, bucketPath: string, content: Uint8Array): Promise<void> {
  const want = sha256(content);
  expect(await readBack(emu, BUCKET, bucketPath)).toEqual({ client: want, emulator: want });
}

describe('own Xet writer against a Hub that changes under it', () => {
  it("uses a dedup answer only until its shard_key_expiry, then asks again", async () => {
    const emu = await startEmulator({ dedupKeyTtlSeconds: 6 });
    const content = randomBytes(3 * MiB);
    emu.seedFile(BUCKET, 'elsewhere/model.bin', content);
    const bucket = bucketOn(emu);
    emu.resetCounters();
    expect(await bucket.upload([bytes('artifacts/data/a_agent-01.bin', content)])).toEqual([{ bucketPath: 'artifacts/data/a_agent-01.bin', ok: true }]);
    expect(emu.counters().requests['dedup']).toBe(1);
    expect(emu.counters().requests['xorb'] ?? 0).toBe(0);
    // Within the key's life the answer serves the next call without a query.
    emu.resetCounters();
    await bucket.upload([bytes('artifacts/data/b_agent-01.bin', content)]);
    expect(emu.counters().requests['dedup'] ?? 0).toBe(0);
    await sleep(7500);
    emu.resetCounters();
    await bucket.upload([bytes('artifacts/data/c_agent-01.bin', content)]);
    expect(emu.counters().requests['dedup']).toBe(1);
    expect(emu.counters().requests['xorb'] ?? 0).toBe(0);
    await expectLanded(emu, 'artifacts/data/c_agent-01.bin', content);
  }, 60_000);

  it.each([
    ['a dedup answer', 'server'],
    ['an earlier call of this process', 'session'],
  ] as const)('a shard refused for chunks from %s the CAS lost is sent again without dedup, and later calls are not poisoned', async (_name, source) => {
    const emu = await startEmulator();
    const content = randomBytes(3 * MiB);
    const bucket = bucketOn(emu);
    if (source === 'server') emu.seedFile(BUCKET, 'elsewhere/model.bin', content);
    // The first call learns where the chunks are (a dedup answer, or its own upload).
    await bucket.upload([bytes('artifacts/data/first_agent-01.bin', content)]);
    expect(emu.dropXorbs()).toBeGreaterThan(0); // the CAS garbage-collected them
    emu.resetCounters();
    const again = [bytes('artifacts/data/second_agent-01.bin', content)];
    expect(await bucket.upload(again)).toEqual([{ bucketPath: 'artifacts/data/second_agent-01.bin', ok: true }]);
    expect(emu.counters().requests['shard']).toBe(2); // refused once, then accepted
    await expectLanded(emu, 'artifacts/data/second_agent-01.bin', content);
    // A third call with the same chunks goes through at once: nothing points at the lost xorbs any more.
    emu.resetCounters();
    const other = randomBytes(2 * MiB);
    expect(await bucket.upload([bytes('artifacts/data/third_agent-01.bin', Buffer.concat([content, other]))])).toEqual([
      { bucketPath: 'artifacts/data/third_agent-01.bin', ok: true },
    ]);
    expect(emu.counters().requests['shard']).toBe(1);
  }, 60_000);

  it('a 429 on a dedup query skips dedup for the call: not retried, the breaker stays closed, the upload lands', async () => {
    const emu = await startEmulator();
    const content = randomBytes(6 * MiB);
    emu.seedFile(BUCKET, 'elsewhere/model.bin', content);
    emu.addFault({ endpoint: 'dedup', kind: 'rate-limit', retryAfterSeconds: 30 });
    const events: HubFetchEvent[] = [];
    const policies = new Map<string, RequestPolicy>();
    const hubFetch = createHubFetch({
      clock: systemClock,
      breakerThreshold: 1, // a single counted failure would pause every request
      fetch: (input, init) => {
        const url = new URL(String(input));
        policies.set(url.pathname.split('/').slice(0, 4).join('/'), policyOf(init));
        return fetch(input, init);
      },
      onEvent: (e) => events.push(e),
    });
    const [result] = await bucketOn(emu, hubFetch).upload([bytes('artifacts/data/x_agent-01.bin', content)]);
    expect(result).toEqual({ bucketPath: 'artifacts/data/x_agent-01.bin', ok: true });
    expect(emu.counters().requests['dedup']).toBe(1); // asked once, not retried, not asked again this call
    expect(events.some((e) => e.type === 'breaker-open' || e.type === 'retry')).toBe(false);
    expect(hubFetch.stats().breakerOpen).toBe(false);
    await expectLanded(emu, 'artifacts/data/x_agent-01.bin', content);
    // Shard registration waits without a read timeout; xorbs and dedup queries do not ask for that.
    expect(policies.get('/cas/v1/shards')).toEqual({ noReadTimeout: true });
    expect(policies.get('/cas/v1/xorbs')).toEqual({});
    expect(policies.get('/cas/v1/chunks')).toEqual({ optional: true });
  }, 60_000);
});
