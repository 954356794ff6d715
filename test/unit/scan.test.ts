import { describe, expect, it } from 'vitest';
import { compileRules } from '../../src/pipeline/naming.js';
import { readUnit, scanIntoBacklog, scanOutbox, type ScanDeps } from '../../src/pipeline/scan.js';
import { createLogger } from '../../src/log.js';
import type { Fingerprint } from '../../src/core/types.js';
import { MemoryFs } from '../fakes/memory-fs.js';

const ROOT = '/outbox';
const rules = compileRules({ agentId: 'agent-01', unitCategories: ['checkpoints'], ignore: [] });

/** The state store's view a scan needs: delivered versions and which local copies it believes present. */
function fakeState(delivered: Record<string, Fingerprint & { bucketPath: string }> = {}) {
  const gone: string[] = [];
  const state: ScanDeps['state'] = {
    deliveredVersion: (p) => delivered[p],
    presentLocalPathsNotIn: (isPresent) =>
      Object.entries(delivered)
        .filter(([p]) => !gone.includes(p) && !isPresent(p))
        .map(([localPath, d]) => ({ localPath, bucketPath: d.bucketPath })),
    markLocalGone: (p) => void gone.push(p),
  };
  return { state, gone };
}

async function scan(fs: MemoryFs, state: ScanDeps['state']) {
  const units: string[] = [];
  const rejected: string[] = [];
  const skipped: string[] = [];
  const { files } = await scanOutbox(
    { fs, state, logger: createLogger({ level: 'silent' }), outbox: ROOT, rules },
    { unit: (u) => void units.push(u), rejected: async (p) => void rejected.push(p), skipped: (p) => void skipped.push(p) },
  );
  return { files, units, rejected, skipped };
}

describe('scan', () => {
  it('finds each artifact once per unit, notes as their own unit, and reports rejected and non-regular entries', async () => {
    const fs = new MemoryFs();
    fs.write(`${ROOT}/scripts/train.py`, 'x');
    fs.write(`${ROOT}/scripts/train.py.note.md`, 'note');
    fs.write(`${ROOT}/checkpoints/run1/a.bin`, 'a');
    fs.write(`${ROOT}/checkpoints/run1/b.bin`, 'b');
    fs.write(`${ROOT}/scripts/bad?.py`, 'x');
    fs.write(`${ROOT}/scripts/link.py`, '', 'symlink');
    fs.write(`${ROOT}/scripts/x.tmp`, 'x');
    const r = await scan(fs, fakeState().state);
    expect(r.units.sort()).toEqual(['checkpoints/run1', 'scripts/train.py', 'scripts/train.py.note.md']);
    expect(r.rejected).toEqual(['scripts/bad?.py']);
    expect(r.skipped).toEqual(['scripts/link.py']);
    expect(r.files).toBe(7);
  });

  it('skips a file whose delivered version is unchanged, sends one that changed, and records a delivered file that vanished', async () => {
    const fs = new MemoryFs();
    fs.write(`${ROOT}/scripts/same.py`, 'same');
    fs.write(`${ROOT}/scripts/changed.py`, 'new bytes');
    const same = await fs.stat(`${ROOT}/scripts/same.py`);
    const changed = await fs.stat(`${ROOT}/scripts/changed.py`);
    const { state, gone } = fakeState({
      'scripts/same.py': { bucketPath: 'artifacts/scripts/same_agent-01.py', sizeBytes: same!.sizeBytes, mtimeMs: same!.mtimeMs, ino: same!.ino },
      'scripts/changed.py': { bucketPath: 'artifacts/scripts/changed_agent-01.py', sizeBytes: 3, mtimeMs: changed!.mtimeMs, ino: changed!.ino },
      'scripts/removed.py': { bucketPath: 'artifacts/scripts/removed_agent-01.py', sizeBytes: 1, mtimeMs: 1, ino: 99 },
    });
    const r = await scan(fs, state);
    expect(r.units).toEqual(['scripts/changed.py']);
    expect(gone).toEqual(['scripts/removed.py']);
  });
});

describe('scan into the backlog', () => {
  it('puts every unit found in the backlog and feeds it once, after the walk; refused paths and links go to the problems reporter', async () => {
    const fs = new MemoryFs();
    fs.write(`${ROOT}/scripts/train.py`, 'x');
    fs.write(`${ROOT}/checkpoints/run1/a.bin`, 'a');
    fs.write(`${ROOT}/scripts/bad?.py`, 'x');
    fs.write(`${ROOT}/scripts/link.py`, '', 'symlink');
    const log: string[] = [];
    const backlog = { add: (u: string) => void log.push(`add ${u}`), feed: () => void log.push('feed') };
    const problems = {
      // The report of a refused path is out before the scan resolves.
      path: async (p: string, reason: string) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        log.push(`rejected ${p}: ${reason.slice(0, 14)}`);
      },
      skipped: (p: string, bucketPath: string, kind: string) => void log.push(`skipped ${p} ${bucketPath} ${kind}`),
    };
    const { files } = await scanIntoBacklog({ fs, state: fakeState().state, logger: createLogger({ level: 'silent' }), outbox: ROOT, rules }, backlog, problems);
    expect(files).toBe(4);
    expect(log).toEqual([
      'rejected scripts/bad?.py: name "bad?.py"',
      'skipped scripts/link.py artifacts/scripts/link_agent-01.py symlink',
      'add checkpoints/run1',
      'add scripts/train.py',
      'feed',
    ]);
  });
});

describe('readUnit', () => {
  it('reads a unit folder as every artifact file under it, with their bucket paths', async () => {
    const fs = new MemoryFs();
    fs.write(`${ROOT}/checkpoints/run1/adapter.safetensors`, 'abc');
    fs.write(`${ROOT}/checkpoints/run1/sub/config.json`, '{}');
    fs.write(`${ROOT}/checkpoints/run1/.hidden`, 'x');
    const snap = await readUnit(fs, ROOT, rules, 'checkpoints/run1');
    expect(snap?.unitKind).toBe('directory');
    expect(snap?.unitBucketPath).toBe('artifacts/checkpoints/run1_agent-01');
    expect(snap?.files.map((f) => [f.localPath, f.bucketPath, f.sizeBytes])).toEqual([
      ['checkpoints/run1/adapter.safetensors', 'artifacts/checkpoints/run1_agent-01/adapter.safetensors', 3],
      ['checkpoints/run1/sub/config.json', 'artifacts/checkpoints/run1_agent-01/sub/config.json', 2],
    ]);
  });

  it('reads a note alone with no bucket path, and a vanished unit as nothing', async () => {
    const fs = new MemoryFs();
    fs.write(`${ROOT}/scripts/a.py.note.md`, 'hello');
    const note = await readUnit(fs, ROOT, rules, 'scripts/a.py.note.md');
    expect(note).toMatchObject({ unitKind: 'file', unitBucketPath: '', files: [{ localPath: 'scripts/a.py.note.md', bucketPath: '', sizeBytes: 5 }] });
    expect(await readUnit(fs, ROOT, rules, 'scripts/gone.py')).toBeUndefined();
  });
});
