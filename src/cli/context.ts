/** What every command needs: validated config, logger, and (for commands that publish) the wiring. */
import { loadConfig } from '../config/load.js';
import type { Config, RawSettings } from '../config/parse.js';
import { openBucket } from '../adapters/bucket.js';
import { NodeOutboxFs } from '../adapters/node-fs.js';
import { systemClock } from '../adapters/system-clock.js';
import { Outbox, type OutboxOptions } from '../daemon.js';
import { createLogger, type Logger } from '../log.js';
import { checkOutbox } from '../pipeline/layout.js';
import type { OutboxMetrics } from '../service/metrics.js';
import { StateStore } from '../state/store.js';

export interface CommandContext {
  config: Config;
  logger: Logger;
}

export async function loadContext(flags: RawSettings, purpose: 'publish' | 'read' = 'publish'): Promise<CommandContext> {
  const { config, warnings } = await loadConfig(flags, process.env, process.cwd(), purpose);
  const logger = createLogger({ level: config.logLevel, agentId: config.agentId });
  for (const w of warnings) logger.warn(w);
  return { config, logger };
}

export function stateIdentity(config: Config) {
  return { outbox: config.outbox, bucket: config.bucket.uri, agentId: config.agentId };
}

/** Builds the daemon over the real adapters. The caller closes `state`. */
export async function createOutbox(
  ctx: CommandContext,
  options: OutboxOptions = {},
  metrics?: OutboxMetrics,
): Promise<{ outbox: Outbox; state: StateStore }> {
  const fs = new NodeOutboxFs();
  // A mistyped or missing outbox is a configuration error (78) before any state is created for it.
  await checkOutbox(ctx.config);
  const state = StateStore.open(ctx.config.stateDir, stateIdentity(ctx.config));
  try {
    const bucket = await openBucket(ctx.config, { fs, clock: systemClock, logger: ctx.logger, ...(metrics ? { metrics } : {}) });
    const outbox = new Outbox(ctx.config, { fs, bucket, state, clock: systemClock, logger: ctx.logger }, options);
    return { outbox, state };
  } catch (error) {
    state.close();
    throw error;
  }
}
