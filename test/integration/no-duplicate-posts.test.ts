/** After the state was lost, a note already posted is recognised on the board and adopted, never posted twice. */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { outboxIn, tmpDir, writeTree } from '../helpers/tmp.js';

describe('no duplicate posts after state loss', () => {
  it('sync --adopt and sync with a fresh state adopt this agent\'s earlier post of the same note version', async () => {
    const root = tmpDir();
    const outbox = outboxIn(root);
    const bucket = path.join(root, 'bucket');
    const args = (state: string) => ['--outbox', outbox, '--bucket', bucket, '--state-dir', path.join(root, state), '--agent-id', 'agent-01', '--settle-ms', '0'];
    const board = () => readdirSync(path.join(bucket, 'message_board')).sort();
    await writeTree(outbox, {
      'scripts/train.py': 'print(1)\n',
      'scripts/train.note.md': 'The training script.\n',
      'scripts/lonely.note.md': 'A note about nothing in particular.\n',
    });
    expect((await runCli(['sync', ...args('state-1')])).code).toBe(0);
    const posted = board();
    expect(posted).toHaveLength(2);

    const adopt = await runCli(['sync', '--adopt', ...args('state-2')]);
    expect(adopt.code).toBe(0);
    expect(board()).toEqual(posted);
    expect(adopt.logs.filter((l) => /^this version is already on the board/.test(l.msg)).map((l) => l['source'])).toContain('scripts/lonely.note.md');
    expect(adopt.logs.filter((l) => l.msg === 'announced')).toEqual([]);

    const fresh = await runCli(['sync', ...args('state-3')]);
    expect(board()).toEqual(posted);
    expect(fresh.logs.find((l) => /^this version is already on the board/.test(l.msg))).toMatchObject({ source: 'scripts/lonely.note.md' });
    expect(fresh.logs.filter((l) => l.msg === 'announced')).toEqual([]);

    // A new version of the note is still posted (once).
    await writeTree(outbox, { 'scripts/lonely.note.md': 'A note, edited.\n' });
    expect((await runCli(['sync', ...args('state-2')])).code).toBe(0);
    expect(board()).toHaveLength(3);
  }, 120_000);
});
