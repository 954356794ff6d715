/**
 * Behaviours of @huggingface/hub 2.17.5 that a bucket adapter has to design around, pinned down
 * against the emulator so a client upgrade that changes them shows up here.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { openAsBlob } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitIter, HubApiError, uploadFiles, type CommitProgressEvent } from '@huggingface/hub';
import { startHubEmulator, type HubEmulator } from '../../hub-emulator/index.js';

const TOKEN = 'hf_emulator_write_token';

describe('@huggingface/hub client quirks, seen through the emulator', () => {
  let emu: HubEmulator;
  let dir: string;
  const repo = { type: 'bucket' as const, name: 'quirks/bucket' };

  beforeAll(async () => {
    emu = await startHubEmulator({ buckets: [repo.name] });
    dir = await mkdtemp(join(tmpdir(), 'hub-emulator-'));
  });

  afterAll(async () => {
    await emu.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('streams lazy Blobs from disk (fs.openAsBlob, file:// URLs) and reports progress only through commitIter', async () => {
    const path = join(dir, 'artifact.bin');
    await writeFile(path, Buffer.alloc(3 * 1024 * 1024, 'a'));
    const requests: string[] = [];
    const countingFetch: typeof fetch = (input, init) => {
      requests.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`);
      return fetch(input, init);
    };
    const events: CommitProgressEvent[] = [];
    const iterator = commitIter({
      repo,
      title: 'ignored for buckets',
      hubUrl: emu.url,
      accessToken: TOKEN,
      fetch: countingFetch,
      operations: [
        { operation: 'addOrUpdate', path: 'disk/artifact.bin', content: await openAsBlob(path) },
        { operation: 'addOrUpdate', path: 'disk/via-url.bin', content: new URL(`file://${path}`) },
      ],
    });
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) events.push(next.value);
    expect(emu.readFile(repo.name, 'disk/artifact.bin')?.byteLength).toBe(3 * 1024 * 1024);
    expect(emu.fileInfo(repo.name, 'disk/via-url.bin')?.xetHash).toBe(emu.fileInfo(repo.name, 'disk/artifact.bin')?.xetHash);
    expect(events).toContainEqual({ event: 'phase', phase: 'uploadingLargeFiles' });
    expect(events).toContainEqual({ event: 'fileProgress', path: 'disk/artifact.bin', progress: 1, state: 'uploading' });
    expect(requests.at(-1)).toBe('POST /api/buckets/quirks/bucket/batch');
  });

  it('does not retry: a single 429 on a xorb upload fails the whole upload unless fetch retries', async () => {
    emu.addFault({ endpoint: 'xorb', kind: 'rate-limit', retryAfterSeconds: 0, times: 1 });
    const files = [{ path: 'retry/a.txt', content: new Blob(['retry me']) }];
    const err = await uploadFiles({ repo, hubUrl: emu.url, accessToken: TOKEN, files }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubApiError);
    expect(err).toMatchObject({ statusCode: 429 });

    emu.addFault({ endpoint: 'xorb', kind: 'rate-limit', retryAfterSeconds: 0, times: 1 });
    const retrying: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      return res.status === 429 ? fetch(input, init) : res;
    };
    await uploadFiles({ repo, hubUrl: emu.url, accessToken: TOKEN, files, fetch: retrying });
    expect(emu.readFile(repo.name, 'retry/a.txt')?.toString()).toBe('retry me');
  });

  it('is not atomic: one file in `failed` still lets the others land before uploadFiles throws', async () => {
    const tamper: typeof fetch = (input, init) => {
      if (String(input).endsWith('/batch') && typeof init?.body === 'string') {
        const lines = init.body.split('\n').map((line) => {
          const op = JSON.parse(line) as { path: string; xetHash: string };
          return JSON.stringify(op.path === 'partial/b.txt' ? { ...op, xetHash: '00'.repeat(31) + '01' } : op);
        });
        init = { ...init, body: lines.join('\n') };
      }
      return fetch(input, init);
    };
    const files = ['a', 'b', 'c'].map((name) => ({ path: `partial/${name}.txt`, content: new Blob([name]) }));
    await expect(uploadFiles({ repo, hubUrl: emu.url, accessToken: TOKEN, files, fetch: tamper })).rejects.toThrow(
      'Failed to upload 1 file(s): partial/b.txt',
    );
    expect(emu.listPaths(repo.name).filter((p) => p.startsWith('partial/'))).toEqual(['partial/a.txt', 'partial/c.txt']);
  });
});
