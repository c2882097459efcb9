/**
 * Fleet match time (in process): full and incremental matches over N synthetic hosts, each with
 * an uplink address and a docker0 172.17.0.0/16 (the first incident's shape); 1 in 10,000 hosts
 * has its uplink in 172.17.0.0/16, so every docker0 captures those (each capture is confirmed by
 * the capturing host's route lookup, so the full match at 100k makes 1M lookups). The incremental figure is
 * the median of re-matching one host after its report. Memory per connection, connect time and
 * report-to-finding latency beside a bare ws echo server are not measured yet.
 */
import { FleetIndex } from '../src/aggregator/fleet-index.js';
import { FleetMatcher } from '../src/aggregator/fleet-match.js';
import type { HostSnapshot } from '../src/model/snapshot.js';
import type { BenchRow, SectionOptions } from './netns.js';

const VICTIM_EVERY = 10_000;

function syntheticHost(i: number): HostSnapshot {
  const name = `h${i}`;
  const o = { lineNumber: 1, text: '', source: 'ip-addr' };
  const victim = i % VICTIM_EVERY === 0;
  const ip = victim ? `172.17.${((i / VICTIM_EVERY) >> 8) & 255}.${((i / VICTIM_EVERY) & 255) || 1}` : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  return {
    schemaVersion: 1, identity: { name, hostname: name }, collectedAt: '', complete: true, warnings: [], sources: [],
    interfaces: [
      { name: 'eth0', kind: 'ethernet', flags: ['UP'], noCarrier: false, uplink: true, origin: o, addresses: [{ ifname: 'eth0', family: 4, cidr: `${ip}/8`, scope: 'global', flags: [], origin: o }] },
      { name: 'docker0', kind: 'bridge', flags: ['UP'], noCarrier: true, uplink: false, origin: o, owner: { type: 'docker', name: 'bridge' }, addresses: [{ ifname: 'docker0', family: 4, cidr: '172.17.0.1/16', scope: 'global', flags: [], origin: o }] },
    ],
    routes: [
      { family: 4, type: 'unicast', dst: '0.0.0.0/0', table: 'main', via: '10.0.0.1', dev: 'eth0', flags: [], nexthops: [], origin: o },
      { family: 4, type: 'unicast', dst: '172.17.0.0/16', table: 'main', dev: 'docker0', flags: ['linkdown'], nexthops: [], origin: o },
    ],
    rules: [], netfilter: { v4: [], v6: [], notices: [] }, nft: [], ipsets: [], xfrmPolicies: [], sysctls: [], docker: { networks: [] },
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

export async function benchFleet(options: SectionOptions): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const n of options.quick ? [1000] : [10_000]) {
    const idx = new FleetIndex();
    for (let i = 0; i < n; i++) idx.upsert(`h${i}`, syntheticHost(i));
    const m = new FleetMatcher(idx);
    let t = performance.now();
    const found = m.matchAll().found.length;
    const full = performance.now() - t;
    options.log(`fleet ${n}: full match ${full.toFixed(1)} ms, ${found} fleet findings`);
    const times: number[] = [];
    for (let k = 0; k < 200; k++) {
      const h = 1 + ((k * 7919) % (n - 1));
      if (h % VICTIM_EVERY === 0) continue;
      idx.upsert(`h${h}`, syntheticHost(h));
      t = performance.now();
      m.matchHost(`h${h}`);
      times.push(performance.now() - t);
    }
    rows.push({ name: `full fleet match, ${n} hosts`, value: full, unit: 'ms', target: `<= ${n <= 10_000 ? 100 : 1000} ms`, pass: full <= (n <= 10_000 ? 100 : 1000) });
    rows.push({ name: `incremental match (median), ${n} hosts`, value: median(times), unit: 'ms', target: '<= 1 ms', pass: median(times) <= 1 });
  }
  return rows;
}
