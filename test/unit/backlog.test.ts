import { describe, expect, it } from 'vitest';
import { backlogHighWater, categoryPriority, createBacklog } from '../../src/pipeline/backlog.js';
import { compileRules } from '../../src/pipeline/naming.js';

const rules = compileRules({ agentId: 'agent-01', unitCategories: ['checkpoints'], ignore: [] });

function harness(highWater: number) {
  const released: string[] = [];
  let ahead = 0;
  const backlog = createBacklog({
    highWater,
    ahead: () => ahead,
    rules: () => rules,
    release: (p) => {
      released.push(p);
      ahead++;
    },
  });
  return { backlog, released, setAhead: (n: number) => (ahead = n) };
}

describe('scan backlog', () => {
  it('releases notes, then results, then scripts, then the rest, heavy categories last, each class in the order found', () => {
    const h = harness(100);
    for (const p of ['checkpoints/run1', 'data/a.csv', 'misc/x.txt', 'scripts/b.py', 'results/r.json', 'scripts/a.py', 'data/a.csv.note.md', 'misc/note.md']) h.backlog.add(p);
    h.backlog.feed();
    // A note is what the naming rules call one (`<artifact>.note.md`): `misc/note.md` is an artifact.
    expect(h.released).toEqual(['data/a.csv.note.md', 'results/r.json', 'scripts/b.py', 'scripts/a.py', 'misc/x.txt', 'misc/note.md', 'checkpoints/run1', 'data/a.csv']);
  });

  it('keeps at most highWater units ahead, and releases more only as they leave', () => {
    const h = harness(3);
    for (let i = 0; i < 10; i++) h.backlog.add(`data/f${i}.bin`);
    h.backlog.feed();
    expect(h.released).toHaveLength(3);
    expect(h.backlog.size()).toBe(7);
    h.backlog.feed();
    expect(h.released).toHaveLength(3);
    h.setAhead(1);
    h.backlog.feed();
    expect(h.released).toEqual(['data/f0.bin', 'data/f1.bin', 'data/f2.bin', 'data/f3.bin', 'data/f4.bin']);
    expect(h.backlog.size()).toBe(5);
  });

  it('holds a unit once however often a scan finds it, and drops it when a watcher event takes it over', () => {
    const h = harness(0);
    h.backlog.add('scripts/a.py');
    h.backlog.add('scripts/a.py');
    h.backlog.add('scripts/b.py');
    expect(h.backlog.size()).toBe(2);
    h.backlog.drop('scripts/a.py');
    h.backlog.drop('scripts/unknown.py');
    expect(h.backlog.size()).toBe(1);
    h.setAhead(-10);
    h.backlog.feed();
    expect(h.released).toEqual(['scripts/b.py']);
  });

  it('releases nothing more once cleared (the daemon is stopping)', () => {
    const h = harness(10);
    h.backlog.add('scripts/a.py');
    h.backlog.clear();
    h.backlog.add('scripts/b.py');
    h.backlog.feed();
    expect(h.released).toEqual([]);
  });

  it('ranks a path by its category (the first segment)', () => {
    expect(categoryPriority('results/gsm8k/eval.json')).toBeLessThan(categoryPriority('scripts/a.py'));
    expect(categoryPriority('scripts/a.py')).toBeLessThan(categoryPriority('notes.txt'));
    expect(categoryPriority('notes.txt')).toBeLessThan(categoryPriority('checkpoints/run1/model.safetensors'));
    expect(categoryPriority('data/x.csv')).toBe(categoryPriority('checkpoints/run1'));
  });

  it('lets four upload calls\' worth of units ahead, never fewer than four calls of 100', () => {
    expect(backlogHighWater(100)).toBe(400);
    expect(backlogHighWater(1000)).toBe(4000);
    expect(backlogHighWater(10)).toBe(400);
  });
});
