import { describe, expect, it } from 'vitest';
import { explainUnknown, nearest } from '../../src/cli/usage-error.js';

const FLAGS = ['settle-ms', 'unit-settle-ms', 'settle-timeout-ms', 'bucket', 'agent-id', 'json', 'help', 'h', 'version'];
const COMMANDS = ['watch', 'sync', 'plan', 'status'];

describe('the nearest flag or command to a typo', () => {
  it('a dropped, doubled or swapped letter finds the flag; camelCase finds its kebab-case form', () => {
    expect(nearest('setle-ms', FLAGS)).toBe('settle-ms');
    expect(nearest('bukcet', FLAGS)).toBe('bucket');
    expect(nearest('agentId', FLAGS)).toBe('agent-id');
    expect(nearest('settleMs', FLAGS)).toBe('settle-ms');
    expect(nearest('sycn', COMMANDS)).toBe('sync');
  });

  it('suggests nothing for a name that is not close to any', () => {
    expect(nearest('zzzzzz', FLAGS)).toBeUndefined();
    expect(nearest('verbose', FLAGS)).toBeUndefined();
  });

  it("rewrites yargs' unknown-argument message, one line per name, telling flags from words by the command line", () => {
    const argv = ['sync', '--setle-ms', '5', '--bukcet=x', 'plna'];
    expect(explainUnknown('Unknown arguments: setle-ms, bukcet, plna', argv, FLAGS, COMMANDS)).toBe(
      ['unknown option --setle-ms; did you mean --settle-ms?', 'unknown option --bukcet; did you mean --bucket?', 'unexpected argument "plna"; did you mean the command plan?'].join('\n'),
    );
    expect(explainUnknown('Not enough non-option arguments: got 0, need at least 1', argv, FLAGS, COMMANDS)).toBeUndefined();
  });
});
