/**
 * The one check registry: its keys, the checks in src/checks/ (a file or a folder each), the
 * fixture folders (a positive and a negative case for every family a check runs in) and the
 * entries of docs/checks.md (each naming the check's families) must agree.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checks, checksOf } from '../../src/checks/index.js';
import { CHECK_SOURCES } from '../../src/checks/needs.js';
import { simulatorDisagreesInfo } from '../../src/checks/simulator-disagrees.js';
import { familiesOf, FAMILIES } from '../../src/checks/types.js';
import { SOURCES } from '../../src/collect/sources.js';
import { checkCases } from '../../scripts/check-cases.js';
import { repoRoot } from '../helpers/samples.js';

/** src/checks files that are the engine, not checks: the registry, the families' runners, shared views (datapath/: the walks the datapath checks share), what host checks read, and the kernel join with its own finding (simulator-disagrees). */
const NOT_CHECKS = new Set(['index.ts', 'datapath', 'types.ts', 'analyze.ts', 'analyze-fleet.ts', 'analyze-trace.ts', 'fleet-context.ts', 'fleet-finding.ts', 'needs.ts', 'routing.ts', 'trace-words.ts', 'view.ts', 'kernel-join.ts', 'simulator-disagrees.ts']);
const dir = join(repoRoot, 'src', 'checks');

describe('check registry', () => {
  const keys = Object.keys(checks).sort();

  it('keys = check files and folders of src/checks', () => {
    const onDisk = readdirSync(dir).filter((f) => !NOT_CHECKS.has(f)).map((f) => {
      if (statSync(join(dir, f)).isDirectory()) {
        expect(readdirSync(join(dir, f)), `${f}/ is a check folder`).toContain('index.ts');
        return f;
      }
      expect(f, 'only .ts files').toMatch(/\.ts$/);
      return f.slice(0, -3);
    });
    expect(onDisk.sort()).toEqual(keys);
  });

  it('each check names itself by its key, runs in a family and explains itself', () => {
    for (const k of keys) {
      const c = checks[k];
      expect(c.id).toBe(k);
      expect(familiesOf(c).length, k).toBeGreaterThan(0);
      expect(Object.keys(c.families).every((f) => (FAMILIES as string[]).includes(f)), k).toBe(true);
      expect(c.title.length, k).toBeGreaterThan(10);
      expect(c.explain.length, k).toBeGreaterThan(100);
    }
  });

  it('every host check says which sources it reads (needs.ts), each a source of the bundle', () => {
    expect(Object.keys(CHECK_SOURCES).sort()).toEqual(checksOf('host').map((c) => c.id).sort());
    const names = new Set(SOURCES.map((s) => s.name));
    for (const { needs, uses = [] } of Object.values(CHECK_SOURCES)) for (const s of [...needs.flat(), ...uses]) expect(names.has(s), s).toBe(true);
  });

  it('keys = fixture folders; each family of each check has a positive and a negative case', () => {
    expect(readdirSync(join(repoRoot, 'fixtures', 'checks')).sort()).toEqual(keys);
    const cases = checkCases();
    for (const k of keys) {
      const mine = cases.filter((c) => c.check === k);
      for (const family of familiesOf(checks[k])) {
        expect(mine.some((c) => c.family === family && c.positive), `${k}: a positive ${family} case`).toBe(true);
        expect(mine.some((c) => c.family === family && !c.positive), `${k}: a negative ${family} case`).toBe(true);
      }
      for (const c of mine) expect(familiesOf(checks[k]), `${k}/${c.name} is a ${c.family} case`).toContain(c.family);
    }
  });

  it('keys = entries of docs/checks.md, each naming its families and severity and opening with what explain says', () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'checks.md'), 'utf8');
    const entries = [...doc.matchAll(/^## `([^`]+)`\n\n(.*)\n\n([\s\S]*?)\n*(?=^## |(?![\s\S]))/gm)];
    // simulator-disagrees is the kernel join's finding, not a registry check; it is documented beside them.
    expect(entries.map((m) => m[1]).sort()).toEqual([...keys, simulatorDisagreesInfo.id].sort());
    for (const [, id, first, body] of entries) {
      const c = id === simulatorDisagreesInfo.id ? { ...simulatorDisagreesInfo, families: { host: () => [] } } : checks[id];
      expect(first, id).toBe(`**${c.title}** — ${familiesOf(c).join(', ')}; reports up to ${c.severity}.`);
      // The entry is the explain text, and may say more after it (details a terminal need not print).
      expect(body === c.explain || body.startsWith(`${c.explain}\n\n`), id).toBe(true);
    }
  });

  it('no check lives outside src/checks', () => {
    const found: string[] = [];
    const walk = (d: string): void => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (f.endsWith('.ts') && !p.startsWith(dir) && /:\s*Check\s*=\s*\{/.test(readFileSync(p, 'utf8'))) found.push(p);
      }
    };
    walk(join(repoRoot, 'src'));
    expect(found).toEqual([]);
  });
});
