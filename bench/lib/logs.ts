/** hf-outbox's JSON log lines, as they stream from a child. */

export interface LogLine {
  level: number;
  msg: string;
  time?: number;
  [key: string]: unknown;
}

export function parseLogLine(line: string): LogLine | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const parsed = JSON.parse(line) as unknown;
    return parsed && typeof parsed === 'object' && typeof (parsed as LogLine).msg === 'string' ? (parsed as LogLine) : undefined;
  } catch {
    return undefined;
  }
}

/** The line `watch` logs once its scan is done and every folder is watched. */
export const isReady = (l: LogLine): boolean => l.msg.startsWith('watching the outbox');
export const isUploaded = (l: LogLine): boolean => l.msg === 'uploaded';

/** Resolves when `match` sees a line (fed through `feed`), rejects after `timeoutMs`. */
export class LogWatch {
  readonly lines: LogLine[] = [];
  #waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];

  feed = (raw: string): void => {
    const line = parseLogLine(raw);
    if (!line) return;
    if (line.level >= 40 || isReady(line)) this.lines.push(line);
    for (const w of [...this.#waiters]) {
      if (w.match(line)) {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        w.resolve(line);
      }
    }
  };

  waitFor(match: (l: LogLine) => boolean, timeoutMs: number, what: string, exited?: Promise<unknown>): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      this.#waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
      void exited?.then(() => {
        clearTimeout(timer);
        reject(new Error(`the process exited while waiting for ${what}`));
      });
    });
  }
}
