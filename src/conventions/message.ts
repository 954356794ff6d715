/**
 * Message-board announcements (pure): renders the Markdown file hf-outbox posts for an
 * artifact, and reads posted messages back (its own, and other agents' hand-written ones).
 *
 * A message lives at `message_board/<UTC yyyymmddThhmmssZ>_<slug>_<agent-id>.md`. It opens with
 * YAML front matter (agent_id, timestamp, title, tags, supersedes, and per artifact its path,
 * uri, kind, size_bytes, file_count), then the note's text, then a "How to get it" section
 * with the exact command that downloads each artifact and its human-readable size.
 */
import { parseDocument, stringify } from 'yaml';
import type { BucketTarget } from '../config/parse.js';
import { splitExtension } from '../pipeline/naming.js';

import { formatBytes } from '../core/format.js';

export { formatBytes };
export const MESSAGE_BOARD_ROOT = 'message_board';
export const MAX_SLUG_CHARS = 40;
/** Artifacts bigger than this are flagged as a large download (the conventions ask to mention size). */
export const LARGE_ARTIFACT_BYTES = 100 * 1024 * 1024;

export interface MessageArtifact {
  /** Bucket path of the unit: a file, or a folder without trailing slash. */
  bucketPath: string;
  kind: 'file' | 'directory';
  sizeBytes: number;
  fileCount: number;
  /** Outbox-relative path of the unit (shown only in generated messages). */
  localPath: string;
}

export interface MessageNote {
  title?: string;
  tags: readonly string[];
  body: string;
}

export interface MessageInput {
  agentId: string;
  timestamp: Date;
  bucket: BucketTarget;
  /** The note's content; undefined for a generated (auto-announce) message. */
  note?: MessageNote | undefined;
  /** Empty for a note that announces no artifact. */
  artifacts: readonly MessageArtifact[];
  /** Bucket path of the earlier message this one updates (an edited note). */
  supersedes?: string | undefined;
  /**
   * sha256 of the note version (or generated post) this message is: with it a poster that lost its
   * records recognises its own earlier post of the same version on the board instead of posting twice.
   */
  version?: string | undefined;
}

export interface RenderedMessage {
  bucketPath: string;
  text: string;
  title: string;
}

/** What the message board shows of one message, whoever wrote it. */
export interface BoardMessage {
  path: string;
  /**
   * The author: the agent id the file name carries, the only thing the naming convention guarantees
   * (an agent writes only names with its own id). Undefined when the name carries none.
   */
  agentId: string | undefined;
  /** The front matter's `agent_id` when it names someone else than the file name: shown flagged, never as the author. */
  claimedAgentId: string | undefined;
  /** From the front matter, else the file name; undefined when neither says (use the upload time). */
  timestamp: Date | undefined;
  /** When the bucket says the file was written (filled by the reader, when the listing gives it). */
  uploadedAt?: Date | undefined;
  title: string;
  tags: string[];
  supersedes: string | undefined;
  artifacts: BoardArtifact[];
  body: string;
  /** Why the front matter was ignored, when it could not be read. */
  warning: string | undefined;
  /** `note_version` of the front matter (a sha256), when it has one. */
  noteVersion?: string | undefined;
  /** The raw `checkpoint:` block of a checkpoint post (run, name, step, metrics), when there is one: unchecked, type-check before use. */
  checkpoint?: unknown;
}

export interface BoardArtifact {
  path: string;
  uri: string | undefined;
  kind: 'file' | 'directory' | undefined;
  sizeBytes: number | undefined;
  fileCount: number | undefined;
}

const CATEGORY_WORDS: Readonly<Record<string, string>> = {
  scripts: 'script',
  results: 'results',
  checkpoints: 'checkpoint',
  data: 'data',
};

export function renderMessage(input: MessageInput): RenderedMessage {
  if (Number.isNaN(input.timestamp.getTime())) throw new RangeError('renderMessage: timestamp is an invalid Date');
  const iso = isoSeconds(input.timestamp);
  const first = input.artifacts[0];
  const title = input.note?.title ?? (first === undefined ? `Note from ${input.agentId}` : generatedTitle(first));
  const slugSource = input.note?.title ?? (first === undefined ? 'note' : unitDisplayName(first.bucketPath, input.agentId));
  const bucketPath = messagePath(input.timestamp, slugify(slugSource), input.agentId);

  const frontMatter: Record<string, unknown> = {
    agent_id: input.agentId,
    timestamp: iso,
    title,
    tags: [...(input.note?.tags ?? [])],
  };
  if (input.supersedes !== undefined) frontMatter['supersedes'] = input.supersedes;
  if (input.version !== undefined) frontMatter['note_version'] = input.version;
  frontMatter['artifacts'] = input.artifacts.map((a) => ({
    path: a.bucketPath,
    uri: artifactUri(input.bucket, a),
    kind: a.kind,
    size_bytes: a.sizeBytes,
    file_count: a.fileCount,
  }));

  const parts: string[] = [`---\n${stringify(frontMatter, { lineWidth: 0 }).trimEnd()}\n---`];
  const body = input.note?.body.trim() ?? generatedBody(input);
  if (!/^#[ \t]/.test(body)) parts.push(`# ${title}`);
  if (input.supersedes !== undefined) {
    parts.push(`> Update: this replaces the earlier announcement \`${input.supersedes}\`.`);
  }
  if (body !== '') parts.push(body);
  if (input.artifacts.length > 0) parts.push(howToGetIt(input.bucket, input.artifacts));
  return { bucketPath, text: `${parts.join('\n\n')}\n`, title };
}

/** `message_board/20260424T173000Z_<slug>_<agent-id>.md` */
export function messagePath(timestamp: Date, slug: string, agentId: string): string {
  return `${MESSAGE_BOARD_ROOT}/${compactTimestamp(timestamp)}_${slug}_${agentId}.md`;
}

/** `2026-04-24T17:30:00.123Z` → `20260424T173000Z` (UTC, whole seconds). */
export function compactTimestamp(d: Date): string {
  return isoSeconds(d).replace(/[-:]/g, '');
}

/** ISO 8601 in UTC to the second, as in the conventions' results example: `2026-04-24T17:30:00Z`. */
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Lowercase ASCII letters, digits and single dashes, at most 40 characters, never empty. */
export function slugify(text: string): string {
  const ascii = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  let slug = ascii;
  if (slug.length > MAX_SLUG_CHARS) {
    slug = slug.slice(0, MAX_SLUG_CHARS);
    const cut = slug.lastIndexOf('-');
    // Cut at a word boundary when one is not too far back, so a slug does not end mid-word.
    if (cut >= MAX_SLUG_CHARS / 2) slug = slug.slice(0, cut);
    slug = slug.replace(/-+$/, '');
  }
  return slug === '' ? 'note' : slug;
}

/** 1536 → `1.5 KiB`; 1503238553 → `1.4 GiB`; below 1 KiB in bytes. */
/** The command that downloads an artifact into the current folder. */
export function downloadCommand(bucket: BucketTarget, artifact: Pick<MessageArtifact, 'bucketPath' | 'kind'>): string {
  const name = lastSegment(artifact.bucketPath);
  if (bucket.kind === 'hf') {
    const uri = `${bucket.uri}/${artifact.bucketPath}`;
    return artifact.kind === 'directory'
      ? `hf buckets sync ${shellQuote(`${uri}/`)} ${shellQuote(`./${name}/`)}`
      : `hf buckets cp ${shellQuote(uri)} ./`;
  }
  const abs = `${bucket.root.replace(/\/+$/, '')}/${artifact.bucketPath}`;
  return artifact.kind === 'directory' ? `cp -R ${shellQuote(abs)} ./` : `cp ${shellQuote(abs)} ./`;
}

/** Quotes a word for a POSIX shell only when it needs it. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function artifactUri(bucket: BucketTarget, a: Pick<MessageArtifact, 'bucketPath' | 'kind'>): string {
  return `${bucket.uri}/${a.bucketPath}${a.kind === 'directory' ? '/' : ''}`;
}

function howToGetIt(bucket: BucketTarget, artifacts: readonly MessageArtifact[]): string {
  const lines = ['## How to get it'];
  for (const a of artifacts) {
    const what = categoryWord(a.bucketPath);
    const shape =
      a.kind === 'directory' ? `a directory of ${a.fileCount} file${a.fileCount === 1 ? '' : 's'}` : 'a file';
    const large = a.sizeBytes > LARGE_ARTIFACT_BYTES ? ' (large download)' : '';
    const shownPath = a.kind === 'directory' ? `${a.bucketPath}/` : a.bucketPath;
    lines.push(
      '',
      `**${capitalise(what)}** \`${shownPath}\`: ${shape}, ${formatBytes(a.sizeBytes)}${large}.`,
      '',
      '```sh',
      downloadCommand(bucket, a),
      '```',
    );
  }
  return lines.join('\n');
}

function generatedTitle(a: MessageArtifact): string {
  return `New ${categoryWord(a.bucketPath)}: ${lastSegment(a.bucketPath)}`;
}

function generatedBody(input: MessageInput): string {
  if (input.artifacts.length === 0) return '';
  const sources = input.artifacts.map((a) => `\`${a.localPath}${a.kind === 'directory' ? '/' : ''}\``).join(', ');
  return `Published automatically by hf-outbox for ${input.agentId} from ${sources}; no note was written for it.`;
}

/** `artifacts/checkpoints/x_agent-01` → `checkpoint`; the category folder names the kind of artifact. */
function categoryWord(bucketPath: string): string {
  const segments = bucketPath.split('/');
  if (segments.length < 3) return 'artifact';
  const category = segments[1] as string;
  return CATEGORY_WORDS[category] ?? category;
}

/** The artifact's name without the agent suffix and extension: `lora_r16_ep3_agent-01` → `lora_r16_ep3`. */
function unitDisplayName(bucketPath: string, agentId: string): string {
  const [stem] = splitExtension(lastSegment(bucketPath));
  const suffix = `_${agentId}`;
  return stem.endsWith(suffix) && stem.length > suffix.length ? stem.slice(0, -suffix.length) : stem;
}

function lastSegment(p: string): string {
  const clean = p.replace(/\/+$/, '');
  return clean.slice(clean.lastIndexOf('/') + 1);
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// ---------------------------------------------------------------------------------------------
// Reading messages back
// ---------------------------------------------------------------------------------------------

const FILE_NAME = /^(\d{8}T\d{6}Z)_(.+)_([^_]+)\.md$/;

/** What a message's file name says: `20260424T173000Z_slug_agent-02.md` → its time, slug and agent. */
export function parseMessageFileName(bucketPath: string): { timestamp?: Date; slug?: string; agentId?: string } {
  const name = lastSegment(bucketPath);
  const m = FILE_NAME.exec(name);
  if (m) {
    const t = parseCompactTimestamp(m[1] as string);
    return { ...(t ? { timestamp: t } : {}), slug: m[2] as string, agentId: m[3] as string };
  }
  // Hand-written names without a timestamp: the agent id is still the last `_` part, per the conventions.
  const loose = /^(.+)_([^_]+)\.md$/.exec(name);
  return loose ? { slug: loose[1] as string, agentId: loose[2] as string } : {};
}

function parseCompactTimestamp(s: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, se] = m.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, se));
  return date.getUTCMonth() === mo - 1 && date.getUTCDate() === d && h < 24 && mi < 60 && se < 60 ? date : undefined;
}

/**
 * Reads a posted message. Never throws: a message without front matter, or with front matter
 * that is not valid YAML, still lists with the time and agent id its file name gives.
 */
export function parseMessage(text: string, bucketPath: string): BoardMessage {
  const clean = (text.startsWith('\uFEFF') ? text.slice(1) : text).replace(/\r\n?/g, '\n');
  const fromName = parseMessageFileName(bucketPath);
  let meta: Record<string, unknown> = {};
  let body = clean;
  let warning: string | undefined;

  const fm = /^---[ \t]*\n(?:([\s\S]*?)\n)?(?:---|\.\.\.)[ \t]*(?:\n|$)/.exec(clean.slice(0, 256 * 1024));
  if (fm) {
    body = clean.slice(fm[0].length);
    try {
      const doc = parseDocument(fm[1] ?? '');
      if (doc.errors.length > 0) throw new Error((doc.errors[0]?.message ?? '').split('\n', 1)[0]);
      const data: unknown = doc.toJS({ maxAliasCount: 10 });
      if (data !== null && typeof data === 'object' && !Array.isArray(data)) meta = data as Record<string, unknown>;
      else if (data !== null && data !== undefined) warning = 'front matter is not a mapping; ignored';
    } catch (error) {
      warning = `front matter is not valid YAML (${error instanceof Error ? error.message : String(error)}); ignored`;
    }
  }
  body = body.replace(/^(?:[ \t]*\n)+/, '').trimEnd();

  const agentId = fromName.agentId;
  const claimed = text_(meta['agent_id']);
  const stated = text_(meta['timestamp']) ?? (meta['timestamp'] instanceof Date ? meta['timestamp'].toISOString() : undefined);
  const statedDate = stated === undefined ? undefined : new Date(stated);
  const timestamp = statedDate !== undefined && !Number.isNaN(statedDate.getTime()) ? statedDate : fromName.timestamp;

  return {
    path: bucketPath,
    agentId,
    claimedAgentId: claimed !== undefined && claimed !== agentId ? claimed : undefined,
    timestamp,
    title: text_(meta['title']) ?? titleOfBody(body) ?? fromName.slug ?? lastSegment(bucketPath),
    tags: tagsOf(meta['tags']),
    supersedes: text_(meta['supersedes']),
    artifacts: artifactsOf(meta['artifacts']),
    body,
    warning,
    ...(meta['checkpoint'] !== undefined ? { checkpoint: meta['checkpoint'] } : {}),
    ...(typeof meta['note_version'] === 'string' && /^[0-9a-f]{64}$/.test(meta['note_version']) ? { noteVersion: meta['note_version'] } : {}),
  };
}

function text_(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim() === '' ? undefined : v.trim();
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

function tagsOf(v: unknown): string[] {
  if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (Array.isArray(v)) return v.map(text_).filter((s): s is string => s !== undefined);
  return [];
}

function artifactsOf(v: unknown): BoardArtifact[] {
  if (!Array.isArray(v)) return [];
  const out: BoardArtifact[] = [];
  for (const item of v) {
    if (typeof item === 'string') {
      out.push({ path: item, uri: undefined, kind: undefined, sizeBytes: undefined, fileCount: undefined });
      continue;
    }
    if (item === null || typeof item !== 'object') continue;
    const r = item as Record<string, unknown>;
    const p = text_(r['path']);
    if (p === undefined) continue;
    const kind = r['kind'] === 'file' || r['kind'] === 'directory' ? r['kind'] : undefined;
    out.push({ path: p, uri: text_(r['uri']), kind, sizeBytes: count(r['size_bytes']), fileCount: count(r['file_count']) });
  }
  return out;
}

function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** The first `# Heading`, else the first non-empty line, clipped. */
function titleOfBody(body: string): string | undefined {
  const lines = body.split('\n', 200);
  const heading = lines.find((l) => /^#{1,6}[ \t]+\S/.test(l));
  const line = (heading ?? lines.find((l) => l.trim() !== ''))?.replace(/^#{1,6}[ \t]+/, '').replace(/[ \t]+#*[ \t]*$/, '').trim();
  if (line === undefined || line === '') return undefined;
  return line.length > 100 ? `${line.slice(0, 99)}…` : line;
}

/** A stated time this far ahead of the reader's clock is clock skew; beyond it, the time is in the future. */
export const FUTURE_SKEW_MS = 5 * 60_000;

/** True when a message's stated time lies in the future (shown as such, never sorted above the rest). */
export function isFutureTime(t: Date | undefined, nowMs: number): boolean {
  return t !== undefined && t.getTime() > nowMs + FUTURE_SKEW_MS;
}

/**
 * The time a message sorts by: its stated time, unless that lies in the future; then the time the
 * bucket says it was written, else none (0: it sorts last). A post dated 2099 cannot pin itself on top.
 */
export function boardSortTime(m: Pick<BoardMessage, 'timestamp' | 'uploadedAt'>, nowMs: number): number {
  if (m.timestamp !== undefined && !isFutureTime(m.timestamp, nowMs)) return m.timestamp.getTime();
  if (m.uploadedAt !== undefined && !isFutureTime(m.uploadedAt, nowMs)) return m.uploadedAt.getTime();
  return 0;
}
