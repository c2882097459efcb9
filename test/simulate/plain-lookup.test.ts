/**
 * The plain lookup (src/simulate/plain-lookup.ts, what the fleet asks thousands of hosts) against
 * the simulator's lookup on random hosts with plain rules: longest prefix, metric, TOS routes,
 * dead and linkdown nexthops (with ignore_routes_with_linkdown), reject types, throw, several
 * tables. Where the plain lookup answers, it names the simulator's rule, route and device.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RouteRecord, RuleRecord } from '../../src/model/records.js';
import { RouteList } from '../../src/model/route-list.js';
import type { HostSnapshot } from '../../src/model/snapshot.js';
import { formatIPv4, parseAddress } from '../../src/net/address.js';
import { PlainRoutes } from '../../src/simulate/plain-lookup.js';
import { buildFib, fibContextFrom, lookup } from '../../src/simulate/route-lookup.js';

const o = { lineNumber: 1, text: '' };
const DEVS = ['eth0', 'docker0', 'br-1'];

const route = fc.record({
  a: fc.integer({ min: 0, max: 3 }), b: fc.integer({ min: 0, max: 3 }), len: fc.constantFrom(0, 8, 16, 24, 32),
  type: fc.constantFrom('unicast', 'unicast', 'unicast', 'blackhole', 'unreachable', 'throw'),
  dev: fc.constantFrom(...DEVS), metric: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  tos: fc.option(fc.constantFrom('0x10', 'lowdelay'), { nil: undefined, freq: 6 }), flag: fc.constantFrom('', '', 'linkdown', 'dead'),
  table: fc.constantFrom('main', 'main', '100'),
}).map((r): RouteRecord => {
  const v = ((10 << 24) | (r.a << 16) | (r.b << 8)) >>> 0;
  const mask = r.len === 0 ? 0 : (0xffffffff << (32 - r.len)) >>> 0;
  return {
    family: 4, type: r.type as RouteRecord['type'], dst: r.len === 0 ? '0.0.0.0/0' : `${formatIPv4((v & mask) >>> 0)}/${r.len}`, table: r.table,
    ...(r.type === 'unicast' && { dev: r.dev }), ...(r.metric !== undefined && { metric: r.metric }), ...(r.tos && { tos: r.tos }),
    flags: r.flag ? [r.flag] : [], nexthops: [], origin: o,
  };
});

function snapshotOf(routes: RouteRecord[], rules: RuleRecord[], ignoreLinkdown: boolean): HostSnapshot {
  return {
    schemaVersion: 1, identity: { name: 'h', hostname: 'h' }, collectedAt: new Date(0).toISOString(), complete: true, warnings: [], sources: [],
    interfaces: DEVS.map((name, i) => ({ name, kind: i === 0 ? 'ethernet' as const : 'bridge' as const, flags: ['UP'], noCarrier: false, uplink: i === 0, origin: o, addresses: [{ ifname: name, family: 4 as const, cidr: `192.168.${i}.1/24`, scope: 'global', flags: [], origin: o }] })),
    routes: RouteList.fromRecords(routes), rules, netfilter: { v4: [], v6: [], notices: [] }, nft: [], ipsets: [], xfrmPolicies: [],
    sysctls: ignoreLinkdown ? [{ key: 'net.ipv4.conf.all.ignore_routes_with_linkdown', family: 4, device: 'all', name: 'ignore_routes_with_linkdown', value: '1', origin: o }] : [], docker: { networks: [] },
  };
}

const rule = (priority: number, table: string): RuleRecord => ({ family: 4, priority, not: false, from: '0.0.0.0/0', action: 'lookup', table, flags: [], origin: o });

describe('plain lookup = the simulator where it answers', () => {
  it('random plain tables and destinations', () => {
    fc.assert(fc.property(
      fc.array(route, { minLength: 1, maxLength: 24 }), fc.boolean(), fc.boolean(),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      (routes, withRules, ignoreLinkdown, dsts) => {
        const rules = withRules ? [rule(0, 'local'), rule(100, '100'), rule(32766, 'main'), rule(32767, 'default')] : [];
        const s = snapshotOf(routes, rules, ignoreLinkdown);
        const fib = buildFib(s.routes, s.rules, fibContextFrom(s.interfaces.map((i) => ({ link: { name: i.name }, addresses: i.addresses })), s.sysctls));
        const plain = new PlainRoutes(s);
        for (const [a, b, c] of dsts) {
          const dst = `10.${a}.${b}.${c}`;
          const p = plain.lookup(parseAddress(dst)!);
          if (p === undefined) continue;
          const r = lookup(fib, { dst });
          if (p === null) {
            expect(r.route, dst).toBeUndefined();
            continue;
          }
          expect(r.route, dst).toBe(p.route);
          expect(r.rule, dst).toEqual(p.rule);
          if (r.type === 'unicast') expect(r.dev, dst).toBe(p.dev);
        }
      },
    ), { numRuns: 400 });
  });

  it('leaves rules with selectors and special destinations to the simulator', () => {
    const s = snapshotOf([{ family: 4, type: 'unicast', dst: '0.0.0.0/0', table: 'main', dev: 'eth0', flags: [], nexthops: [], origin: o }], [{ ...rule(100, 'main'), from: '10.0.0.0/8' }], false);
    expect(new PlainRoutes(s).lookup(parseAddress('10.1.1.1')!)).toBeUndefined();
    const plain = new PlainRoutes(snapshotOf([], [], false));
    for (const special of ['0.0.0.0', '224.0.0.5', '255.255.255.255']) expect(plain.lookup(parseAddress(special)!), special).toBeUndefined();
    expect(plain.lookup(parseAddress('10.1.1.1')!)).toBeNull();
  });
});
