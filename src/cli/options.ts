/** yargs options derived from the one settings table (src/config/schema.ts). */
import type { Argv } from 'yargs';
import { coerceText, type RawSettings } from '../config/parse.js';
import { OPTIONS, envName, flagName, type OptionName, type OptionSpec } from '../config/schema.js';

export function withSettings<T>(y: Argv<T>): Argv<T> {
  let out = y;
  for (const [name, spec] of Object.entries(OPTIONS) as Array<[OptionName, OptionSpec]>) {
    const env = [envName(name), ...(spec.extraEnv ?? [])].join(', ');
    out = out.option(flagName(name), {
      // Numbers arrive as text so a bad value is reported as typed, not as NaN.
      type: spec.kind === 'boolean' ? 'boolean' : spec.kind === 'list' ? 'array' : 'string',
      describe: `${spec.description} [env ${env}] [default: ${spec.defaultText}]`,
      // Listed by src/cli/help.ts after the command's own options, with the form of their values.
      hidden: true,
      ...(spec.kind === 'list' ? { string: true } : {}),
    }) as Argv<T>;
  }
  return out;
}

/** Picks the settings the user actually passed as flags (yargs leaves the others undefined). */
export function settingsFromArgv(argv: Record<string, unknown>): RawSettings {
  const out: RawSettings = {};
  for (const [name, spec] of Object.entries(OPTIONS) as Array<[OptionName, OptionSpec]>) {
    const raw = argv[flagName(name)];
    if (raw === undefined) continue;
    if (spec.kind === 'list') {
      const items = (Array.isArray(raw) ? raw : [raw]).flatMap((s) => String(s).split(','));
      out[name] = items.map((s) => s.trim()).filter((s) => s !== '');
    } else if (spec.kind === 'integer' && typeof raw === 'string') {
      out[name] = coerceText(raw, spec);
    } else {
      out[name] = raw;
    }
  }
  return out;
}
