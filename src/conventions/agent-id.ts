/**
 * The agent-id grammar. Every bucket name an agent owns ends with `_<agent-id>` (before the
 * extension), and readers take the last `_` part of a name as its author. So an id must not hold
 * `_`: agent `b` publishing `scripts/train_a.py` would take `artifacts/scripts/train_a_b.py`, which
 * is agent `a_b`'s name for `train.py`, and nobody could tell whose file it is. Ids are 1-64
 * letters, digits, `-` and `.`, starting and ending with a letter or digit (`agent-01`, `team.b-3`).
 */
export const AGENT_ID_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,62}[A-Za-z0-9])?$/;

export const AGENT_ID_EXPECTED =
  'expected 1-64 letters, digits, "-" or ".", starting and ending with a letter or digit; no "_": ' +
  'a bucket name ends with "_<agent-id>" and its last "_" part names the author, so an id holding "_" ' +
  "could take another agent's names (agent \"b\" publishing train_a.py would write agent \"a_b\"'s train_a_b.py)";

/** Why `id` is not a valid agent id, or undefined when it is. */
export function agentIdProblem(id: string): string | undefined {
  return AGENT_ID_PATTERN.test(id) ? undefined : `"${id}" is not a valid agent id: ${AGENT_ID_EXPECTED}`;
}
