/** `hf-outbox sync`: one pass — scan, settle (bounded), upload what is not in the bucket, exit. */
import type { ProblemEvent } from '../daemon.js';
import type { CommandContext } from './context.js';
import { createOutbox } from './context.js';
import { showSyncProgress } from './progress.js';

export async function runSync(ctx: CommandContext, options: { adopt?: boolean } = {}): Promise<number> {
  const { logger } = ctx;
  const { outbox, state } = await createOutbox(ctx, { adopt: options.adopt ?? false });
  try {
    await outbox.prepare();
    let uploaded = 0;
    let adopted = 0;
    outbox.on('adopted', () => adopted++);
    let bytes = 0;
    const problems: ProblemEvent[] = [];
    const unsettled: string[] = [];
    outbox.on('uploaded', (e) => {
      uploaded++;
      bytes += e.sizeBytes;
    });
    outbox.on('problem', (p) => problems.push(p));
    outbox.on('unsettled', ({ unitPath }) => {
      unsettled.push(unitPath);
      outbox.abandon(unitPath);
    });
    const started = Date.now();
    const bar = showSyncProgress(outbox);
    // With a bar on the terminal, one log line per file would only scroll it away: keep warnings and errors.
    const level = logger.level;
    if (bar.shown && level === 'info') logger.level = 'warn';
    const { files } = await outbox.scan();
    await outbox.drain();
    bar.stop();
    logger.level = level;
    const pending = state.notDelivered();
    const summary = {
      scanned: files,
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
    for (const u of unsettled) logger.error({ unit: u }, 'never settled: still being written, not uploaded');
    for (const p of pending) logger.error({ local: p.localPath, reason: p.lastError }, 'not delivered in this pass');
    logger[ok ? 'info' : 'error'](summary, ok ? 'sync finished' : 'sync finished with problems');
    await outbox.stop();
    return ok ? 0 : 1;
  } finally {
    state.close();
  }
}
