/** The writer's dedup memory: dedup answers count only until their key expires (xet-core's rule). */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChunkIndex } from '../../src/adapters/xet/chunk-index.js';

const hashes = (n: number) => Array.from({ length: n }, () => new Uint8Array(randomBytes(32)));

describe('ChunkIndex', () => {
  it("forgets a dedup answer's xorbs once its key has expired, and never loads an expired one", () => {
    let now = 1_000_000;
    const index = new ChunkIndex({ now: () => now });
    const raw = hashes(3);
    index.addXorb({ hash: 'a'.repeat(64), origin: 'server' }, raw, undefined, now + 5_000);
    index.addXorb({ hash: 'b'.repeat(64), origin: 'cache' }, hashes(2));
    expect(index.lookup(raw[1] as Uint8Array)).toMatchObject({ index: 1, xorb: { origin: 'server' } });
    now += 5_000; // "usable while now <= expiry"
    expect(index.lookup(raw[1] as Uint8Array)).toBeDefined();
    now += 1;
    expect(index.lookup(raw[1] as Uint8Array)).toBeUndefined();
    expect(index.size).toBe(1); // the cache's xorb has no expiry
    expect(index.addXorb({ hash: 'c'.repeat(64), origin: 'server' }, hashes(1), undefined, now - 1)).toBe(-1);
    expect(index.size).toBe(1);
  });

  it('frees the HMAC key of expired answers, so a long-running daemon keeps learning new ones', () => {
    let now = 0;
    const index = new ChunkIndex({ now: () => now });
    // Far more distinct keys than the index holds at once (32), each answer valid for 10 s.
    for (let i = 0; i < 100; i++) {
      now += 60_000;
      const key = new Uint8Array(randomBytes(32));
      const keyed = hashes(2);
      expect(index.addXorb({ hash: i.toString(16).padStart(64, '0'), origin: 'server' }, keyed, key, now + 10_000), `answer ${i}`).toBeGreaterThanOrEqual(0);
    }
    expect(index.size).toBe(1);
  });

  it('clear() forgets every xorb, whatever its origin', () => {
    const index = new ChunkIndex();
    const kept = hashes(2);
    index.addXorb({ hash: 'a'.repeat(64), origin: 'session' }, kept);
    index.addXorb({ hash: 'b'.repeat(64), origin: 'server' }, hashes(2), new Uint8Array(randomBytes(32)), Date.now() + 60_000);
    index.clear();
    expect(index.size).toBe(0);
    expect(index.lookup(kept[0] as Uint8Array)).toBeUndefined();
  });

  it('forget() drops only the named xorbs (a small-file call, once registered)', () => {
    const index = new ChunkIndex();
    const [gone, kept] = [hashes(2), hashes(2)];
    index.addXorb({ hash: 'a'.repeat(64), origin: 'accepted' }, gone);
    index.addXorb({ hash: 'b'.repeat(64), origin: 'cache' }, kept);
    index.forget(new Set(['a'.repeat(64)]));
    expect(index.size).toBe(1);
    expect(index.lookup(gone[1] as Uint8Array)).toBeUndefined();
    expect(index.lookup(kept[1] as Uint8Array)).toMatchObject({ index: 1, xorb: { hash: 'b'.repeat(64) } });
  });
});
