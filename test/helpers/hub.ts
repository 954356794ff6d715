/** An emulator per test, with a token file, closed when the test ends. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { downloadFile } from '@huggingface/hub';
import { onTestFinished } from 'vitest';
import { startHubEmulator, type HubEmulator, type HubEmulatorOptions } from '../hub-emulator/index.js';
import { outboxIn, sha256, tmpDir } from './tmp.js';

export const WRITE_TOKEN = 'hf_test_write_token_0123456789abcdef';
export const READ_TOKEN = 'hf_test_read_token_0123456789abcdef';

export async function startEmulator(options: HubEmulatorOptions = {}): Promise<HubEmulator> {
  const emu = await startHubEmulator({
    tokens: { [WRITE_TOKEN]: { write: true }, [READ_TOKEN]: { write: false } },
    buckets: ['team/shared'],
    ...options,
  });
  onTestFinished(() => emu.close());
  return emu;
}

export async function writeTokenFile(dir: string, token = WRITE_TOKEN): Promise<string> {
  const file = path.join(dir, 'hf-token');
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  return file;
}

/** sha256 of a bucket file read back twice: with the client's own downloadFile, and from the emulator's rebuild. */
export async function readBack(emu: HubEmulator, bucket: string, filePath: string): Promise<{ client: string; emulator: string | undefined }> {
  const blob = await downloadFile({ repo: { type: 'bucket', name: bucket }, path: filePath, hubUrl: emu.url, accessToken: WRITE_TOKEN });
  if (blob === null) throw new Error(`${filePath} is not in ${bucket}`);
  const rebuilt = emu.readFile(bucket, filePath);
  return { client: sha256(new Uint8Array(await blob.arrayBuffer())), emulator: rebuilt && sha256(rebuilt) };
}

/**
 * A temp outbox publishing to an hf:// bucket on a fresh emulator: `args()` are the CLI settings
 * for it (settle time 100 ms unless overridden in `extra`).
 */
export async function hubWorkspace(bucket = 'team/shared') {
  const root = tmpDir();
  const outbox = outboxIn(root);
  const state = path.join(root, 'state');
  const tokenFile = await writeTokenFile(root);
  const emu = await startEmulator();
  const args = (extra: string[] = []) => [
    '--outbox', outbox, '--bucket', `hf://buckets/${bucket}`, '--state-dir', state,
    '--agent-id', 'agent-01', '--hub-url', emu.url, '--token-file', tokenFile, '--settle-ms', '100', ...extra,
  ];
  return { root, outbox, state, tokenFile, emu, args };
}
