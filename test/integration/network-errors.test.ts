/**
 * A Hub that cannot be reached: the messages users see name the server and the cause
 * (`connect ECONNREFUSED 127.0.0.1:PORT`), not a bare "fetch failed". Real sockets, the real CLI.
 */
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { proxyAwareFetch } from '../../src/net/proxy.js';
import { runCli } from '../helpers/cli.js';
import { writeTokenFile } from '../helpers/hub.js';
import { outboxIn, tmpDir } from '../helpers/tmp.js';

/** A loopback port nothing listens on (bound, then closed). */
function deadPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

describe('network errors name the server and the cause', () => {
  it('a refused connection, through the fetch every Hub request takes', async () => {
    const port = await deadPort();
    const error = (await proxyAwareFetch({}).fetch(`http://127.0.0.1:${port}/api/buckets/team/shared`).catch((e: unknown) => e)) as Error;
    expect(error.message).toBe(`connect ECONNREFUSED 127.0.0.1:${port} (reaching http://127.0.0.1:${port})`);
  });

  it('a port fetch refuses outright (9) says so instead of "fetch failed"', async () => {
    const error = (await proxyAwareFetch({}).fetch('http://127.0.0.1:9/api/whoami-v2').catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/^fetch refuses to connect to port 9 .*\(reaching http:\/\/127\.0\.0\.1:9\)$/);
  });

  it('doctor against a Hub that is down names the address it could not connect to', async () => {
    const root = tmpDir();
    const port = await deadPort();
    const args = [
      '--outbox', outboxIn(root), '--bucket', 'hf://buckets/team/shared', '--state-dir', path.join(root, 'state'),
      '--agent-id', 'agent-01', '--hub-url', `http://127.0.0.1:${port}`, '--token-file', await writeTokenFile(root),
    ];
    await runCli(['init', ...args, '--config-out', path.join(root, 'hf-outbox.yaml')]);
    const r = await runCli(['doctor', ...args]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^fail +bucket .*connect ECONNREFUSED 127\\.0\\.0\\.1:${port} \\(reaching http://127\\.0\\.0\\.1:${port}\\)`, 'm'));
    expect(r.stdout).not.toMatch(/fetch failed/);
  });
});
