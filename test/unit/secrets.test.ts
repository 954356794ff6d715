import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { OutboxError } from '../../src/core/errors.js';
import { registerSecret, scrubSecrets } from '../../src/core/secrets.js';
import { createLogger } from '../../src/log.js';

// Built at run time so no token-shaped literal sits in the repository (it is a fake either way).
const HUB_SHAPED = ['hf', 'AbCdEfGhIjKlMnOpQrStUvWxYz01234567'].join('_');

describe('scrubSecrets, the one scrub at every boundary', () => {
  it('removes the loaded token whatever its shape, Hub-shaped tokens and Bearer values; keeps the rest', () => {
    registerSecret('hf_odd_shaped_token_value_42');
    expect(scrubSecrets('bad request (Authorization: Bearer hf_odd_shaped_token_value_42) at /x')).toBe('bad request (Authorization: Bearer [redacted]) at /x');
    expect(scrubSecrets(`echo: ${HUB_SHAPED}.`)).toBe('echo: [redacted].');
    expect(scrubSecrets('authorization: bearer eyJhbGciOiJIUzI1NiJ9.e30.sig')).toBe('authorization: bearer [redacted]');
    expect(scrubSecrets('hf_short and artifacts/x_agent-01.py')).toBe('hf_short and artifacts/x_agent-01.py');
  });

  it('an OutboxError quoting an echo, and a log line whose error cause holds one, carry no token', () => {
    expect(new OutboxError('HFO_UPLOAD_FAILED', `HTTP 500: Authorization: Bearer ${HUB_SHAPED}`).message).not.toContain(HUB_SHAPED);
    let text = '';
    const sink = new Writable({
      write(chunk: Buffer, _e, done) {
        text += chunk.toString();
        done();
      },
    });
    const logger = createLogger({ level: 'info', destination: sink });
    const cause = Object.assign(new Error(`server said: token ${HUB_SHAPED}`), { data: { echoed: `Bearer ${HUB_SHAPED}` } });
    logger.error({ err: new Error('announcement failed', { cause }), body: HUB_SHAPED }, `announcement failed: ${HUB_SHAPED}`);
    expect(text).toContain('announcement failed');
    expect(text).not.toContain(HUB_SHAPED);
  });
});
