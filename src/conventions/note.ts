/**
 * Sidecar notes (pure). `X.note.md` in the outbox announces the artifact beside it. This module
 * reads a note's text (optional YAML front matter with `title` and `tags`, then Markdown) and
 * decides which artifact it announces. Nothing here touches the disk, and no input makes it throw.
 *
 * Which artifact a note announces (`resolveNoteTarget`), for a note `D/X.note.md`:
 * 1. A note inside a unit directory (`checkpoints/lora_r16_ep3/README.note.md`, at any depth)
 *    announces that unit, whatever the note is called: the files of a unit are not artifacts of
 *    their own, so the unit is the only thing such a note can be about.
 * 2. Else the artifact in folder D named exactly X (`train_lora.py.note.md` → `train_lora.py`).
 * 3. Else the one artifact (file, or unit directory) in folder D whose name without its
 *    extension is X, compound extensions kept together (`shards.note.md` → `shards.tar.gz`,
 *    `lora_r16_ep3.note.md` → `checkpoints/lora_r16_ep3/`). Two or more → ambiguous, naming them.
 * 4. Else, when D lies in a unit category (`checkpoints/run1.note.md`), the note waits for the folder
 *    D/X to appear: artifacts there are folders, and a training job creates its run folder only
 *    when it starts, often after its description was written. Posting it alone would announce
 *    nothing, and each checkpoint's post would quote it a second time.
 * 5. Else the note is an orphan: it is posted alone once it settles.
 * The caller passes every artifact present in the outbox, whatever its delivery state (pending,
 * failed, rejected too): an artifact left out would turn its note into an orphan posted alone.
 */
import { parseDocument } from 'yaml';
import { unsafeCharacter } from '../core/terminal-text.js';
import { NOTE_SUFFIX, splitExtension } from '../pipeline/naming.js';

export interface ArtifactRef {
  /** Outbox-relative, '/'-separated: a file path, or a unit directory without trailing slash. */
  unitPath: string;
  unitKind: 'file' | 'directory';
}

export type ParsedNote = { ok: true; title?: string; tags: string[]; body: string } | { ok: false; error: string };

export type NoteTarget =
  | { kind: 'artifact'; target: ArtifactRef }
  | { kind: 'orphan' }
  /** No artifact yet, but the note names a folder of a unit category: it waits for that folder. */
  | { kind: 'awaiting'; unitPath: string }
  | { kind: 'ambiguous'; error: string };

/** Keys a note's front matter may hold. */
export const NOTE_KEYS = ['title', 'tags'] as const;

/** Front matter longer than this is refused rather than handed to the YAML parser. */
export const MAX_FRONT_MATTER_CHARS = 64 * 1024;
const MAX_TITLE_CHARS = 200;
const MAX_TAGS = 32;
const MAX_TAG_CHARS = 64;

/**
 * Reads a note: optional front matter between a first line `---` and a closing `---` (or `...`)
 * line, then the Markdown body. Without a front-matter `title`, a first line `# Heading` of the
 * body gives the title. Errors name the note, and for YAML the line in the note file.
 */
export function parseNote(text: string, notePath: string): ParsedNote {
  const normalised = (text.startsWith('\uFEFF') ? text.slice(1) : text).replace(/\r\n?/g, '\n');
  const split = splitFrontMatter(normalised);
  if (!split.ok) return { ok: false, error: `${notePath}: ${split.error}` };
  const body = trimBlankLines(split.body);
  const meta = split.frontMatter === undefined ? ({ ok: true, tags: [] } as FrontMatter) : readFrontMatter(split.frontMatter, split.frontMatterLineOffset);
  if (!meta.ok) return { ok: false, error: `${notePath}: ${meta.error}` };
  const title = meta.title ?? titleFromHeading(body).title;
  // The heading becomes the front matter's title of the post: the same rule as a written title.
  const bad = meta.title === undefined && title !== undefined ? unsafeCharacter(title) : undefined;
  if (bad !== undefined) return { ok: false, error: `${notePath}: ${controlInKey('title', bad.escape)} (it comes from the first # heading)` };
  return { ok: true, ...(title === undefined ? {} : { title }), tags: meta.tags, body };
}

type FrontMatterSplit =
  | { ok: true; frontMatter: string | undefined; body: string; frontMatterLineOffset: number }
  | { ok: false; error: string };

/** The front matter starts on line 1 with `---` alone; it ends at the next `---` or `...` line. */
function splitFrontMatter(text: string): FrontMatterSplit {
  const firstEnd = text.indexOf('\n');
  const firstLine = firstEnd === -1 ? text : text.slice(0, firstEnd);
  if (firstLine.trimEnd() !== '---') return { ok: true, frontMatter: undefined, body: text, frontMatterLineOffset: 0 };
  if (firstEnd === -1) return { ok: false, error: 'front matter opened with "---" on line 1 is never closed; add a "---" line after it' };

  let lineStart = firstEnd + 1;
  let line = 2;
  while (lineStart <= text.length) {
    if (lineStart - firstEnd > MAX_FRONT_MATTER_CHARS) {
      return {
        ok: false,
        error: `front matter opened with "---" on line 1 is not closed within ${MAX_FRONT_MATTER_CHARS / 1024} KiB; add a "---" line after the title and tags`,
      };
    }
    const end = text.indexOf('\n', lineStart);
    const current = (end === -1 ? text.slice(lineStart) : text.slice(lineStart, end)).trimEnd();
    if (current === '---' || current === '...') {
      return {
        ok: true,
        frontMatter: text.slice(firstEnd + 1, lineStart),
        body: end === -1 ? '' : text.slice(end + 1),
        frontMatterLineOffset: 1,
      };
    }
    if (end === -1) break;
    lineStart = end + 1;
    line++;
  }
  return { ok: false, error: `front matter opened with "---" on line 1 is never closed (read to line ${line}); add a "---" line after it` };
}

type FrontMatter = { ok: true; title?: string; tags: string[] } | { ok: false; error: string };

/** `lineOffset`: lines before the front matter's first line in the note (the opening `---`). */
function readFrontMatter(source: string, lineOffset: number): FrontMatter {
  let doc;
  try {
    doc = parseDocument(source, { uniqueKeys: true, prettyErrors: true });
  } catch (error) {
    return { ok: false, error: `front matter is not valid YAML: ${firstLine(String(error))}` };
  }
  const problem = doc.errors[0];
  if (problem !== undefined) {
    const at = problem.linePos?.[0];
    const where = at === undefined ? '' : ` at line ${at.line + lineOffset}, column ${at.col}`;
    return { ok: false, error: `front matter is not valid YAML${where}: ${yamlReason(problem.message)}` };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 10 });
  } catch (error) {
    return { ok: false, error: `front matter is not valid YAML: ${firstLine(error instanceof Error ? error.message : String(error))}` };
  }
  if (data === null || data === undefined) return { ok: true, tags: [] };
  if (typeof data !== 'object' || Array.isArray(data)) {
    return { ok: false, error: `front matter must be a mapping of ${NOTE_KEYS.join(' and ')} (got ${describe(data)})` };
  }

  const record = data as Record<string, unknown>;
  const unknown = Object.keys(record).filter((k) => !(NOTE_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    return {
      ok: false,
      error: `front matter has unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${clip(k, 40)}"`).join(', ')}; only ${NOTE_KEYS.join(' and ')} are allowed`,
    };
  }

  let title: string | undefined;
  const rawTitle = record['title'];
  if (rawTitle !== undefined && rawTitle !== null) {
    if (typeof rawTitle !== 'string') {
      const hint = typeof rawTitle === 'number' || typeof rawTitle === 'boolean' ? ` (quote it: title: "${String(rawTitle)}")` : '';
      return { ok: false, error: `front matter key "title" must be text, got ${describe(rawTitle)}${hint}` };
    }
    const clean = rawTitle.replace(/\s+/g, ' ').trim();
    if (clean.length > MAX_TITLE_CHARS) {
      return { ok: false, error: `front matter key "title" is ${clean.length} characters long; keep it under ${MAX_TITLE_CHARS}` };
    }
    const bad = unsafeCharacter(clean);
    if (bad !== undefined) return { ok: false, error: controlInKey('title', bad.escape) };
    if (clean !== '') title = clean;
  }

  const tags = readTags(record['tags']);
  if (!tags.ok) return tags;
  return { ok: true, ...(title === undefined ? {} : { title }), tags: tags.tags };
}

function readTags(raw: unknown): { ok: true; tags: string[] } | { ok: false; error: string } {
  if (raw === undefined || raw === null) return { ok: true, tags: [] };
  let items: string[];
  if (typeof raw === 'string') {
    items = raw.split(',');
  } else if (Array.isArray(raw)) {
    const bad = raw.findIndex((t) => typeof t !== 'string');
    if (bad !== -1) {
      return {
        ok: false,
        error: `front matter key "tags" must be a list of text, but item ${bad + 1} is ${describe(raw[bad])}`,
      };
    }
    items = raw as string[];
  } else {
    return { ok: false, error: `front matter key "tags" must be a list of text or a comma-separated text, got ${describe(raw)}` };
  }
  const tags: string[] = [];
  for (const item of items) {
    const tag = item.replace(/\s+/g, ' ').trim();
    if (tag === '' || tags.includes(tag)) continue;
    const bad = unsafeCharacter(tag);
    if (bad !== undefined) return { ok: false, error: controlInKey('tags', bad.escape) };
    if (tag.length > MAX_TAG_CHARS) {
      return { ok: false, error: `front matter key "tags": tag "${clip(tag, 40)}" is longer than ${MAX_TAG_CHARS} characters` };
    }
    tags.push(tag);
  }
  if (tags.length > MAX_TAGS) return { ok: false, error: `front matter key "tags" has ${tags.length} tags; at most ${MAX_TAGS} are allowed` };
  return { ok: true, tags };
}

/** Every agent's `board` prints these fields: a control or bidi character would drive their terminals. */
function controlInKey(key: string, escape: string): string {
  return (
    `front matter key "${key}" holds the control or bidi character ${escape}, which would reach every reader's terminal; ` +
    'remove it (hf-outbox does not post it)'
  );
}

/** A first line `# Heading` (ATX, level 1) gives the title when the front matter has none. */
function titleFromHeading(body: string): { title?: string } {
  const end = body.indexOf('\n');
  const first = end === -1 ? body : body.slice(0, end);
  const m = /^#[ \t]+(.+?)[ \t]*#*[ \t]*$/.exec(first.slice(0, 1000));
  const title = m?.[1]?.replace(/\s+/g, ' ').trim();
  return title ? { title: clip(title, MAX_TITLE_CHARS) } : {};
}

/** Which artifact a note announces; see the module comment for the rules. */
export function resolveNoteTarget(notePath: string, candidates: readonly ArtifactRef[], unitCategories: readonly string[] = []): NoteTarget {
  const announced = notePath.endsWith(NOTE_SUFFIX) ? notePath.slice(0, -NOTE_SUFFIX.length) : notePath;

  const enclosing = candidates.filter((c) => c.unitKind === 'directory' && notePath.startsWith(`${c.unitPath}/`));
  if (enclosing.length > 0) {
    // Units do not nest, but if the caller's list ever does, the innermost one is the closest owner.
    const innermost = enclosing.reduce((a, b) => (b.unitPath.length > a.unitPath.length ? b : a));
    return { kind: 'artifact', target: innermost };
  }

  const exact = candidates.find((c) => c.unitPath === announced);
  if (exact !== undefined) return { kind: 'artifact', target: exact };

  const [dir, name] = splitDir(announced);
  const matches = candidates.filter((c) => {
    const [cDir, cName] = splitDir(c.unitPath);
    return cDir === dir && splitExtension(cName)[0] === name;
  });
  const [only, ...more] = [...matches].sort((a, b) => (a.unitPath < b.unitPath ? -1 : a.unitPath > b.unitPath ? 1 : 0));
  if (only === undefined) {
    const category = announced.split('/')[0] as string;
    return dir !== '' && name !== '' && unitCategories.includes(category) ? { kind: 'awaiting', unitPath: announced } : { kind: 'orphan' };
  }
  if (more.length === 0) return { kind: 'artifact', target: only };
  const shown = [only, ...more].map(showRef);
  return {
    kind: 'ambiguous',
    error:
      `${notePath} could announce ${shown.length === 2 ? 'both' : 'all of'} ${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1]}; ` +
      `rename the note after the exact name of one (for example ${only.unitPath}${NOTE_SUFFIX})`,
  };
}

function splitDir(p: string): [dir: string, name: string] {
  const i = p.lastIndexOf('/');
  return i === -1 ? ['', p] : [p.slice(0, i), p.slice(i + 1)];
}

function showRef(ref: ArtifactRef): string {
  return ref.unitKind === 'directory' ? `${ref.unitPath}/` : ref.unitPath;
}

function trimBlankLines(s: string): string {
  return s.replace(/^(?:[ \t]*\n)+/, '').trimEnd();
}

function describe(value: unknown): string {
  if (value === null) return 'nothing (null)';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return 'a date';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `text "${clip(value, 40)}"`;
  return `${typeof value === 'number' ? 'a number' : typeof value === 'boolean' ? 'true/false' : typeof value} (${String(value)})`;
}

/** The parser's reason without its "at line …" suffix and code excerpt (we give the line ourselves). */
function yamlReason(message: string): string {
  return firstLine(message).replace(/ at line \d+, column \d+:?$/, '');
}

function firstLine(s: string): string {
  const line = s.split('\n', 1)[0] ?? '';
  return clip(line, 200);
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
