/**
 * Replacing one's own bucket file is never silent: `plan` shows `replace` before it happens, the
 * upload logs what it replaced, and `status` lists it (the real CLI, a local-folder bucket).
 */
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tmpDir, writeTree } from '../helpers/tmp.js';

function setup() {
  const root = tmpDir();
  const outbox = path.join(root, 'outbox');
  const bucket = path.join(root, 'bucket');
  const args = ['--outbox', outbox, '--bucket', bucket, '--state-dir', path.join(root, 'state'), '--agent-id', 'agent-01', '--settle-ms', '0'];
  return { outbox, bucket, args };
}

interface PlanJson {
  action: string;
  local: string;
  reason: string;
  replaces?: { publishedAt: string; sizeBytes: number };
}

describe('replacing a file this agent published before', () => {
  it('plan says replace (with the earlier version), sync logs it, status lists it; a new file stays a plain upload', async () => {
    const t = setup();
    await writeTree(t.outbox, { 'scripts/train.py': 'print("v1")\n' });
    const first = await runCli(['sync', ...t.args]);
    expect(first.code, first.stdout).toBe(0);
    const publishedAt = first.logs.find((l) => l.msg === 'uploaded')?.['time'];
    expect(first.logs.some((l) => l['replaced'] !== undefined)).toBe(false);

    await new Promise((r) => setTimeout(r, 20));
    await writeTree(t.outbox, { 'scripts/train.py': 'print("version 2")\n', 'scripts/eval.py': 'print("new")\n' });
    const plan = (await runCli(['plan', '--json', ...t.args])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as PlanJson);
    const replace = plan.find((l) => l.local === 'scripts/train.py');
    expect(replace).toMatchObject({ action: 'replace', replaces: { sizeBytes: 12 } });
    expect(replace?.reason).toMatch(/^changed since the last upload; overwrites the version this agent published at \d{4}-\d\d-\d\dT.*Z \(12 bytes\)$/);
    expect(Math.abs(Date.parse(replace?.replaces?.publishedAt ?? '') - Number(publishedAt))).toBeLessThan(1_000);
    expect(plan.find((l) => l.local === 'scripts/eval.py')?.action).toBe('upload');
    const human = (await runCli(['plan', ...t.args])).stdout;
    expect(human).toMatch(/^replace +scripts\/train\.py → artifacts\/scripts\/train_agent-01\.py \(19 bytes\)/m);

    const second = await runCli(['sync', ...t.args]);
    expect(second.code, second.stdout).toBe(0);
    const line = second.logs.find((l) => l.msg.startsWith('replaced the version of artifacts/scripts/train_agent-01.py'));
    expect(line).toMatchObject({ local: 'scripts/train.py', replacedBytes: 12, replacedPublishedAt: replace?.replaces?.publishedAt });
    expect(second.logs.find((l) => l.msg === 'uploaded' && l['local'] === 'scripts/train.py')?.['replaced']).toBe(replace?.replaces?.publishedAt);
    expect(second.logs.find((l) => l.msg === 'uploaded' && l['local'] === 'scripts/eval.py')?.['replaced']).toBeUndefined();
    expect(readFileSync(path.join(t.bucket, 'artifacts/scripts/train_agent-01.py'), 'utf8')).toBe('print("version 2")\n');

    const status = JSON.parse((await runCli(['status', '--json', ...t.args])).stdout) as { replaced: Array<Record<string, unknown>> };
    expect(status.replaced).toEqual([
      {
        local: 'scripts/train.py',
        remote: 'artifacts/scripts/train_agent-01.py',
        at: expect.stringMatching(/Z$/),
        pending: false,
        replacedPublishedAt: replace?.replaces?.publishedAt,
        replacedBytes: 12,
      },
    ]);
    expect((await runCli(['status', ...t.args])).stdout).toContain(
      `replaced  artifacts/scripts/train_agent-01.py: replaced at ${status.replaced[0]?.['at']} the version published at ${replace?.replaces?.publishedAt} (12 B)`,
    );
  });

  it('a file removed and written again (as a second training run does) is a replace too', async () => {
    const t = setup();
    await writeTree(t.outbox, { 'data/prompts.jsonl': '{"a":1}\n' });
    expect((await runCli(['sync', ...t.args])).code).toBe(0);
    await rm(path.join(t.outbox, 'data/prompts.jsonl'));
    expect((await runCli(['sync', ...t.args])).code).toBe(0);
    await writeFile(path.join(t.outbox, 'data/prompts.jsonl'), '{"a":2}\n{"b":3}\n');
    const plan = (await runCli(['plan', '--json', ...t.args])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as PlanJson);
    expect(plan.find((l) => l.local === 'data/prompts.jsonl')).toMatchObject({ action: 'replace', replaces: { sizeBytes: 8 } });
    const r = await runCli(['sync', ...t.args]);
    expect(r.logs.find((l) => typeof l['replacedPublishedAt'] === 'string')).toMatchObject({ remote: 'artifacts/data/prompts_agent-01.jsonl', replacedBytes: 8 });
  });
});
