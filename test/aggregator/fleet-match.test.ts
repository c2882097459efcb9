/**
 * The matcher keeps a fleet finding per pair and merges the pairs of one key: a finding that two
 * hosts suffer stays while either still does (after the other's report, or when it leaves the
 * fleet), and is resolved when neither does. The findings come from a check of this file whose
 * answer per host the test sets: what is under test is the matcher's bookkeeping.
 */
import { describe, expect, it } from 'vitest';
import { FleetIndex } from '../../src/aggregator/fleet-index.js';
import { FleetMatcher } from '../../src/aggregator/fleet-match.js';
import { findingKey } from '../../src/model/finding.js';
import type { Check, FleetFinding } from '../../src/checks/types.js';
import { tinySnapshot } from '../helpers/aggregator-client.js';

const KEY = findingKey('gap', 'gw', '10.200.0.0/20');

/** Which sources loop at the gateway `gw` (the check's answer); `gw` itself is a fleet host. */
const looping = new Set<string>();

const gapCheck: Check = {
  id: 'gap', title: 'a gateway finding several hosts suffer', severity: 'error', explain: '',
  families: {
    fleet: ({ fleet, host }) => {
      const out: FleetFinding[] = [];
      const base = { check: 'gap', severity: 'error' as const, host: 'gw', subject: '10.200.0.0/20', key: KEY, summary: 'gw leaves sources out', evidence: [], why: '', fix: [] };
      if (host === undefined || host === 'gw') out.push({ ...base, pairs: [] });
      for (const h of fleet.hosts()) if (h !== 'gw' && looping.has(h) && (host === undefined || host === h || host === 'gw')) out.push({ ...base, pairs: [[h, 'gw']], via: ['router'] });
      return out;
    },
  },
};

describe('fleet matcher: one finding, several pairs', () => {
  const idx = new FleetIndex();
  for (const [h, ip] of [['gw', '10.100.1.18'], ['a', '10.64.3.22'], ['b', '10.64.3.23'], ['router', '10.100.1.253']]) idx.upsert(h, tinySnapshot(h, ip));
  const m = new FleetMatcher(idx, [gapCheck]);

  it('a full match merges the pairs of one key', () => {
    looping.clear(); looping.add('a'); looping.add('b');
    const diff = m.matchAll();
    expect(diff.found.map((f) => [f.key, f.pairs, f.via])).toEqual([[KEY, [['a', 'gw'], ['b', 'gw']], ['router']]]);
    expect(m.findingsOf('a').map((f) => f.key)).toEqual([KEY]);
    expect(m.findingsOf('router').map((f) => f.key)).toEqual([KEY]);
    expect(diff.affected).toEqual(new Set(['gw', 'a', 'b', 'router']));
  });

  it("a host's report that no longer shows its pair drops the pair, not the finding", () => {
    looping.delete('a');
    const diff = m.matchHost('a');
    expect(diff.resolved).toEqual([]);
    expect(diff.found.map((f) => f.pairs)).toEqual([[['b', 'gw']]]);
    expect(m.findingsOf('a')).toEqual([]);
    expect(m.findings().map((f) => f.pairs)).toEqual([[['b', 'gw']]]);
  });

  it('a host leaving drops its pair; the gateway\'s own finding stays until the gateway is fixed', () => {
    expect(m.dropHost('b').resolved).toEqual([]);
    expect(m.findings().map((f) => [f.key, f.pairs])).toEqual([[KEY, []]]);
    looping.add('a');
    expect(m.matchHost('a').found.map((f) => f.pairs)).toEqual([[['a', 'gw']]]);
    looping.clear();
    const fixed: Check = { ...gapCheck, families: { fleet: () => [] } };
    const m2 = new FleetMatcher(idx, [fixed]);
    expect(m2.matchAll().found).toEqual([]);
  });

  it('a finding with no pair left and not found for its host is resolved', () => {
    const only = new FleetMatcher(idx, [{ ...gapCheck, families: { fleet: ({ host }) => (host === undefined || host === 'a' ? [{ check: 'gap', severity: 'error', host: 'gw', subject: 's', key: 'gap|gw|s', summary: '', evidence: [], why: '', fix: [], pairs: [['a', 'gw']] }] : []) } }]);
    only.matchAll();
    expect(only.dropHost('a').resolved.map((f) => f.key)).toEqual(['gap|gw|s']);
    expect(only.size).toBe(0);
  });
});
