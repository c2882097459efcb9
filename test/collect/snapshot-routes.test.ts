/**
 * Routes of both families are read once: the collection passes -4/-6, and a bundle captured
 * before it did (IPv6 routes in ip-route-v4 too, iproute2 6.1) still gives each route once,
 * quoted from the file it is in.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRoutes } from '../../parsers/ip-route.js';
import { bundleFromFolder } from '../../src/collect/bundle-dir.js';
import { buildSnapshot } from '../../src/collect/snapshot.js';
import { SOURCES } from '../../src/collect/sources.js';

/** ip route show table all (no -4) and ip -6 route show table all, captured in a dual-stack namespace. */
const OLD_BUNDLE = resolve(import.meta.dirname, '..', '..', 'fixtures', 'checks', 'multi-nic-routing', 'negative-dual-stack-bundle-before-4');

describe('one family per route source', () => {
  it('every iproute2 command of a per-family source names its family', () => {
    for (const s of SOURCES.filter((x) => x.argv?.[0] === 'ip' && /-v[46]/.test(x.name))) {
      expect(s.argv, s.name).toContain(s.name.includes('-v6') ? '-6' : '-4');
    }
  });

  it('a bundle from before -4: IPv6 routes in ip-route-v4 are dropped there, kept from ip-route-v6', () => {
    const s = buildSnapshot(bundleFromFolder(OLD_BUNDLE, 'dualstack'));
    const routes = s.routes.toArray();
    const keys = routes.map((r) => `${r.family} ${r.table} ${r.type} ${r.dst} ${r.dev ?? ''}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(routes.filter((r) => r.family === 4)).toHaveLength(7);
    expect(routes.filter((r) => r.family === 6)).toHaveLength(6);
    for (const r of routes) expect(r.origin.source, r.origin.text).toBe(r.family === 6 ? 'ip-route-v6' : 'ip-route-v4');
    const v6Default = routes.find((r) => r.family === 6 && r.dst === '::/0');
    expect(v6Default?.origin).toEqual({ lineNumber: 3, text: 'default via fd00::1 dev eth0 metric 1024 pref medium', source: 'ip-route-v6' });
    expect(s.warnings).toEqual([]);
  });

  it('a bundle from before -4 without ip-route-v6: its IPv6 routes are kept once, quoted from ip-route-v4', () => {
    const bundle = bundleFromFolder(OLD_BUNDLE, 'dualstack');
    bundle.files.delete('ip-route-v6');
    const routes = buildSnapshot(bundle).routes.toArray();
    expect(routes).toHaveLength(13);
    const v6 = routes.filter((r) => r.family === 6);
    expect(v6).toHaveLength(6);
    for (const r of v6) expect(r.origin.source).toBe('ip-route-v4');
    expect(v6.find((r) => r.dst === '::/0')?.origin.lineNumber).toBe(10);
  });

  it('only: drops the other family with its nexthop lines, without warnings', () => {
    const text = [
      'default via 10.0.0.1 dev eth0',
      'default metric 1024 pref medium',
      '\tnexthop via fe80::1 dev eth0 weight 1',
      '\tnexthop via fe80::2 dev eth1 weight 1',
      'unreachable default dev lo proto kernel metric 4294967295 pref medium',
      'unreachable default dev lo table 100 metric 4294967295',
      '10.1.0.0/16 via 10.0.0.2 dev eth0',
    ].join('\n');
    const r = parseRoutes(text, { family: 4, only: 4 });
    expect(r.warnings).toEqual([]);
    expect(r.routes.toArray().map((x) => `${x.family} ${x.dst} ${x.nexthops.length}`)).toEqual(['4 0.0.0.0/0 0', '4 10.1.0.0/16 0']);
    const all = parseRoutes(text, { family: 4 }).routes.toArray();
    // A line with no address after IPv6 routes is IPv6 too (a mixed listing prints IPv6 last).
    expect(all.map((x) => x.family)).toEqual([4, 6, 6, 6, 4]);
  });
});
