import { describe, expect, it } from 'vitest';
import { agentIdProblem } from '../../src/conventions/agent-id.js';
import { ownPathProblem } from '../../src/conventions/own-names.js';

describe('agent-id grammar: letters, digits, "-" and "."; no "_"', () => {
  it.each(['agent-01', 'a', 'team.b-3', 'A1', 'x'.repeat(64)])('%s is valid', (id) => expect(agentIdProblem(id)).toBeUndefined());

  it.each(['a_b', 'agent_01', '', '-agent', 'agent-', 'agent.', 'x'.repeat(65), 'agent 01', 'agent/01', 'agënt'])('%j is refused, saying why', (id) => {
    expect(agentIdProblem(id)).toMatch(/not a valid agent id: .*no "_"/);
  });

  it('an id with "_" could take another agent\'s name; the write guard refuses it too', () => {
    // agent "b" publishing train_a.py and agent "a_b" publishing train.py would both write train_a_b.py
    expect(ownPathProblem('artifacts/scripts/train_a_b.py', 'b')).toBeUndefined();
    expect(ownPathProblem('artifacts/scripts/train_a_b.py', 'a_b')).toMatch(/not a valid agent id/);
  });
});
