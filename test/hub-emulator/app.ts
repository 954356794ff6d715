/** What every route handler gets: the state and the settings of one emulator instance. */
import type { HubStore } from './store.js';
import type { TokenGrant } from './types.js';

export interface App {
  store: HubStore;
  tokens: Record<string, TokenGrant>;
  treePageSize: number;
  casTokenTtlSeconds: number;
  dedupKeyTtlSeconds: number;
}

/** Base URL of the CAS, served by the same listener under a path prefix (it must not end with '/'). */
export function casUrl(origin: string): string {
  return `${origin}/cas`;
}
