/** URL routing: decoded path segments + method -> endpoint name (for counters/faults) and handler. */
import type { App } from './app.js';
import * as cas from './cas-routes.js';
import type { BodyObserver, Exchange } from './http.js';
import * as hub from './hub-routes.js';
import type { EndpointName } from './types.js';
import { XORB_MAX_BYTES } from './xorb.js';

export type Handler = (app: App, ex: Exchange) => void | Promise<void>;

export interface Route {
  endpoint: EndpointName;
  /** Null for a known path with the wrong method (405). */
  handler: Handler | null;
  /** Request bodies past this are drained, dropped and answered with 413 (400 for CAS uploads, per the spec). */
  bodyLimit: number;
  tooLargeStatus: number;
  /** Optional watcher of the body as it arrives, created once the exchange exists; see BodyObserver. */
  observeBody?: (app: App, ex: Exchange) => BodyObserver | undefined;
}

const JSON_BODY_LIMIT = 16 * 1024 * 1024;

function route(endpoint: EndpointName, method: string, allowed: Record<string, Handler>, bodyLimit = JSON_BODY_LIMIT): Route {
  return { endpoint, handler: allowed[method] ?? null, bodyLimit, tooLargeStatus: bodyLimit === XORB_MAX_BYTES ? 400 : 413 };
}

export function matchRoute(method: string, s: string[]): Route {
  const [a, b, c] = s;
  const n = s.length;
  if (a === 'api' && b === 'buckets' && n >= 4) {
    if (n === 4) {
      return route(method === 'POST' ? 'create' : method === 'DELETE' ? 'delete-bucket' : 'bucket-info', method, {
        POST: hub.createBucket,
        GET: hub.bucketInfo,
        DELETE: hub.deleteBucket,
      });
    }
    const action = s[4];
    if (action === 'tree') return route('tree', method, { GET: hub.listTree });
    if (n === 5) {
      if (action === 'paths-info') return route('paths-info', method, { POST: hub.pathsInfo });
      if (action === 'xet-write-token') return route('write-token', method, { GET: hub.writeToken });
      if (action === 'xet-read-token') return route('read-token', method, { GET: hub.readToken });
      if (action === 'batch') return route('batch', method, { POST: hub.batch });
    }
  }
  if (a === 'api' && b === 'whoami-v2' && n === 2) return route('whoami', method, { GET: hub.whoami });
  if (a === 'buckets' && n >= 5 && s[3] === 'resolve') {
    return route('resolve', method, { GET: hub.resolve, HEAD: hub.resolve });
  }
  if (a === 'cas') {
    if (b === 'v1' && c === 'xorbs' && n === 5) {
      return { ...route('xorb', method, { POST: cas.uploadXorb }, XORB_MAX_BYTES), observeBody: cas.observeXorbUpload };
    }
    if (b === 'v1' && c === 'shards' && n === 3) return route('shard', method, { POST: cas.uploadShard }, XORB_MAX_BYTES);
    if (b === 'v1' && c === 'chunks' && n === 5) return route('dedup', method, { GET: cas.dedupQuery });
    if (b === 'v2' && c === 'reconstructions' && n === 4) return route('reconstruction', method, { GET: cas.reconstruction });
    if (b === 'v2' && c === 'file-chunk-hashes' && n === 4) return route('file-chunk-hashes', method, { GET: cas.fileChunkHashes });
    if (b === 'xorb-data' && n === 3) return route('xorb-read', method, { GET: cas.xorbRead });
  }
  return { endpoint: 'not-found', handler: null, bodyLimit: JSON_BODY_LIMIT, tooLargeStatus: 413 };
}
