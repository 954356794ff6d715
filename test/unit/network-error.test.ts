import { describe, expect, it } from 'vitest';
import { NetworkError, describeNetworkError } from '../../src/net/network-error.js';
import { isNetworkError } from '../../src/net/hub-fetch.js';

/** What fetch (undici) throws: `TypeError: fetch failed` with the real reason as its cause. */
function fetchFailed(cause: Error): TypeError {
  return new TypeError('fetch failed', { cause });
}

const errno = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('network errors name the cause and the server', () => {
  it('an unknown host: the resolver message with the host, and the server it was for', () => {
    const e = describeNetworkError(fetchFailed(errno('getaddrinfo ENOTFOUND huggingface.invalid', 'ENOTFOUND')), 'https://huggingface.invalid/api/buckets/o/n');
    expect(e).toBeInstanceOf(NetworkError);
    expect((e as Error).message).toBe('getaddrinfo ENOTFOUND huggingface.invalid (reaching https://huggingface.invalid)');
    expect((e as NetworkError).code).toBe('ENOTFOUND');
  });

  it('stays a network error for every check above it (retries, breaker, error mapping), with the errno as its cause', () => {
    const cause = errno('connect ECONNREFUSED 127.0.0.1:8080', 'ECONNREFUSED');
    const e = describeNetworkError(fetchFailed(cause), 'http://127.0.0.1:8080/api/whoami-v2') as NetworkError;
    expect(e).toBeInstanceOf(TypeError);
    expect(isNetworkError(e)).toBe(true);
    expect(e.cause).toBe(cause);
  });

  it('several addresses refused (IPv6 and IPv4): each reason once, not an empty message', () => {
    const both = Object.assign(new AggregateError([errno('connect ECONNREFUSED ::1:8080', 'ECONNREFUSED'), errno('connect ECONNREFUSED 127.0.0.1:8080', 'ECONNREFUSED')], ''), { code: 'ECONNREFUSED' });
    const e = describeNetworkError(fetchFailed(both), 'http://localhost:8080/x') as Error;
    expect(e.message).toBe('connect ECONNREFUSED ::1:8080; connect ECONNREFUSED 127.0.0.1:8080 (reaching http://localhost:8080)');
  });

  it('names only the origin of a signed URL: its path and query carry credentials', () => {
    const e = describeNetworkError(fetchFailed(errno('read ECONNRESET', 'ECONNRESET')), 'https://cas.example/xorbs/default/abc?X-Amz-Signature=secret') as Error;
    expect(e.message).toBe('read ECONNRESET (reaching https://cas.example)');
  });

  it('leaves anything that is not a fetch failure as it is (an abort, a timeout, a plain error)', () => {
    const abort = new DOMException('This operation was aborted', 'AbortError');
    expect(describeNetworkError(abort, 'http://h/x')).toBe(abort);
    const plain = new Error('boom');
    expect(describeNetworkError(plain, 'http://h/x')).toBe(plain);
    const bare = new TypeError('not a function');
    expect(describeNetworkError(bare, 'http://h/x')).toBe(bare);
  });
});
