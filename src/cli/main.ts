#!/usr/bin/env node
/**
 * The CLI: parses arguments, loads config, runs one command, maps the outcome to an exit code.
 * Exit codes: 0 ok · 1 an artifact failed or was rejected, or a crash · 2 usage error ·
 * 78 configuration or credential error (EX_CONFIG: a service manager must not restart on it).
 * This is the only place that calls process.exit.
 */
import { scrubSecrets } from '../core/secrets.js';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { OutboxError } from '../core/errors.js';
import { createLogger } from '../log.js';
import { loadContext, type CommandContext } from './context.js';
import { SETTING_FLAGS, examplesHelp, settingsHelp } from './help.js';
import { settingsFromArgv, withSettings } from './options.js';
import { explainUnknown } from './usage-error.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, config: 78 } as const;

const COMMANDS = ['watch', 'sync', 'plan', 'status', 'init', 'doctor', 'board', 'results', 'pull', 'dashboard'];

class UsageError extends Error {}

/** The command a command line runs (for "Run hf-outbox sync --help"), or undefined for the top level. */
function commandOf(argv: readonly string[]): string | undefined {
  const first = argv.find((a) => !a.startsWith('-'));
  return first !== undefined && COMMANDS.includes(first) ? first : undefined;
}

/** Whether this run shows help (the only output that has the epilogue helpTail adds). */
const helpAsked = hideBin(process.argv).some((a) => a === '--help' || a === '-h');

/** Help is laid out this wide (yargs and the settings section alike). */
const HELP_WIDTH = Math.min(110, process.stdout.columns ?? 110);

/** What yargs keeps of the options defined so far (public in yargs, not in its types). */
interface YargsInternals {
  getOptions(): { key: Record<string, unknown> };
  getGroups(): Record<string, string[]>;
}

/**
 * Every command's help: its own options first (before yargs' --help and --version), then its
 * examples, then the shared settings with the form of their values (src/cli/help.ts).
 */
function helpTail<T>(y: Argv<T>, command: string): Argv<T> {
  // Laying out the settings table costs ~0.1 s (string widths); only a run that shows help needs it.
  if (!helpAsked) return y;
  const internals = y as unknown as YargsInternals;
  const grouped = new Set(Object.values(internals.getGroups()).flat());
  const own = Object.keys(internals.getOptions().key).filter((k) => !SETTING_FLAGS.has(k) && !grouped.has(k) && !['help', 'version', 'h'].includes(k));
  return (own.length > 0 ? y.group(own, 'Options:') : y).epilogue(`${examplesHelp(command)}${settingsHelp(HELP_WIDTH)}`);
}

/** Runs a command that stops on SIGINT/SIGTERM through an AbortSignal (board --follow, dashboard). */
async function untilSignal<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await fn(stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function main(argv: string[]): Promise<number> {
  let result: Promise<number> = Promise.resolve(EXIT.ok);
  const run = (fn: (args: Record<string, unknown>) => Promise<number>) => (args: Record<string, unknown>) => {
    result = fn(args);
  };
  const parser = helpTail(withSettings(yargs(argv)), '$0')
    .scriptName('hf-outbox')
    .usage('$0 [command] [options] [settings]\n\nWatch a local outbox and publish every artifact to a shared Hugging Face bucket.')
    .command(
      ['watch', '$0'],
      'Scan, then watch the outbox and publish artifacts as they settle (the default; runs until SIGINT/SIGTERM).',
      (y) => helpTail(y, 'watch'),
      run(async (args) => {
        const flags = settingsFromArgv(args);
        return (await import('./watch.js')).runWatch(await loadContext(flags), flags);
      }),
    )
    .command(
      'sync',
      'One pass: scan, let files settle (bounded), upload what is not in the bucket, exit (0 all landed, 1 otherwise).',
      (y) => helpTail(y
          .option('adopt', {
            type: 'boolean',
            default: false,
            describe: 'A bucket file this state has no record of, identical to the local one (Xet hash), is recorded as ours instead of a conflict (after a reinstall).',
          })
          .option('verify', {
            type: 'boolean',
            default: false,
            describe: 'List the bucket first (one listing, no file read) and send again what the records say was delivered but the bucket lacks or holds different (a re-created bucket, a cleanup).',
          }), 'sync'),
      run(async (args) =>
        (await import('./sync.js')).runSync(await loadContext(settingsFromArgv(args)), { adopt: args['adopt'] === true, verify: args['verify'] === true }),
      ),
    )
    .command(
      'plan',
      'Dry run: print each outbox path, its bucket path and what sync would do with it. Writes nothing.',
      (y) => helpTail(y
          .option('json', { type: 'boolean', default: false, describe: 'One JSON object per line.' })
          .option('verify', { type: 'boolean', default: false, describe: 'List the bucket (one listing) and show as uploads what the records call delivered but the bucket lacks or holds different.' }), 'plan'),
      run(async (args) =>
        (await import('./plan.js')).runPlan(await loadContext(settingsFromArgv(args)), { json: args['json'] === true, verify: args['verify'] === true }),
      ),
    )
    .command(
      'status',
      'What is pending, uploading (with progress), failed, and the last errors; reads the state, works while the daemon runs.',
      (y) => helpTail(y.option('json', { type: 'boolean', default: false, describe: 'One JSON object: counts, items, progress, errors.' }), 'status'),
      run(async (args) =>
        (await import('./status.js')).runStatus(await readerContext(args), { json: args['json'] === true }),
      ),
    )
    .command(
      'init',
      'Create the outbox with its category folders and write a commented config for it (never overwrites one).',
      (y) => helpTail(y.option('config-out', { type: 'string', default: './hf-outbox.yaml', describe: 'Where to write the config.' }), 'init'),
      run(async (args) =>
        (await import('./init.js')).runInit(await loadContext(settingsFromArgv(args)), { configOut: String(args['config-out']) }),
      ),
    )
    .command(
      'doctor',
      'Check the setup: config, token and its owner, bucket access, outbox, inotify limit, free space, state database. Exit 0 when no check failed.',
      (y) => helpTail(y.option('json', { type: 'boolean', default: false, describe: 'One JSON object per check.' }), 'doctor'),
      run(async (args) => (await import('./doctor.js')).runDoctorCommand(settingsFromArgv(args), { json: args['json'] === true })),
    )
    .command(
      'board',
      'List the message board of the bucket, newest first: time, agent, title, artifacts and sizes.',
      (y) => helpTail(y
          .option('since', { type: 'string', describe: 'Only messages at most this old: 30m, 2h, 7d, 1h30m.' })
          .option('agent', { type: 'string', describe: 'Only messages of this agent id.' })
          .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'Keep polling and print new messages as they appear (Ctrl-C to stop).' })
          .option('json', { type: 'boolean', default: false, describe: 'One JSON object per message and line, with its body.' }), 'board'),
      run(async (args) => {
        const ctx = await readerContext(args);
        const { runBoard } = await import('./board.js');
        return untilSignal((signal) =>
          runBoard(ctx, {
            since: args['since'] as string | undefined,
            agent: args['agent'] as string | undefined,
            follow: args['follow'] === true,
            json: args['json'] === true,
            signal,
          }),
        );
      }),
    )
    .command(
      'results',
      'Leaderboard of every results JSON in the bucket (artifacts/results/), best score first; malformed files are skipped with a warning.',
      (y) => helpTail(y
          .option('experiment', { type: 'string', describe: 'Only results whose experiment contains this text (case-insensitive).' })
          .option('ascending', { type: 'boolean', default: false, describe: 'Lower scores are better (loss, perplexity): lowest first.' })
          .option('json', { type: 'boolean', default: false, describe: 'One JSON object per row and line.' }), 'results'),
      run(async (args) =>
        (await import('./results.js')).runResults(await readerContext(args), {
          experiment: args['experiment'] as string | undefined,
          ascending: args['ascending'] === true,
          json: args['json'] === true,
        }),
      ),
    )
    .command(
      'pull <bucket-path> [dest]',
      'Download a file, or a whole artifact folder, from the bucket into DEST keeping its structure; never overwrites a local file without --force.',
      (y) => helpTail(y
          .positional('bucket-path', { type: 'string', describe: 'artifacts/… path (or hf://buckets/OWNER/NAME/artifacts/…) of a file or a folder.' })
          .positional('dest', { type: 'string', default: './inbox', describe: 'Local folder to download into.' })
          .option('force', { type: 'boolean', default: false, describe: 'Overwrite local files that are in the way.' }), 'pull'),
      run(async (args) =>
        (await import('./pull.js')).runPull(await readerContext(args), {
          bucketPath: String(args['bucket-path']),
          dest: String(args['dest'] ?? './inbox'),
          force: args['force'] === true,
        }),
      ),
    )
    .command(
      'dashboard',
      'A read-only local web page over the bucket: the board as a live feed, the leaderboard with a chart, the artifacts, and this agent\'s queue.',
      (y) => helpTail(y
          .option('port', { type: 'number', default: 7860, describe: 'Port to listen on (0: any free port).' })
          .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on; anything but loopback lets others read the page (a warning says so).' })
          .option('open', { type: 'boolean', default: false, describe: 'Open the page in the default browser.' })
          .option('refresh-ms', { type: 'number', default: 3000, describe: 'Read the board and results again at most this often while a page is open (the artifacts listing: at most every 15 s).' }), 'dashboard'),
      run(async (args) => {
        const ctx = await readerContext(args);
        const { runDashboard } = await import('./dashboard.js');
        return untilSignal((signal) =>
          runDashboard(ctx, {
            port: Number(args['port']),
            host: String(args['host']),
            open: args['open'] === true,
            refreshMs: Number(args['refresh-ms']),
            signal,
          }),
        );
      }),
    )
    // A flag given twice keeps its last value, like most CLIs (lists are still repeatable).
    // yargs would also take --settleMs for --settle-ms (and list both when one is unknown): kebab-case only.
    .parserConfiguration({ 'duplicate-arguments-array': false, 'camel-case-expansion': false })
    .strict()
    // English messages whatever the locale: explainUnknown reads yargs' "Unknown argument" text.
    .detectLocale(false)
    .help()
    .alias('h', 'help')
    .version()
    .wrap(HELP_WIDTH)
    .fail((message, error) => {
      if (error) throw error;
      // Every option the failing command takes (settings, its own, help): the instance holds the
      // command's options while it validates. getOptions() is public in yargs, not in its types.
      const flags = Object.keys((parser as unknown as { getOptions(): { key: Record<string, unknown> } }).getOptions().key);
      throw new UsageError(explainUnknown(message, argv, flags, COMMANDS) ?? message);
    });
  await parser.parseAsync();
  return result;
}

/** Reading commands print their output on stdout; their warnings go to stderr so `--json` stays clean. */
async function readerContext(args: Record<string, unknown>): Promise<CommandContext> {
  const ctx = await loadContext(settingsFromArgv(args), 'read');
  return { ...ctx, logger: createLogger({ level: ctx.config.logLevel, agentId: ctx.config.agentId, destination: process.stderr, pretty: false }) };
}

main(hideBin(process.argv)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      const command = commandOf(hideBin(process.argv));
      const lines = error.message.split('\n').map((line) => `hf-outbox: ${line}\n`);
      process.stderr.write(`${lines.join('')}Run "hf-outbox ${command === undefined ? '' : `${command} `}--help" for usage.\n`);
      process.exit(EXIT.usage);
    }
    if (error instanceof OutboxError) {
      process.stderr.write(`hf-outbox: ${error.message}\n`);
      process.exit(error.retry === 'fatal' ? EXIT.config : EXIT.failed);
    }
    process.stderr.write(scrubSecrets(`hf-outbox: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`));
    process.exit(EXIT.failed);
  },
);
