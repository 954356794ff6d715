import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/state/migrations.js';
import { STATE_FILE, StateStore, type TrackedFile } from '../../src/state/store.js';
import { tmpDir } from '../helpers/tmp.js';

const ID = { outbox: '/srv/outbox', bucket: 'hf://buckets/team/shared', agentId: 'agent-01' };
const file = (over: Partial<TrackedFile> = {}): TrackedFile => ({
  localPath: 'scripts/a.py',
  unitPath: 'scripts/a.py',
  bucketPath: 'artifacts/scripts/a_agent-01.py',
  sizeBytes: 10,
  mtimeMs: 1000,
  ino: 7,
  ...over,
});

describe('state store', () => {
  it('creates a WAL database with the latest schema version', () => {
    const dir = tmpDir();
    StateStore.open(dir, ID).close();
    const db = new Database(path.join(dir, STATE_FILE), { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    db.close();
  });

  it('migrates a version-1 database and keeps its rows', () => {
    const dir = tmpDir();
    const db = new Database(path.join(dir, STATE_FILE));
    db.exec(MIGRATIONS[0] as string);
    db.pragma('user_version = 1');
    for (const [k, v] of Object.entries(ID)) db.prepare('INSERT INTO meta VALUES (?, ?)').run(k, v);
    db.prepare(
      `INSERT INTO files (local_path, unit_path, bucket_path, size_bytes, mtime_ms, ino, state, first_seen_at, updated_at, uploaded_at, uploaded_size, uploaded_mtime_ms, uploaded_ino)
       VALUES ('scripts/a.py', 'scripts/a.py', 'artifacts/scripts/a_agent-01.py', 10, 1000, 7, 'uploaded', 1, 1, 1, 10, 1000, 7)`,
    ).run();
    db.close();
    const store = StateStore.open(dir, ID);
    expect(store.isDelivered(file())).toBe(true);
    expect(store.hasWritten('artifacts/scripts/a_agent-01.py')).toBe(true);
    store.close();
  });

  it('refuses a state directory that belongs to another outbox or bucket, saying what to do', () => {
    const dir = tmpDir();
    StateStore.open(dir, ID).close();
    expect(() => StateStore.open(dir, { ...ID, bucket: 'hf://buckets/other/b' })).toThrow(/belongs to \/srv\/outbox → hf:\/\/buckets\/team\/shared.*own --state-dir/);
  });

  it('refuses a database written by a newer hf-outbox', () => {
    const dir = tmpDir();
    StateStore.open(dir, ID).close();
    const db = new Database(path.join(dir, STATE_FILE));
    db.pragma(`user_version = ${MIGRATIONS.length + 5}`);
    db.close();
    expect(() => StateStore.open(dir, ID)).toThrow(/newer hf-outbox/);
  });

  it('after a crash mid-upload, the file is pending again and the path counts as ours', () => {
    const dir = tmpDir();
    const a = StateStore.open(dir, ID);
    a.markPending(file());
    a.markUploading(['scripts/a.py']);
    // no close(): the process died
    const b = StateStore.open(dir, ID);
    expect(b.requeueInterrupted()).toEqual(['scripts/a.py']);
    expect(b.get('scripts/a.py')?.state).toBe('pending');
    expect(b.hasWritten('artifacts/scripts/a_agent-01.py')).toBe(true);
    b.close();
    a.close();
  });

  it('a new version of an uploaded file is pending but the bucket still has the old one', () => {
    const store = StateStore.open(tmpDir(), ID);
    store.markPending(file());
    store.markUploading(['scripts/a.py']);
    store.markUploaded(file());
    store.markPending(file({ sizeBytes: 11, mtimeMs: 2000 }));
    expect(store.isDelivered(file({ sizeBytes: 11, mtimeMs: 2000 }))).toBe(false);
    expect(store.get('scripts/a.py')?.uploaded).toEqual({ sizeBytes: 10, mtimeMs: 1000, ino: 7 });
    expect(store.counts()).toMatchObject({ pending: 1, uploaded: 0 });
    store.close();
  });

  it('answers the delivered version of one path, and streams the present paths a scan did not find', () => {
    const store = StateStore.open(tmpDir(), ID);
    store.markPending(file());
    store.markUploading(['scripts/a.py']);
    store.markUploaded(file());
    store.markPending(file({ localPath: 'scripts/b.py', bucketPath: 'artifacts/scripts/b_agent-01.py' }));
    expect(store.deliveredVersion('scripts/a.py')).toEqual({ bucketPath: 'artifacts/scripts/a_agent-01.py', sizeBytes: 10, mtimeMs: 1000, ino: 7 });
    expect(store.deliveredVersion('scripts/b.py')).toBeUndefined();
    expect(store.deliveredVersion('scripts/none.py')).toBeUndefined();
    // A new version pending: what the bucket holds is the old one, so it no longer counts as delivered as is.
    store.markPending(file({ sizeBytes: 11 }));
    expect(store.deliveredVersion('scripts/a.py')).toBeUndefined();
    expect(store.presentLocalPathsNotIn((p) => p === 'scripts/a.py')).toEqual([{ localPath: 'scripts/b.py', bucketPath: 'artifacts/scripts/b_agent-01.py' }]);
    store.markLocalGone('scripts/b.py');
    expect(store.presentLocalPathsNotIn(() => false)).toEqual([{ localPath: 'scripts/a.py', bucketPath: 'artifacts/scripts/a_agent-01.py' }]);
    store.close();
  });

  it('opens read-only without creating anything when asked', () => {
    const dir = path.join(tmpDir(), 'none');
    expect(() => StateStore.open(dir, ID, { readonly: true })).toThrow(/cannot open the state database/);
    expect(existsSync(dir)).toBe(false);
  });
});
