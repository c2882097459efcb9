/** The parser registry, the files in parsers/, the fixture folders and docs/parsers.md must agree. */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsers } from '../../parsers/index.js';
import { repoRoot } from '../helpers/samples.js';

const NOT_FORMATS = new Set(['index.ts', 'types.ts']);
/** fixtures/ folders that are not parser formats. */
const NOT_FORMAT_FIXTURES = new Set(['bundles', 'scenarios', 'checks', 'topology', 'alibaba', 'protocol']);

describe('parser registry', () => {
  const keys = Object.keys(parsers).sort();
  it('keys = parser files', () => {
    const files = readdirSync(join(repoRoot, 'parsers')).filter((f) => f.endsWith('.ts') && !NOT_FORMATS.has(f)).map((f) => f.slice(0, -3)).sort();
    expect(keys).toEqual(files);
  });
  it('each parser names itself by its key', () => {
    for (const k of keys) expect(parsers[k].name).toBe(k);
  });
  it('keys = fixture folders (other than scenarios, checks, topologies, other collectors\' bundles)', () => {
    const dirs = readdirSync(join(repoRoot, 'fixtures'), { withFileTypes: true }).filter((d) => d.isDirectory() && !NOT_FORMAT_FIXTURES.has(d.name)).map((d) => d.name).sort();
    expect(dirs).toEqual(keys);
  });
  it('keys = sections of docs/parsers.md', () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'parsers.md'), 'utf8');
    const sections = [...doc.matchAll(/^## `([^`]+)`/gm)].map((m) => m[1]).sort();
    expect(sections).toEqual(keys);
  });
  it('every format with real samples has expected counts', () => {
    for (const k of keys) {
      if (existsSync(join(repoRoot, '..', 'shared', 'samples', k))) expect(existsSync(join(repoRoot, 'test', 'parsers', 'expected', `${k}.json`)), k).toBe(true);
    }
  });
});
