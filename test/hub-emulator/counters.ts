/** Request accounting for tests and benchmarks. */
import type { HubEmulatorCounters, RequestLogEntry } from './types.js';

const WINDOW_MS = 1000;

export class Counters {
  private requests: Record<string, number> = {};
  private totalRequests = 0;
  private bytesReceived = 0;
  private peakRequestsPerSecond = 0;
  private peakConcurrentRequests = 0;
  private inFlight = 0;
  /** Arrival times inside the current sliding window, oldest first. */
  private window: number[] = [];
  private requestLog: RequestLogEntry[] = [];

  /** Records an arrival; the returned entry gets its status when the exchange ends. */
  arrive(endpoint: string, method: string, path: string): RequestLogEntry {
    const t = Date.now();
    this.requests[endpoint] = (this.requests[endpoint] ?? 0) + 1;
    this.totalRequests++;
    this.inFlight++;
    this.peakConcurrentRequests = Math.max(this.peakConcurrentRequests, this.inFlight);
    while (this.window.length && t - (this.window[0] ?? t) >= WINDOW_MS) this.window.shift();
    this.window.push(t);
    this.peakRequestsPerSecond = Math.max(this.peakRequestsPerSecond, this.window.length);
    const entry: RequestLogEntry = { t, endpoint, method, path, status: 0 };
    this.requestLog.push(entry);
    return entry;
  }

  depart(): void {
    this.inFlight--;
  }

  addBytes(n: number): void {
    this.bytesReceived += n;
  }

  snapshot(): HubEmulatorCounters {
    return {
      requests: { ...this.requests },
      totalRequests: this.totalRequests,
      bytesReceived: this.bytesReceived,
      peakRequestsPerSecond: this.peakRequestsPerSecond,
      peakConcurrentRequests: this.peakConcurrentRequests,
      requestLog: this.requestLog.map((entry) => ({ ...entry })),
    };
  }

  /** Clears everything but the requests still in flight, which keep counting toward concurrency. */
  reset(): void {
    this.requests = {};
    this.totalRequests = 0;
    this.bytesReceived = 0;
    this.peakRequestsPerSecond = 0;
    this.peakConcurrentRequests = this.inFlight;
    this.window = [];
    this.requestLog = [];
  }
}
