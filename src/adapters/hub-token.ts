/**
 * Finds the Hub token in the places the Hugging Face tools use, first found wins:
 * --token-file, $CREDENTIALS_DIRECTORY/hf-token (systemd LoadCredential), $HF_TOKEN,
 * the file named by $HF_TOKEN_PATH, $HF_HOME/token (default ~/.cache/huggingface/token).
 * The token itself is never put in a message: only where it came from.
 */
import { registerSecret } from '../core/secrets.js';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { OutboxError, isErrnoException } from '../core/errors.js';

export interface FoundToken {
  token: string;
  /** Where it came from, for logs ("HF_TOKEN", "/etc/hf-outbox/agent-01.token"). */
  source: string;
}

export async function findToken(
  tokenFile: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
  homeDir = os.homedir(),
): Promise<FoundToken> {
  const candidates: Array<{ kind: 'file' | 'env'; where: string; explicit: boolean }> = [];
  if (tokenFile) candidates.push({ kind: 'file', where: tokenFile, explicit: true });
  if (env['CREDENTIALS_DIRECTORY']) {
    candidates.push({ kind: 'file', where: path.join(env['CREDENTIALS_DIRECTORY'], 'hf-token'), explicit: false });
  }
  candidates.push({ kind: 'env', where: 'HF_TOKEN', explicit: false });
  if (env['HF_TOKEN_PATH']) candidates.push({ kind: 'file', where: env['HF_TOKEN_PATH'], explicit: true });
  const hfHome = env['HF_HOME'] || path.join(env['XDG_CACHE_HOME'] || path.join(homeDir, '.cache'), 'huggingface');
  candidates.push({ kind: 'file', where: path.join(hfHome, 'token'), explicit: false });

  for (const c of candidates) {
    let raw: string | undefined;
    if (c.kind === 'env') {
      raw = env[c.where];
    } else {
      try {
        raw = await readFile(c.where, 'utf8');
      } catch (error) {
        if (c.explicit || !(isErrnoException(error) && error.code === 'ENOENT')) {
          throw new OutboxError(
            'HFO_AUTH',
            `cannot read the token file ${c.where} (${isErrnoException(error) ? error.code : String(error)})`,
            { cause: error },
          );
        }
        continue;
      }
    }
    const token = raw?.trim();
    if (!token) {
      if (c.explicit) throw new OutboxError('HFO_AUTH', `the token file ${c.where} is empty`);
      continue;
    }
    // From here on its value is scrubbed from every message, log line and stored reason.
    registerSecret(token);
    const source = c.kind === 'env' ? c.where : c.where;
    if (!token.startsWith('hf_') || /\s/.test(token)) {
      throw new OutboxError(
        'HFO_AUTH',
        `the token from ${source} does not look like a Hugging Face token (it must start with "hf_" and hold no spaces); ` +
          'create one at https://huggingface.co/settings/tokens with write access',
      );
    }
    return { token, source };
  }
  throw new OutboxError(
    'HFO_AUTH',
    'no Hugging Face token found for an hf:// bucket; give --token-file, set HF_TOKEN, or run `hf auth login` ' +
      '(looked in: --token-file, $CREDENTIALS_DIRECTORY/hf-token, $HF_TOKEN, $HF_TOKEN_PATH, $HF_HOME/token)',
  );
}
