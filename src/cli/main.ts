#!/usr/bin/env node
/**
 * The CLI: parses arguments, loads config, runs one command, maps the outcome to an exit code.
 * Exit codes: 0 ok · 1 an artifact failed or was rejected, or a crash · 2 usage error ·
 * 78 configuration or credential error (EX_CONFIG: a service manager must not restart on it).
 * This is the only place that calls process.exit.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { OutboxError } from '../core/errors.js';
import { loadContext } from './context.js';
import { settingsFromArgv, withSettings } from './options.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, config: 78 } as const;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  let result: Promise<number> = Promise.resolve(EXIT.ok);
  const run = (fn: (args: Record<string, unknown>) => Promise<number>) => (args: Record<string, unknown>) => {
    result = fn(args);
  };
  const parser = withSettings(yargs(argv))
    .scriptName('hf-outbox')
    .usage('$0 [command] [settings]\n\nWatch a local outbox and publish every artifact to a shared Hugging Face bucket.')
    .command(
      ['watch', '$0'],
      'Scan, then watch the outbox and publish artifacts as they settle (the default; runs until SIGINT/SIGTERM).',
      (y) => y,
      run(async (args) => (await import('./watch.js')).runWatch(await loadContext(settingsFromArgv(args)))),
    )
    .command(
      'sync',
      'One pass: scan, let files settle (bounded), upload what is not in the bucket, exit (0 all landed, 1 otherwise).',
      (y) =>
        y.option('adopt', {
          type: 'boolean',
          default: false,
          describe: 'A bucket file this state has no record of, identical to the local one (Xet hash), is recorded as ours instead of a conflict (after a reinstall).',
        }),
      run(async (args) =>
        (await import('./sync.js')).runSync(await loadContext(settingsFromArgv(args)), { adopt: args['adopt'] === true }),
      ),
    )
    .command(
      'plan',
      'Dry run: print each outbox path, its bucket path and what sync would do with it. Writes nothing.',
      (y) => y.option('json', { type: 'boolean', default: false, describe: 'One JSON object per line.' }),
      run(async (args) =>
        (await import('./plan.js')).runPlan(await loadContext(settingsFromArgv(args)), { json: args['json'] === true }),
      ),
    )
    .command(
      'status',
      'What is pending, uploading (with progress), failed, and the last errors; reads the state, works while the daemon runs.',
      (y) => y.option('json', { type: 'boolean', default: false, describe: 'One JSON object: counts, items, progress, errors.' }),
      run(async (args) =>
        (await import('./status.js')).runStatus(await loadContext(settingsFromArgv(args)), { json: args['json'] === true }),
      ),
    )
    // A flag given twice keeps its last value, like most CLIs (lists are still repeatable).
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .strict()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((message, error) => {
      if (error) throw error;
      throw new UsageError(message);
    });
  await parser.parseAsync();
  return result;
}

main(hideBin(process.argv)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`hf-outbox: ${error.message}\nRun "hf-outbox --help" for usage.\n`);
      process.exit(EXIT.usage);
    }
    if (error instanceof OutboxError) {
      process.stderr.write(`hf-outbox: ${error.message}\n`);
      process.exit(error.retry === 'fatal' ? EXIT.config : EXIT.failed);
    }
    process.stderr.write(`hf-outbox: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(EXIT.failed);
  },
);
