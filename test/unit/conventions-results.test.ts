import { describe, expect, it } from 'vitest';
import { checkResults, isResultsPath, locateJsonError, readResult } from '../../src/conventions/results.js';

const ctx = { agentId: 'agent-01', now: new Date('2026-04-24T17:30:00.789Z') };
const NOW = '2026-04-24T17:30:00Z';
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe('checkResults accepts a results object with experiment and score', () => {
  it('returns the very same bytes when nothing needs filling', () => {
    const bytes = enc(`{\n    "score": 7.20e-1,\n  "agent_id": "agent-01", "timestamp": "2026-04-01T00:00:00Z",\n "experiment": "LoRA"\n}\n`);
    const r = checkResults(bytes, ctx);
    expect(r).toEqual({ ok: true, content: bytes, filled: [] });
    expect(r.ok && r.content).toBe(bytes);
  });

  it.each<[string, string, string, string[]]>([
    [
      'fills both at the top, keeping the indentation and the rest byte for byte',
      '{\n  "experiment": "LoRA r16",\n  "score": 0.720,\n  "notes": "x"\n}\n',
      `{\n  "agent_id": "agent-01",\n  "timestamp": "${NOW}",\n  "experiment": "LoRA r16",\n  "score": 0.720,\n  "notes": "x"\n}\n`,
      ['agent_id', 'timestamp'],
    ],
    [
      'fills a compact one-line object compactly',
      '{"experiment":"e","score":1}',
      `{"agent_id":"agent-01","timestamp":"${NOW}","experiment":"e","score":1}`,
      ['agent_id', 'timestamp'],
    ],
    [
      'fills a spaced one-line object with spaces',
      '{ "experiment": "e", "score": 1 }',
      `{ "agent_id": "agent-01", "timestamp": "${NOW}", "experiment": "e", "score": 1 }`,
      ['agent_id', 'timestamp'],
    ],
    [
      'fills only the timestamp when agent_id is there',
      '{\n\t"agent_id": "agent-01",\n\t"experiment": "e",\n\t"score": -3\n}',
      `{\n\t"timestamp": "${NOW}",\n\t"agent_id": "agent-01",\n\t"experiment": "e",\n\t"score": -3\n}`,
      ['timestamp'],
    ],
    [
      'replaces a null or empty value where it stands',
      '{\n  "agent_id": null,\n  "timestamp": "",\n  "experiment": "e",\n  "score": 1\n}',
      `{\n  "agent_id": "agent-01",\n  "timestamp": "${NOW}",\n  "experiment": "e",\n  "score": 1\n}`,
      ['agent_id', 'timestamp'],
    ],
    [
      'leaves a nested agent_id alone',
      '{"experiment":"e","score":1,"timestamp":"t","base":{"agent_id":null}}',
      '{"agent_id":"agent-01","experiment":"e","score":1,"timestamp":"t","base":{"agent_id":null}}',
      ['agent_id'],
    ],
    [
      'keeps a byte-order mark out of the filled copy',
      '\uFEFF{"experiment":"e","score":1,"agent_id":"agent-01"}',
      `{"timestamp":"${NOW}","experiment":"e","score":1,"agent_id":"agent-01"}`,
      ['timestamp'],
    ],
  ])('%s', (_name, input, expected, filled) => {
    const r = checkResults(enc(input), ctx);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(dec(r.content)).toBe(expected);
    expect(r.filled).toEqual(filled);
    expect(JSON.parse(dec(r.content))).toMatchObject({ agent_id: 'agent-01' });
  });

  it('falls back to a rebuilt object when a duplicate key makes the text edit ambiguous', () => {
    const r = checkResults(enc('{"agent_id": null, "experiment":"e","score":1,"agent_id":null,"timestamp":"t"}'), ctx);
    expect(r.ok && JSON.parse(dec(r.content))).toEqual({ agent_id: 'agent-01', experiment: 'e', score: 1, timestamp: 't' });
  });

  it.each<[string, string, RegExp]>([
    ['invalid JSON, with line and column', '{\n  "experiment": "e",\n  "score": 1,\n}', /^not valid JSON: line 4, column 1: trailing comma before "}"$/],
    ['a missing comma, with its position', '{\n  "experiment": "e"\n  "score": 1\n}', /^not valid JSON: line 3, column 3: expected "," or "}"/],
    ['an unquoted value', '{"experiment": e, "score": 1}', /^not valid JSON: line 1, column 16: expected a value/],
    ['single quotes', "{'experiment': 'e'}", /line 1, column 2: expected a double-quoted key/],
    ['an empty file', '', /^not valid JSON: line 1, column 1: empty input$/],
    ['a truncated file', '{"experiment": "e", "sco', /unterminated string/],
    ['text after the object', '{"experiment":"e","score":1} {}', /line 1, column 30: unexpected "{}" after the JSON value/],
    ['a list', '[{"experiment":"e","score":1}]', /must be a JSON object .*got a list/],
    ['a bare number', '42', /must be a JSON object/],
    ['a missing experiment', '{"score":1}', /missing required field "experiment"/],
    ['an empty experiment', '{"experiment":"  ","score":1}', /"experiment" must be non-empty text/],
    ['a numeric experiment', '{"experiment":3,"score":1}', /"experiment" must be non-empty text, got the number 3/],
    ['a missing score', '{"experiment":"e"}', /missing required field "score"/],
    ['a score in quotes, with a hint', '{"experiment":"e","score":"0.72"}', /"score" must be a number, got text "0.72" \(write it without quotes\)/],
    ['a null score', '{"experiment":"e","score":null}', /"score" must be a number, got null/],
    ['an infinite score', '{"experiment":"e","score":1e999}', /"score" must be a finite number, got Infinity/],
    ['another agent\'s id, naming both', '{"experiment":"e","score":1,"agent_id":"agent-02"}', /"agent_id" is "agent-02" but this agent is "agent-01"/],
    ['a numeric agent_id', '{"experiment":"e","score":1,"agent_id":1}', /"agent_id" must be text/],
  ])('rejects %s', (_name, input, reason) => {
    const r = checkResults(enc(input), ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it('rejects bytes that are not UTF-8', () => {
    expect(checkResults(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), ctx)).toEqual({ ok: false, reason: 'not UTF-8 text; a results file must be JSON' });
  });

  it('never throws, and keeps reasons short, on junk and deep nesting', () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const r = checkResults(enc(deep), ctx);
    expect(r.ok).toBe(false);
    const unclosed = checkResults(enc('['.repeat(200_000)), ctx);
    expect(!unclosed.ok && unclosed.reason).toMatch(/line 1, column 200001: unexpected end of input: 200000 unclosed \[/);
    const huge = `{"experiment": ${'x'.repeat(1_000_000)}}`;
    const h = checkResults(enc(huge), ctx);
    expect(!h.ok && h.reason.length).toBeLessThan(300);
    let seed = 3;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const alphabet = '{}[]":,0123456789.eE+-truefalsnul \n\\';
    for (let n = 0; n < 500; n++) {
      let s = '';
      for (let i = 0; i < 40; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
      expect(() => checkResults(enc(s), ctx)).not.toThrow();
    }
  });
});

describe('locateJsonError agrees with JSON.parse on what is valid', () => {
  it.each([
    '{}', '[]', '0', '-0.5e+3', '"a\\u00e9\\n"', '{"a":[1,{"b":null}],"c":true}', ' \n {"a" : 1 } \n',
    '{', '{"a"}', '{"a":}', '[1,]', '[,1]', '01', '1.', '.5', '"\\x"', '"\u0001"', 'tru', 'nul', '{"a":1}}', '+1', '1e', '--1', '"a',
  ])('%j', (text) => {
    let valid = true;
    try {
      JSON.parse(text);
    } catch {
      valid = false;
    }
    expect(locateJsonError(text) === undefined).toBe(valid);
  });
});

describe('readResult and isResultsPath', () => {
  it('gives the leaderboard fields of a valid file', () => {
    const r = readResult(enc('{"experiment":"e","score":0.5,"agent_id":"agent-02","model":"Qwen/Qwen2.5-7B","timestamp":"t"}'));
    expect(r).toMatchObject({ ok: true, record: { experiment: 'e', score: 0.5, agentId: 'agent-02', model: 'Qwen/Qwen2.5-7B', timestamp: 't' } });
  });

  it.each<[string, boolean]>([
    ['results/eval.json', true],
    ['results/gsm8k/eval.JSON', true],
    ['results/eval.jsonl', false],
    ['scripts/eval.json', false],
    ['data/results/eval.json', false],
  ])('isResultsPath(%s) = %s', (p, expected) => expect(isResultsPath(p)).toBe(expected));
});
