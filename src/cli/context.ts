/** What every command needs: validated config, logger, and (for commands that publish) the wiring. */
import { existsSync, rmSync } from 'node:fs';
import { loadConfig } from '../config/load.js';
import type { Config, RawSettings } from '../config/parse.js';
import { openBucket } from '../adapters/bucket.js';
import { NodeOutboxFs } from '../adapters/node-fs.js';
import { systemClock } from '../adapters/system-clock.js';
import { Outbox, type OutboxOptions } from '../daemon.js';
import { createLogger, type Logger } from '../log.js';
import { checkOutbox } from '../pipeline/layout.js';
import type { OutboxMetrics } from '../service/metrics.js';
import { Presence } from '../service/presence.js';
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

/**
 * Builds the daemon over the real adapters. The caller closes `state`. Everything that can fail
 * as a configuration or credential error (outbox, token) is checked before the state directory is
 * created; `discardNewState()` removes a state directory this start created, for a start that then
 * fails with 78 (a missing bucket) and so should leave nothing behind.
 */
export async function createOutbox(
  ctx: CommandContext,
  options: OutboxOptions = {},
  metrics?: OutboxMetrics,
  command = 'watch',
): Promise<{ outbox: Outbox; state: StateStore; discardNewState(): void }> {
  const fs = new NodeOutboxFs();
  // A mistyped or missing outbox is a configuration error (78) before any state is created for it.
  await checkOutbox(ctx.config);
  const stateDir = ctx.config.stateDir;
  const presence: { current?: Presence } = {};
  const bucket = await openBucket(ctx.config, {
    fs,
    clock: systemClock,
    logger: ctx.logger,
    ...(metrics ? { metrics } : {}),
    onHubEvent: (event) => presence.current?.hubEvent(event),
  });
  const fresh = !existsSync(stateDir);
  const state = StateStore.open(stateDir, stateIdentity(ctx.config));
  try {
    presence.current = new Presence(stateDir, command);
    // A long-running watch checks the bucket at start when its records have not been compared for a while.
    const withVerify: OutboxOptions = command === 'watch' && options.verify === undefined ? { ...options, verify: 'if-stale' } : options;
    const outbox = new Outbox(ctx.config, { fs, bucket, state, clock: systemClock, logger: ctx.logger }, withVerify);
    const discardNewState = () => {
      if (!fresh) return;
      presence.current?.close();
      state.close();
      rmSync(stateDir, { recursive: true, force: true });
    };
    return { outbox, state, discardNewState };
  } catch (error) {
    state.close();
    throw error;
  }
}
