/**
 * Where `status` finds the state of an outbox when the state directory its settings name has none:
 * the state directories this user can read (the default root, $STATE_DIRECTORY's parent, the system
 * service's /var/lib/hf-outbox), matched by outbox first, then by bucket and agent id.
 */
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config/parse.js';
import { STATE_FILE, StateStore, type StateIdentity } from '../state/store.js';

export interface FoundState {
  dir: string;
  identity: StateIdentity;
}

/** Every readable state directory of this user (and the system service's, when readable). */
export function listStateDirs(env: NodeJS.ProcessEnv = process.env): FoundState[] {
  const roots = [
    path.join(env['XDG_STATE_HOME'] || path.join(os.homedir(), '.local', 'state'), 'hf-outbox'),
    '/var/lib/hf-outbox',
  ];
  const found: FoundState[] = [];
  const visit = (dir: string, depth: number) => {
    if (existsSync(path.join(dir, STATE_FILE))) {
      const identity = StateStore.readIdentity(dir);
      if (identity) found.push({ dir, identity });
      return;
    }
    if (depth === 0) return;
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const e of entries.sort()) visit(path.join(dir, e), depth - 1);
  };
  // <root>/<agent-id>/<hash> by default; <root>/<agent-id> under systemd.
  for (const root of roots) visit(root, 2);
  return found;
}

/** The one state of this outbox (the bucket and agent id narrowing when several), else undefined. */
export function findStateFor(config: Pick<Config, 'outbox' | 'agentId'> & { bucket: { uri: string } }, all: FoundState[]): FoundState | undefined {
  const sameOutbox = all.filter((s) => s.identity.outbox === config.outbox);
  if (sameOutbox.length === 1) return sameOutbox[0];
  const narrowed = sameOutbox.filter((s) => s.identity.bucket === config.bucket.uri || s.identity.agentId === config.agentId);
  return narrowed.length === 1 ? narrowed[0] : undefined;
}
