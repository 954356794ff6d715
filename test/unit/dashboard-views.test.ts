import { describe, expect, it } from 'vitest';
import type { BucketTarget } from '../../src/config/parse.js';
import { parseMessage } from '../../src/conventions/message.js';
import type { RemoteEntry } from '../../src/core/ports.js';
import { Source } from '../../src/dashboard/source.js';
import { visibleDeep } from '../../src/dashboard/text.js';
import { artifactsView, boardView, indexArtifacts } from '../../src/dashboard/views.js';

const bucket: BucketTarget = { kind: 'hf', owner: 'team', name: 'shared', id: 'team/shared', uri: 'hf://buckets/team/shared' };

async function* listing(entries: Array<[string, number]>): AsyncIterable<RemoteEntry> {
  for (const [path, sizeBytes] of entries) yield { path, sizeBytes, uploadedAt: '2026-12-01T10:00:00.000Z' };
}

describe('dashboard views', () => {
  const msg = (name: string, fm: string) => parseMessage(`---\n${fm}---\nbody\n`, `message_board/${name}`);

  it('board: newest first, filtered by agent and tag, paged, with the fetch commands of each artifact', () => {
    const posts = [
      msg('20261201T100000Z_a_agent-01.md', 'tags: [x]\nartifacts:\n  - path: artifacts/checkpoints/run_agent-01/checkpoint-5\n    kind: directory\n'),
      msg('20261201T110000Z_b_agent-02.md', 'tags: [x, y]\n'),
      msg('20261201T120000Z_c_agent-01.md', 'tags: [y]\n'),
    ];
    const all = boardView(posts, { offset: 0, limit: 2 }, bucket);
    expect(all.posts.map((p) => p.path.slice(14, 30))).toEqual(['20261201T120000Z', '20261201T110000Z']);
    expect(all).toMatchObject({ total: 3, matching: 3, agents: [{ id: 'agent-01', count: 2 }, { id: 'agent-02', count: 1 }] });
    expect(boardView(posts, { agent: 'agent-01', tag: 'x', offset: 0, limit: 50 }, bucket).posts.map((p) => p.artifacts)).toEqual([
      [
        {
          path: 'artifacts/checkpoints/run_agent-01/checkpoint-5',
          kind: 'directory',
          sizeBytes: null,
          fileCount: null,
          fetch: "hf buckets sync hf://buckets/team/shared/artifacts/checkpoints/run_agent-01/checkpoint-5/ ./checkpoint-5/",
          pull: 'hf-outbox pull --bucket hf://buckets/team/shared artifacts/checkpoints/run_agent-01/checkpoint-5',
          unsafe: null,
        },
      ],
    ]);
  });

  it('artifacts: 30,000 files fold into units per category and agent, checkpoint runs carry the metrics of their newest post', async () => {
    const entries: Array<[string, number]> = [];
    for (let i = 0; i < 30_000; i++) entries.push([`artifacts/data/shard_${i % 100}_agent-0${(i % 100) % 3}/part-${i}.bin`, 10]);
    entries.push(['artifacts/checkpoints/run1_agent-01/checkpoint-100/model.safetensors', 1000], ['artifacts/checkpoints/run1_agent-01/checkpoint-100/config.json', 5]);
    entries.push(['artifacts/checkpoints/run1_agent-01/checkpoint-200/model.safetensors', 1000], ['artifacts/results/gsm8k/eval_agent-02.json', 7]);
    const index = await indexArtifacts(listing(entries));
    expect(index).toMatchObject({ totalFiles: 30_004, totalBytes: 302_012 });
    expect(index.units).toHaveLength(102);
    const post = msg(
      '20261201T120000Z_ck_agent-01.md',
      'checkpoint:\n  run: artifacts/checkpoints/run1_agent-01\n  name: checkpoint-200\n  step: 200\n  metrics:\n    loss: 0.41\n    evil: {nested: true}\n',
    );
    const view = artifactsView(index, { category: 'checkpoints', offset: 0, limit: 100 }, [post], bucket);
    expect(view.units.items.map((u) => [u.path, u.kind, u.files, u.bytes])).toEqual([['artifacts/checkpoints/run1_agent-01', 'directory', 3, 2005]]);
    expect(view.runs).toEqual([
      {
        path: 'artifacts/checkpoints/run1_agent-01',
        agent: 'agent-01',
        checkpoints: [
          { name: 'checkpoint-100', step: 100, files: 2, bytes: 1005, metrics: [], post: null },
          { name: 'checkpoint-200', step: 200, files: 1, bytes: 1000, metrics: [{ name: 'loss', value: 0.41 }], post: post.path },
        ],
      },
    ]);
    const data = artifactsView(index, { category: 'data', agent: 'agent-02', offset: 10, limit: 5 }, [], bucket);
    expect(data.units).toMatchObject({ matching: 33, offset: 10 });
    expect(data.units.items).toHaveLength(5);
    expect(data.categories.map((c) => [c.name, c.units, c.files])).toEqual([['checkpoints', 1, 3], ['data', 100, 30_000], ['results', 1, 1]]);
  });

  it('every string served is made visible: escapes and bidi overrides, keys included', () => {
    expect(visibleDeep({ 'k\u001b': ['a\u001b[2Jb', { t: 'x\u202ey\nz' }], n: 1 })).toEqual({ 'k\\x1b': ['a\\x1b[2Jb', { t: 'x\\u202ey\nz' }], n: 1 });
  });
});

describe('a dashboard source', () => {
  it('reads at most once per interval however often it is asked, one read at a time, and keeps the last data when a read fails', async () => {
    let now = 0;
    let reads = 0;
    let fail = false;
    const source = new Source(
      'x',
      1000,
      async () => {
        reads++;
        await new Promise((r) => setTimeout(r, 10));
        if (fail) throw new Error('bucket unreachable');
        return reads;
      },
      (d) => String(d),
      () => now,
    );
    await Promise.all([source.get(), source.get(), source.get()]);
    expect(reads).toBe(1);
    now = 999;
    expect((await source.get()).data).toBe(1);
    now = 1000;
    expect(await source.get()).toMatchObject({ data: 2, version: 2, error: undefined });
    fail = true;
    now = 2000;
    expect(await source.get()).toMatchObject({ data: 2, version: 3, error: 'bucket unreachable', okAt: 1000 });
  });
});
