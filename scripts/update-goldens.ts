/** Rewrites fixtures/<format>/<case>.json from the current parsers: `npm run goldens [format ...]`. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parsers } from '../parsers/index.js';
import { goldenCases } from './golden-cases.js';

const root = resolve(import.meta.dirname, '..', 'fixtures');
const only = process.argv.slice(2);
for (const format of Object.keys(parsers)) {
  if (only.length && !only.includes(format)) continue;
  for (const c of goldenCases(join(root, format))) {
    const result = parsers[format].parse(readFileSync(c.input, 'utf8'));
    writeFileSync(c.golden, JSON.stringify(result, null, 2) + '\n');
    console.log(`${format}/${c.name}: ${result.records.length} records, ${result.warnings.length} warnings`);
  }
}
