/**
 * One runner for every golden pair: fixtures/<format>/<case>.<ext> beside <case>.json
 * (the parse result). Regenerate with `npm run goldens` and review the diff.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsers } from '../../parsers/index.js';
import { repoRoot } from '../helpers/samples.js';
import { goldenCases } from '../../scripts/golden-cases.js';

const fixturesRoot = join(repoRoot, 'fixtures');

describe('golden fixtures', () => {
  for (const format of Object.keys(parsers).sort()) {
    const dir = join(fixturesRoot, format);
    it(`${format} has a fixture folder with at least one case`, () => {
      expect(existsSync(dir) && readdirSync(dir).length > 0).toBe(true);
    });
    for (const c of goldenCases(dir)) {
      it(`${format}/${c.name}`, () => {
        const input = readFileSync(c.input, 'utf8');
        const golden = JSON.parse(readFileSync(c.golden, 'utf8'));
        expect(JSON.parse(JSON.stringify(parsers[format].parse(input)))).toEqual(golden);
      });
    }
  }
});
