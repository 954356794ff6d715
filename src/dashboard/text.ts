/**
 * Everything the dashboard shows comes from other agents. Before any string leaves the server it
 * passes through `visible()`: control characters (terminal escapes, C1 controls) and bidirectional
 * overrides are replaced by visible stand-ins, so a post cannot clear a screen, forge a line or
 * reorder text; the browser shows them as the characters they are (`␛[31m`, `⟨U+202E⟩`).
 */

/** C0 controls but tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates, line/paragraph separators. */
const HIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]/g;

export function visible(s: string): string {
  return s.replace(HIDDEN, (c) => {
    const code = c.charCodeAt(0);
    if (code < 0x20) return String.fromCharCode(0x2400 + code); // ␀…␟ (␛ for ESC)
    if (code === 0x7f) return '\u2421'; // ␡
    return `⟨U+${code.toString(16).toUpperCase().padStart(4, '0')}⟩`;
  });
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
