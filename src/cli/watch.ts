/**
 * `hf-outbox watch`: the long-running daemon. Signals: SIGTERM/SIGINT drain and exit 0;
 * SIGHUP reloads the configuration (a bad one is reported and the running one kept) and retries
 * failed uploads now; so does an edit of the config file (watch-config), without the retry. Under systemd (Type=notify) it reports READY=1 after the first scan,
 * RELOADING=1 … READY=1 around a reload, STOPPING=1 on shutdown, and pings the watchdog.
 */
import { stat } from 'node:fs/promises';
import { loadConfig } from '../config/load.js';
import { reloadConfig } from '../config/reload.js';
import { watchConfigFile, type ConfigFileWatcher } from '../config/watch-file.js';
import type { RawSettings } from '../config/parse.js';
import { OutboxError } from '../core/errors.js';
import { createMetrics, serveMetrics } from '../service/metrics.js';
import { createNotifier } from '../service/notify.js';
import type { CommandContext } from './context.js';
import { createOutbox } from './context.js';

/** How often a daemon that cannot reach or write its bucket checks again (it never crash-loops). */
const BUCKET_RECHECK_MS = 60_000;

export async function runWatch(ctx: CommandContext, flags: RawSettings = {}): Promise<number> {
  const { config, logger } = ctx;
  const notifier = createNotifier(process.env, { onError: (err, message) => logger.warn({ err: err.message, message }, 'systemd notification failed') });
  const stopWatchdog = notifier.startWatchdog();
  const metrics = config.metricsPort > 0 ? createMetrics() : undefined;
  const { outbox, state } = await createOutbox(ctx, {}, metrics);
  const server = metrics ? await serveMetrics(metrics, { port: config.metricsPort }) : undefined;
  if (server) logger.info({ url: server.url }, 'serving /healthz and /metrics');
  let sampler: NodeJS.Timeout | undefined;
  if (metrics) {
    outbox.on('uploaded', (e) => metrics.fileUploaded(e.sizeBytes));
    outbox.on('problem', (p) => metrics.fileFailed(p.state));
    sampler = setInterval(() => {
      const q = outbox.queueStats();
      metrics.setQueue(q.waiting, q.running, q.settling);
    }, 2_000).unref();
  }
  const signals = new StopSignals();
  let configWatcher: ConfigFileWatcher | undefined;
  try {
    await warnIfWorldWritable(config.outbox, logger);
    for (;;) {
      try {
        await outbox.prepare();
        break;
      } catch (error) {
        if (!(error instanceof OutboxError) || (error.code !== 'HFO_AUTH' && error.code !== 'HFO_BUCKET_NOT_FOUND')) throw error;
        logger.error({ code: error.code }, `${error.message}; checking again in ${BUCKET_RECHECK_MS / 1000} s`);
        // Ready (alive and waiting), so a Type=notify unit is not killed for a start timeout and restarted in a loop.
        await notifier.ready(`waiting for the bucket: ${error.message}`);
        if (await signals.within(BUCKET_RECHECK_MS)) return 0;
      }
    }
    await outbox.watch();
    const { files } = await outbox.scan();
    outbox.startHousekeeping();
    // One reload at a time; under systemd, RELOADING=1 … READY=1 around it (ExecReload= sends the SIGHUP).
    let reloads = Promise.resolve();
    const reloadFor = (why: ReloadReason) => {
      reloads = reloads.then(async () => {
        await notifier.reloading('reloading the configuration');
        await reload(ctx, flags, outbox, why);
        await notifier.ready(`watching ${config.outbox} → ${config.bucket.uri}`);
      });
    };
    process.on('SIGHUP', () => reloadFor('SIGHUP'));
    if (config.configFile !== undefined && config.watchConfig) {
      configWatcher = watchConfigFile(config.configFile, {
        onChange: () => reloadFor('config file changed'),
        onError: (err) => logger.warn({ err: err.message, file: config.configFile }, 'cannot watch the config file; send SIGHUP to reload it'),
      });
      await configWatcher.ready;
      logger.debug({ file: config.configFile }, 'reloading the config file when it changes');
    }
    logger.info(
      { outbox: config.outbox, bucket: config.bucket.uri, stateDir: config.stateDir, files },
      'watching the outbox (Ctrl-C to stop)',
    );
    await notifier.ready(`watching ${config.outbox} → ${config.bucket.uri}`);
    metrics?.setReady(true);
    const signal = await signals.next;
    const graceMs = outbox.config.shutdownGraceMs;
    logger.info({ signal, graceMs }, 'stopping: finishing uploads in flight');
    await notifier.stopping(`finishing uploads (up to ${Math.round(graceMs / 1000)} s)`);
    metrics?.setReady(false);
    const { interrupted } = await outbox.stop({ graceMs });
    if (interrupted > 0) logger.warn({ files: interrupted }, 'stopped before these uploads finished; they are redone at the next start');
    logger.info('stopped');
    return 0;
  } finally {
    await configWatcher?.close();
    stopWatchdog();
    clearInterval(sampler);
    await server?.close();
    state.close();
  }
}

type ReloadReason = 'SIGHUP' | 'config file changed';

/**
 * SIGHUP or an edit of the config file: validate the new configuration as a whole; apply it only
 * if it is valid. SIGHUP also retries failed uploads now.
 */
async function reload(ctx: CommandContext, flags: RawSettings, outbox: Awaited<ReturnType<typeof createOutbox>>['outbox'], why: ReloadReason) {
  await reloadConfig(outbox, async () => (await loadConfig(flags)).config, ctx.logger, why);
  if (why === 'SIGHUP') outbox.retryFailed(0);
}

/** `watch` and `sync` both say it: anyone could publish under this agent's id. */
export async function warnIfWorldWritable(dir: string, logger: CommandContext['logger']): Promise<void> {
  const s = await stat(dir).catch(() => undefined);
  if (s && (s.mode & 0o002) !== 0) {
    logger.warn({ outbox: dir, mode: (s.mode & 0o7777).toString(8) }, 'the outbox is world-writable: any user on this machine can publish under your agent id (chmod o-w)');
  }
}

/** SIGINT/SIGTERM as a promise; the first one wins. */
class StopSignals {
  readonly next: Promise<NodeJS.Signals>;

  constructor() {
    this.next = new Promise((resolve) => {
      const on = (signal: NodeJS.Signals) => {
        process.off('SIGINT', on);
        process.off('SIGTERM', on);
        resolve(signal);
      };
      process.on('SIGINT', on);
      process.on('SIGTERM', on);
    });
  }

  /** True when a stop signal arrived within `ms`. */
  async within(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const result = await Promise.race([this.next.then(() => true), timeout]);
    clearTimeout(timer);
    return result;
  }
}
