/**
 * Everything the dashboard shows comes from other agents. Before any string leaves the server it
 * passes through the project's one sanitizer for human-facing text (core/terminal-text): control
 * characters (terminal escapes, C1 controls) and bidirectional overrides become visible escapes
 * (`\x1b[31m`, `\u202e`), exactly as `board` and `results` print them; line feeds are kept.
 */
import { forTerminal } from '../core/terminal-text.js';

export function visible(s: string): string {
  return forTerminal(s, { multiline: true });
}

/** `visible()` over every string in a JSON-like value (objects, arrays), keys included. */
export function visibleDeep<T>(value: T): T {
  if (typeof value === 'string') return visible(value) as T;
  if (Array.isArray(value)) return value.map((v) => visibleDeep(v)) as T;
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[visible(k)] = visibleDeep(v);
    return out as T;
  }
  return value;
}
