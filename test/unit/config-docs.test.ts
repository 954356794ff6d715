import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderExampleYaml, withSettingsTable } from '../../src/config/docs.js';
import { parseConfig } from '../../src/config/parse.js';
import { OPTIONS } from '../../src/config/schema.js';

describe('shipped documentation of the settings', () => {
  it('config/hf-outbox.example.yaml is current (run `npm run docs` after changing the schema)', () => {
    expect(readFileSync('config/hf-outbox.example.yaml', 'utf8')).toBe(renderExampleYaml());
  });

  it('the README settings table is current (run `npm run docs`)', () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(withSettingsTable(readme)).toBe(readme);
  });

  it('every setting that takes a value names its form for --help (--settle-ms <ms>)', () => {
    const unnamed = Object.entries(OPTIONS).filter(([, spec]) => spec.kind !== 'boolean' && !('arg' in spec && spec.arg));
    expect(unnamed.map(([name]) => name)).toEqual([]);
  });

  it('the example config is valid as shipped', () => {
    const settings = parse(readFileSync('config/hf-outbox.example.yaml', 'utf8')) as Record<string, unknown>;
    const result = parseConfig({ flags: {}, env: {}, file: { path: 'example.yaml', settings }, cwd: '/srv', homeDir: '/home/a' });
    expect(result.ok ? [] : result.errors).toEqual([]);
  });
});
