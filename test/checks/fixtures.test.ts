/**
 * Every check's fixture cases (fixtures/checks/<id>/<case>/), in every family: positive cases
 * must produce an error or warning of that check, negative cases none above info, and each
 * case's findings must equal its reviewed golden. Fleet cases also run through the aggregator's
 * matcher: a full match and hosts arriving one by one (in every order) end with the golden.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FleetIndex } from '../../src/aggregator/fleet-index.js';
import { FleetMatcher } from '../../src/aggregator/fleet-match.js';
import { checks } from '../../src/checks/index.js';
import { sortFindings, type Finding } from '../../src/model/finding.js';
import { checkCases, fleetCaseSnapshots, runCheckCase } from '../../scripts/check-cases.js';

const plain = (fs: Finding[]): unknown => JSON.parse(JSON.stringify(sortFindings(fs)));

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((x, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [x, ...rest]));
}

describe('check fixtures', () => {
  for (const c of checkCases()) {
    it(`${c.check}/${c.name} (${c.family})`, async () => {
      const findings = await runCheckCase(c);
      const serious = findings.filter((f) => f.severity !== 'info');
      if (c.positive) expect(serious.length).toBeGreaterThan(0);
      else expect(serious).toEqual([]);
      expect(JSON.parse(JSON.stringify(findings))).toEqual(JSON.parse(readFileSync(join(c.dir, 'expected.json'), 'utf8')));
    });
    if (c.family !== 'fleet') continue;
    it(`${c.check}/${c.name}: the aggregator's matcher gives the same, in full and host by host in every order`, async () => {
      const { snapshots, topology } = await fleetCaseSnapshots(c.dir);
      const expected = JSON.parse(readFileSync(join(c.dir, 'expected.json'), 'utf8'));
      const only = [checks[c.check]];
      const full = new FleetIndex();
      for (const s of snapshots) full.upsert(s.identity.name, s);
      const m = new FleetMatcher(full, only);
      m.topology = topology;
      expect(plain(m.matchAll().found)).toEqual(expected);
      // Hosts arriving one at a time, in every order, end with the same findings (a router's
      // arrival resolves what others' earlier arrivals found without it).
      for (const order of permutations(snapshots)) {
        const idx = new FleetIndex();
        const inc = new FleetMatcher(idx, only);
        inc.topology = topology;
        // A topology's own findings come with the first full match, as when serve starts.
        inc.matchAll();
        for (const s of order) {
          idx.upsert(s.identity.name, s);
          inc.matchHost(s.identity.name);
        }
        expect(plain(inc.findings()), order.map((x) => x.identity.name).join(' ')).toEqual(expected);
      }
    });
  }
});
