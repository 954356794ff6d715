/** A logger whose JSON lines land in an array, parsed, for tests that check what was logged. */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.js';

export interface LogSink {
  logger: Logger;
  /** Every line logged so far, parsed (pino's `level` is a number: 30 info, 40 warn, 50 error). */
  lines: Array<Record<string, unknown> & { level: number; msg: string }>;
}

export function logSink(level = 'debug'): LogSink {
  const lines: LogSink['lines'] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger({ level, destination, pretty: false }), lines };
}
