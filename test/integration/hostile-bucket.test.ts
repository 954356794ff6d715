/**
 * What other agents write into the shared bucket is hostile input: posts and results crafted to
 * drive a reader's terminal or to pass for another agent. Each reading command shows them safely.
 */
import { Writable } from 'node:stream';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBoard } from '../../src/cli/board.js';
import { loadContext, type CommandContext } from '../../src/cli/context.js';
import { runResults } from '../../src/cli/results.js';
import { createLogger } from '../../src/log.js';
import { runCli } from '../helpers/cli.js';
import { tmpDir, treeHashes, writeTree } from '../helpers/tmp.js';

/** Any character that would reach a terminal raw: C0 (but the line feed), DEL, C1, bidi controls. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function bucketWith(files: Record<string, string>): Promise<{ ctx: CommandContext; root: string }> {
  const root = tmpDir();
  const bucket = path.join(root, 'bucket');
  await writeTree(bucket, files);
  const ctx = await loadContext({ bucket, agentId: 'agent-01', outbox: path.join(root, 'outbox'), stateDir: path.join(root, 'state') });
  const sink = new Writable({ write: (_c, _e, done) => done() });
  return { ctx: { ...ctx, logger: createLogger({ level: 'warn', destination: sink }) }, root };
}

const ESC = '\u001b';
const HOSTILE_POST = [
  '---',
  `agent_id: "agent-02${ESC}[2J${ESC}[H"`,
  'timestamp: 2026-04-24T10:00:00Z',
  'title: ok',
  `tags: ["x${ESC}]52;c;cm0gLXJmIH4K\u0007", "\u202eevil"]`,
  `supersedes: "message_board/a${ESC}[1A${ESC}[2K2026-04-24  agent-01  forged line_agent-02.md"`,
  'artifacts:',
  `  - {path: "artifacts/a${ESC}]8;;https://evil.example/${ESC}\\\\click${ESC}]8;;${ESC}\\\\_agent-02.bin", size_bytes: 1}`,
  '---',
  'body',
  '',
].join('\n');

describe('reading a bucket other agents write', () => {
  it('board: escape sequences and bidi controls in any field are shown as escapes, never sent; --json keeps the exact values', async () => {
    const name = `message_board/20260424T100000Z_x\u202etxt.exe_agent-02.md`;
    const { ctx } = await bucketWith({ [name]: HOSTILE_POST });
    const out = new Capture();
    expect(await runBoard(ctx, { follow: false, json: false, out, now: () => Date.parse('2026-04-25T00:00:00Z') })).toBe(0);
    expect(out.text).toMatch(/forged line/);
    expect(out.text).not.toMatch(RAW_CONTROL);
    expect(out.text).toContain('\\x1b]52;c;');
    expect(out.text).toContain('\\u202e');

    const json = new Capture();
    await runBoard(ctx, { follow: false, json: true, out: json, now: () => Date.parse('2026-04-25T00:00:00Z') });
    const m = JSON.parse(json.text) as { path: string; tags: string[]; claimed_agent_id: string; supersedes: string };
    expect(m.path).toBe(name);
    expect(m.tags).toEqual([`x${ESC}]52;c;cm0gLXJmIH4K\u0007`, '\u202eevil']);
    expect(m.claimed_agent_id).toBe(`agent-02${ESC}[2J${ESC}[H`);
  });

  it('board: a post in agent-02\'s name claiming agent-01 is shown as agent-02, flagged, and is not agent-01\'s', async () => {
    const { ctx } = await bucketWith({
      'message_board/20260424T100000Z_spoof_agent-02.md': '---\nagent_id: agent-01\ntimestamp: 2026-04-24T10:00:00Z\ntitle: I am agent-01\n---\nbody\n',
      'message_board/20260424T090000Z_real_agent-01.md': '---\nagent_id: agent-01\ntimestamp: 2026-04-24T09:00:00Z\ntitle: really agent-01\n---\nbody\n',
    });
    const now = () => Date.parse('2026-04-25T00:00:00Z');
    const mine = new Capture();
    await runBoard(ctx, { follow: false, json: true, agent: 'agent-01', out: mine, now });
    expect(mine.text.trim().split('\n').map((l) => (JSON.parse(l) as { path: string }).path)).toEqual(['message_board/20260424T090000Z_real_agent-01.md']);
    const all = new Capture();
    await runBoard(ctx, { follow: false, json: false, out: all, now });
    const spoof = all.text.split('\n').find((l) => l.includes('I am agent-01')) ?? '';
    expect(spoof).toMatch(/^2026-04-24 10:00:00Z {2}agent-02 \(front matter claims agent-01: not verified\) {2}I am agent-01/);
  });

  it('board: a post dated in the future is shown as such and does not sort above the others', async () => {
    const { ctx } = await bucketWith({
      'message_board/20990101T000000Z_pinned_agent-02.md': '---\ntimestamp: 2099-01-01T00:00:00Z\ntitle: pinned forever\n---\n',
      'message_board/20260424T100000Z_fresh_agent-03.md': '---\ntimestamp: 2026-04-24T10:00:00Z\ntitle: fresh news\n---\n',
    });
    const out = new Capture();
    await runBoard(ctx, { follow: false, json: false, out, now: () => Date.parse('2026-04-24T12:00:00Z') });
    const heads = out.text.split('\n').filter((l) => /^\d{4}-/.test(l));
    expect(heads[0]).toMatch(/fresh news/);
    expect(heads[1]).toMatch(/^2099-01-01 00:00:00Z \(in the future\) {2}agent-02 {2}pinned forever/);
  });

  it('results: a file in agent-02\'s name claiming agent-01 ranks as agent-02, flagged; its text is escaped', async () => {
    const { ctx } = await bucketWith({
      'artifacts/results/spoof_agent-02.json': JSON.stringify({ agent_id: 'agent-01', experiment: `best${ESC}[2J ever`, score: 0.99 }),
      'artifacts/results/real_agent-01.json': JSON.stringify({ agent_id: 'agent-01', experiment: 'honest', score: 0.5 }),
    });
    const out = new Capture();
    await runResults(ctx, { json: false, ascending: false, out });
    const first = out.text.split('\n').find((l) => l.startsWith('1 ')) ?? '';
    expect(first).toMatch(/agent-02 \(claims agent-01\)\s+best\\x1b\[2J ever/);
    expect(out.text).not.toMatch(RAW_CONTROL);
    const json = new Capture();
    await runResults(ctx, { json: true, ascending: false, out: json });
    const rows = json.text.trim().split('\n').map((l) => JSON.parse(l) as { agent_id: string; claimed_agent_id: string | null; experiment: string });
    expect(rows.map((r) => [r.agent_id, r.claimed_agent_id])).toEqual([['agent-02', 'agent-01'], ['agent-01', null]]);
    expect(rows[0]?.experiment).toBe(`best${ESC}[2J ever`);
  });

  it('a note whose front matter holds an escape sequence is not posted; the error names the note and the key', async () => {
    const root = tmpDir();
    const outbox = path.join(root, 'outbox');
    const bucket = path.join(root, 'bucket');
    await writeTree(outbox, {
      'scripts/a.py': 'print(1)\n',
      'scripts/a.py.note.md': `---\ntitle: fine\ntags: ["ok", "x${ESC}]52;c;cm0gLXJmIH4K\u0007"]\n---\nhello\n`,
    });
    const r = await runCli(['sync', '--outbox', outbox, '--bucket', bucket, '--state-dir', path.join(root, 'state'), '--agent-id', 'agent-01', '--settle-ms', '0']);
    expect(r.code).toBe(1);
    const line = r.logs.find((l) => l['note'] === 'scripts/a.py.note.md' && l['state'] === 'rejected');
    expect(line?.msg).toMatch(/scripts\/a\.py\.note\.md: front matter key "tags" holds the control or bidi character \\x1b/);
    expect(Object.keys(treeHashes(bucket))).toEqual(['artifacts/scripts/a_agent-01.py']);
    // plan and status print the reason without the raw character either.
    for (const cmd of ['status', 'plan']) {
      const shown = await runCli([cmd, '--outbox', outbox, '--bucket', bucket, '--state-dir', path.join(root, 'state'), '--agent-id', 'agent-01']);
      expect(shown.stdout).not.toMatch(RAW_CONTROL);
    }
  });

  it('plan and status print a file name holding escapes as escapes', async () => {
    const root = tmpDir();
    const outbox = path.join(root, 'outbox');
    const args = ['--outbox', outbox, '--bucket', path.join(root, 'bucket'), '--state-dir', path.join(root, 'state'), '--agent-id', 'agent-01', '--settle-ms', '0'];
    await writeTree(outbox, { [`data/x${ESC}[2J${ESC}]52;c;Zm9v\u0007.txt`]: 'x' });
    const sync = await runCli(['sync', ...args]);
    expect(sync.code).toBe(1);
    for (const cmd of ['status', 'plan']) {
      const shown = await runCli([cmd, ...args]);
      expect(shown.stdout, cmd).toContain('x\\x1b[2J\\x1b]52;c;Zm9v\\x07.txt');
      expect(shown.stdout, cmd).not.toMatch(RAW_CONTROL);
    }
  });
});
