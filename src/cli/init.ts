/**
 * `hf-outbox init`: creates the outbox layout (the category folders) and writes a commented
 * config with this outbox, bucket and agent id filled in. Never overwrites an existing config.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderExampleYaml } from '../config/docs.js';
import type { Config } from '../config/parse.js';
import { OutboxError, isErrnoException } from '../core/errors.js';
import type { CommandContext } from './context.js';

export async function runInit(ctx: CommandContext, options: { configOut: string; out?: NodeJS.WritableStream }): Promise<number> {
  const { config } = ctx;
  const out = options.out ?? process.stdout;
  for (const category of config.categories) await mkdir(path.join(config.outbox, category), { recursive: true });
  out.write(`outbox ${config.outbox} with ${config.categories.map((c) => `${c}/`).join(', ')}\n`);
  const target = path.resolve(options.configOut);
  try {
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, withSettings(renderExampleYaml(), config), { flag: 'wx', mode: 0o644 });
  } catch (error) {
    if (isErrnoException(error) && error.code === 'EEXIST') {
      throw new OutboxError('HFO_CONFIG_INVALID', `${target} already exists; it was left as it is (remove it, or choose another --config-out)`);
    }
    throw error;
  }
  out.write(`config ${target} (every setting commented; start with: hf-outbox watch --config ${target})\n`);
  return 0;
}

/** The example config with the settings this outbox was initialised with set (not commented). */
function withSettings(yaml: string, config: Config): string {
  const set: Record<string, string> = {
    outbox: config.outbox,
    bucket: config.bucket.kind === 'local' ? config.bucket.root : config.bucket.uri,
    'agent-id': config.agentId,
  };
  let text = yaml;
  for (const [key, value] of Object.entries(set)) {
    text = text.replace(new RegExp(`^#? ?${key}: .*$`, 'm'), `${key}: ${JSON.stringify(value)}`);
  }
  return text;
}
