/**
 * `hf-outbox dashboard`: a read-only web page over the configured bucket (the board as a feed,
 * the leaderboard with a chart, the artifacts, and this agent's queue), on 127.0.0.1 unless
 * `--host` says otherwise. It writes nothing: the bucket is only listed and read, the state only
 * opened read-only. Runs until SIGINT/SIGTERM.
 */
import { spawn } from 'node:child_process';
import { openBucket } from '../adapters/bucket.js';
import { NodeOutboxFs } from '../adapters/node-fs.js';
import { systemClock } from '../adapters/system-clock.js';
import { isErrnoException } from '../core/errors.js';
import { startDashboard, type AgentStatus } from '../dashboard/server.js';
import { StateStore } from '../state/store.js';
import type { CommandContext } from './context.js';
import { buildStatus, locateState } from './status.js';

export interface DashboardOptions {
  port: number;
  host: string;
  open: boolean;
  refreshMs: number;
  signal: AbortSignal;
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream;
}

export const DEFAULT_DASHBOARD_PORT = 7860;
export const MIN_REFRESH_MS = 1000;
const MAX_PROBLEMS = 200;

export async function runDashboard(ctx: CommandContext, options: DashboardOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const err = options.err ?? process.stderr;
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    err.write(`hf-outbox dashboard: --port ${options.port} is not a port; give 1-65535, or 0 for any free port\n`);
    return 2;
  }
  if (!Number.isFinite(options.refreshMs) || options.refreshMs < MIN_REFRESH_MS) {
    err.write(`hf-outbox dashboard: --refresh-ms ${options.refreshMs} is too often; give at least ${MIN_REFRESH_MS} (the bucket is listed at most this often)\n`);
    return 2;
  }
  const loopback = ['127.0.0.1', 'localhost', '::1'].includes(options.host);
  if (!loopback) {
    err.write(
      `hf-outbox dashboard: warning: listening on ${options.host}, not only 127.0.0.1: anyone who can reach this machine ` +
        'on that address can read the bucket and this agent\'s queue through it, without logging in\n',
    );
  }

  const bucket = await openBucket(ctx.config, { fs: new NodeOutboxFs(), clock: systemClock, logger: ctx.logger });
  // The state `status` reads (the configured one, else one found from the outbox alone), looked for
  // again at most every 10 s while there is none, opened read-only once found.
  let state: { store: StateStore; dir: string; agentId: string; bucket: string } | undefined;
  let lookedAt = 0;
  const agentStatus = (): AgentStatus => {
    if (state === undefined && Date.now() - lookedAt >= 10_000) {
      lookedAt = Date.now();
      const where = locateState(ctx.config);
      if (where.exists) {
        state = { store: StateStore.open(where.stateDir, where.identity, { readonly: true }), dir: where.stateDir, agentId: where.identity.agentId, bucket: where.identity.bucket };
      }
    }
    if (state === undefined) return { found: false, stateDir: ctx.config.stateDir, report: null, problems: [], problemCount: 0, uploadingFiles: [] };
    const { items, ...report } = buildStatus(ctx, state.store, Date.now(), state.dir);
    const problems = items.filter((i) => i.state === 'failed' || i.state === 'rejected' || i.state === 'conflict');
    return {
      found: true,
      stateDir: state.dir,
      report: { ...report, stateDir: state.dir, agentId: state.agentId, bucket: state.bucket } as unknown as Record<string, unknown>,
      problems: problems.slice(0, MAX_PROBLEMS).map((p) => ({ local: p.local, remote: p.remote, state: p.state, error: p.error ?? null })),
      problemCount: problems.length,
      uploadingFiles: items.filter((i) => i.state === 'uploading').slice(0, MAX_PROBLEMS).map((i) => ({ local: i.local, remote: i.remote })),
    };
  };

  let dashboard;
  try {
    dashboard = await startDashboard({ config: ctx.config, bucket, logger: ctx.logger, agentStatus, refreshMs: options.refreshMs }, { host: options.host, port: options.port });
  } catch (error) {
    state?.store.close();
    if (isErrnoException(error) && error.code === 'EADDRINUSE') {
      err.write(`hf-outbox dashboard: port ${options.port} on ${options.host} is in use; pass --port with another port, or --port 0 for any free one\n`);
      return 1;
    }
    if (isErrnoException(error) && (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND')) {
      err.write(`hf-outbox dashboard: cannot listen on ${options.host} (${error.code}); pass --host with an address of this machine\n`);
      return 2;
    }
    throw error;
  }
  out.write(`hf-outbox dashboard: ${dashboard.url} (reading ${bucket.description}; read-only; Ctrl-C to stop)\n`);
  if (options.open) openBrowser(dashboard.url, err);

  await new Promise<void>((resolve) => {
    if (options.signal.aborted) return resolve();
    options.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await dashboard.close();
  state?.store.close();
  return 0;
}

function openBrowser(url: string, err: NodeJS.WritableStream): void {
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(command, [url], { detached: true, stdio: 'ignore' });
    child.on('error', () => err.write(`hf-outbox dashboard: could not start ${command} to open the page; open ${url} yourself\n`));
    child.unref();
  } catch {
    err.write(`hf-outbox dashboard: could not start ${command} to open the page; open ${url} yourself\n`);
  }
}
