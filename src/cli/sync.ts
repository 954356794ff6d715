/** `hf-outbox sync`: one pass — scan, settle (bounded), upload what is not in the bucket, exit. */
import { OutboxError } from '../core/errors.js';
import type { ProblemEvent } from '../daemon.js';
import type { CommandContext } from './context.js';
import { createOutbox } from './context.js';
import { showSyncProgress } from './progress.js';
import { warnIfWorldWritable } from './watch.js';

/**
 * SIGINT/SIGTERM stop the pass like `watch`: uploads in flight get the grace period, what is left
 * is logged and goes at the next run. A second signal exits at once (the terminal restored).
 */
export async function runSync(ctx: CommandContext, options: { adopt?: boolean; verify?: boolean } = {}): Promise<number> {
  const { logger } = ctx;
  await warnIfWorldWritable(ctx.config.outbox, logger);
  const level = logger.level;
  let bar: ReturnType<typeof showSyncProgress> | undefined;
  let stopRequested: NodeJS.Signals | undefined;
  let onStop: (signal: NodeJS.Signals) => void = () => undefined;
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => (onStop = resolve));
  const handler = (signal: NodeJS.Signals) => {
    if (stopRequested) {
      bar?.stop();
      logger.level = level;
      logger.warn({ signal }, 'second stop signal: exiting now; unfinished uploads are checked and redone at the next run');
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    stopRequested = signal;
    bar?.stop();
    logger.level = level;
    onStop(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  try {
    const { outbox, state, discardNewState } = await createOutbox(ctx, { adopt: options.adopt ?? false, ...(options.verify ? { verify: 'always' as const } : {}) }, undefined, 'sync');
    try {
      try {
        await outbox.prepare();
      } catch (error) {
        // A start that fails on configuration or credentials (78) leaves no state behind.
        if (error instanceof OutboxError && error.retry === 'fatal') discardNewState();
        throw error;
      }
      let uploaded = 0;
      let adopted = 0;
      outbox.on('adopted', () => adopted++);
      let bytes = 0;
      const problems: ProblemEvent[] = [];
      const unsettled: string[] = [];
      const incomplete = new Map<string, string>();
      outbox.on('uploaded', (e) => {
        uploaded++;
        bytes += e.sizeBytes;
      });
      outbox.on('problem', (p) => problems.push(p));
      outbox.on('unsettled', ({ unitPath, waitingFor }) => {
        unsettled.push(unitPath);
        if (waitingFor !== undefined) incomplete.set(unitPath, waitingFor);
        outbox.abandon(unitPath);
      });
      const started = Date.now();
      if (stopRequested === undefined) {
        bar = showSyncProgress(outbox);
        // With a bar on the terminal, info lines other than the per-file ones go above it or not at all.
        if (bar.shown && level === 'info') logger.level = 'warn';
      }
      const pass = stopRequested === undefined ? outbox.scan().then(({ files }) => outbox.drain().then(() => files)) : Promise.resolve(0);
      pass.catch(() => undefined); // after a stop it may never settle; its outcome no longer matters
      const first = await Promise.race([pass.then((files) => ({ files })), stopSignal.then((signal) => ({ signal }))]);
      bar?.stop();
      logger.level = level;
      if ('signal' in first) {
        const graceMs = outbox.config.shutdownGraceMs;
        logger.info({ signal: first.signal, graceMs }, 'stopping: finishing uploads in flight (send it again to exit at once)');
        const { interrupted } = await outbox.stop({ graceMs });
        const left = state.notDelivered();
        for (const p of left) logger.warn({ local: p.localPath, state: p.state }, 'not delivered: goes at the next sync or watch');
        const summary = { uploaded, adopted, bytes, interrupted, notDelivered: left.length, durationMs: Date.now() - started };
        logger[left.length === 0 ? 'info' : 'warn'](summary, `sync stopped by ${first.signal}`);
        return left.length === 0 && problems.length === 0 ? 0 : 1;
      }
      const pending = state.notDelivered();
      const summary = {
        scanned: first.files,
        uploaded,
        adopted,
        bytes,
        failed: problems.filter((p) => p.state === 'failed').length,
        rejected: problems.filter((p) => p.state === 'rejected').length,
        conflict: problems.filter((p) => p.state === 'conflict').length,
        unsettled: unsettled.length,
        notDelivered: pending.length,
        durationMs: Date.now() - started,
      };
      const ok = problems.length === 0 && unsettled.length === 0 && pending.length === 0;
      for (const u of unsettled) {
        const why = incomplete.get(u);
        if (why === undefined) logger.error({ unit: u }, 'never settled: still being written, not uploaded');
        else logger.error({ unit: u, waitingFor: why }, `incomplete, not uploaded (${why}); add a file named COMPLETE to the folder to publish it as it is`);
      }
      for (const p of pending) logger.error({ local: p.localPath, reason: p.lastError }, 'not delivered in this pass');
      logger[ok ? 'info' : 'error'](summary, ok ? 'sync finished' : 'sync finished with problems');
      await outbox.stop();
      return ok ? 0 : 1;
    } finally {
      state.close();
    }
  } finally {
    bar?.stop();
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  }
}
