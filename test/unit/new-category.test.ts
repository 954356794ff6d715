import { describe, expect, it } from 'vitest';
import { CategoryNotices, outsideCategories } from '../../src/pipeline/new-category.js';

const CATEGORIES = ['scripts', 'results', 'checkpoints', 'data'];

describe('files outside the category folders', () => {
  it('a file in a category folder is not outside; one in another folder creates that category; one at the top lands in none', () => {
    expect(outsideCategories('scripts/train.py', CATEGORIES)).toBeUndefined();
    expect(outsideCategories('checkpoints/run1/checkpoint-100/model.safetensors', CATEGORIES)).toBeUndefined();
    expect(outsideCategories('mystuff/x.bin', CATEGORIES)).toEqual({ category: 'mystuff', lands: 'in a new category, artifacts/mystuff/' });
    expect(outsideCategories('notes.txt', CATEGORIES)).toEqual({ category: undefined, lands: 'directly under artifacts/, in no category' });
  });

  it('gives one notice per new category, naming it, however many of its files are published', () => {
    const notices = new CategoryNotices();
    const first = notices.notice('mystuff/x.bin', 'artifacts/mystuff/x_agent-01.bin', CATEGORIES);
    expect(first?.category).toBe('mystuff');
    expect(first?.message).toContain('artifacts/mystuff/');
    expect(first?.message).toContain('scripts, results, checkpoints, data');
    expect(notices.notice('mystuff/y.bin', 'artifacts/mystuff/y_agent-01.bin', CATEGORIES)).toBeUndefined();
    expect(notices.notice('mystuff/deeper/z.bin', 'artifacts/mystuff/deeper/z_agent-01.bin', CATEGORIES)).toBeUndefined();
    expect(notices.notice('scripts/a.py', 'artifacts/scripts/a_agent-01.py', CATEGORIES)).toBeUndefined();
    // Another new category, and the outbox's top level, each get their own one notice.
    expect(notices.notice('evals/e.txt', 'artifacts/evals/e_agent-01.txt', CATEGORIES)?.category).toBe('evals');
    const top = notices.notice('notes.txt', 'artifacts/notes_agent-01.txt', CATEGORIES);
    expect(top?.category).toBeUndefined();
    expect(top?.message).toMatch(/notes\.txt is directly in the outbox.*directly under artifacts\/.*artifacts\/notes_agent-01\.txt/);
    expect(notices.notice('todo.md', 'artifacts/todo_agent-01.md', CATEGORIES)).toBeUndefined();
  });

  it('counts a configured category (e.g. a unit category) as known, each listed once', () => {
    const notices = new CategoryNotices();
    expect(notices.notice('models/m1/w.bin', 'artifacts/models/m1_agent-01/w.bin', [...CATEGORIES, 'models'])).toBeUndefined();
    expect(notices.notice('x/y.bin', 'artifacts/x/y_agent-01.bin', [...CATEGORIES, 'checkpoints'])?.message).toContain('(scripts, results, checkpoints, data)');
  });
});
