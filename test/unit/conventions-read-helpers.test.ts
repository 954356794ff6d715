import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/conventions/message.js';
import { formatMessage, parseDuration } from '../../src/cli/board.js';
import { normaliseBucketPath, remotePathProblem } from '../../src/cli/pull.js';
import { agentFromFileName, formatTable, rankRows } from '../../src/cli/results.js';

describe('parseDuration reads --since values', () => {
  it.each<[string, number]>([
    ['90s', 90_000],
    ['30m', 30 * 60_000],
    ['2h', 2 * 3_600_000],
    ['7d', 7 * 86_400_000],
    ['1w', 7 * 86_400_000],
    ['1h30m', 90 * 60_000],
    ['1h 30m', 90 * 60_000],
    ['1.5h', 90 * 60_000],
    [' 2H ', 2 * 3_600_000],
    ['0s', 0],
  ])('%j = %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '2', 'h', '2 hours', '2x', '-1h', '1h-', 'yesterday', '1e3s', '2h ago'])('rejects %j, saying what is expected', (text) => {
    expect(() => parseDuration(text)).toThrow(/is not a duration; expected a number and a unit \(s, m, h, d, w\), e\.g\. 30m, 2h, 7d or 1h30m/);
  });
});

describe('rankRows orders a leaderboard', () => {
  const row = (score: number, path: string, timestamp?: string) => ({ score, path, agentId: 'a', experiment: 'e', model: undefined, timestamp });

  it('puts the best score first, ties sharing a rank and listing the older result first', () => {
    const ranked = rankRows([row(0.5, 'c'), row(0.9, 'b', '2026-02'), row(0.9, 'a', '2026-03'), row(0.1, 'd'), row(0.9, 'e', '2026-01')], false);
    expect(ranked.map((r) => [r.rank, r.score, r.path])).toEqual([
      [1, 0.9, 'e'],
      [1, 0.9, 'b'],
      [1, 0.9, 'a'],
      [4, 0.5, 'c'],
      [5, 0.1, 'd'],
    ]);
  });

  it('puts the lowest score first when ascending (loss, perplexity)', () => {
    expect(rankRows([row(2, 'a'), row(-1, 'b'), row(0, 'c')], true).map((r) => r.score)).toEqual([-1, 0, 2]);
  });

  it('prints an aligned table with the score right-aligned and control characters shown as escapes, never sent', () => {
    const table = formatTable(rankRows([{ ...row(0.5, 'p1'), experiment: 'bad\u001b[31m\nname' }, row(10.25, 'p2')], false));
    expect(table).toBe(
      [
        'rank  score  agent_id  experiment           model  path',
        '1     10.25  a         e                           p2',
        '2       0.5  a         bad\\x1b[31m\\x0aname         p1',
        '',
      ].join('\n'),
    );
  });

  it.each<[string, string | undefined]>([
    ['artifacts/results/gsm8k/eval_agent-02.json', 'agent-02'],
    ['artifacts/results/eval_baseline_agent-03.json', 'agent-03'],
    ['artifacts/results/eval.json', undefined],
    ['artifacts/results/eval_.json', undefined],
  ])('agentFromFileName(%s) = %s', (p, id) => expect(agentFromFileName(p)).toBe(id));
});

describe('pull path checks', () => {
  it.each<[string, string]>([
    ['artifacts/scripts/a_agent-02.py', 'artifacts/scripts/a_agent-02.py'],
    ['/artifacts/checkpoints/x_agent-02/', 'artifacts/checkpoints/x_agent-02'],
    ['hf://buckets/team/shared/artifacts/x_agent-02.py', 'artifacts/x_agent-02.py'],
    ['hf://buckets/team/shared/artifacts/ckpt_agent-02/', 'artifacts/ckpt_agent-02'],
  ])('normaliseBucketPath(%s) = %s', (input, p) => {
    expect(normaliseBucketPath(input, 'hf://buckets/team/shared')).toEqual({ ok: true, path: p });
  });

  it.each([
    ['hf://buckets/team/other/artifacts/x', /not in the configured bucket hf:\/\/buckets\/team\/shared/],
    ['hf://buckets/team/shared-2/x', /not in the configured bucket/],
    ['', /give a bucket path/],
    ['///', /give a bucket path/],
  ])('normaliseBucketPath(%j) fails', (input, why) => {
    const r = normaliseBucketPath(input, 'hf://buckets/team/shared');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(why);
  });

  it.each<[string, string | undefined]>([
    ['artifacts/x.py', undefined],
    ['a/b/日本語 ✓.txt', undefined],
    ['..', '".." segment'],
    ['a/../b', '".." segment'],
    ['a/./b', 'empty or "." segment'],
    ['a//b', 'empty or "." segment'],
    ['/etc/passwd', 'absolute path'],
    ['C:/x', 'absolute path'],
    ['a\\b', 'backslash in the name'],
    ['a\u0000b', 'control character in the name'],
    ['a\u009bb', 'control character in the name'],
    ['a\u202eb', 'bidi control character in the name'],
    ['artifacts/real.bin#x', '"?" or "#" in the name (the Hub client would cut the name there and fetch another file)'],
    ['artifacts/real.bin?x', '"?" or "#" in the name (the Hub client would cut the name there and fetch another file)'],
    ['', 'empty path'],
  ])('remotePathProblem(%j) = %s', (p, problem) => expect(remotePathProblem(p)).toBe(problem));
});

describe('formatMessage shows a message in a few lines', () => {
  it('without front matter: time and agent from the file name, no artifacts', () => {
    const m = parseMessage('# Hello\n', 'message_board/20260424T120000Z_hello_agent-02.md');
    expect(formatMessage(m)).toBe('2026-04-24 12:00:00Z  agent-02  Hello\n    message_board/20260424T120000Z_hello_agent-02.md\n\n');
  });

  it('an unknown time and agent are shown as such', () => {
    const m = parseMessage('hi', 'message_board/README.md');
    expect(formatMessage(m)).toBe('unknown time          ?  hi\n    message_board/README.md\n\n');
  });
});
