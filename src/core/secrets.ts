/**
 * The one scrub for secrets in text. A server or proxy may echo the request's Authorization header
 * in an error body; that text then travels into error messages, logs, the state database and
 * `status`. Every one of those boundaries passes its text through `scrubSecrets` (the logger's
 * final line, OutboxError messages, the store's reasons, the CLI's last words): the loaded token's
 * value, anything shaped like a Hub token, and any Bearer credential become `[redacted]`.
 */

const known = new Set<string>();

/** Hub user/org tokens (`hf_` + 34 letters and digits today; any 30+ to be safe) and Xet/CAS Bearer values. */
const SHAPES: readonly RegExp[] = [/hf_[A-Za-z0-9]{30,}/g, /(\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi];

/** Remembers a secret value (the loaded token) so it is scrubbed wherever it shows up, whatever its shape. */
export function registerSecret(value: string): void {
  if (value.length >= 8) known.add(value);
}

/** `text` with every registered secret and every token-shaped word replaced by `[redacted]`. */
export function scrubSecrets(text: string): string {
  let out = text;
  for (const secret of known) if (out.includes(secret)) out = out.split(secret).join('[redacted]');
  for (const shape of SHAPES) out = out.replace(shape, (_m, bearer?: unknown) => (typeof bearer === 'string' ? `${bearer}[redacted]` : '[redacted]'));
  return out;
}
