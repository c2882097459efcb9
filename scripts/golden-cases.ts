/** Finds golden pairs in a fixture folder: every non-JSON input file, or a `.in.json` input, beside `<case>.json`. */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface GoldenCase {
  name: string;
  input: string;
  golden: string;
}

export function goldenCases(dir: string): GoldenCase[] {
  if (!existsSync(dir)) return [];
  const cases: GoldenCase[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (f.endsWith('.in.json')) {
      const name = f.slice(0, -'.in.json'.length);
      cases.push({ name, input: join(dir, f), golden: join(dir, `${name}.json`) });
    } else if (!f.endsWith('.json') && !f.endsWith('.md')) {
      const name = f.replace(/\.[^.]+$/, '');
      cases.push({ name, input: join(dir, f), golden: join(dir, `${name}.json`) });
    }
  }
  return cases;
}
