/**
 * What a new user meets first: `--help` and a mistyped flag. The real CLI, no bucket needed.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

/** A CLI start on a loaded machine: generous, the limit only catches a hang. */
const SLOW = 90_000;

/** Each command and one option of its own. */
const COMMANDS: Array<[command: string, ownOption: string]> = [
  ['watch', '--version'],
  ['sync', '--verify'],
  ['plan', '--json'],
  ['status', '--json'],
  ['init', '--config-out'],
  ['doctor', '--json'],
  ['board', '--since'],
  ['results', '--experiment'],
  ['pull', '--force'],
  ['dashboard', '--port'],
];

describe('hf-outbox --help', () => {
  it("each command's help: its own options first, then an example, then the settings with the form of their values", async () => {
    const runs = await Promise.all(COMMANDS.map(async ([command, own]) => ({ command, own, r: await runCli([command, '--help'], { timeoutMs: SLOW }) })));
    for (const { command, own, r } of runs) {
      expect(r.code, command).toBe(0);
      const text = r.stdout;
      const ownAt = text.indexOf(`  ${own}`);
      const exampleAt = text.search(/^Examples?:$/m);
      const settingsAt = text.indexOf('Settings (flag > environment > config file > default):');
      expect(ownAt, `${command}: ${own} listed`).toBeGreaterThan(0);
      expect(exampleAt, `${command}: an example after its own options`).toBeGreaterThan(ownAt);
      expect(text.slice(exampleAt), command).toMatch(new RegExp(`^  hf-outbox${command === 'watch' ? '' : ` ${command}`}\\b`, 'm'));
      expect(settingsAt, `${command}: the settings after the example`).toBeGreaterThan(exampleAt);
      const settings = text.slice(settingsAt);
      expect(settings).toMatch(/^ {2}--settle-ms <ms> +A file is sent/m);
      expect(settings).toMatch(/^ {2}--bucket <hf:\/\/buckets\/OWNER\/NAME\|DIR> +Where to publish/m);
      expect(settings).toMatch(/^ {2}--watch-mode <auto\|events\|poll> /m);
      expect(settings).toMatch(/^ {2}--\[no-\]watch-config /m);
      // No setting is listed twice (above, among the command's options), and no camelCase spelling appears.
      expect(text.slice(0, settingsAt)).not.toContain('--settle-ms');
      expect(text).not.toMatch(/--[a-z]+[A-Z]/);
    }
  }, 4 * SLOW);
});

describe('a mistyped flag', () => {
  it('is told the nearest real one and exits 2, never with a camelCase duplicate', async () => {
    // Side by side: each is a node start-up, slow on a loaded machine.
    const run = (...args: string[]) => runCli(args, { timeoutMs: SLOW });
    const [typo, camel, own, command, far] = await Promise.all([
      run('sync', '--setle-ms', '500'),
      run('plan', '--settleMs', '500'),
      run('board', '--folow'),
      run('snyc'),
      run('sync', '--zzzzzz'),
    ]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('hf-outbox: unknown option --setle-ms; did you mean --settle-ms?');
    expect(typo.stderr).toContain('Run "hf-outbox sync --help" for usage.');
    expect(typo.stderr).not.toMatch(/setleMs|settleMs/);

    // camelCase is not another spelling of a flag: it is unknown too, and named in kebab-case.
    expect(camel.code).toBe(2);
    expect(camel.stderr).toContain('unknown option --settleMs; did you mean --settle-ms?');

    // A command's own options are suggested too; a word where a command goes is told the nearest command.
    expect(own.code).toBe(2);
    expect(own.stderr).toContain('unknown option --folow; did you mean --follow?');
    expect(command.code).toBe(2);
    expect(command.stderr).toContain('unexpected argument "snyc"; did you mean the command sync?');

    // Nothing near: the flag is named, with where to look.
    expect(far.stderr).toMatch(/^hf-outbox: unknown option --zzzzzz\nRun "hf-outbox sync --help" for usage\.\n$/);
  }, 4 * SLOW);
});
