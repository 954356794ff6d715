/** Injected faults, matched per endpoint in the order they were added. */
import type { EndpointName, FaultRule } from './types.js';

/** What to do to one request: wait first, then possibly replace the real answer. */
export interface FaultDecision {
  latencyMs: number;
  terminal?: FaultRule;
}

interface ActiveRule {
  rule: FaultRule;
  remaining: number;
}

export class FaultSet {
  private rules: ActiveRule[] = [];

  add(rule: FaultRule): void {
    const probability = rule.probability ?? 1;
    if (!(probability >= 0 && probability <= 1)) throw new RangeError('probability must be within 0..1');
    this.rules.push({ rule, remaining: rule.times ?? Number.POSITIVE_INFINITY });
  }

  clear(): void {
    this.rules = [];
  }

  /**
   * Every latency rule that fires adds up; the first status/rate-limit/drop rule that fires decides
   * the answer. Only rules that fire use up one of their `times`.
   */
  decide(endpoint: EndpointName, body?: Buffer): FaultDecision {
    const decision: FaultDecision = { latencyMs: 0 };
    for (const active of this.rules) {
      const { rule } = active;
      if (rule.endpoint !== '*' && rule.endpoint !== endpoint) continue;
      if (rule.shardFooter !== undefined && (endpoint !== 'shard' || shardFooter(body) !== rule.shardFooter)) continue;
      if (active.remaining <= 0) continue;
      if (rule.kind !== 'latency' && decision.terminal) continue;
      if (Math.random() >= (rule.probability ?? 1)) continue;
      active.remaining--;
      if (rule.kind === 'latency') decision.latencyMs += rule.latencyMs ?? 0;
      else decision.terminal = rule;
    }
    this.rules = this.rules.filter((active) => active.remaining > 0);
    return decision;
  }
}

/** Whether a shard body's header declares a footer (u64 footer size at offset 40). */
function shardFooter(body: Buffer | undefined): 'absent' | 'present' | undefined {
  if (!body || body.length < 48) return undefined;
  return body.readBigUInt64LE(40) === 0n ? 'absent' : 'present';
}

/**
 * Holds requests to one endpoint (after their body arrived, before any answer) until released, so
 * a test can look at a moment in flight for as long as it needs instead of racing it.
 */
export class HoldGate {
  readonly endpoint: EndpointName;
  /** Requests waiting now. */
  waiting = 0;
  private released = false;
  /** Requests still let through before the hold starts. */
  private passing: number;
  private readonly waiters: Array<() => void> = [];
  private readonly arrivals: Array<() => void> = [];

  constructor(endpoint: EndpointName, after = 0) {
    this.endpoint = endpoint;
    this.passing = after;
  }

  /** Resolves once a request is being held (at once if one already is). */
  arrived(): Promise<void> {
    if (this.waiting > 0) return Promise.resolve();
    return new Promise((resolve) => this.arrivals.push(resolve));
  }

  /** Called by the server for each matching request. */
  wait(): Promise<void> {
    if (this.released) return Promise.resolve();
    if (this.passing > 0) {
      this.passing--;
      return Promise.resolve();
    }
    this.waiting++;
    for (const notify of this.arrivals.splice(0)) notify();
    return new Promise((resolve) => this.waiters.push(() => {
      this.waiting--;
      resolve();
    }));
  }

  /** Lets every held request (and every later one) through. */
  release(): void {
    this.released = true;
    for (const go of this.waiters.splice(0)) go();
  }
}
