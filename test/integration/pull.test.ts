/**
 * `pull` against the Hub emulator, as a user runs it: a folder arrives whole or not at all, files
 * already on disk with the same bytes are up to date, the bucket comes from an hf:// URI, and a
 * failed Xet read-token request says which request failed and what to do.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEmulator, writeTokenFile } from '../helpers/hub.js';
import { sha256, tmpDir, treeHashes } from '../helpers/tmp.js';

const BUCKET = 'team/shared';
const CKPT = 'artifacts/checkpoints/lora_agent-02';

/** A checkpoint folder of another agent in the emulator, and a working folder with a token file. */
async function setup() {
  const emu = await startEmulator();
  const files: Record<string, Buffer> = {
    [`${CKPT}/adapter_model.safetensors`]: randomBytes(200 * 1024),
    [`${CKPT}/adapter_config.json`]: Buffer.from('{"r": 16}\n'),
    [`${CKPT}/tokenizer/tokenizer.json`]: randomBytes(3000),
  };
  for (const [p, bytes] of Object.entries(files)) emu.seedFile(BUCKET, p, bytes);
  const cwd = tmpDir();
  const tokenFile = await writeTokenFile(cwd);
  const expected = Object.fromEntries(Object.entries(files).map(([p, b]) => [`lora_agent-02/${p.slice(CKPT.length + 1)}`, sha256(b)]));
  const pull = (args: string[]) => runCli(['pull', '--hub-url', emu.url, '--token-file', tokenFile, ...args], { cwd, timeoutMs: 90_000 });
  return { emu, cwd, files, expected, pull, inbox: path.join(cwd, 'inbox') };
}

describe('pull', () => {
  it('takes the bucket from an hf:// URI (no --bucket needed); a --bucket that disagrees is an error naming both', async () => {
    const t = await setup();
    const r = await t.pull([`hf://buckets/${BUCKET}/${CKPT}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(treeHashes(t.inbox)).toEqual(t.expected);
    const other = await t.pull(['--bucket', 'hf://buckets/team/other', `hf://buckets/${BUCKET}/${CKPT}/adapter_config.json`, 'elsewhere']);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`is not in the configured bucket hf://buckets/team/other`);
    expect(other.stderr).toContain(`but in hf://buckets/${BUCKET}`);
  }, 120_000);

  it('of files identical to those on disk says they are up to date and exits 0; only what is missing is fetched', async () => {
    const t = await setup();
    const args = ['--bucket', `hf://buckets/${BUCKET}`, CKPT];
    expect((await t.pull(args)).code).toBe(0);
    const again = await t.pull(args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('all 3 files are up to date');
    expect(again.stdout).toContain('up to date: inbox/lora_agent-02/adapter_config.json is identical to artifacts/checkpoints/lora_agent-02/adapter_config.json');
    rmSync(path.join(t.inbox, 'lora_agent-02/tokenizer/tokenizer.json'));
    const missing = await t.pull(args);
    expect(missing.code, missing.stderr).toBe(0);
    expect(missing.stdout).toContain('pulled artifacts/checkpoints/lora_agent-02/tokenizer/tokenizer.json → inbox/lora_agent-02/tokenizer/tokenizer.json');
    expect(missing.stdout).toContain('1 file, 2.9 KiB into');
    expect(missing.stdout).toContain('2 already up to date');
    expect(treeHashes(t.inbox)).toEqual(t.expected);
    // A file that differs is still never overwritten without --force.
    writeFileSync(path.join(t.inbox, 'lora_agent-02/adapter_config.json'), '{"r": 8}\n');
    const differs = await t.pull(args);
    expect(differs.code).toBe(1);
    expect(differs.stderr).toContain('1 local file differs from the bucket and would be overwritten; nothing was pulled');
  }, 120_000);

  it('of a folder with a file that fails leaves no half-pulled folder, and an existing folder untouched', async () => {
    const t = await setup();
    // One read of stored bytes comes back with a byte flipped: that file does not verify.
    t.emu.addFault({ endpoint: 'xorb-read', kind: 'corrupt', times: 1 });
    const r = await t.pull(['--bucket', `hf://buckets/${BUCKET}`, CKPT]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/hf-outbox pull: artifacts\/checkpoints\/lora_agent-02\/\S+: /);
    expect(r.stderr).toContain('1 of 3 files failed; nothing was pulled');
    expect(readdirSync(t.cwd).filter((n) => n !== 'hf-token')).toEqual([]);

    // An existing copy with local edits, pulled with --force while a file fails: not one file changes.
    const mine = { 'lora_agent-02/adapter_config.json': '{"r": 8}\n', 'lora_agent-02/tokenizer/tokenizer.json': 'mine\n' };
    for (const [p, text] of Object.entries(mine)) {
      const abs = path.join(t.inbox, p);
      mkdirSync(path.dirname(abs), { recursive: true });
      writeFileSync(abs, text);
    }
    t.emu.addFault({ endpoint: 'xorb-read', kind: 'corrupt', times: 1 });
    const forced = await t.pull(['--force', '--bucket', `hf://buckets/${BUCKET}`, CKPT]);
    expect(forced.code).toBe(1);
    expect(treeHashes(t.inbox)).toEqual(Object.fromEntries(Object.entries(mine).map(([p, text]) => [p, sha256(text)])));
    expect(readdirSync(t.inbox)).toEqual(['lora_agent-02']);
    // Once the bucket answers well, the same pull lands every file whole.
    const ok = await t.pull(['--force', '--bucket', `hf://buckets/${BUCKET}`, CKPT]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(treeHashes(t.inbox)).toEqual(t.expected);
  }, 120_000);

  it.each([
    [401, '', /answered HTTP 401 with an empty body; the token is invalid or expired/],
    [403, '<html>Forbidden</html>', /answered HTTP 403 \(<html>Forbidden<\/html>\); the token may not read hf:\/\/buckets\/team\/shared/],
  ])('names the failed Xet read-token request, its status %i and what to do (never "undefined")', async (status, body, advice) => {
    const t = await setup();
    t.emu.addFault({ endpoint: 'read-token', kind: 'status', status, body });
    const r = await t.pull(['--bucket', `hf://buckets/${BUCKET}`, `${CKPT}/adapter_config.json`]);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain('undefined');
    expect(r.stderr).toContain(`the Xet read-token request (GET ${t.emu.url}/api/buckets/${BUCKET}/xet-read-token)`);
    expect(r.stderr).toMatch(advice);
  }, 120_000);
});
