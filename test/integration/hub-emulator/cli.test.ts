/** The standalone entry point: prints its URL, serves the real client, exits cleanly on SIGTERM. */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { createRepo, downloadFile, uploadFiles } from '@huggingface/hub';

describe('hub emulator CLI (test/hub-emulator/main.ts)', () => {
  it('listens on an ephemeral port, accepts the given token and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/hub-emulator/main.ts', '--port', '0', '--token', 'hf_cli_token'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const lines = createInterface({ input: child.stdout });
      let url: string | undefined;
      for await (const line of lines) {
        url = /^hub emulator listening on (http:\/\/127\.0\.0\.1:\d+)$/u.exec(line)?.[1];
        if (url) break;
      }
      expect(url).toBeDefined();
      const common = { repo: { type: 'bucket' as const, name: 'cli/bucket' }, hubUrl: url!, accessToken: 'hf_cli_token' };
      await createRepo(common);
      await uploadFiles({ ...common, files: [{ path: 'hello.txt', content: new Blob(['hello cli']) }] });
      expect(await (await downloadFile({ ...common, path: 'hello.txt' }))?.text()).toBe('hello cli');
      await expect(createRepo({ ...common, accessToken: 'hf_emulator_write_token' })).rejects.toMatchObject({ statusCode: 401 });
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  });

  it('--help prints the usage, says it is in memory and how a bucket exists at start', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/hub-emulator/main.ts', '--help'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect(out).toMatch(/^Usage: npm run hub-emulator -- /);
    expect(out).toMatch(/in-memory/);
    expect(out).toMatch(/--bucket OWNER\/NAME {2}a bucket that exists at start/);
  });
});

describe('the repository', () => {
  it("ignores npm pack's tarball", () => {
    const r = spawnSync('git', ['check-ignore', '-q', 'hf-outbox-0.1.0.tgz']);
    expect(r.error === undefined && r.status !== 128 ? r.status : 'not a git checkout').toBe(0);
  });
});
