/**
 * Text printed for a human, from anywhere (the bucket, an outbox file name, a server's error): one
 * sanitizer, so no field can drive the terminal. C0 and C1 controls (ESC opens screen clears, forged
 * lines, OSC 8 links and OSC 52 clipboard writes; C1 CSI/OSC do the same on some terminals) and the
 * bidirectional overrides, embeddings, isolates and marks (which make text read in another order
 * than it is) are shown as visible escapes (`\x1b`, `\u202e`) instead of being sent. JSON output
 * keeps exact values: JSON escapes controls itself.
 */

import { scrubSecrets } from './secrets.js';

/** Characters that never reach a terminal raw. Tab and line feed are decided per call. */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

function escapeOf(c: string): string {
  const code = c.codePointAt(0) as number;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * `text` made safe to print: every control and bidi character becomes a visible escape. With
 * `multiline`, line feeds (and tabs) are kept, for bodies meant to be read as several lines.
 */
export function forTerminal(text: string, options: { multiline?: boolean } = {}): string {
  return text.replace(UNSAFE, (c) => (options.multiline && (c === '\n' || c === '\t') ? c : escapeOf(c)));
}

/** The first control or bidi character in `text` and where, or undefined when it has none. */
export function unsafeCharacter(text: string): { escape: string; index: number } | undefined {
  UNSAFE.lastIndex = 0;
  const m = UNSAFE.exec(text);
  UNSAFE.lastIndex = 0;
  return m === null ? undefined : { escape: escapeOf(m[0]), index: m.index };
}

/**
 * Human output written one line per call: all of a line but its final line feed goes through
 * `scrubSecrets` and `forTerminal`, so a field holding a line feed cannot forge a line of its own.
 */
export function lineWriter(out: { write(text: string): unknown }): (line: string) => void {
  return (line) => {
    const body = line.endsWith('\n') ? line.slice(0, -1) : line;
    out.write(`${forTerminal(scrubSecrets(body))}${line.endsWith('\n') ? '\n' : ''}`);
  };
}
