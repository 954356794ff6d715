/** The only part of config handling that touches the disk: reads the YAML file, then parses. */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { OutboxError, isErrnoException } from '../core/errors.js';
import { parseConfig, type Config, type RawSettings } from './parse.js';

export interface LoadedConfig {
  config: Config;
  warnings: string[];
}

export async function loadConfig(
  flags: RawSettings,
  env: Readonly<Record<string, string | undefined>> = process.env,
  cwd = process.cwd(),
  purpose: 'publish' | 'read' = 'publish',
): Promise<LoadedConfig> {
  const configPath = (flags.config as string | undefined) ?? env['HF_OUTBOX_CONFIG'];
  const file = configPath === undefined ? undefined : await readConfigFile(path.resolve(cwd, configPath));
  const result = parseConfig({ flags, env, file, cwd, homeDir: os.homedir(), purpose });
  if (!result.ok) {
    throw new OutboxError('HFO_CONFIG_INVALID', `invalid configuration:\n  - ${result.errors.join('\n  - ')}`);
  }
  return { config: result.config, warnings: result.warnings };
}

async function readConfigFile(file: string): Promise<{ path: string; settings: Record<string, unknown> }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const why = isErrnoException(error) && error.code === 'ENOENT' ? 'it does not exist' : String(error);
    throw new OutboxError('HFO_CONFIG_INVALID', `cannot read config file ${file}: ${why}`, { cause: error });
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (error) {
    throw new OutboxError('HFO_CONFIG_INVALID', `config file ${file} is not valid YAML: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (data === null || data === undefined) return { path: file, settings: {} };
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new OutboxError('HFO_CONFIG_INVALID', `config file ${file} must be a mapping of setting: value`);
  }
  return { path: file, settings: data as Record<string, unknown> };
}
