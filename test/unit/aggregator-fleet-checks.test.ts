/**
 * Fleet checks: the registry, the files in src/checks/fleet/ and fixtures/fleet-checks/ agree;
 * every case (a scenario folder of host bundles, by reference) gives its expected findings in a
 * full match, and the same findings when hosts arrive one by one (incremental match).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { topologyFromText } from '../../src/collect/topology-file.js';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FleetIndex } from '../../src/aggregator/fleet-index.js';
import { FleetMatcher } from '../../src/aggregator/fleet-match.js';
import { fleetChecks } from '../../src/checks/fleet/index.js';
import { hostChecks } from '../../src/checks/index.js';
import { repoRoot } from '../helpers/samples.js';
import { scenarioSnapshot } from './aggregator-client.js';

const root = join(repoRoot, 'fixtures', 'fleet-checks');
const NOT_CHECKS = new Set(['index.ts', 'types.ts']);

interface Case {
  scenario: string;
  /** A topology file (cloud nodes) given to the matcher, relative to the case folder. */
  topology?: string;
  expected: { key: string; severity: string; pair: [string, string]; summary: string }[];
}

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((x, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [x, ...rest]));
}

describe('fleet check registry', () => {
  const keys = Object.keys(fleetChecks).sort();
  it('keys = files = fixture folders, each explained', () => {
    const files = readdirSync(join(repoRoot, 'src', 'checks', 'fleet')).filter((f) => f.endsWith('.ts') && !NOT_CHECKS.has(f)).map((f) => f.slice(0, -3)).sort();
    expect(keys).toEqual(files);
    expect(readdirSync(root).sort()).toEqual(keys);
    for (const k of keys) {
      expect(fleetChecks[k].id).toBe(k);
      expect(fleetChecks[k].explain.length).toBeGreaterThan(100);
      // A fleet check that shares a host check's id must share its key scheme, so findings merge.
      if (hostChecks[k]) expect(hostChecks[k].id).toBe(k);
    }
  });
});

describe('fleet check fixtures', () => {
  for (const id of Object.keys(fleetChecks)) {
    const cases = readdirSync(join(root, id)).sort();
    it(`${id} has a positive and a negative case`, () => {
      expect(cases.some((c) => c.startsWith('positive'))).toBe(true);
      expect(cases.some((c) => c.startsWith('negative'))).toBe(true);
    });
    for (const name of cases) {
      it(`${id}/${name}`, async () => {
        const dir = join(root, id, name);
        const c = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as Case;
        const scenarioDir = resolve(dir, c.scenario);
        const scenario = scenarioDir.split('/').pop()!;
        const hosts = readdirSync(scenarioDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
        const shape = (fs: { key: string; severity: string; pair: [string, string]; summary: string; check: string }[]) =>
          fs.filter((f) => f.check === id).map(({ key, severity, pair, summary }) => ({ key, severity, pair, summary })).sort((a, b) => (a.key < b.key ? -1 : 1));
        const topology = c.topology ? topologyFromText(readFileSync(resolve(dir, c.topology), 'utf8')) : undefined;
        const full = new FleetIndex();
        for (const h of hosts) full.upsert(h, await scenarioSnapshot(scenario, h));
        const fullMatcher = new FleetMatcher(full, [fleetChecks[id]]);
        fullMatcher.topology = topology;
        expect(shape(fullMatcher.matchAll().found)).toEqual(c.expected);
        if (name.startsWith('positive')) expect(c.expected.length).toBeGreaterThan(0);
        // Hosts arriving one at a time, in every order, end with the same findings (a router's
        // arrival resolves what others' earlier arrivals found without it).
        for (const order of permutations(hosts)) {
          const idx = new FleetIndex();
          const m = new FleetMatcher(idx, [fleetChecks[id]]);
          m.topology = topology;
          for (const h of order) {
            idx.upsert(h, await scenarioSnapshot(scenario, h));
            m.matchHost(h);
          }
          expect(shape(m.findings()), order.join(' ')).toEqual(c.expected);
        }
      });
    }
  }
});
