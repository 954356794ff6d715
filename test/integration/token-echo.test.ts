/**
 * A server or proxy that echoes the request's Authorization header in its error bodies: on every
 * status-code path the token must stay out of stdout, stderr, the log, state.sqlite and `status`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FaultRule } from '../hub-emulator/index.js';
import { runCli } from '../helpers/cli.js';
import { startEmulator, writeTokenFile } from '../helpers/hub.js';
import { tmpDir, writeTree } from '../helpers/tmp.js';

/** Shaped like a real Hub token (hf_ + 34 letters and digits). */
// Built at run time so no token-shaped literal sits in the repository (it is a fake either way).
const TOKEN = ['hf', 'AbCdEfGhIjKlMnOpQrStUvWxYz01234567'].join('_');

interface Scenario {
  name: string;
  faults: FaultRule[];
  files: Record<string, string>;
  /** What the run must show happened, so the path was really taken. */
  expect: { code: number; output: RegExp };
}

const echo = { echoAuthorization: true } as const;
const SCENARIOS: Scenario[] = [
  {
    name: '401 on the bucket check (fatal, exit 78)',
    faults: [{ endpoint: 'bucket-info', kind: 'status', status: 401, ...echo }],
    files: { 'scripts/a.py': 'a' },
    expect: { code: 78, output: /HTTP 401/ },
  },
  {
    name: '403 on the bucket check (fatal, exit 78)',
    faults: [{ endpoint: 'bucket-info', kind: 'status', status: 403, ...echo }],
    files: { 'scripts/a.py': 'a' },
    expect: { code: 78, output: /HTTP 403/ },
  },
  {
    name: '400 on the batch (the file fails with the reason, stored for status)',
    faults: [{ endpoint: 'batch', kind: 'status', status: 400, ...echo }],
    files: { 'scripts/a.py': 'a' },
    expect: { code: 1, output: /Injected fault: HTTP 400 \(request had Authorization: Bearer \[redacted\]\)/ },
  },
  {
    name: '500 on the batch, retried until it lands',
    faults: [{ endpoint: 'xorb', kind: 'status', status: 500, times: 3, ...echo }],
    files: { 'scripts/a.py': 'a' },
    expect: { code: 0, output: /request failed \(500\)/ },
  },
  {
    name: '429 with an echo, retried until it lands',
    faults: [{ endpoint: 'paths-info', kind: 'rate-limit', retryAfterSeconds: 1, times: 1, ...echo }],
    files: { 'scripts/a.py': 'a' },
    expect: { code: 0, output: /request failed \(429\)/ },
  },
  {
    name: '403 on the message post (the announcement-failed path)',
    faults: [{ endpoint: 'batch', kind: 'status', status: 403, ...echo }],
    files: { 'scripts/hello.note.md': 'a note that announces nothing' },
    // The post waits for a retry; sync does not count an unposted note as a failure (exit 0).
    expect: { code: 0, output: /announcement not posted yet[\s\S]*HTTP 403|HTTP 403[\s\S]*announcement not posted yet/ },
  },
];

describe('a server echoing the Authorization header', () => {
  it.each(SCENARIOS.map((s) => [s.name, s] as const))('%s: the token appears nowhere', async (_name, s) => {
    const root = tmpDir();
    const outbox = path.join(root, 'outbox');
    const state = path.join(root, 'state');
    const emu = await startEmulator({ tokens: { [TOKEN]: { write: true } } });
    const tokenFile = await writeTokenFile(root, TOKEN);
    await writeTree(outbox, s.files);
    for (const f of s.faults) emu.addFault(f);
    const args = ['--outbox', outbox, '--bucket', 'hf://buckets/team/shared', '--state-dir', state, '--agent-id', 'agent-01',
      '--hub-url', emu.url, '--token-file', tokenFile, '--settle-ms', '0', '--log-level', 'debug'];
    const sync = await runCli(['sync', ...args], { timeoutMs: 90_000 });
    const output = sync.stdout + sync.stderr;
    expect(sync.code, output).toBe(s.expect.code);
    expect(output).toMatch(s.expect.output);
    const status = await runCli(['status', ...args]);
    const statusJson = await runCli(['status', '--json', ...args]);
    const all = [output, status.stdout, status.stderr, statusJson.stdout].join('\n');
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain(TOKEN.slice(3, 20));
    let stateFiles = 0;
    for (const f of existsSync(state) ? readdirSync(state) : []) {
      const p = path.join(state, f);
      if (!statSync(p).isFile()) continue;
      stateFiles++;
      expect(readFileSync(p).includes(TOKEN), f).toBe(false);
    }
    // A fatal start writes no state; every other path stored its records (and reasons).
    if (s.expect.code !== 78) expect(stateFiles).toBeGreaterThan(0);
  }, 120_000);
});
