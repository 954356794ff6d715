import { setTimeout as sleepPromise } from 'node:timers/promises';
import type { Clock } from '../core/ports.js';

/** Clock over Date.now and timers (vitest's fake timers replace both, so this is also the test clock). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const handle = setTimeout(fn, ms);
    return () => clearTimeout(handle);
  },
  sleep: (ms, signal) => sleepPromise(ms, undefined, signal ? { signal } : undefined),
};
