import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { OwnNamesBucket, assertOwnPath, ownPathProblem } from '../../src/conventions/own-names.js';
import { renderMessage } from '../../src/conventions/message.js';
import { OutboxError } from '../../src/core/errors.js';
import type { BucketClient, RemoteEntry, UploadResult, UploadSource } from '../../src/core/ports.js';
import { compileRules, mapPath } from '../../src/pipeline/naming.js';

const ME = 'agent-01';

describe('assertOwnPath lets through only names that carry this agent id', () => {
  it.each([
    'artifacts/scripts/train_lora_agent-01.py',
    'artifacts/results/gsm8k/eval_agent-01.json',
    'artifacts/data/shards_agent-01.tar.gz',
    'artifacts/scripts/Makefile_agent-01',
    'artifacts/notes_agent-01.txt',
    'artifacts/checkpoints/lora_r16_ep3_agent-01/adapter_model.safetensors',
    'artifacts/checkpoints/lora_r16_ep3_agent-01/sub/dir/x.bin',
    'artifacts/data/unicodé/日本語 ✓ file_agent-01.txt',
    'message_board/20260424T173000Z_lora-r16_agent-01.md',
  ])('allows %s', (p) => {
    expect(() => assertOwnPath(p, ME)).not.toThrow();
  });

  it.each<[string, RegExp]>([
    ['artifacts/scripts/train_lora_agent-02.py', /neither the file name nor a folder in it carries "_agent-01"/],
    ['artifacts/scripts/train_lora.py', /carries "_agent-01"/],
    ['artifacts/scripts/train_lora_agent-011.py', /carries/],
    ['artifacts/scripts/train_lora_xagent-01.py', /carries/],
    ['artifacts/scripts/agent-01.py', /carries/],
    ['artifacts/scripts/_agent-01.py', /carries/],
    ['artifacts/checkpoints/lora_agent-02/adapter.bin', /carries/],
    ['artifacts/checkpoints/lora_agent-01.d/adapter.bin', /carries/],
    ['artifacts/agent-01/x.bin', /carries/],
    ['artifacts/x_agent-01.py/evil.py', /carries/],
    ['artifacts', /names no file/],
    ['message_board/20260424T173000Z_x_agent-02.md', /must end with "_agent-01\.md"/],
    ['message_board/20260424T173000Z_x_agent-01.txt', /must end with "_agent-01\.md"/],
    ['message_board/_agent-01.md', /must end with/],
    ['message_board/sub/x_agent-01.md', /directly in message_board/],
    ['README_agent-01.md', /only under artifacts\/ and message_board\//],
    ['.gitattributes', /only under/],
    ['', /not a clean relative path/],
    ['/artifacts/x_agent-01.py', /not a clean relative path/],
    ['artifacts//x_agent-01.py', /not a clean relative path/],
    ['artifacts/../message_board/x_agent-01.md', /not a clean relative path/],
    ['artifacts/./x_agent-01.py', /not a clean relative path/],
    ['artifacts/a\\b_agent-01.py', /not a clean relative path/],
    ['artifacts/a\nb_agent-01.py', /not a clean relative path/],
  ])('refuses %j', (p, why) => {
    let caught: unknown;
    try {
      assertOwnPath(p, ME);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(OutboxError);
    expect((caught as OutboxError).code).toBe('HFO_BUCKET_PATH_REFUSED');
    expect((caught as OutboxError).retry).toBe('fail');
    expect((caught as OutboxError).message).toMatch(why);
  });

  it('refuses everything when the agent id is empty', () => {
    expect(ownPathProblem('artifacts/x_.py', '')).toBe('no agent id');
  });

  it('allows every bucket path mapPath produces, and every message path renderMessage produces', () => {
    const rules = compileRules({ agentId: ME, unitCategories: ['checkpoints'], ignore: [] });
    for (const local of [
      'scripts/train_lora.py',
      'results/gsm8k/eval.json',
      'data/shards.tar.gz',
      'checkpoints/lora_r16_ep3/adapter_model.safetensors',
      'checkpoints/merged.gguf',
      'scripts/Makefile',
      'scripts/train_lora_agent-01.py',
      'notes.txt',
      'a/b/c/d.e.f',
    ]) {
      const m = mapPath(local, rules);
      if (m.kind !== 'file') throw new Error(`${local} did not map to a file`);
      expect(ownPathProblem(m.bucketPath, ME), local).toBeUndefined();
    }
    const { bucketPath } = renderMessage({
      agentId: ME,
      timestamp: new Date(),
      bucket: { kind: 'hf', owner: 'o', name: 'n', id: 'o/n', uri: 'hf://buckets/o/n' },
      note: { title: 'Anything at all', tags: [], body: '' },
      artifacts: [],
    });
    expect(ownPathProblem(bucketPath, ME)).toBeUndefined();
  });
});

/** Records every call; uploads succeed, except paths listed in `failing`. */
class RecordingBucket implements BucketClient {
  readonly description = 'fake://recording';
  readonly uploaded: string[] = [];
  readonly calls: string[][] = [];
  readonly failing = new Set<string>();

  async check(): Promise<void> {}

  async upload(sources: readonly UploadSource[]): Promise<UploadResult[]> {
    this.calls.push(sources.map((s) => s.bucketPath));
    return sources.map((s) => {
      if (this.failing.has(s.bucketPath)) return { bucketPath: s.bucketPath, ok: false, error: new OutboxError('HFO_UPLOAD_FAILED', 'boom') };
      this.uploaded.push(s.bucketPath);
      return { bucketPath: s.bucketPath, ok: true };
    });
  }

  async stat(paths: readonly string[]): Promise<Map<string, RemoteEntry>> {
    return new Map(paths.map((p) => [p, { path: p, sizeBytes: 1 }]));
  }

  async *list(prefix: string): AsyncIterable<RemoteEntry> {
    yield { path: `${prefix}/x`, sizeBytes: 1 };
  }

  async download(): Promise<Readable> {
    return Readable.from([Buffer.from('bytes')]);
  }
}

const src = (bucketPath: string): UploadSource => ({ bucketPath, sizeBytes: 1, content: new Uint8Array([1]) });

describe('OwnNamesBucket: a foreign path never reaches the wrapped bucket', () => {
  it('refuses foreign paths per path, passes the rest through, and keeps the order of results', async () => {
    const inner = new RecordingBucket();
    const bucket = new OwnNamesBucket(inner, ME);
    const results = await bucket.upload(
      [
        src('artifacts/scripts/a_agent-01.py'),
        src('artifacts/scripts/b_agent-02.py'),
        src('message_board/20260424T173000Z_x_agent-01.md'),
        src('message_board/20260424T173000Z_x_agent-02.md'),
        src('README.md'),
      ],
      {},
    );
    expect(inner.calls).toEqual([['artifacts/scripts/a_agent-01.py', 'message_board/20260424T173000Z_x_agent-01.md']]);
    expect(results.map((r) => [r.bucketPath, r.ok, r.ok ? undefined : r.error.code])).toEqual([
      ['artifacts/scripts/a_agent-01.py', true, undefined],
      ['artifacts/scripts/b_agent-02.py', false, 'HFO_BUCKET_PATH_REFUSED'],
      ['message_board/20260424T173000Z_x_agent-01.md', true, undefined],
      ['message_board/20260424T173000Z_x_agent-02.md', false, 'HFO_BUCKET_PATH_REFUSED'],
      ['README.md', false, 'HFO_BUCKET_PATH_REFUSED'],
    ]);
  });

  it('does not call the wrapped bucket at all when every path is refused', async () => {
    const inner = new RecordingBucket();
    const results = await new OwnNamesBucket(inner, ME).upload([src('artifacts/scripts/theirs_agent-02.py')], {});
    expect(inner.calls).toEqual([]);
    expect(results[0]).toMatchObject({ ok: false, error: { code: 'HFO_BUCKET_PATH_REFUSED' } });
    expect(results[0]?.ok === false && results[0].error.message).toMatch(/refusing to write "artifacts\/scripts\/theirs_agent-02.py" as agent-01/);
  });

  it('passes the inner bucket\'s own failures through unchanged', async () => {
    const inner = new RecordingBucket();
    inner.failing.add('artifacts/x_agent-01.bin');
    const results = await new OwnNamesBucket(inner, ME).upload([src('artifacts/x_agent-01.bin')], {});
    expect(results).toMatchObject([{ ok: false, error: { code: 'HFO_UPLOAD_FAILED', message: 'boom' } }]);
  });

  it('delegates reads and identity to the wrapped bucket', async () => {
    const inner = new RecordingBucket();
    const bucket = new OwnNamesBucket(inner, ME);
    expect(bucket.description).toBe('fake://recording');
    expect([...(await bucket.stat(['artifacts/any_agent-02.py'])).keys()]).toEqual(['artifacts/any_agent-02.py']);
    const listed: string[] = [];
    for await (const e of bucket.list('artifacts/results')) listed.push(e.path);
    expect(listed).toEqual(['artifacts/results/x']);
    const chunks: Buffer[] = [];
    for await (const c of await bucket.download('artifacts/theirs_agent-02.py')) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('bytes');
  });
});
