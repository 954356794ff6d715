/**
 * CLI: `npm run hub-emulator -- --port 8080 --token hf_xxx [--read-token hf_yyy] [--bucket ns/name]...`
 * Runs until SIGINT/SIGTERM. Point clients at the printed URL (`hubUrl`, or HF_ENDPOINT for hfjs).
 */
import { parseArgs } from 'node:util';
import { startHubEmulator } from './server.js';
import type { TokenGrant } from './types.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    token: { type: 'string', multiple: true },
    'read-token': { type: 'string', multiple: true },
    bucket: { type: 'string', multiple: true },
    'tree-page-size': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});

if (values.help) {
  console.log(`Usage: npm run hub-emulator -- [--port N] [--host ADDR] [--token hf_xxx]... [--read-token hf_yyy]... [--bucket OWNER/NAME]... [--tree-page-size N]

A loopback, in-memory emulator of the Hugging Face bucket API and Xet CAS: everything is lost when it stops.
  --port N             port to listen on (default 0: any free port; the URL is printed)
  --host ADDR          address to listen on (default 127.0.0.1)
  --token hf_xxx       accepted write token (repeatable; default hf_emulator_write_token)
  --read-token hf_yyy  accepted read-only token (repeatable)
  --bucket OWNER/NAME  a bucket that exists at start (repeatable); else pass --create-bucket to hf-outbox
  --tree-page-size N   files per page of tree listings (default 1000)

Example: npm run hub-emulator -- --port 8080 --token hf_test --bucket team/shared
then: hf-outbox sync --hub-url http://127.0.0.1:8080 --bucket hf://buckets/team/shared --agent-id agent-01 (HF_TOKEN=hf_test)`);
  process.exit(0);
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535, got ${values.port}`);

let tokens: Record<string, TokenGrant> | undefined;
if (values.token?.length || values['read-token']?.length) {
  tokens = {};
  for (const t of values.token ?? []) tokens[t] = { write: true };
  for (const t of values['read-token'] ?? []) tokens[t] = { write: false };
}
for (const t of Object.keys(tokens ?? {})) {
  if (!t.startsWith('hf_')) console.warn(`warning: token ${t} does not start with hf_; @huggingface/hub refuses such tokens`);
}

const emulator = await startHubEmulator({
  port,
  host: values.host,
  ...(tokens ? { tokens } : {}),
  ...(values.bucket ? { buckets: values.bucket } : {}),
  ...(values['tree-page-size'] ? { treePageSize: Number(values['tree-page-size']) } : {}),
});
console.log(`hub emulator listening on ${emulator.url}`);
if (!tokens) console.log('accepted token: hf_emulator_write_token (write)');

const stop = (signal: string) => {
  console.log(`${signal}: shutting down`);
  void emulator.close().then(() => process.exit(0));
};
process.once('SIGINT', () => stop('SIGINT'));
process.once('SIGTERM', () => stop('SIGTERM'));
