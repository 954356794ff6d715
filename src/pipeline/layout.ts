/**
 * The outbox folder itself, before the watch stage starts: it must be a folder. Only the default
 * ./outbox of the quick start is created when missing; an outbox the user named (flag, environment
 * or config) must already exist, so a mistyped path is an error instead of a new empty folder that
 * publishes nothing, forever.
 */
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/parse.js';
import { OutboxError, isErrnoException } from '../core/errors.js';
import type { Logger } from '../log.js';

/** Throws HFO_CONFIG_INVALID (exit 78) when the outbox cannot be used; touches nothing. */
export async function checkOutbox(config: Pick<Config, 'outbox' | 'outboxSource'>): Promise<'exists' | 'missing'> {
  const { outbox } = config;
  try {
    const s = await stat(outbox);
    if (!s.isDirectory()) {
      throw new OutboxError('HFO_CONFIG_INVALID', `the outbox ${outbox} is a file, not a folder; point --outbox (or outbox:) at a folder, or create one with "hf-outbox init --outbox DIR"`);
    }
    return 'exists';
  } catch (error) {
    if (error instanceof OutboxError) throw error;
    if (isErrnoException(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) {
      if (config.outboxSource === 'given') {
        throw new OutboxError('HFO_CONFIG_INVALID', `the outbox ${outbox} does not exist; check the path, or create it with "hf-outbox init --outbox ${outbox}"`);
      }
      return 'missing';
    }
    throw new OutboxError('HFO_CONFIG_INVALID', `cannot use the outbox ${outbox} (${isErrnoException(error) ? error.code : String(error)})`, { cause: error });
  }
}

/**
 * Creates the default outbox when missing, then its category folders. Under a read-only sandbox
 * (the systemd unit) an existing outbox is enough: missing categories are only a warning.
 */
export async function createLayout(config: Pick<Config, 'outbox' | 'outboxSource' | 'categories'>, log: Logger): Promise<void> {
  const { outbox } = config;
  if ((await checkOutbox(config)) === 'missing') {
    try {
      await mkdir(outbox, { recursive: true });
    } catch (error) {
      throw new OutboxError('HFO_CONFIG_INVALID', `the outbox ${outbox} does not exist and cannot be created (${(error as NodeJS.ErrnoException).code}); create it`, { cause: error });
    }
  }
  for (const category of config.categories) {
    try {
      await mkdir(path.join(outbox, category), { recursive: true });
    } catch (error) {
      log.warn({ folder: path.join(outbox, category), code: (error as NodeJS.ErrnoException).code }, 'cannot create the category folder; create it yourself if agents expect it');
    }
  }
}
