/**
 * route-captures-peer across the fleet keeps, per capturer snapshot, its verdict per peer address
 * (the first inline, more in a map) and its evidence per capture route, and shares equal texts
 * between one run's findings. These cases take every path of that bookkeeping — a capturer with
 * two capture routes and three peers (one not captured), a full match over verdicts already made,
 * a peer that changes its name — and compare the findings, field for field, with the host family
 * run through the full simulator.
 */
import { describe, expect, it } from 'vitest';
import { FleetIndex } from '../../src/aggregator/fleet-index.js';
import { FleetMatcher } from '../../src/aggregator/fleet-match.js';
import { verifyWithSimulator } from '../../src/checks/route-captures-peer/fleet.js';
import type { FleetFinding } from '../../src/checks/types.js';
import type { RouteRecord } from '../../src/model/records.js';
import { RouteList } from '../../src/model/route-list.js';
import type { HostSnapshot, InterfaceModel } from '../../src/model/snapshot.js';

const origin = (lineNumber: number, text: string, source: string): { lineNumber: number; text: string; source: string } => ({ lineNumber, text, source });

function bridge(name: string, cidr: string, line: number): InterfaceModel {
  return {
    name, kind: 'bridge', flags: ['UP'], noCarrier: true, uplink: false, origin: origin(line, `${line}: ${name}: <NO-CARRIER,BROADCAST,MULTICAST,UP>`, 'ip-addr'),
    owner: { type: 'docker', name: name === 'docker0' ? 'bridge' : name },
    addresses: [{ ifname: name, family: 4, cidr, scope: 'global', flags: [], origin: origin(line + 1, `inet ${cidr} scope global ${name}`, 'ip-addr') }],
  };
}

/** A host on 10.0.0.0/8 (eth0); `capture` adds docker0 172.17.0.0/16 and br-x 10.99.0.0/16, and a route pinning 172.17.0.66 out of eth0. */
function host(name: string, ip: string, capture: boolean): HostSnapshot {
  const route = (dst: string, dev: string, line: number, extra: Partial<RouteRecord> = {}): RouteRecord => ({
    family: 4, type: 'unicast', dst, table: 'main', dev, flags: [], nexthops: [], origin: origin(line, `${dst} dev ${dev}`, 'ip-route-v4'), ...extra,
  });
  return {
    schemaVersion: 1, identity: { name, hostname: name }, collectedAt: new Date(0).toISOString(), complete: true, warnings: [], sources: [],
    interfaces: [
      { name: 'eth0', kind: 'ethernet', flags: ['UP'], noCarrier: false, uplink: true, origin: origin(1, '1: eth0', 'ip-addr'), addresses: [{ ifname: 'eth0', family: 4, cidr: `${ip}/8`, scope: 'global', flags: [], origin: origin(2, `inet ${ip}/8`, 'ip-addr') }] },
      ...(capture ? [bridge('docker0', '172.17.0.1/16', 3), bridge('br-x', '10.99.0.1/16', 5)] : []),
    ],
    routes: RouteList.fromRecords([
      route('0.0.0.0/0', 'eth0', 1, { via: '10.0.0.1' }),
      ...(capture ? [route('172.17.0.0/16', 'docker0', 2, { flags: ['linkdown'] }), route('10.99.0.0/16', 'br-x', 3, { flags: ['linkdown'] }), route('172.17.0.66/32', 'eth0', 4, { via: '10.0.0.1' })] : []),
    ]),
    rules: [], netfilter: { v4: [], v6: [], notices: [] }, nft: [], ipsets: [], xfrmPolicies: [], sysctls: [], docker: { networks: [] },
  };
}

const byKey = (fs: readonly FleetFinding[]): FleetFinding[] => [...fs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
const plain = (fs: readonly FleetFinding[]): unknown => JSON.parse(JSON.stringify(byKey(fs)));

describe('route-captures-peer across the fleet', () => {
  const idx = new FleetIndex();
  const victims: [string, string][] = [['v1', '172.17.0.64'], ['v2', '10.99.3.4'], ['v3', '172.17.0.66']];
  for (const [name, ip] of victims) idx.upsert(name, host(name, ip, false));
  for (const name of ['c1', 'c2', 'c3']) idx.upsert(name, host(name, `10.1.0.${name.slice(1)}`, true));

  /** What the host family says of each capturer with every victim as its peer. */
  const simulated = (names: [string, string][]): FleetFinding[] =>
    ['c1', 'c2', 'c3'].flatMap((c) => verifyWithSimulator(c, idx.snapshot(c)!, new Map(names.map(([n, ip]) => [ip, n]))));

  it('finds each capture of each capturer, as the full simulator does, and leaves the pinned peer out', () => {
    const found = new FleetMatcher(idx).matchAll().found;
    expect(found.map((f) => f.subject).sort()).toEqual([
      'br-x 10.99.0.0/16 captures 10.99.3.4', 'br-x 10.99.0.0/16 captures 10.99.3.4', 'br-x 10.99.0.0/16 captures 10.99.3.4',
      'docker0 172.17.0.0/16 captures 172.17.0.64', 'docker0 172.17.0.0/16 captures 172.17.0.64', 'docker0 172.17.0.0/16 captures 172.17.0.64',
    ]);
    expect(plain(found)).toEqual(plain(simulated(victims)));
    const c2 = found.filter((f) => f.host === 'c2');
    expect(c2.map((f) => f.pairs)).toEqual([[['v1', 'c2']], [['v2', 'c2']]]);
    expect(c2.map((f) => f.evidence[0].text)).toEqual(['172.17.0.0/16 dev docker0', '10.99.0.0/16 dev br-x']);
  });

  it('a full match over verdicts already made gives the same findings, and one report re-matches its pairs', () => {
    const first = plain(new FleetMatcher(idx).matchAll().found);
    const m = new FleetMatcher(idx);
    expect(plain(m.matchAll().found)).toEqual(first);
    idx.upsert('c2', host('c2', '10.1.0.2', true));
    const diff = m.matchHost('c2');
    expect(plain(diff.found)).toEqual(plain((first as FleetFinding[]).filter((f) => f.host === 'c2')));
    expect(diff.resolved).toEqual([]);
  });

  it('a peer that reports under another name is named so by every capturer (the kept verdicts hold the old name)', () => {
    const m = new FleetMatcher(idx);
    m.matchAll();
    idx.remove('v1');
    idx.upsert('w1', host('w1', '172.17.0.64', false));
    const renamed: [string, string][] = [['w1', '172.17.0.64'], victims[1], victims[2]];
    const diff = m.matchHost('w1');
    expect(diff.found.map((f) => f.summary)).toEqual(Array(3).fill('docker0 172.17.0.0/16 (Docker network "bridge") captures replies to w1 172.17.0.64: they leave into docker0 instead of eth0'));
    expect(plain(m.matchAll().found)).toEqual(plain(simulated(renamed)));
  });
});
