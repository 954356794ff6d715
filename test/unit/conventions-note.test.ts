import { describe, expect, it } from 'vitest';
import { parseNote, resolveNoteTarget, type ArtifactRef } from '../../src/conventions/note.js';

const NOTE = 'scripts/train_lora.note.md';

describe('parseNote reads optional front matter (title, tags) and the Markdown body', () => {
  it.each<[string, string, { title?: string; tags: string[]; body: string }]>([
    ['a body without front matter', 'Trains a LoRA.\n', { tags: [], body: 'Trains a LoRA.' }],
    ['an empty note', '', { tags: [], body: '' }],
    ['title and a tag list', '---\ntitle: LoRA trainer\ntags: [lora, qwen]\n---\nBody\n', { title: 'LoRA trainer', tags: ['lora', 'qwen'], body: 'Body' }],
    ['tags as a comma string', '---\ntags: lora, qwen ,, cot\n---\nB', { tags: ['lora', 'qwen', 'cot'], body: 'B' }],
    ['tags as a block list', '---\ntags:\n  - a\n  - b\n---\n', { tags: ['a', 'b'], body: '' }],
    ['duplicate tags once', '---\ntags: [a, a, b]\n---\n', { tags: ['a', 'b'], body: '' }],
    ['empty front matter', '---\n---\nBody', { tags: [], body: 'Body' }],
    ['null title and tags', '---\ntitle:\ntags:\n---\nBody', { tags: [], body: 'Body' }],
    ['a closing "..." line', '---\ntitle: T\n...\nBody', { title: 'T', tags: [], body: 'Body' }],
    ['CRLF line ends', '---\r\ntitle: T\r\ntags: [x]\r\n---\r\nLine 1\r\nLine 2\r\n', { title: 'T', tags: ['x'], body: 'Line 1\nLine 2' }],
    ['a byte-order mark', '\uFEFF---\ntitle: T\n---\nB', { title: 'T', tags: [], body: 'B' }],
    ['a title folded to one line', '---\ntitle: >\n  two\n  lines\n---\n', { title: 'two lines', tags: [], body: '' }],
    ['a first-line heading as title when none is given', '# LoRA r16 checkpoint\n\nDetails.', { title: 'LoRA r16 checkpoint', tags: [], body: '# LoRA r16 checkpoint\n\nDetails.' }],
    ['front matter title over the heading', '---\ntitle: FM\n---\n# Heading\n', { title: 'FM', tags: [], body: '# Heading' }],
    ['a later "---" rule in the body kept', 'Intro\n---\nMore', { tags: [], body: 'Intro\n---\nMore' }],
    ['blank lines around the body trimmed', '---\ntitle: T\n---\n\n\nBody\n\n\n', { title: 'T', tags: [], body: 'Body' }],
  ])('accepts %s', (_name, text, expected) => {
    expect(parseNote(text, NOTE)).toEqual({ ok: true, ...expected });
  });

  it.each<[string, string, RegExp]>([
    ['an unknown key, naming it', '---\ntitle: T\nauthor: me\n---\n', /unknown key "author".*only title and tags/],
    ['several unknown keys, naming each', '---\nfoo: 1\nbar: 2\n---\n', /unknown keys "foo", "bar"/],
    ['a number as title, suggesting quotes', '---\ntitle: 2024\n---\n', /"title" must be text, got a number \(2024\) \(quote it: title: "2024"\)/],
    ['a mapping as title', '---\ntitle: {a: 1}\n---\n', /"title" must be text, got a mapping/],
    ['a non-text tag, naming the item', '---\ntags: [a, 3]\n---\n', /"tags" must be a list of text, but item 2 is a number/],
    ['tags as a mapping', '---\ntags: {a: 1}\n---\n', /"tags" must be a list of text or a comma-separated text, got a mapping/],
    ['a list as front matter', '---\n- a\n- b\n---\n', /front matter must be a mapping of title and tags \(got a list\)/],
    ['unclosed front matter', '---\ntitle: T\nbody text', /never closed/],
    ['a lone opening line', '---', /never closed/],
    ['a duplicate key', '---\ntitle: a\ntitle: b\n---\n', /not valid YAML at line 3, column 1: Map keys must be unique/],
    ['an unclosed flow list with the line in the note file', '---\ntitle: T\ntags: [a, b\n---\n', /not valid YAML at line \d+, column \d+/],
    ['a bad indentation', '---\ntitle: T\n  tags: x\n---\n', /not valid YAML at line 2, column 8: Nested mappings/],
    ['too many tags', `---\ntags: [${Array.from({ length: 40 }, (_, i) => `t${i}`).join(', ')}]\n---\n`, /at most 32/],
  ])('rejects %s', (_name, text, message) => {
    const r = parseNote(text, NOTE);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatch(message);
    expect(r.error.startsWith(`${NOTE}: `)).toBe(true);
  });

  it('reports the YAML error on the line of the note file (the opening --- is line 1)', () => {
    const r = parseNote('---\ntitle: ok\ntags: ok\nbad: [\n---\n', NOTE);
    expect(r).toMatchObject({ ok: false });
    if (!r.ok) expect(r.error).toMatch(/^scripts\/train_lora\.note\.md: front matter is not valid YAML at line 5, column 1: Flow sequence/);
  });

  it('survives a 10 MiB note without front matter, and one whose front matter never closes', () => {
    const big = 'word '.repeat(2 * 1024 * 1024);
    const plain = parseNote(big, NOTE);
    expect(plain.ok && plain.body.length).toBe(big.trimEnd().length);
    const started = Date.now();
    const unclosed = parseNote(`---\n${'x: y\n'.repeat(2 * 1024 * 1024)}`, NOTE);
    expect(unclosed).toMatchObject({ ok: false });
    if (!unclosed.ok) expect(unclosed.error).toMatch(/not closed within 64 KiB/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('never throws on binary junk, control characters or alias bombs', () => {
    let seed = 1;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let n = 0; n < 200; n++) {
      const len = Math.floor(rand() * 400);
      let s = rand() < 0.5 ? '---\n' : '';
      for (let i = 0; i < len; i++) s += String.fromCharCode(Math.floor(rand() * 0x10000));
      if (rand() < 0.5) s += '\n---\n';
      expect(() => parseNote(s, NOTE)).not.toThrow();
    }
    const bomb = ['---', 'a: &a [x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]', 'title: [*c, *c, *c, *c, *c, *c, *c, *c, *c]', '---', ''].join('\n');
    const bombed = parseNote(bomb, NOTE);
    expect(!bombed.ok && bombed.error).toMatch(/not valid YAML: Excessive alias count/);
    expect(parseNote('---\n\u0000\u0001: \u0002\n---\n', NOTE).ok).toBe(false);
  });
});

const file = (unitPath: string): ArtifactRef => ({ unitPath, unitKind: 'file' });
const dir = (unitPath: string): ArtifactRef => ({ unitPath, unitKind: 'directory' });

describe('resolveNoteTarget finds the artifact a note announces', () => {
  const candidates: ArtifactRef[] = [
    file('scripts/train_lora.py'),
    file('scripts/eval.py'),
    file('scripts/eval.sh'),
    file('scripts/Makefile'),
    file('scripts/exact'),
    file('scripts/exact.py'),
    file('data/shards.tar.gz'),
    file('data/train.jsonl.gz'),
    file('notes.txt'),
    dir('checkpoints/lora_r16_ep3'),
    dir('checkpoints/model.v2'),
    file('checkpoints/merged.gguf'),
    file('other/train_lora.py'),
  ];

  it.each<[string, string]>([
    ['scripts/train_lora.note.md', 'scripts/train_lora.py'],
    ['scripts/train_lora.py.note.md', 'scripts/train_lora.py'],
    ['scripts/Makefile.note.md', 'scripts/Makefile'],
    ['scripts/exact.note.md', 'scripts/exact'],
    ['data/shards.note.md', 'data/shards.tar.gz'],
    ['data/shards.tar.gz.note.md', 'data/shards.tar.gz'],
    ['data/train.note.md', 'data/train.jsonl.gz'],
    ['notes.note.md', 'notes.txt'],
    ['checkpoints/lora_r16_ep3.note.md', 'checkpoints/lora_r16_ep3'],
    ['checkpoints/model.note.md', 'checkpoints/model.v2'],
    ['checkpoints/merged.note.md', 'checkpoints/merged.gguf'],
    ['checkpoints/lora_r16_ep3/README.note.md', 'checkpoints/lora_r16_ep3'],
    ['checkpoints/lora_r16_ep3/adapter_model.safetensors.note.md', 'checkpoints/lora_r16_ep3'],
    ['checkpoints/lora_r16_ep3/deep/er/x.note.md', 'checkpoints/lora_r16_ep3'],
    ['other/train_lora.note.md', 'other/train_lora.py'],
  ])('%s → %s', (note, target) => {
    expect(resolveNoteTarget(note, candidates)).toEqual({
      kind: 'artifact',
      target: candidates.find((c) => c.unitPath === target),
    });
  });

  it.each([
    'scripts/nothing.note.md',
    'results/train_lora.note.md',
    'train_lora.note.md',
    'scripts/train.note.md',
    'scripts/train_lora.p.note.md',
  ])('%s is an orphan (no artifact in its folder has that name)', (note) => {
    expect(resolveNoteTarget(note, candidates, ['checkpoints'])).toEqual({ kind: 'orphan' });
  });

  it.each([
    ['checkpoints/lora_r16.note.md', 'checkpoints/lora_r16'],
    ['checkpoints/run1.note.md', 'checkpoints/run1'],
    ['checkpoints/run1/checkpoint-100.note.md', 'checkpoints/run1/checkpoint-100'],
  ])('%s in a unit category with no artifact of that name waits for the folder %s (a run folder the trainer has not created yet)', (note, folder) => {
    expect(resolveNoteTarget(note, candidates, ['checkpoints'])).toEqual({ kind: 'awaiting', unitPath: folder });
  });

  it('a note at the top of the outbox or in a file category with no artifact is still an orphan, whatever the unit categories', () => {
    expect(resolveNoteTarget('hello.note.md', [], ['checkpoints'])).toEqual({ kind: 'orphan' });
    expect(resolveNoteTarget('results/none.note.md', [], ['checkpoints'])).toEqual({ kind: 'orphan' });
  });

  it('is an orphan when the outbox holds no artifacts at all', () => {
    expect(resolveNoteTarget('checkpoints/x/README.note.md', [])).toEqual({ kind: 'orphan' });
  });

  it('rejects a note two artifacts match, naming both', () => {
    const r = resolveNoteTarget('scripts/eval.note.md', candidates);
    expect(r.kind).toBe('ambiguous');
    if (r.kind === 'ambiguous') {
      expect(r.error).toContain('scripts/eval.py');
      expect(r.error).toContain('scripts/eval.sh');
      expect(r.error).toMatch(/^scripts\/eval\.note\.md could announce both .* rename the note/);
    }
  });

  it('names a unit directory with a trailing slash when it is one of the candidates', () => {
    const r = resolveNoteTarget('checkpoints/run.note.md', [dir('checkpoints/run'), file('checkpoints/run.gguf'), file('checkpoints/run.bin')]);
    expect(r).toEqual({ kind: 'artifact', target: dir('checkpoints/run') });
    const amb = resolveNoteTarget('checkpoints/run.note.md', [dir('checkpoints/run.d'), file('checkpoints/run.gguf'), file('checkpoints/run.bin')]);
    expect(amb.kind === 'ambiguous' && amb.error).toMatch(/all of checkpoints\/run\.bin, checkpoints\/run\.d\/ and checkpoints\/run\.gguf/);
  });

  it('prefers the exact name over name-without-extension matches', () => {
    expect(resolveNoteTarget('scripts/exact.note.md', candidates)).toEqual({ kind: 'artifact', target: file('scripts/exact') });
  });
});
