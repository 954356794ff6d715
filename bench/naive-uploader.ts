/**
 * The naive watcher of scenario 2: one `uploadFile` call of @huggingface/hub per file, one after
 * another, in one process (so the client's write-token cache does help it). Stops after `--limit`
 * files or once `--budget-ms` has passed, whichever comes first, and says how far it got.
 *
 * Usage: node --import tsx bench/naive-uploader.ts --hub URL --token hf_... --bucket ns/name
 *          --dir DIR --prefix PATH_IN_BUCKET [--limit N] [--budget-ms MS]
 * Prints one JSON line: { files, bytes, ms, total }.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { uploadFile } from '@huggingface/hub';

const { values } = parseArgs({
  options: {
    hub: { type: 'string' },
    token: { type: 'string' },
    bucket: { type: 'string' },
    dir: { type: 'string' },
    prefix: { type: 'string', default: 'naive' },
    limit: { type: 'string' },
    'budget-ms': { type: 'string' },
  },
});
const { hub, token, bucket, dir, prefix } = values;
if (!hub || !token || !bucket || !dir) throw new Error('usage: naive-uploader.ts --hub URL --token hf_... --bucket ns/name --dir DIR');

const all = (await readdir(dir, { recursive: true, withFileTypes: true }))
  .filter((d) => d.isFile())
  .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
  .sort();
const limit = Math.min(all.length, Number(values.limit ?? all.length));
const budgetMs = Number(values['budget-ms'] ?? Number.POSITIVE_INFINITY);

const started = performance.now();
let files = 0;
let bytes = 0;
for (const rel of all.slice(0, limit)) {
  if (performance.now() - started > budgetMs) break;
  const content = await readFile(path.join(dir, rel));
  await uploadFile({
    repo: { type: 'bucket', name: bucket },
    file: { path: `${prefix}/${rel.split(path.sep).join('/')}`, content: new Blob([content]) },
    hubUrl: hub,
    accessToken: token,
    useXet: true,
  });
  files++;
  bytes += content.byteLength;
}
console.log(JSON.stringify({ files, bytes, ms: Math.round(performance.now() - started), total: all.length }));
