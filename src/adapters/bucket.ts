/** Chooses the bucket backend for the configured target, wrapped so it only ever writes our own names. */
import type { Config } from '../config/parse.js';
import type { BucketClient, Clock, OutboxFs } from '../core/ports.js';
import type { Logger } from '../log.js';
import { createHubFetch, type HubFetchEvent } from '../net/hub-fetch.js';
import type { OutboxMetrics } from '../service/metrics.js';
import { OwnNamesBucket } from '../conventions/own-names.js';
import { LocalFolderBucket } from './local-bucket.js';

export interface BucketDeps {
  fs: OutboxFs;
  clock: Clock;
  logger: Logger;
  metrics?: OutboxMetrics;
  /** Proxy settings are read from here (HTTPS_PROXY, HTTP_PROXY, NO_PROXY). */
  env?: NodeJS.ProcessEnv;
  /** Every request-level event (breaker, retries), e.g. for what `status` shows of the Hub. */
  onHubEvent?: (event: HubFetchEvent) => void;
}

export async function openBucket(config: Config, deps: BucketDeps): Promise<BucketClient> {
  const target = config.bucket;
  // Every write of the daemon goes through OwnNamesBucket: it refuses any path without our agent id.
  if (target.kind === 'local') return new OwnNamesBucket(new LocalFolderBucket(target.root, deps.fs), config.agentId);
  // Loaded here, not at start: a local-folder bucket (and every command that reads no bucket) needs
  // neither undici nor prom-client, and loading them is most of a short command's start-up time.
  const { proxyAwareFetch } = await import('../net/proxy.js');
  // Node's own fetch ignores proxy variables: route through undici's proxy agent when they are set.
  const proxied = proxyAwareFetch(deps.env ?? process.env);
  if (proxied.proxy) deps.logger.info({ proxy: proxied.proxy }, 'Hub requests go through a proxy');
  const { metrics } = deps;
  const countRequests = metrics ? (await import('../service/metrics.js')).countRequests : undefined;
  const hubFetch = createHubFetch({
    clock: deps.clock,
    // Counted below the retry layer, so every attempt and probe shows in the request metrics.
    fetch: metrics && countRequests ? countRequests(proxied.fetch, metrics) : proxied.fetch,
    ...(config.maxRequestsPerSecond > 0 ? { maxRequestsPerSecond: config.maxRequestsPerSecond } : {}),
    ...(config.maxUploadBytesPerSecond > 0 ? { maxUploadBytesPerSecond: config.maxUploadBytesPerSecond } : {}),
    onEvent: (event) => {
      logFetchEvent(deps.logger, event);
      deps.onHubEvent?.(event);
      if (event.type === 'retry') metrics?.retry();
      else if (event.type === 'rate-limited') metrics?.rateLimited();
      else if (event.type === 'breaker-open') metrics?.setBreakerOpen(true);
      else if (event.type === 'breaker-closed') metrics?.setBreakerOpen(false);
    },
  });
  const { openHubBucket } = await import('./hub-bucket.js');
  return new OwnNamesBucket(await openHubBucket(config, target, deps.fs, hubFetch, deps.logger), config.agentId);
}

/** Request-level events: retries and rate limits are worth a line; each request is only traced. */
function logFetchEvent(log: Logger, event: HubFetchEvent): void {
  switch (event.type) {
    case 'retry':
      log.warn(event, `request failed (${event.status ?? event.error}); retrying in ${Math.round(event.delayMs / 100) / 10} s`);
      return;
    case 'rate-limited':
      log.warn(event, 'rate limited by the Hub; waiting as it asked');
      return;
    case 'breaker-open':
      log.error(event, 'the Hub keeps failing; pausing all requests and probing one at a time');
      return;
    case 'breaker-closed':
      log.info(event, 'the Hub answers again; resuming');
      return;
    case 'done':
      log.trace(event, 'request');
      return;
  }
}
