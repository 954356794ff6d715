import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  compactTimestamp,
  downloadCommand,
  formatBytes,
  parseMessage,
  parseMessageFileName,
  renderMessage,
  shellQuote,
  slugify,
  type MessageArtifact,
  type MessageInput,
} from '../../src/conventions/message.js';
import type { BucketTarget } from '../../src/config/parse.js';

const HF: BucketTarget = { kind: 'hf', owner: 'team', name: 'shared', id: 'team/shared', uri: 'hf://buckets/team/shared' };
const LOCAL: BucketTarget = { kind: 'local', root: '/srv/bucket', uri: 'file:///srv/bucket' };
const AT = new Date('2026-04-24T17:30:00.456Z');

const checkpoint: MessageArtifact = {
  bucketPath: 'artifacts/checkpoints/lora_r16_ep3_agent-01',
  kind: 'directory',
  sizeBytes: 1_503_238_553,
  fileCount: 3,
  localPath: 'checkpoints/lora_r16_ep3',
};
const script: MessageArtifact = {
  bucketPath: 'artifacts/scripts/train_lora_agent-01.py',
  kind: 'file',
  sizeBytes: 4_321,
  fileCount: 1,
  localPath: 'scripts/train_lora.py',
};

function input(overrides: Partial<MessageInput> = {}): MessageInput {
  return { agentId: 'agent-01', timestamp: AT, bucket: HF, note: { title: 'LoRA r16 checkpoint', tags: ['lora'], body: 'Adapter for Qwen.' }, artifacts: [checkpoint], ...overrides };
}

function frontMatterOf(text: string): Record<string, unknown> {
  const m = /^---\n([\s\S]*?)\n---\n/.exec(text);
  if (!m) throw new Error('no front matter');
  return parseYaml(m[1] as string) as Record<string, unknown>;
}

describe('renderMessage names the message after its time, slug and agent id', () => {
  it.each<[string, Partial<MessageInput>, string]>([
    ['the note title', {}, 'message_board/20260424T173000Z_lora-r16-checkpoint_agent-01.md'],
    ['the artifact name without agent id and extension (note without title)', { note: { tags: [], body: 'x' }, artifacts: [script] }, 'message_board/20260424T173000Z_train-lora_agent-01.md'],
    ['the artifact name (auto-announce)', { note: undefined }, 'message_board/20260424T173000Z_lora-r16-ep3_agent-01.md'],
    ['"note" for an orphan note without title', { note: { tags: [], body: 'hello' }, artifacts: [] }, 'message_board/20260424T173000Z_note_agent-01.md'],
  ])('from %s', (_name, overrides, expected) => {
    expect(renderMessage(input(overrides)).bucketPath).toBe(expected);
  });

  it.each<[string, string]>([
    ['LoRA r16 checkpoint', 'lora-r16-checkpoint'],
    ['  Modèle – évalué (GSM8K)!  ', 'modele-evalue-gsm8k'],
    ['日本語', 'note'],
    ['', 'note'],
    ['---', 'note'],
    ['a_b.c/d\\e', 'a-b-c-d-e'],
    ['One two three four five six seven eight nine ten', 'one-two-three-four-five-six-seven-eight'],
    ['x'.repeat(100), 'x'.repeat(40)],
  ])('slugify(%j) → %j', (text, slug) => {
    const s = slugify(text);
    expect(s).toBe(slug);
    expect(s).toMatch(/^[a-z0-9]+(?:-[a-z0-9]+)*$/);
    expect(s.length).toBeLessThanOrEqual(40);
  });

  it('uses UTC whole seconds in the name', () => {
    expect(compactTimestamp(new Date('2026-01-02T03:04:05.999Z'))).toBe('20260102T030405Z');
  });

  it('refuses an invalid Date instead of naming a message NaN', () => {
    expect(() => renderMessage(input({ timestamp: new Date('nope') }))).toThrow(RangeError);
  });
});

describe('renderMessage front matter carries what a reader needs, as YAML', () => {
  it('agent_id, ISO timestamp, title, tags, and per artifact path, uri, kind, size and file count', () => {
    const { text } = renderMessage(input({ artifacts: [checkpoint, script] }));
    expect(frontMatterOf(text)).toEqual({
      agent_id: 'agent-01',
      timestamp: '2026-04-24T17:30:00Z',
      title: 'LoRA r16 checkpoint',
      tags: ['lora'],
      artifacts: [
        { path: checkpoint.bucketPath, uri: 'hf://buckets/team/shared/artifacts/checkpoints/lora_r16_ep3_agent-01/', kind: 'directory', size_bytes: 1_503_238_553, file_count: 3 },
        { path: script.bucketPath, uri: 'hf://buckets/team/shared/artifacts/scripts/train_lora_agent-01.py', kind: 'file', size_bytes: 4_321, file_count: 1 },
      ],
    });
  });

  it('names the earlier message when it updates one', () => {
    const earlier = 'message_board/20260424T120000Z_lora-r16-checkpoint_agent-01.md';
    const { text } = renderMessage(input({ supersedes: earlier }));
    expect(frontMatterOf(text)['supersedes']).toBe(earlier);
    expect(text).toContain(`this replaces the earlier announcement \`${earlier}\``);
  });

  it('keeps YAML-special characters in titles and tags intact', () => {
    const title = 'Score: 0.72 # not a comment, "quoted" & *star* [x]';
    const { text } = renderMessage(input({ note: { title, tags: ['a: b', '- c'], body: '' } }));
    expect(frontMatterOf(text)).toMatchObject({ title, tags: ['a: b', '- c'] });
    expect(parseMessage(text, 'message_board/x_agent-01.md')).toMatchObject({ title, tags: ['a: b', '- c'] });
  });
});

describe('a message carries the note version it posts', () => {
  it('renders note_version and reads it back, so a poster that lost its records recognises its own post', () => {
    const version = 'ab'.repeat(32);
    const { text, bucketPath } = renderMessage(input({ version }));
    expect(frontMatterOf(text)['note_version']).toBe(version);
    expect(parseMessage(text, bucketPath).noteVersion).toBe(version);
    expect(parseMessage(text.replace(version, 'not-a-hash'), bucketPath).noteVersion).toBeUndefined();
    expect(frontMatterOf(renderMessage(input()).text)).not.toHaveProperty('note_version');
  });
});

describe('renderMessage body: the note, then how to get each artifact', () => {
  it('puts the title as a heading, then the note, then the exact download command', () => {
    const { text } = renderMessage(input());
    const body = text.slice(text.indexOf('\n---\n') + 5);
    expect(body).toBe(
      [
        '',
        '# LoRA r16 checkpoint',
        '',
        'Adapter for Qwen.',
        '',
        '## How to get it',
        '',
        '**Checkpoint** `artifacts/checkpoints/lora_r16_ep3_agent-01/`: a directory of 3 files, 1.4 GiB (large download).',
        '',
        '```sh',
        'hf buckets sync hf://buckets/team/shared/artifacts/checkpoints/lora_r16_ep3_agent-01/ ./lora_r16_ep3_agent-01/',
        '```',
        '',
      ].join('\n'),
    );
  });

  it('does not add a second heading when the note starts with one', () => {
    const { text } = renderMessage(input({ note: { title: 'T', tags: [], body: '# My own heading\n\ntext' } }));
    expect(text.match(/^# /gm)).toHaveLength(1);
    expect(text).toContain('# My own heading');
  });

  it.each<[string, MessageArtifact, BucketTarget, string]>([
    ['hf file', script, HF, 'hf buckets cp hf://buckets/team/shared/artifacts/scripts/train_lora_agent-01.py ./'],
    ['hf directory', checkpoint, HF, 'hf buckets sync hf://buckets/team/shared/artifacts/checkpoints/lora_r16_ep3_agent-01/ ./lora_r16_ep3_agent-01/'],
    ['local file', script, LOCAL, 'cp /srv/bucket/artifacts/scripts/train_lora_agent-01.py ./'],
    ['local directory', checkpoint, LOCAL, 'cp -R /srv/bucket/artifacts/checkpoints/lora_r16_ep3_agent-01 ./'],
    [
      'a name with spaces and quotes, shell-quoted',
      { ...script, bucketPath: "artifacts/data/it's a ✓ file_agent-01.txt" },
      HF,
      `hf buckets cp 'hf://buckets/team/shared/artifacts/data/it'\\''s a ✓ file_agent-01.txt' ./`,
    ],
  ])('the command for a %s', (_name, artifact, bucket, command) => {
    expect(downloadCommand(bucket, artifact)).toBe(command);
    expect(renderMessage(input({ bucket, artifacts: [artifact] })).text).toContain(`\`\`\`sh\n${command}\n\`\`\``);
  });

  it.each<[number, string, boolean]>([
    [0, '0 B', false],
    [1023, '1023 B', false],
    [4321, '4.2 KiB', false],
    [100 * 1024 * 1024, '100 MiB', false],
    [100 * 1024 * 1024 + 1, '100 MiB', true],
    [1_503_238_553, '1.4 GiB', true],
  ])('an artifact of %d bytes shows %s, flagged large: %s', (sizeBytes, shown, large) => {
    const { text } = renderMessage(input({ artifacts: [{ ...script, sizeBytes }] }));
    expect(text).toContain(`a file, ${shown}${large ? ' (large download)' : ''}.`);
  });

  it('a generated message (no note) says what it is and where it came from', () => {
    const r = renderMessage(input({ note: undefined, artifacts: [script] }));
    expect(r.title).toBe('New script: train_lora_agent-01.py');
    expect(r.text).toContain('# New script: train_lora_agent-01.py');
    expect(r.text).toContain('Published automatically by hf-outbox for agent-01 from `scripts/train_lora.py`; no note was written for it.');
  });

  it('an orphan note is posted with its text and no download section', () => {
    const r = renderMessage(input({ note: { title: 'Heads-up', tags: [], body: 'GPU node 3 is flaky.' }, artifacts: [] }));
    expect(r.text).toContain('GPU node 3 is flaky.');
    expect(r.text).not.toContain('How to get it');
    expect(frontMatterOf(r.text)['artifacts']).toEqual([]);
  });
});

describe('formatBytes and shellQuote', () => {
  it.each<[number, string]>([
    [1536, '1.5 KiB'],
    [1024 * 1024 - 1, '1 MiB'],
    [5 * 1024 ** 4, '5 TiB'],
  ])('formatBytes(%d) = %s', (n, s) => expect(formatBytes(n)).toBe(s));

  it.each<[string, string]>([
    ['./plain/path_1.py', './plain/path_1.py'],
    ['a b', "'a b'"],
    ["it's", "'it'\\''s'"],
    ['$(rm -rf ~)', "'$(rm -rf ~)'"],
  ])('shellQuote(%j) = %s', (w, q) => expect(shellQuote(w)).toBe(q));
});

describe('parseMessage reads posted messages back, tolerating hand-written ones', () => {
  it('reads back exactly what renderMessage wrote', () => {
    const r = renderMessage(input({ artifacts: [checkpoint, script], supersedes: 'message_board/old_agent-01.md' }));
    const m = parseMessage(r.text, r.bucketPath);
    expect(m).toMatchObject({
      path: r.bucketPath,
      agentId: 'agent-01',
      timestamp: new Date('2026-04-24T17:30:00Z'),
      title: 'LoRA r16 checkpoint',
      tags: ['lora'],
      supersedes: 'message_board/old_agent-01.md',
      warning: undefined,
      artifacts: [
        { path: checkpoint.bucketPath, kind: 'directory', sizeBytes: checkpoint.sizeBytes, fileCount: 3, uri: `${HF.uri}/${checkpoint.bucketPath}/` },
        { path: script.bucketPath, kind: 'file', sizeBytes: script.sizeBytes, fileCount: 1, uri: `${HF.uri}/${script.bucketPath}` },
      ],
    });
    expect(m.body.startsWith('# LoRA r16 checkpoint')).toBe(true);
  });

  it.each<[string, string, string, Partial<ReturnType<typeof parseMessage>>]>([
    [
      'no front matter: time and agent from the file name, title from the first heading',
      'message_board/20260423T080910Z_baseline-eval_agent-02.md',
      '# Baseline eval done\n\nSee artifacts/results/eval_baseline_agent-02.json',
      { agentId: 'agent-02', timestamp: new Date('2026-04-23T08:09:10Z'), title: 'Baseline eval done', artifacts: [], tags: [], warning: undefined },
    ],
    [
      'no heading: the first line is the title',
      'message_board/20260423T080910Z_x_agent-02.md',
      '\n\nQuick note: data shards are up.\nMore.',
      { title: 'Quick note: data shards are up.' },
    ],
    [
      'an empty message: the slug is the title',
      'message_board/20260423T080910Z_hello-world_agent-02.md',
      '',
      { title: 'hello-world', agentId: 'agent-02' },
    ],
    [
      'a name without a timestamp: agent from the last "_" part, no time',
      'message_board/my_update_agent-03.md',
      'hi',
      { agentId: 'agent-03', timestamp: undefined },
    ],
    [
      'front matter gives time and title; its agent_id naming someone else is only a claim: the author is the file name\'s',
      'message_board/20260423T080910Z_x_agent-02.md',
      '---\nagent_id: agent-09\ntimestamp: 2026-05-01T00:00:00Z\ntitle: T\ntags: a, b\nartifacts:\n  - artifacts/data/x_agent-09.bin\n  - {path: artifacts/y_agent-09, size_bytes: -1, kind: folder}\n---\nbody',
      {
        agentId: 'agent-02',
        claimedAgentId: 'agent-09',
        timestamp: new Date('2026-05-01T00:00:00Z'),
        title: 'T',
        tags: ['a', 'b'],
        body: 'body',
        artifacts: [
          { path: 'artifacts/data/x_agent-09.bin', uri: undefined, kind: undefined, sizeBytes: undefined, fileCount: undefined },
          { path: 'artifacts/y_agent-09', uri: undefined, kind: undefined, sizeBytes: undefined, fileCount: undefined },
        ],
      },
    ],
    [
      'malformed front matter: ignored with a warning, the file name still used',
      'message_board/20260423T080910Z_x_agent-02.md',
      '---\ntitle: [unclosed\n---\n# Heading',
      { agentId: 'agent-02', title: 'Heading', timestamp: new Date('2026-04-23T08:09:10Z') },
    ],
    [
      'an unparsable timestamp falls back to the file name',
      'message_board/20260423T080910Z_x_agent-02.md',
      '---\ntimestamp: yesterday\n---\n',
      { timestamp: new Date('2026-04-23T08:09:10Z') },
    ],
    [
      'CRLF and a byte-order mark',
      'message_board/20260423T080910Z_x_agent-02.md',
      '\uFEFF---\r\ntitle: Windows\r\n---\r\nLine\r\n',
      { title: 'Windows', body: 'Line' },
    ],
  ])('%s', (_name, path, text, expected) => {
    expect(parseMessage(text, path)).toMatchObject(expected);
  });

  it('warns about front matter it could not read', () => {
    expect(parseMessage('---\ntitle: [x\n---\n', 'message_board/a_agent-02.md').warning).toMatch(/not valid YAML/);
    expect(parseMessage('---\n- a\n---\n', 'message_board/a_agent-02.md').warning).toMatch(/not a mapping/);
  });

  it('never throws on junk', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let n = 0; n < 200; n++) {
      let s = rand() < 0.5 ? '---\n' : '';
      for (let i = 0; i < 300; i++) s += String.fromCharCode(Math.floor(rand() * 0x10000));
      if (rand() < 0.5) s += '\n---\n';
      expect(() => parseMessage(s, `message_board/${n}.md`)).not.toThrow();
    }
  });

  it.each<[string, ReturnType<typeof parseMessageFileName>]>([
    ['message_board/20260424T173000Z_lora-r16_agent-01.md', { timestamp: new Date('2026-04-24T17:30:00Z'), slug: 'lora-r16', agentId: 'agent-01' }],
    ['message_board/20260424T173000Z_my_slug_agent-01.md', { timestamp: new Date('2026-04-24T17:30:00Z'), slug: 'my_slug', agentId: 'agent-01' }],
    ['message_board/20261340T250000Z_x_agent-01.md', { slug: 'x', agentId: 'agent-01' }],
    ['message_board/README.md', {}],
  ])('parseMessageFileName(%s)', (p, expected) => {
    expect(parseMessageFileName(p)).toEqual(expected);
  });
});
