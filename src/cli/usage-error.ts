/**
 * A mistyped flag is told the nearest real one: `--setle-ms` → "did you mean --settle-ms?", and
 * `--settleMs` (camelCase, which hf-outbox does not take) → `--settle-ms`. A stray word where a
 * command may stand is told the nearest command. Pure: main.ts hands in what yargs knows.
 */
import { distance } from 'fastest-levenshtein';
import { flagName } from '../config/schema.js';

/** yargs' strict-mode message (its locale is fixed to English in main.ts). */
const UNKNOWN = /^Unknown arguments?: (.+)$/s;

/**
 * The text for yargs' "Unknown argument(s): a, b" message, one line per unknown name with the nearest
 * known flag or command; undefined for any other message. `argv` is the command line as typed (it
 * tells a flag from a word), `flags` the long options the command takes (without dashes).
 */
export function explainUnknown(message: string, argv: readonly string[], flags: readonly string[], commands: readonly string[]): string | undefined {
  const match = UNKNOWN.exec(message.trim());
  if (!match?.[1]) return undefined;
  const typedFlags = new Set(argv.filter((a) => a.startsWith('-')).map((a) => a.replace(/^--?/, '').split('=', 1)[0] ?? ''));
  const lines = match[1].split(', ').map((name) => {
    if (typedFlags.has(name) || typedFlags.has(`no-${name}`)) {
      const near = nearest(name, flags.filter((f) => f.length > 1));
      return `unknown option ${name.length === 1 ? '-' : '--'}${name}${near ? `; did you mean --${near}?` : ''}`;
    }
    const near = nearest(name, commands);
    return `unexpected argument "${name}"${near ? `; did you mean the command ${near}?` : ''}`;
  });
  return lines.join('\n');
}

/** The known name closest to `typed`, when close enough to be a typo (its kebab-case form first). */
export function nearest(typed: string, known: readonly string[]): string | undefined {
  const kebab = flagName(typed);
  if (kebab !== typed && known.includes(kebab)) return kebab;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const d = distance(kebab.toLowerCase(), name);
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  // A typo is a few edits away: up to a third of the name, at least 2 (settle-ms ↔ setle-ms, sycn ↔ sync).
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(kebab.length / 3)) ? best : undefined;
}
