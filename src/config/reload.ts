/**
 * Reloading the configuration of a running daemon (SIGHUP, `systemctl reload`, an edit of the
 * config file): a new configuration is validated as a whole before anything of it applies; a bad
 * one is refused with the reason and the running one kept. Of a valid one, the settings that shape
 * what is published and how fast apply at once; those naming the outbox, bucket, identity, state
 * or the machinery built at start need a restart, and are named.
 */
import type { Logger } from '../log.js';
import type { Config } from './parse.js';

/** Settings a running daemon takes at once (its stages read them at each use). */
export const LIVE_SETTINGS = ['settleMs', 'unitSettleMs', 'settleTimeoutMs', 'ignore', 'autoAnnounce', 'rescanIntervalMs', 'shutdownGraceMs', 'logLevel'] as const;
/** Settings that take effect only after a restart. */
export const RESTART_SETTINGS = [
  'outbox', 'bucket', 'agentId', 'stateDir', 'hubUrl', 'tokenFile', 'unitCategories', 'categories', 'concurrency',
  'maxRequestsPerSecond', 'maxUploadBytesPerSecond', 'createBucket', 'watchMode', 'pollIntervalMs', 'watchConfig', 'xetWriter', 'uploadThreads', 'metricsPort',
] as const;

export interface ReloadPlan {
  /** The running configuration with the live settings of the new one. */
  config: Config;
  /** Live settings that changed (now applied). */
  applied: string[];
  /** Settings that changed but wait for a restart. */
  needRestart: string[];
}

/** What of a new, valid configuration applies to the running one (pure). */
export function planReload(current: Config, next: Config): ReloadPlan {
  const differs = (k: keyof Config) => JSON.stringify(current[k]) !== JSON.stringify(next[k]);
  const applied = LIVE_SETTINGS.filter(differs);
  const needRestart = RESTART_SETTINGS.filter(differs);
  const merged = { ...current };
  for (const k of applied) (merged as Record<string, unknown>)[k] = next[k];
  return { config: Object.freeze(merged), applied: [...applied], needRestart: [...needRestart] };
}

/** What a reload did: applied a new configuration, or kept the old one and why. */
export type ReloadOutcome = { ok: true; applied: string[]; needRestart: string[] } | { ok: false; reason: string };

/** The running daemon, as a reload sees it. */
export interface Reconfigurable {
  reconfigure(next: Config): { applied: string[]; needRestart: string[] };
}

/**
 * Loads and validates the configuration again (`load` throws on a bad one) and applies it to the
 * daemon, or keeps the running one. Logs the outcome, each line starting with `why`.
 */
export async function reloadConfig(daemon: Reconfigurable, load: () => Promise<Config>, logger: Logger, why: string): Promise<ReloadOutcome> {
  let next: Config;
  try {
    next = await load();
  } catch (error) {
    const reason = (error as Error).message;
    logger.error({ err: reason }, `${why}: the new configuration is invalid; still running on the previous one`);
    return { ok: false, reason };
  }
  const { applied, needRestart } = daemon.reconfigure(next);
  logger.info({ applied }, applied.length > 0 ? `${why}: configuration reloaded` : `${why}: configuration unchanged`);
  if (needRestart.length > 0) logger.warn({ settings: needRestart }, `${why}: these settings changed but take effect only after a restart`);
  return { ok: true, applied, needRestart };
}
