/** `npm run docs`: rewrites config/hf-outbox.example.yaml and the README settings table from the schema. */
import { readFileSync, writeFileSync } from 'node:fs';
import { renderExampleYaml, withSettingsTable } from '../src/config/docs.js';

writeFileSync('config/hf-outbox.example.yaml', renderExampleYaml());
writeFileSync('README.md', withSettingsTable(readFileSync('README.md', 'utf8')));
console.log('wrote config/hf-outbox.example.yaml and the README settings table');
