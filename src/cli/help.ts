/**
 * The parts of `--help` yargs cannot draw: the shared settings with the form of their value
 * (`--settle-ms <ms>`, `--bucket <hf://buckets/OWNER/NAME|DIR>`), after the command's own options and
 * its examples, and the examples themselves. Laid out with cliui, the column layout yargs draws with.
 */
import cliui from 'cliui';
import { OPTIONS, envName, flagName, flagUsage, type OptionName, type OptionSpec } from '../config/schema.js';

export const SETTINGS_TITLE = 'Settings (flag > environment > config file > default):';

/** The settings' flags (kebab-case), which every command takes. */
export const SETTING_FLAGS: ReadonlySet<string> = new Set(Object.keys(OPTIONS).map(flagName));

/** The examples of a command's help, each a comment saying what it does over the line to type (never wrapped, so it can be copied). */
export function examplesHelp(command: string): string {
  const examples = EXAMPLES[command] ?? [];
  if (examples.length === 0) return '';
  const lines = examples.flatMap(([line, what]) => [`  # ${what}`, `  ${line.replace('$0', 'hf-outbox')}`]);
  return `${examples.length === 1 ? 'Example:' : 'Examples:'}\n${lines.join('\n')}\n\n`;
}

/** The settings section of every command's help, `width` columns wide. */
export function settingsHelp(width: number): string {
  const ui = cliui({ width, wrap: true });
  ui.div(SETTINGS_TITLE);
  const rows = (Object.entries(OPTIONS) as Array<[OptionName, OptionSpec]>).map(([name, spec]) => {
    const env = [envName(name), ...(spec.extraEnv ?? [])].join(', ');
    return { flag: flagUsage(name), text: `${spec.description} [env ${env}] [default: ${spec.defaultText}]` };
  });
  // As yargs does: the flag column as wide as its longest entry, at most half the width.
  const flagWidth = Math.min(Math.max(...rows.map((r) => r.flag.length)) + 4, Math.floor(width / 2));
  for (const row of rows) ui.div({ text: row.flag, width: flagWidth, padding: [0, 2, 0, 2] }, { text: row.text });
  return ui.toString();
}

const BUCKET = '--bucket hf://buckets/my-org/shared-artifacts --agent-id agent-01';

/** Examples per command (the key `$0` is the top-level help): the command line and what it does. */
export const EXAMPLES: Record<string, Array<[command: string, what: string]>> = {
  $0: [
    ['$0', 'watch ./outbox and publish into the local-folder bucket ./bucket'],
    [`$0 watch ${BUCKET}`, 'publish to an hf:// bucket as files settle, until Ctrl-C'],
    [`$0 sync ${BUCKET}`, 'one pass, then exit'],
  ],
  watch: [
    [`$0 watch ${BUCKET}`, 'publish ./outbox to an hf:// bucket as files settle, until Ctrl-C'],
    ['$0 watch --config /etc/hf-outbox/agent-01.yaml', 'the same from a config file (reloaded when it changes)'],
  ],
  sync: [
    [`$0 sync ${BUCKET}`, 'one pass: upload what is not in the bucket, then exit'],
    [`$0 sync --verify ${BUCKET}`, 'first send again what the bucket lost'],
  ],
  plan: [[`$0 plan ${BUCKET}`, 'what sync would do with each file; writes nothing']],
  status: [['$0 status --config /etc/hf-outbox/agent-01.yaml', 'what the daemon of that config is doing']],
  init: [[`$0 init --outbox ./outbox ${BUCKET}`, 'the outbox folders, and a commented config for them in ./hf-outbox.yaml']],
  doctor: [[`$0 doctor ${BUCKET}`, 'check the token, the bucket, the outbox and the state']],
  board: [[`$0 board ${BUCKET} --since 2h`, 'the posts of the last two hours, newest first']],
  results: [[`$0 results ${BUCKET} --experiment gsm8k`, 'the leaderboard of one experiment']],
  pull: [
    ['$0 pull artifacts/checkpoints/run1_agent-01/checkpoint-500 --config hf-outbox.yaml', 'download that checkpoint into ./inbox/checkpoint-500/'],
  ],
  dashboard: [[`$0 dashboard ${BUCKET} --open`, 'the board, results and artifacts in your browser']],
};
