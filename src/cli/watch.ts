/** `hf-outbox watch`: the long-running daemon. */
import { OutboxError } from '../core/errors.js';
import type { CommandContext } from './context.js';
import { createOutbox } from './context.js';

/** How often a daemon that cannot reach or write its bucket checks again (it never crash-loops). */
const BUCKET_RECHECK_MS = 60_000;

export async function runWatch(ctx: CommandContext): Promise<number> {
  const { config, logger } = ctx;
  const { outbox, state } = await createOutbox(ctx);
  const stopping = waitForStopSignal();
  try {
    for (;;) {
      try {
        await outbox.prepare();
        break;
      } catch (error) {
        if (!(error instanceof OutboxError) || (error.code !== 'HFO_AUTH' && error.code !== 'HFO_BUCKET_NOT_FOUND')) throw error;
        logger.error({ code: error.code }, `${error.message}; checking again in ${BUCKET_RECHECK_MS / 1000} s`);
        const next = await Promise.race([stopping, sleep(BUCKET_RECHECK_MS).then(() => undefined)]);
        if (next !== undefined) return 0;
      }
    }
    await outbox.watch();
    const { files } = await outbox.scan();
    outbox.startHousekeeping();
    const onHup = () => {
      logger.info('SIGHUP: retrying failed uploads now');
      outbox.retryFailed(0);
    };
    process.on('SIGHUP', onHup);
    logger.info(
      { outbox: config.outbox, bucket: outbox.config.bucket.uri, stateDir: config.stateDir, files },
      'watching the outbox (Ctrl-C to stop)',
    );
    const signal = await stopping;
    logger.info({ signal }, 'stopping');
    await outbox.stop();
    return 0;
  } finally {
    state.close();
  }
}

function waitForStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
