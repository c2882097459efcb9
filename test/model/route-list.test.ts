/**
 * RouteList: plain routes kept by column must answer every accessor exactly as the record they
 * make, records are made once, and lists built from records, concatenated or stamped with a
 * source give what the arrays of records would.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseRoutes } from '../../parsers/ip-route.js';
import type { RouteRecord } from '../../src/model/records.js';
import { RouteList } from '../../src/model/route-list.js';
import { parsePrefix } from '../../src/net/address.js';
import { repoRoot } from '../helpers/samples.js';

const FIXTURES = join(repoRoot, 'fixtures', 'ip-route');
const TEXTS = readdirSync(FIXTURES).filter((f) => f.endsWith('.txt')).map((f) => ({ name: f, text: readFileSync(join(FIXTURES, f), 'utf8') }));

const MIXED = [
  'default via 10.0.0.1 dev eth0 proto dhcp src 10.0.0.5 metric 100',
  '10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.5 metric 100',
  '10.1.0.0/16 via 10.0.0.2 dev eth0 table 100 proto static metric 20',
  '10.2.3.4 via 10.0.0.2 dev eth0 onlink',
  '10.9.0.0/16 dev docker0 proto kernel scope link src 10.9.0.1 linkdown',
  '0.0.0.0/0 via 10.0.0.9 dev eth1 table 7',
  'blackhole 10.66.0.0/16 proto static',
  '10.5.0.0/16 proto static',
  '\tnexthop via 10.0.0.2 dev eth0 weight 1',
  '\tnexthop via 10.0.0.3 dev eth0 weight 2',
  '10.6.0.0/16 tos 0x10 via 10.0.0.2 dev eth0',
  '10.7.0.0/16 via 10.0.0.2 dev eth0 mtu 1400',
  'local 10.0.0.5 dev eth0 table local proto kernel scope host src 10.0.0.5',
].join('\n') + '\n';

/** Every column accessor of route i against the record it makes. */
function expectColumnsMatch(list: RouteList, i: number): void {
  const r = list.get(i);
  expect(list.family(i)).toBe(r.family);
  expect(list.type(i)).toBe(r.type);
  expect(list.table(i)).toBe(r.table);
  expect(list.dev(i)).toBe(r.dev);
  expect(list.via(i)).toBe(r.via);
  expect(list.metric(i)).toBe(r.metric);
  expect(list.tos(i)).toBe(r.tos);
  expect([...list.flags(i)]).toEqual(r.flags);
  expect(list.hasNexthops(i)).toBe(r.nexthops.length > 0);
  expect(list.dst(i)).toBe(r.dst);
  expect(list.isDefault(i)).toBe(r.dst === '0.0.0.0/0' || r.dst === '::/0');
  expect(list.prefix(i)).toEqual(parsePrefix(r.dst, r.family));
  if (list.isPlain(i)) {
    const p = parsePrefix(r.dst, 4)!;
    expect(list.plainKey4(i)).toBe((p.value as number) * 64 + p.len);
    expect(list.plainPrefixLength(i)).toBe(p.len);
  } else {
    expect(list.plainKey4(i)).toBe(-1);
  }
}

describe('RouteList from the ip-route parser', () => {
  it('keeps plain IPv4 routes by column and every other route as a record', () => {
    const { routes, warnings } = parseRoutes(MIXED);
    expect(warnings).toEqual([]);
    const plain = routes.map((r, i) => (routes.isPlain(i) ? r.dst : undefined)).filter(Boolean);
    // default (a word), blackhole (a type), the multipath head (nexthops added), tos, mtu and local are records.
    expect(plain).toEqual(['10.0.0.0/24', '10.1.0.0/16', '10.2.3.4/32', '10.9.0.0/16', '0.0.0.0/0']);
    for (let i = 0; i < routes.length; i++) expectColumnsMatch(routes, i);
  });

  it.each(TEXTS)('answers every accessor as its record does: $name', ({ text }) => {
    const { routes } = parseRoutes(text);
    expect(routes.length).toBeGreaterThan(0);
    for (let i = 0; i < routes.length; i++) expectColumnsMatch(routes, i);
  });

  it.each(TEXTS)('gives the records parse() gives, in order: $name', ({ text }) => {
    expect(parseRoutes(text).routes.toArray()).toEqual(parse(text).records);
  });

  it('makes a record once: the same object on every get, iteration and filter', () => {
    const { routes } = parseRoutes(MIXED);
    const first = routes.get(1);
    expect(routes.get(1)).toBe(first);
    expect([...routes][1]).toBe(first);
    expect(routes.filter((r) => r.dst === '10.0.0.0/24')[0]).toBe(first);
    expect(routes.find((r) => r.dst === '10.0.0.0/24')).toBe(first);
    expect(routes.some((r) => r === first)).toBe(true);
    expect(() => routes.get(routes.length)).toThrow(RangeError);
  });

  it('keeps the records it made, few (by index in a map) or many (in an array): the same objects, stamped, carried by concat', () => {
    const lines = Array.from({ length: 4000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24 via 10.0.0.2 dev eth0`).join('\n');
    const { routes } = parseRoutes(`${lines}\n`);
    const few = [7, 3999, 1234].map((i) => routes.get(i));
    const viaConcat = RouteList.concat([routes]);
    expect([7, 3999, 1234].map((i) => viaConcat.get(i))).toEqual(few);
    // Past one route in sixteen the records move to an array: every earlier one is still the same object.
    const all = routes.toArray();
    expect([7, 3999, 1234].map((i) => all[i])).toEqual(few);
    expect(all[7]).toBe(few[0]);
    expect(all[3999]).toBe(few[1]);
    expect(routes.get(1234)).toBe(few[2]);
    routes.stampSource('ip-route-v4');
    expect(routes.get(7).origin).toEqual({ lineNumber: 8, text: '10.0.7.0/24 via 10.0.0.2 dev eth0', source: 'ip-route-v4' });
    expect(routes.get(2500).origin.source).toBe('ip-route-v4');
    expect(RouteList.concat([routes, routes]).get(4000 + 7).origin.source).toBe('ip-route-v4');
  });

  it('serialises to the array of records', () => {
    const { routes } = parseRoutes(MIXED);
    expect(JSON.parse(JSON.stringify({ routes }))).toEqual(JSON.parse(JSON.stringify({ routes: parse(MIXED).records })));
  });

  it('stamps the source on plain and record routes, made before or after', () => {
    const { routes } = parseRoutes(MIXED, { source: 'ip-route-v4' });
    for (const r of routes) expect(r.origin.source).toBe('ip-route-v4');
    const later = parseRoutes(MIXED);
    const before = later.routes.get(1);
    later.routes.stampSource('x');
    expect(later.routes.get(1).origin).toEqual({ lineNumber: before.origin.lineNumber, text: before.origin.text, source: 'x' });
    expect(later.routes.get(0).origin.source).toBe('x');
  });

  it('concatenates lists: indices, texts and sources carry over', () => {
    const v4 = parseRoutes(MIXED, { source: 'ip-route-v4' }).routes;
    v4.get(2);
    const v6Text = TEXTS.find((t) => t.name.includes('v6'))!.text;
    const v6 = parseRoutes(v6Text, { source: 'ip-route-v6' }).routes;
    const both = RouteList.concat([v4, v6]);
    expect(both.length).toBe(v4.length + v6.length);
    expect(both.toArray()).toEqual([...parse(MIXED).records.map((r) => withSource(r, 'ip-route-v4')), ...parse(v6Text).records.map((r) => withSource(r, 'ip-route-v6'))]);
    for (let i = 0; i < both.length; i++) expectColumnsMatch(both, i);
    const again = RouteList.concat([v4, v4]);
    expect(again.get(v4.length + 1)).toEqual(v4.get(1));
  });

  it('wraps records as they are (fromRecords / of)', () => {
    const records = parse(MIXED).records;
    const list = RouteList.fromRecords(records);
    expect(list.length).toBe(records.length);
    for (let i = 0; i < records.length; i++) {
      expect(list.get(i)).toBe(records[i]);
      expect(list.isPlain(i)).toBe(false);
      expectColumnsMatch(list, i);
    }
    expect(RouteList.of(list)).toBe(list);
    expect(RouteList.of(records).toArray()).toEqual(records);
  });

  it('lets the parser add nexthops to a plain route that turns out to be multipath', () => {
    const text = '10.5.0.0/16 proto static\n\tnexthop via 10.0.0.2 dev eth0 weight 1\n\tnexthop via 10.0.0.3 dev eth1 weight 2\n10.6.0.0/16 proto static\n';
    const { routes } = parseRoutes(text);
    expect(routes.isPlain(0)).toBe(false);
    expect(routes.get(0).nexthops.map((n) => n.dev)).toEqual(['eth0', 'eth1']);
    // The next line with the same tail still shares it and has no nexthops.
    expect(routes.isPlain(1)).toBe(true);
    expect(routes.get(1).nexthops).toEqual([]);
  });
});

function withSource(r: RouteRecord, source: string): RouteRecord {
  return { ...r, origin: { ...r.origin, source } };
}
