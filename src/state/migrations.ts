/**
 * Schema migrations, applied in order inside one transaction each. PRAGMA user_version holds
 * the number applied. Never edit a released migration: append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: files and the identity of the outbox/bucket pair this state belongs to.
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE files (
    local_path       TEXT PRIMARY KEY,          -- relative to the outbox, '/'-separated
    unit_path        TEXT NOT NULL,             -- the artifact: itself, or its unit directory
    bucket_path      TEXT NOT NULL,
    size_bytes       INTEGER NOT NULL,
    mtime_ms         REAL NOT NULL,
    ino              INTEGER NOT NULL,
    content_hash     TEXT,                      -- once known (sha256 or xet hash, prefixed)
    state            TEXT NOT NULL CHECK (state IN ('pending','uploading','uploaded','failed','rejected','conflict')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    local_present    INTEGER NOT NULL DEFAULT 1,
    first_seen_at    INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    uploaded_at      INTEGER,                   -- set once this agent has written bucket_path
    uploaded_size    INTEGER,                   -- fingerprint of the version now in the bucket
    uploaded_mtime_ms REAL,
    uploaded_ino     INTEGER
  );
  CREATE INDEX files_state ON files (state);
  CREATE INDEX files_bucket_path ON files (bucket_path);
  `,
  // 2: live progress of uploads in flight, so `status` (another process) can show it.
  `
  CREATE TABLE progress (
    bucket_path  TEXT PRIMARY KEY,
    local_path   TEXT NOT NULL,
    bytes_done   INTEGER NOT NULL,
    bytes_total  INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
  );
  `,
  // 3: remember that a write of the bucket path was attempted, even if the crash came before it was
  // recorded as uploaded: such a path may hold our own bytes, so it is never mistaken for a conflict.
  `
  ALTER TABLE files ADD COLUMN write_attempted INTEGER NOT NULL DEFAULT 0;
  UPDATE files SET write_attempted = 1 WHERE uploaded_at IS NOT NULL OR state = 'uploading';
  `,
  // 4: announcements. One row per source (a note, or 'auto:<unit>'); the rendered message is kept
  // from the moment posting starts, so a restart re-posts exactly the same bytes at the same path.
  `
  CREATE TABLE announcements (
    source                TEXT PRIMARY KEY,
    version               TEXT NOT NULL,
    target                TEXT NOT NULL DEFAULT '',
    state                 TEXT NOT NULL CHECK (state IN ('waiting','posting','posted','held','rejected')),
    reason                TEXT,
    message_path          TEXT,
    message_text          TEXT,
    previous_message_path TEXT,
    updated_at            INTEGER NOT NULL,
    posted_at             INTEGER
  );
  CREATE INDEX announcements_target ON announcements (target);
  `,
  // 5: what an upload replaced. When a file's upload overwrote a version of the same bucket path this
  // agent had published before, the earlier version's publication time and size are kept, so the log,
  // `status` and the checkpoint's post can say what was replaced.
  `
  ALTER TABLE files ADD COLUMN replaced_uploaded_at INTEGER;
  ALTER TABLE files ADD COLUMN replaced_size INTEGER;
  `,
  // 6: a note beside a training run folder is the run's description: it is quoted in each
  // checkpoint's post instead of being posted on its own ('quoted'). SQLite cannot change a CHECK,
  // so the table is rebuilt with the same columns.
  `
  CREATE TABLE announcements_v6 (
    source                TEXT PRIMARY KEY,
    version               TEXT NOT NULL,
    target                TEXT NOT NULL DEFAULT '',
    state                 TEXT NOT NULL CHECK (state IN ('waiting','posting','posted','held','rejected','quoted')),
    reason                TEXT,
    message_path          TEXT,
    message_text          TEXT,
    previous_message_path TEXT,
    updated_at            INTEGER NOT NULL,
    posted_at             INTEGER
  );
  INSERT INTO announcements_v6 (source, version, target, state, reason, message_path, message_text, previous_message_path, updated_at, posted_at)
    SELECT source, version, target, state, reason, message_path, message_text, previous_message_path, updated_at, posted_at FROM announcements;
  DROP TABLE announcements;
  ALTER TABLE announcements_v6 RENAME TO announcements;
  CREATE INDEX announcements_target ON announcements (target);
  `,
];
