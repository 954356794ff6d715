/**
 * How long after a Trainer writes `trainer_state.json` (its last file) the checkpoint is listed whole
 * in the bucket. The real CLI (`dist/`, run `npm run build` first) watches an outbox and publishes to
 * the loopback Hub emulator; a writer saves checkpoints in the Trainer's order (config.json,
 * model.safetensors, training_args.bin, a pause, optimizer.pt, scheduler.pt, rng_state.pth,
 * trainer_state.json) into a run folder; the bucket listing is polled every 5 ms.
 *
 *   npx tsx bench/checkpoint-latency.ts                       9 checkpoints, default settings (settle-ms 2000)
 *   npx tsx bench/checkpoint-latency.ts --count 5 --settle-ms 300 --model-mb 16
 *
 * Prints each checkpoint's latency and the median, min and max.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startHubEmulator } from '../test/hub-emulator/index.js';
import { seededBytes as bytes } from '../test/helpers/trainer-writer.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '9' },
    'settle-ms': { type: 'string', default: '2000' },
    'pause-ms': { type: 'string', default: '1500' },
    'model-mb': { type: 'string', default: '4' },
  },
  strict: true,
});
const count = Number(values.count);
const pauseMs = Number(values['pause-ms']);
const modelBytes = Math.round(Number(values['model-mb']) * 1024 * 1024);

const TOKEN = 'hf_bench_write_token_0123456789abcdef';
const BUCKET = 'team/shared';
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/cli/main.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const root = mkdtempSync(path.join(os.tmpdir(), 'hfo-ckpt-latency-'));
const outbox = path.join(root, 'outbox');
const emu = await startHubEmulator({ tokens: { [TOKEN]: { write: true } }, buckets: [BUCKET] });
await writeFile(path.join(root, 'token'), TOKEN, { mode: 0o600 });
await mkdir(outbox, { recursive: true });
const child = spawn(
  process.execPath,
  [CLI, 'watch', '--outbox', outbox, '--bucket', `hf://buckets/${BUCKET}`, '--state-dir', path.join(root, 'state'), '--agent-id', 'agent-01',
    '--hub-url', emu.url, '--token-file', path.join(root, 'token'), '--settle-ms', values['settle-ms'] as string],
  { stdio: ['ignore', 'pipe', 'inherit'], env: { PATH: process.env.PATH ?? '', HOME: root } },
);
let out = '';
child.stdout.on('data', (d: Buffer) => (out += d.toString()));
try {
  while (!/watching/.test(out)) await sleep(50);
  const prefix = 'artifacts/checkpoints/run1_agent-01/';
  const latencies: number[] = [];
  for (let i = 1; i <= count; i++) {
    const name = `checkpoint-${i * 100}`;
    const dir = path.join(outbox, 'checkpoints', 'run1', name);
    await mkdir(dir, { recursive: true });
    const put = async (file: string, content: Buffer) => {
      await writeFile(path.join(dir, file), content.subarray(0, content.length >> 1));
      await appendFile(path.join(dir, file), content.subarray(content.length >> 1));
    };
    await put('config.json', Buffer.from('{"model_type":"llama"}'));
    await put('model.safetensors', bytes(modelBytes, `${name}/model`));
    await put('training_args.bin', bytes(5_000, 'args'));
    await sleep(pauseMs);
    await put('optimizer.pt', bytes(modelBytes * 2, `${name}/optimizer`));
    await put('scheduler.pt', bytes(1_000, `${name}/scheduler`));
    await put('rng_state.pth', bytes(14_000, `${name}/rng`));
    await put('trainer_state.json', Buffer.from(JSON.stringify({ global_step: i * 100 })));
    const written = Date.now();
    for (;;) {
      const listed = emu.listPaths(BUCKET).filter((p) => p.startsWith(`${prefix}${name}/`)).length;
      if (listed > 0 && listed < 7) throw new Error(`${name} listed with ${listed} of 7 files`);
      if (listed === 7) break;
      if (Date.now() - written > 120_000) throw new Error(`${name} not listed within 120 s`);
      await sleep(5);
    }
    latencies.push(Date.now() - written);
    console.log(`${name}: ${latencies[latencies.length - 1]} ms`);
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[sorted.length >> 1] : ((sorted[sorted.length / 2 - 1] as number) + (sorted[sorted.length / 2] as number)) / 2;
  console.log(
    `trainer_state.json written → checkpoint listed whole: median ${median} ms, min ${sorted[0]} ms, max ${sorted[sorted.length - 1]} ms ` +
      `(${count} checkpoints, settle-ms ${values['settle-ms']}, model ${values['model-mb']} MiB + optimizer ${Number(values['model-mb']) * 2} MiB each)`,
  );
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('close', r));
  await emu.close();
  rmSync(root, { recursive: true, force: true });
}
