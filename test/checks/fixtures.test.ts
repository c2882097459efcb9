/**
 * Every check's positive and negative fixtures (fixtures/checks/<id>/<case>/): positive cases
 * must produce an error or warning of that check, negative cases none above info, and each
 * case's findings must equal its reviewed golden.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostChecks } from '../../src/checks/index.js';
import { checkCases, runCheckCase } from '../../scripts/check-cases.js';

describe('check fixtures', () => {
  const cases = checkCases();
  for (const id of Object.keys(hostChecks)) {
    it(`${id} has at least one positive and one negative case`, () => {
      const mine = cases.filter((c) => c.check === id);
      expect(mine.some((c) => c.positive), 'positive').toBe(true);
      expect(mine.some((c) => !c.positive), 'negative').toBe(true);
    });
  }
  for (const c of cases) {
    it(`${c.check}/${c.name}`, () => {
      const findings = runCheckCase(c);
      const serious = findings.filter((f) => f.severity !== 'info');
      if (c.positive) expect(serious.length).toBeGreaterThan(0);
      else expect(serious).toEqual([]);
      expect(JSON.parse(JSON.stringify(findings))).toEqual(JSON.parse(readFileSync(join(c.dir, 'expected.json'), 'utf8')));
    });
  }
});
