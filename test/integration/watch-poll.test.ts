/**
 * Outboxes on network file systems: a job on another host writes there, and inotify here never
 * hears of it. Simulated by a file system type that says NFS and an inotify watcher that reports
 * nothing: watch mode auto must poll, and pick up a new checkpoint folder of a run folder within
 * one poll interval plus its completeness rule (complete: trainer_state.json or a COMPLETE marker,
 * then quiet for the settle time; a staging folder is
 * never sent, the folder renamed from it is), and publish it whole. On a local file system, auto
 * keeps inotify. Plus the statfs classification itself.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { SettledUnit } from '../../src/core/types.js';
import { classifyFsType, chooseWatchMode, detectFsType } from '../../src/pipeline/fs-type.js';
import { pollOutbox, type PollWatcher } from '../../src/pipeline/poll.js';
import { sha256, treeHashes } from '../helpers/tmp.js';
import { localWorkspace } from '../helpers/local-workspace.js';

const NFS = classifyFsType(0x6969);
const EXT4 = classifyFsType(0xef53);

async function until(what: string, ok: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** inotify on a network file system, for a writer on another host: it never reports anything. */
const deafInotify = () => ({ ready: Promise.resolve(), close: async () => undefined });

describe('watching an outbox on a network file system', () => {
  it('auto polls on NFS: a checkpoint written by another host is published whole within one interval plus the settle time', async () => {
    const intervalMs = 400;
    const settleMs = 300;
    const ws = localWorkspace({ watchMode: 'auto', pollIntervalMs: intervalMs, settleMs });
    let poller: PollWatcher | undefined;
    const { daemon, state } = ws.open({
      fsType: async () => NFS,
      watch: deafInotify,
      poll: (root, options) => (poller = pollOutbox(root, options)),
    });
    const settled: Array<{ unit: SettledUnit; passes: number }> = [];
    daemon.on('settled', (unit) => settled.push({ unit, passes: poller?.stats().passes ?? -1 }));
    const run = path.join(ws.outbox, 'checkpoints', 'run1');
    await mkdir(path.join(run, 'checkpoint-100'), { recursive: true });
    await writeFile(path.join(run, 'checkpoint-100', 'model.safetensors'), 'step 100');
    await writeFile(path.join(run, 'checkpoint-100', 'COMPLETE'), '');
    try {
      await daemon.prepare();
      await daemon.watch();
      await daemon.scan();
      expect(poller).toBeDefined();
      await until('checkpoint-100', () => state.get('checkpoints/run1/checkpoint-100/model.safetensors')?.state === 'uploaded');
      settled.length = 0;

      // The remote job writes the next checkpoint file by file, pausing less than the settle time;
      // a Trainer checkpoint, complete once trainer_state.json (written last) is there.
      const names = ['model.safetensors', 'optimizer.pt', 'trainer_state.json'];
      const files: Record<string, Buffer> = {};
      await mkdir(path.join(run, 'checkpoint-200'));
      for (const [i, name] of names.entries()) {
        files[name] = Buffer.alloc(1000 + i, i + 1);
        await writeFile(path.join(run, 'checkpoint-200', name), files[name] as Buffer);
        await sleep(settleMs / 3);
      }
      const passesAtLastWrite = poller?.stats().passes ?? 0;
      const lastWriteAt = Date.now();
      // And, the Trainer's way, one more into a staging folder renamed into place once complete.
      await mkdir(path.join(run, 'tmp-checkpoint-300'));
      await writeFile(path.join(run, 'tmp-checkpoint-300', 'model.safetensors'), 'step 300');
      await writeFile(path.join(run, 'tmp-checkpoint-300', 'COMPLETE'), '');
      await sleep(intervalMs * 2);
      await rename(path.join(run, 'tmp-checkpoint-300'), path.join(run, 'checkpoint-300'));

      const landed = (step: number, list: string[]) => list.every((n) => state.get(`checkpoints/run1/checkpoint-${step}/${n}`)?.state === 'uploaded');
      await until('both checkpoints to land', () => landed(200, names) && landed(300, ['model.safetensors']));
      // checkpoint-200 settled once, complete: every file in it, none sent before the writer had stopped.
      const first = settled.filter((s) => s.unit.unitPath === 'checkpoints/run1/checkpoint-200');
      expect(first).toHaveLength(1);
      const { unit, passes } = first[0] as { unit: SettledUnit; passes: number };
      expect(unit.files.map((f) => f.localPath).sort()).toEqual(names.map((n) => `checkpoints/run1/checkpoint-200/${n}`));
      expect(unit.settledAtMs).toBeGreaterThanOrEqual(Math.max(...unit.files.map((f) => f.mtimeMs)) + settleMs);
      // Found by the first pass that began after the last write (a pass already running may miss it).
      expect(passes).toBeLessThanOrEqual(passesAtLastWrite + 1);
      // The same bound in time, with room for a loaded machine.
      expect(unit.settledAtMs - lastWriteAt).toBeLessThan(intervalMs + settleMs + 5_000);

      const bucket = treeHashes(ws.bucketDir);
      for (const [name, bytes] of Object.entries(files)) {
        expect(bucket[`artifacts/checkpoints/run1_agent-01/checkpoint-200/${name}`]).toBe(sha256(bytes));
      }
      expect(bucket['artifacts/checkpoints/run1_agent-01/checkpoint-300/model.safetensors']).toBe(sha256(Buffer.from('step 300')));
      // The staging folder was never sent.
      expect(Object.keys(bucket).filter((p) => p.includes('tmp-checkpoint'))).toEqual([]);
    } finally {
      await daemon.stop();
      state.close();
    }
  });

  it('auto keeps inotify on a local file system: what inotify does not report waits for a rescan', async () => {
    const ws = localWorkspace({ watchMode: 'auto', pollIntervalMs: 100 });
    let polled = false;
    const { daemon, state } = ws.open({
      fsType: async () => EXT4,
      watch: deafInotify,
      poll: (root, options) => {
        polled = true;
        return pollOutbox(root, options);
      },
    });
    try {
      await daemon.prepare();
      await daemon.watch();
      await daemon.scan();
      await writeFile(path.join(ws.outbox, 'scripts', 'train.py'), 'print(1)\n');
      await sleep(600);
      expect(polled).toBe(false);
      expect(state.get('scripts/train.py')).toBeUndefined();
      await daemon.scan();
      await daemon.drain();
      expect(state.get('scripts/train.py')?.state).toBe('uploaded');
    } finally {
      await daemon.stop();
      state.close();
    }
  });

  it('a file rewritten in place (same name, no folder change) is found by the full pass, not by the folder pass', async () => {
    const ws = localWorkspace({ watchMode: 'poll', pollIntervalMs: 100 });
    let poller: PollWatcher | undefined;
    const { daemon, state } = ws.open({
      poll: (root, options) => (poller = pollOutbox(root, { ...options, fullPassMinMs: 6_000 })),
    });
    try {
      await daemon.prepare();
      const results = path.join(ws.outbox, 'results', 'eval.json');
      await writeFile(results, '{"experiment":"a","score":1}');
      await daemon.watch();
      await daemon.scan();
      await until('the first version', () => state.get('results/eval.json')?.state === 'uploaded');
      const first = state.get('results/eval.json')?.sizeBytes;
      // Rewritten in place: the folder's listing does not change, only the file.
      await writeFile(results, '{"experiment":"a","score":0.25}');
      const passes = poller?.stats().passes ?? 0;
      await until('five folder passes', () => (poller?.stats().passes ?? 0) >= passes + 5);
      expect(poller?.stats().fullPasses).toBe(0);
      expect(state.get('results/eval.json')?.sizeBytes).toBe(first);
      await until('the full pass to run', () => (poller?.stats().fullPasses ?? 0) >= 1, 20_000);
      await until('the second version', () => state.get('results/eval.json')?.state === 'uploaded' && state.get('results/eval.json')?.sizeBytes !== first);
      expect(poller?.stats().fullPassEveryMs).toBeGreaterThanOrEqual(6_000);
    } finally {
      await daemon.stop();
      state.close();
    }
  });
});

describe('file system type (statfs)', () => {
  it('names the network and cluster file systems by their statfs magic, and auto polls only those', () => {
    const remote: Array<[number, string]> = [
      [0x6969, 'nfs'],
      [0xff534d42, 'cifs'],
      [0xfe534d42, 'smb2'],
      [0x517b, 'smb'],
      [0x0bd00bd0, 'lustre'],
      [0x47504653, 'gpfs'],
      [0x19830326, 'beegfs'],
      [0x01021997, '9p'],
      [0x00c36400, 'ceph'],
    ];
    for (const [magic, name] of remote) {
      const fs = classifyFsType(magic);
      expect(fs).toMatchObject({ magic, name, remote: true });
      expect(chooseWatchMode('auto', fs, 2000).mode).toBe('poll');
    }
    expect(classifyFsType(0x65735546).name).toMatch(/^fuse/);
    // A signed 32-bit f_type (0xFF534D42 read as a negative long) is the same file system.
    expect(classifyFsType(0xff534d42 - 2 ** 32)).toMatchObject({ name: 'cifs', remote: true });
    for (const magic of [0xef53, 0x58465342, 0x9123683e, 0x01021994, 0x794c7630]) {
      expect(chooseWatchMode('auto', classifyFsType(magic), 2000).mode).toBe('events');
    }
    expect(classifyFsType(0x12345678)).toEqual({ magic: 0x12345678, name: 'unknown (0x12345678)', remote: false });
  });

  it('explains the choice, and warns when events are forced on a network file system', () => {
    const auto = chooseWatchMode('auto', NFS, 2000);
    expect(auto).toMatchObject({ mode: 'poll', warn: false });
    expect(auto.explanation).toBe(
      'the outbox is on nfs (statfs type 0x6969), a network or cluster file system: inotify sees only changes made on this host, not what jobs on other hosts write; polling its folders every 2 s',
    );
    const forced = chooseWatchMode('events', NFS, 2000);
    expect(forced).toMatchObject({ mode: 'events', warn: true });
    expect(forced.explanation).toMatch(/found only by the full rescan \(--rescan-interval-ms\); use --watch-mode auto or poll/);
    expect(chooseWatchMode('poll', EXT4, 500)).toMatchObject({ mode: 'poll', warn: false });
  });

  it('reads the type of a real folder', async () => {
    const fs = await detectFsType(process.cwd());
    expect(typeof fs.magic).toBe('number');
    expect(fs.name).not.toBe('unknown');
  });
});
