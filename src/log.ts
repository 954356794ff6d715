/**
 * One root pino logger. JSON lines on stdout for journald and pipes; human-readable when
 * stdout is a terminal. Secrets are redacted by path wherever they might be attached.
 */
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import { scrubSecrets } from './core/secrets.js';
import { forTerminal } from './core/terminal-text.js';

export type { Logger };

export const REDACT_PATHS = [
  'token',
  'accessToken',
  '*.token',
  '*.accessToken',
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  'config.token',
];

export interface LogOptions {
  level: string;
  agentId?: string;
  /** Defaults to stdout; tests hand in a sink. */
  destination?: NodeJS.WritableStream;
  pretty?: boolean;
}

export function createLogger(options: LogOptions): Logger {
  const usePretty = options.pretty ?? (options.destination === undefined && process.stdout.isTTY === true);
  const destination = usePretty
    ? loadPretty()({
        colorize: true,
        sync: true,
        singleLine: true,
        translateTime: 'SYS:HH:MM:ss',
        ignore: 'pid,hostname,agentId',
        destination: 1,
        // The message may quote a bucket path or a server's text: no control reaches the terminal (the fields are JSON).
        messageFormat: (log, key) => forTerminal(String(log[key] ?? '')),
      })
    : (options.destination ?? pino.destination({ dest: 1, sync: true }));
  return pino(
    {
      level: options.level,
      base: options.agentId ? { agentId: options.agentId } : {},
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // The last word on every line: a token echoed inside an error body or a cause never reaches the log.
      hooks: { streamWrite: scrubSecrets },
    },
    destination,
  );
}

/** pino-pretty, loaded only for a terminal: JSON output (services, pipes, tests) never needs its ~30 modules. */
function loadPretty(): typeof PinoPretty {
  return createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
}
