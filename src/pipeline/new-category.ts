/**
 * Files outside the category folders (`outbox/notes.txt`, `outbox/mystuff/x.bin`) are published all
 * the same — the shared conventions let agents make new categories — but a category is something every
 * agent sees, so the first file of each one says what it creates: once per category per process,
 * not once per file.
 */
import { BUCKET_ARTIFACTS_ROOT } from './naming.js';

export interface OutsideCategories {
  /** The new category folder (`mystuff`), or undefined for a file directly in the outbox. */
  category: string | undefined;
  /** What a reader is told: where such files land. */
  lands: string;
}

/** Whether a local path lies outside the known category folders, and where such files land. Pure. */
export function outsideCategories(localPath: string, categories: readonly string[]): OutsideCategories | undefined {
  const slash = localPath.indexOf('/');
  if (slash === -1) return { category: undefined, lands: `directly under ${BUCKET_ARTIFACTS_ROOT}/, in no category` };
  const category = localPath.slice(0, slash);
  if (categories.includes(category)) return undefined;
  return { category, lands: `in a new category, ${BUCKET_ARTIFACTS_ROOT}/${category}/` };
}

/** Remembers which notices were given, so each category is named once per process. */
export class CategoryNotices {
  readonly #given = new Set<string>();

  /** The notice for the first published file of a new category (or the first file directly in the outbox); undefined after. */
  notice(localPath: string, bucketPath: string, categories: readonly string[]): { category: string | undefined; message: string } | undefined {
    const outside = outsideCategories(localPath, categories);
    if (outside === undefined) return undefined;
    const key = outside.category ?? '';
    if (this.#given.has(key)) return undefined;
    this.#given.add(key);
    const known = [...new Set(categories)].join(', ');
    const where =
      outside.category === undefined
        ? `${localPath} is directly in the outbox, outside the category folders (${known}): files there are published ${outside.lands} (this one as ${bucketPath})`
        : `${outside.category}/ is not one of the category folders (${known}): its files are published ${outside.lands} (this one as ${bucketPath})`;
    return { category: outside.category, message: `${where}; move them into a category folder if that was not meant (said once per category)` };
  }
}
