/** The check registry, the files in src/checks/, the fixture folders and docs/checks.md must agree. */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostChecks } from '../../src/checks/index.js';
import { CHECK_SOURCES } from '../../src/checks/needs.js';
import { SOURCES } from '../../src/collect/sources.js';
import { repoRoot } from '../helpers/samples.js';

const NOT_CHECKS = new Set(['index.ts', 'types.ts', 'analyze.ts', 'routing.ts', 'view.ts', 'needs.ts']);

describe('check registry', () => {
  const keys = Object.keys(hostChecks).sort();
  it('keys = check files', () => {
    const files = readdirSync(join(repoRoot, 'src', 'checks')).filter((f) => f.endsWith('.ts') && !NOT_CHECKS.has(f)).map((f) => f.slice(0, -3)).sort();
    expect(keys).toEqual(files);
  });
  it('each check names itself by its key and explains itself', () => {
    for (const k of keys) {
      expect(hostChecks[k].id).toBe(k);
      expect(hostChecks[k].explain.length).toBeGreaterThan(100);
    }
  });
  it('every check says which sources it reads (needs.ts), each a source of the bundle', () => {
    expect(Object.keys(CHECK_SOURCES).sort()).toEqual(keys);
    const names = new Set(SOURCES.map((s) => s.name));
    for (const { needs, uses = [] } of Object.values(CHECK_SOURCES)) for (const s of [...needs.flat(), ...uses]) expect(names.has(s), s).toBe(true);
  });
  it('keys = fixture folders', () => {
    expect(readdirSync(join(repoRoot, 'fixtures', 'checks')).sort()).toEqual(keys);
  });
  it('keys = sections of docs/checks.md', () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'checks.md'), 'utf8');
    expect([...doc.matchAll(/^## `([^`]+)`/gm)].map((m) => m[1]).sort()).toEqual(keys);
  });
});
