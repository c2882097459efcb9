/**
 * Runs a parser over ../shared/samples/<format>/ and compares record counts with expectations
 * written by hand in test/parsers/expected/<format>.json ({ "<file>": { "records": N, "warnings": N } }).
 * Without ../shared the tests report a skip; with CI=true a missing ../shared is a failure.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ParseResult } from '../../parsers/types.js';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
export const samplesRoot = resolve(repoRoot, '..', 'shared', 'samples');

export interface SampleExpectation {
  records: number;
  warnings: number;
}

/**
 * `count` turns a parse result into the number compared with `records` (default: records.length),
 * for formats whose records nest (e.g. interfaces with addresses).
 */
export function describeSamples(
  format: string,
  parse: (text: string) => ParseResult<unknown>,
  count: (r: ParseResult<unknown>) => number = (r) => r.records.length,
): void {
  const dir = join(samplesRoot, format);
  const expectedFile = join(repoRoot, 'test', 'parsers', 'expected', `${format}.json`);
  describe(`samples: ${format}`, () => {
    if (!existsSync(dir)) {
      if (process.env.CI === 'true') {
        it('needs ../shared/samples in CI', () => {
          throw new Error(`../shared/samples/${format} is missing (CI=true makes this a failure)`);
        });
      } else {
        it.skip(`skipped: ../shared/samples/${format} is absent`, () => {});
      }
      return;
    }
    const expected = JSON.parse(readFileSync(expectedFile, 'utf8')) as Record<string, SampleExpectation>;
    const files = readdirSync(dir).filter((f) => !f.endsWith('.md')).sort();
    it('has an expectation for every sample file and no stale ones', () => {
      expect(Object.keys(expected).sort()).toEqual(files);
    });
    for (const file of files) {
      it(`${file} parses to the expected counts`, () => {
        const text = readFileSync(join(dir, file), 'utf8');
        const result = parse(text);
        const exp = expected[file];
        expect({ records: count(result), warnings: result.warnings.length }, JSON.stringify(result.warnings.slice(0, 5))).toEqual({
          records: exp?.records,
          warnings: exp?.warnings,
        });
      });
    }
  });
}
