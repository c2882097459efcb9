import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parser } from '../../parsers/ip-route.js';
import type { RouteRecord } from '../../src/model/records.js';
import { describeSamples } from '../helpers/samples.js';

/** A record without its origin, for comparing the text and JSON forms. */
function strip(r: RouteRecord): Omit<RouteRecord, 'origin'> {
  const { origin: _origin, ...rest } = r;
  return JSON.parse(JSON.stringify(rest));
}

function one(line: string): RouteRecord {
  const result = parse(line);
  expect(result.warnings).toEqual([]);
  expect(result.records).toHaveLength(1);
  return result.records[0];
}

/** `ip route show table all` in a namespace (iproute2 6.1, kernel routes of every type). */
const CAPTURED_TEXT = "10.17.0.0/16 tos 0x10 via 10.0.0.1 dev d0 table 300 \nprohibit 10.10.0.0/16 table 100 \nthrow 10.11.0.0/16 table 100 \n10.12.0.0/16 table 100 \n\tnexthop via 10.0.0.1 dev d0 weight 1 \n\tnexthop via 10.1.0.1 dev d1 weight 3 \n10.21.0.0/16 via 10.0.0.1 dev d0 table 4242 rtt 10ms hoplimit 3 features ecn congctl cubic \nlocal 10.13.0.0/16 dev lo table 200 scope host \nanycast 10.14.0.1 dev d0 table 200 scope link \nbroadcast 10.15.0.255 dev d0 table 200 scope link \nmulticast 224.1.0.0/16 dev d0 table 200 scope link \ndefault via 10.0.0.1 dev d0 proto static metric 100 \n10.0.0.0/24 dev d0 proto kernel scope link src 10.0.0.9 \n10.1.0.0/24 dev d1 proto kernel scope link src 10.1.0.9 \n10.5.0.0/16 via 10.0.0.1 dev d0 src 10.0.0.9 mtu 1400 advmss 1360 initcwnd 10 \n10.6.0.0/16 dev d0 scope link metric 5 realm 3 \n10.7.0.5 via 10.1.0.1 dev d1 onlink \nblackhole 10.8.0.0/16 \nunreachable 10.9.0.0/16 metric 7 \n10.20.0.0/16 nhid 7 via 10.0.0.1 dev d0 \n10.22.0.0/16 via inet6 2001:db8:1::1 dev d0 \nlocal 10.0.0.9 dev d0 table local proto kernel scope host src 10.0.0.9 \nbroadcast 10.0.0.255 dev d0 table local proto kernel scope link src 10.0.0.9 \nlocal 10.1.0.9 dev d1 table local proto kernel scope host src 10.1.0.9 \nbroadcast 10.1.0.255 dev d1 table local proto kernel scope link src 10.1.0.9 \nlocal 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 \nlocal 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 \nbroadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 \nblackhole 2001:db8:b::/48 dev lo table 100 metric 1024 pref medium\nunreachable 2001:db8:c::/48 dev lo table 100 metric 1024 pref medium\nthrow 2001:db8:e::/48 dev lo table 100 metric 1024 pref medium\n2001:db8:1::/64 dev d0 proto kernel metric 256 pref medium\n2001:db8:2::/64 dev d1 proto kernel metric 256 pref medium\n2001:db8:9::/48 via 2001:db8:2::1 dev d1 metric 1024 pref medium\n2001:db8:a::/48 metric 1024 pref medium\n\tnexthop via 2001:db8:1::1 dev d0 weight 1 \n\tnexthop via 2001:db8:2::1 dev d1 weight 2 \nprohibit 2001:db8:d::/48 dev lo metric 1024 pref medium\n2001:db8:f::/64 from 2001:db8:1::/64 via 2001:db8:1::1 dev d0 metric 1024 pref medium\n2001:db8:10::5 dev d1 metric 1024 mtu 1300 pref medium\nfe80::/64 dev d0 proto kernel metric 256 pref medium\nfe80::/64 dev p0 proto kernel metric 256 pref medium\nfe80::/64 dev d1 proto kernel metric 256 pref medium\nfe80::/64 dev p1 proto kernel metric 256 pref medium\ndefault via 2001:db8:1::1 dev d0 metric 1024 pref high\nlocal ::1 dev lo table local proto kernel metric 0 pref medium\nlocal 2001:db8:1::9 dev d0 table local proto kernel metric 0 pref medium\nlocal 2001:db8:2::9 dev d1 table local proto kernel metric 0 pref medium\nmulticast ff00::/8 dev d0 table local proto kernel metric 256 pref medium\nmulticast ff00::/8 dev p0 table local proto kernel metric 256 pref medium\nmulticast ff00::/8 dev d1 table local proto kernel metric 256 pref medium\nmulticast ff00::/8 dev p1 table local proto kernel metric 256 pref medium\n";
/** `ip -j route show table all`, same namespace and moment. */
const CAPTURED_JSON = "[{\"dst\":\"10.17.0.0/16\",\"tos\":\"0x10\",\"gateway\":\"10.0.0.1\",\"dev\":\"d0\",\"table\":\"300\",\"flags\":[]},{\"type\":\"prohibit\",\"dst\":\"10.10.0.0/16\",\"table\":\"100\",\"flags\":[]},{\"type\":\"throw\",\"dst\":\"10.11.0.0/16\",\"table\":\"100\",\"flags\":[]},{\"dst\":\"10.12.0.0/16\",\"table\":\"100\",\"flags\":[],\"nexthops\":[{\"gateway\":\"10.0.0.1\",\"dev\":\"d0\",\"weight\":1,\"flags\":[]},{\"gateway\":\"10.1.0.1\",\"dev\":\"d1\",\"weight\":3,\"flags\":[]}]},{\"dst\":\"10.21.0.0/16\",\"gateway\":\"10.0.0.1\",\"dev\":\"d0\",\"table\":\"4242\",\"flags\":[],\"metrics\":[{\"rtt\":10,\"hoplimit\":3,\"ecn\":null,\"congestion\":\"cubic\"}]},{\"type\":\"local\",\"dst\":\"10.13.0.0/16\",\"dev\":\"lo\",\"table\":\"200\",\"scope\":\"host\",\"flags\":[]},{\"type\":\"anycast\",\"dst\":\"10.14.0.1\",\"dev\":\"d0\",\"table\":\"200\",\"scope\":\"link\",\"flags\":[]},{\"type\":\"broadcast\",\"dst\":\"10.15.0.255\",\"dev\":\"d0\",\"table\":\"200\",\"scope\":\"link\",\"flags\":[]},{\"type\":\"multicast\",\"dst\":\"224.1.0.0/16\",\"dev\":\"d0\",\"table\":\"200\",\"scope\":\"link\",\"flags\":[]},{\"dst\":\"default\",\"gateway\":\"10.0.0.1\",\"dev\":\"d0\",\"protocol\":\"static\",\"metric\":100,\"flags\":[]},{\"dst\":\"10.0.0.0/24\",\"dev\":\"d0\",\"protocol\":\"kernel\",\"scope\":\"link\",\"prefsrc\":\"10.0.0.9\",\"flags\":[]},{\"dst\":\"10.1.0.0/24\",\"dev\":\"d1\",\"protocol\":\"kernel\",\"scope\":\"link\",\"prefsrc\":\"10.1.0.9\",\"flags\":[]},{\"dst\":\"10.5.0.0/16\",\"gateway\":\"10.0.0.1\",\"dev\":\"d0\",\"prefsrc\":\"10.0.0.9\",\"flags\":[],\"metrics\":[{\"mtu\":1400,\"advmss\":1360,\"initcwnd\":10}]},{\"dst\":\"10.6.0.0/16\",\"dev\":\"d0\",\"scope\":\"link\",\"metric\":5,\"flags\":[],\"flow\":{\"to\":\"3\"}},{\"dst\":\"10.7.0.5\",\"gateway\":\"10.1.0.1\",\"dev\":\"d1\",\"flags\":[\"onlink\"]},{\"type\":\"blackhole\",\"dst\":\"10.8.0.0/16\",\"flags\":[]},{\"type\":\"unreachable\",\"dst\":\"10.9.0.0/16\",\"metric\":7,\"flags\":[]},{\"dst\":\"10.20.0.0/16\",\"nhid\":7,\"gateway\":\"10.0.0.1\",\"dev\":\"d0\",\"flags\":[]},{\"dst\":\"10.22.0.0/16\",\"via\":{\"family\":\"inet6\",\"host\":\"2001:db8:1::1\"},\"dev\":\"d0\",\"flags\":[]},{\"type\":\"local\",\"dst\":\"10.0.0.9\",\"dev\":\"d0\",\"table\":\"local\",\"protocol\":\"kernel\",\"scope\":\"host\",\"prefsrc\":\"10.0.0.9\",\"flags\":[]},{\"type\":\"broadcast\",\"dst\":\"10.0.0.255\",\"dev\":\"d0\",\"table\":\"local\",\"protocol\":\"kernel\",\"scope\":\"link\",\"prefsrc\":\"10.0.0.9\",\"flags\":[]},{\"type\":\"local\",\"dst\":\"10.1.0.9\",\"dev\":\"d1\",\"table\":\"local\",\"protocol\":\"kernel\",\"scope\":\"host\",\"prefsrc\":\"10.1.0.9\",\"flags\":[]},{\"type\":\"broadcast\",\"dst\":\"10.1.0.255\",\"dev\":\"d1\",\"table\":\"local\",\"protocol\":\"kernel\",\"scope\":\"link\",\"prefsrc\":\"10.1.0.9\",\"flags\":[]},{\"type\":\"local\",\"dst\":\"127.0.0.0/8\",\"dev\":\"lo\",\"table\":\"local\",\"protocol\":\"kernel\",\"scope\":\"host\",\"prefsrc\":\"127.0.0.1\",\"flags\":[]},{\"type\":\"local\",\"dst\":\"127.0.0.1\",\"dev\":\"lo\",\"table\":\"local\",\"protocol\":\"kernel\",\"scope\":\"host\",\"prefsrc\":\"127.0.0.1\",\"flags\":[]},{\"type\":\"broadcast\",\"dst\":\"127.255.255.255\",\"dev\":\"lo\",\"table\":\"local\",\"protocol\":\"kernel\",\"scope\":\"link\",\"prefsrc\":\"127.0.0.1\",\"flags\":[]},{\"type\":\"blackhole\",\"dst\":\"2001:db8:b::/48\",\"dev\":\"lo\",\"table\":\"100\",\"metric\":1024,\"flags\":[],\"pref\":\"medium\"},{\"type\":\"unreachable\",\"dst\":\"2001:db8:c::/48\",\"dev\":\"lo\",\"table\":\"100\",\"metric\":1024,\"flags\":[],\"pref\":\"medium\"},{\"type\":\"throw\",\"dst\":\"2001:db8:e::/48\",\"dev\":\"lo\",\"table\":\"100\",\"metric\":1024,\"flags\":[],\"pref\":\"medium\"},{\"dst\":\"2001:db8:1::/64\",\"dev\":\"d0\",\"protocol\":\"kernel\",\"metric\":256,\"flags\":[],\"pref\":\"medium\"},{\"dst\":\"2001:db8:2::/64\",\"dev\":\"d1\",\"protocol\":\"kernel\",\"metric\":256,\"flags\":[],\"pref\":\"medium\"},{\"dst\":\"2001:db8:9::/48\",\"gateway\":\"2001:db8:2::1\",\"dev\":\"d1\",\"metric\":1024,\"flags\":[],\"pref\":\"medium\"},{\"dst\":\"2001:db8:a::/48\",\"metric\":1024,\"flags\":[],\"pref\":\"medium\",\"nexthops\":[{\"gateway\":\"2001:db8:1::1\",\"dev\":\"d0\",\"weight\":1,\"flags\":[]},{\"gateway\":\"2001:db8:2::1\",\"dev\":\"d1\",\"weight\":2,\"flags\":[]}]},{\"type\":\"prohibit\",\"dst\":\"2001:db8:d::/48\",\"dev\":\"lo\",\"metric\":1024,\"flags\":[],\"pref\":\"medium\"},{\"dst\":\"2001:db8:f::/64\",\"from\":\"2001:db8:1::/64\",\"gateway\":\"2001:db8:1::1\",\"dev\":\"d0\",\"metric\":1024,\"flags\":[],\"pref\":\"medium\"},{\"dst\":\"2001:db8:10::5\",\"dev\":\"d1\",\"metric\":1024,\"flags\":[],\"metrics\":[{\"mtu\":1300}],\"pref\":\"medium\"},{\"dst\":\"fe80::/64\",\"dev\":\"d0\",\"protocol\":\"kernel\",\"metric\":256,\"flags\":[],\"pref\":\"medium\"},{\"dst\":\"fe80::/64\",\"dev\":\"p0\",\"protocol\":\"kernel\",\"metric\":256,\"flags\":[],\"pref\":\"medium\"},{\"dst\":\"fe80::/64\",\"dev\":\"d1\",\"protocol\":\"kernel\",\"metric\":256,\"flags\":[],\"pref\":\"medium\"},{\"dst\":\"fe80::/64\",\"dev\":\"p1\",\"protocol\":\"kernel\",\"metric\":256,\"flags\":[],\"pref\":\"medium\"},{\"dst\":\"default\",\"gateway\":\"2001:db8:1::1\",\"dev\":\"d0\",\"metric\":1024,\"flags\":[],\"pref\":\"high\"},{\"type\":\"local\",\"dst\":\"::1\",\"dev\":\"lo\",\"table\":\"local\",\"protocol\":\"kernel\",\"metric\":0,\"flags\":[],\"pref\":\"medium\"},{\"type\":\"local\",\"dst\":\"2001:db8:1::9\",\"dev\":\"d0\",\"table\":\"local\",\"protocol\":\"kernel\",\"metric\":0,\"flags\":[],\"pref\":\"medium\"},{\"type\":\"local\",\"dst\":\"2001:db8:2::9\",\"dev\":\"d1\",\"table\":\"local\",\"protocol\":\"kernel\",\"metric\":0,\"flags\":[],\"pref\":\"medium\"},{\"type\":\"multicast\",\"dst\":\"ff00::/8\",\"dev\":\"d0\",\"table\":\"local\",\"protocol\":\"kernel\",\"metric\":256,\"flags\":[],\"pref\":\"medium\"},{\"type\":\"multicast\",\"dst\":\"ff00::/8\",\"dev\":\"p0\",\"table\":\"local\",\"protocol\":\"kernel\",\"metric\":256,\"flags\":[],\"pref\":\"medium\"},{\"type\":\"multicast\",\"dst\":\"ff00::/8\",\"dev\":\"d1\",\"table\":\"local\",\"protocol\":\"kernel\",\"metric\":256,\"flags\":[],\"pref\":\"medium\"},{\"type\":\"multicast\",\"dst\":\"ff00::/8\",\"dev\":\"p1\",\"table\":\"local\",\"protocol\":\"kernel\",\"metric\":256,\"flags\":[],\"pref\":\"medium\"}]";
/** `ip route get 10.5.1.1`, `ip route get 10.0.0.255`, `ip -6 route get 2001:db8:9::1`. */
const CAPTURED_GET_TEXT = "10.5.1.1 via 10.0.0.1 dev d0 src 10.0.0.9 uid 0 \n    cache mtu 1400 advmss 1360 initcwnd 10 \nbroadcast 10.0.0.255 dev d0 src 10.0.0.9 uid 0 \n    cache <local,brd> \n2001:db8:9::1 from :: via 2001:db8:2::1 dev d1 src 2001:db8:2::9 metric 1024 pref medium\n";
/** The same three with `-j`, one array each. */
const CAPTURED_GET_JSON = ["[{\"dst\":\"10.5.1.1\",\"gateway\":\"10.0.0.1\",\"dev\":\"d0\",\"prefsrc\":\"10.0.0.9\",\"flags\":[],\"uid\":0,\"cache\":[],\"metrics\":[{\"mtu\":1400,\"advmss\":1360,\"initcwnd\":10}]}]","[{\"type\":\"broadcast\",\"dst\":\"10.0.0.255\",\"dev\":\"d0\",\"prefsrc\":\"10.0.0.9\",\"flags\":[],\"uid\":0,\"cache\":[\"local\",\"brd\"]}]","[{\"dst\":\"2001:db8:9::1\",\"from\":\"::\",\"gateway\":\"2001:db8:2::1\",\"dev\":\"d1\",\"prefsrc\":\"2001:db8:2::9\",\"metric\":1024,\"flags\":[],\"pref\":\"medium\"}]"];

describe('ip-route text: examples', () => {
  it('reads a plain route with every common attribute', () => {
    const r = one('10.1.2.0/24 via 10.0.0.1 dev eth0 table 100 proto static scope global src 10.0.0.9 metric 100');
    expect(r).toMatchObject({
      family: 4, type: 'unicast', dst: '10.1.2.0/24', table: '100', via: '10.0.0.1', dev: 'eth0',
      proto: 'static', scope: 'global', src: '10.0.0.9', metric: 100, flags: [], nexthops: [],
      origin: { lineNumber: 1, text: '10.1.2.0/24 via 10.0.0.1 dev eth0 table 100 proto static scope global src 10.0.0.9 metric 100' },
    });
  });

  it('turns default into 0.0.0.0/0 or ::/0 and a bare address into a host route', () => {
    expect(one('default via 10.0.0.1 dev eth0').dst).toBe('0.0.0.0/0');
    expect(one('default via fe80::1 dev eth0 metric 1024 pref medium')).toMatchObject({ family: 6, dst: '::/0', pref: 'medium' });
    expect(one('10.1.2.3 dev eth0 scope link').dst).toBe('10.1.2.3/32');
    expect(one('2001:db8::5 dev eth0 proto kernel metric 256').dst).toBe('2001:db8::5/128');
  });

  it('defaults the table to main', () => {
    expect(one('10.0.0.0/8 dev eth0').table).toBe('main');
  });

  it.each(['unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat'])(
    'reads route type %s', (type) => {
      const r = one(`${type} 10.9.0.0/16 table 7`);
      expect(r).toMatchObject({ type, dst: '10.9.0.0/16', table: '7' });
    },
  );

  it('table: the table of every line that names none (ip route list table NAME), text and JSON', () => {
    // `ip route list table 100` as iproute2 6.1 prints it: no `table 100` on any line.
    const text = 'default via 10.2.0.1 dev eth1\n10.2.0.0/24 dev eth1 scope link src 10.2.0.10\nblackhole 10.66.0.0/16\nlocal 10.9.0.1 dev lo table local proto kernel scope host src 10.9.0.1\n';
    const r = parse(text, { table: '100' });
    expect(r.warnings).toEqual([]);
    expect(r.records.map((x) => [x.dst, x.table])).toEqual([['0.0.0.0/0', '100'], ['10.2.0.0/24', '100'], ['10.66.0.0/16', '100'], ['10.9.0.1/32', 'local']]);
    expect(parse(text).records.map((x) => x.table)).toEqual(['main', 'main', 'main', 'local']);
    const json = parse('[{"dst":"default","gateway":"10.2.0.1","dev":"eth1","flags":[]},{"dst":"10.3.0.0/16","dev":"eth1","table":"200","flags":[]}]', { table: '100' });
    expect(json.records.map((x) => x.table)).toEqual(['100', '200']);
  });

  it('reads route flags', () => {
    const r = one('10.7.0.5 via 10.1.0.1 dev d1 proto bird onlink dead pervasive offload trap notify linkdown unresolved rt_offload rt_trap rt_offload_failed');
    expect(r.flags).toEqual(['onlink', 'dead', 'pervasive', 'offload', 'trap', 'notify', 'linkdown', 'unresolved', 'rt_offload', 'rt_trap', 'rt_offload_failed']);
  });

  it('reads via inet6 on an IPv4 route and keeps the IPv4 family', () => {
    expect(one('10.22.0.0/16 via inet6 2001:db8:1::1 dev d0')).toMatchObject({ family: 4, via: '2001:db8:1::1' });
  });

  it('reads metrics, locks, expires, pref, nhid, tos, realms and the IPv6 source prefix', () => {
    const r = one('10.5.0.0/16 tos 0x10 nhid 7 via 10.0.0.1 dev d0 src 10.0.0.9 realms 2/3 mtu lock 1400 advmss 1360 rtt lock 10ms features ecn congctl cubic');
    expect(r).toMatchObject({ tos: '0x10', nhid: 7, mtu: 1400, extra: { lock: 'mtu rtt', advmss: '1360', rtt: '10ms', features: 'ecn', congctl: 'cubic', realms: '2/3' } });
    const v6 = one('2001:db8:f::/64 from 2001:db8:1::/64 via 2001:db8:1::1 dev d0 metric 1024 expires 299sec pref high');
    expect(v6).toMatchObject({ family: 6, expires: '299sec', pref: 'high', extra: { from: '2001:db8:1::/64' } });
  });

  it('keeps encap in extra and still reads the route after it', () => {
    const r = one('10.19.0.0/16  encap ip id 5 src 0.0.0.0 dst 10.1.0.1 ttl 10 tos 0 via 10.0.0.1 dev d0 ');
    expect(r).toMatchObject({ via: '10.0.0.1', dev: 'd0', extra: { encap: 'ip id 5 src 0.0.0.0 dst 10.1.0.1 ttl 10 tos 0' } });
    expect(r.src).toBeUndefined();
    expect(one('10.18.0.0/16 encap mpls 100/200 via 10.0.0.1 dev d0').extra).toEqual({ encap: 'mpls 100/200' });
  });

  it('reads the old double-spaced output', () => {
    const r = one('10.0.2.0/24 dev enp0s3  proto kernel  scope link  src 10.0.2.15  metric 100 ');
    expect(r).toMatchObject({ dst: '10.0.2.0/24', dev: 'enp0s3', proto: 'kernel', scope: 'link', src: '10.0.2.15', metric: 100 });
  });

  it('attaches nexthop lines to the multipath route before them', () => {
    const text = 'default  proto static metric 1024\n\tnexthop via 10.0.0.1  dev eth0 weight 1\n\tnexthop via 10.0.1.1  dev eth1 weight 3 onlink\n10.0.0.0/24 dev eth0';
    const { records, warnings } = parse(text);
    expect(warnings).toEqual([]);
    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({
      dst: '0.0.0.0/0', proto: 'static', metric: 1024, origin: { lineNumber: 1, text: 'default  proto static metric 1024' },
      nexthops: [{ via: '10.0.0.1', dev: 'eth0', weight: 1, flags: [] }, { via: '10.0.1.1', dev: 'eth1', weight: 3, flags: ['onlink'] }],
    });
    expect(records[1].origin.lineNumber).toBe(4);
  });

  it('takes the family of a multipath default from its nexthops', () => {
    const { records } = parse('default metric 1024 pref medium\n\tnexthop via fe80::1 dev eth0 weight 1\n', { family: 4 });
    expect(records[0]).toMatchObject({ family: 6, dst: '::/0' });
    const plain = parse('2001:db8::/64 dev eth0\ndefault proto static\n\tnexthop via 10.0.0.1 dev eth0 weight 1\n');
    expect(plain.records[1]).toMatchObject({ family: 4, dst: '0.0.0.0/0' });
  });

  it('keeps old IPv6 multipath, printed as separate lines with the same dst, as separate records', () => {
    const { records } = parse('2001:db8::/64 via fe80::1 dev eth0 metric 1024\n2001:db8::/64 via fe80::2 dev eth1 metric 1024\n');
    expect(records.map((r) => r.via)).toEqual(['fe80::1', 'fe80::2']);
  });

  it('reads the family of address-less lines from the hint, else the lines before', () => {
    const line = 'unreachable default dev lo table unspec proto kernel metric 4294967295 error -101';
    expect(one(line)).toMatchObject({ family: 4, dst: '0.0.0.0/0', metric: 4294967295, extra: { error: '-101' } });
    expect(parse(line, { family: 6 }).records[0]).toMatchObject({ family: 6, dst: '::/0' });
    expect(parse(`fe80::/64 dev eth0\n${line}`).records[1]).toMatchObject({ family: 6, dst: '::/0' });
  });

  it('reads ip route get output with its cache line as one host route', () => {
    const text = '10.0.0.5 via 10.0.0.1 dev eth0 src 10.0.0.9 uid 0 \n    cache \n';
    const r = one(text);
    expect(r).toMatchObject({ type: 'unicast', dst: '10.0.0.5/32', via: '10.0.0.1', dev: 'eth0', src: '10.0.0.9', flags: ['cache'], extra: { uid: '0' } });
    const brd = one('broadcast 10.0.0.255 dev d0 src 10.0.0.9 uid 0 \n    cache <local,brd> \n');
    expect(brd).toMatchObject({ type: 'broadcast', flags: ['cache'], extra: { uid: '0', cache: 'local,brd' } });
    const v6cache = one('2404:6800:4006:802::200e via fe80::a96:d7ff:fe38:d757 dev enp0s25  metric 0\n    cache  mtu 1492 hoplimit 255\n');
    expect(v6cache).toMatchObject({ mtu: 1492, flags: ['cache'], extra: { hoplimit: '255' } });
  });

  it('keeps a route with an unknown attribute and warns once about it', () => {
    const { records, warnings } = parse('10.0.0.0/8 dev eth0 frobnicate 3 metric 5\n');
    expect(records).toHaveLength(1);
    expect(records[0].extra).toEqual({ unparsed: 'frobnicate 3 metric 5' });
    expect(warnings).toEqual([{ lineNumber: 1, text: '10.0.0.0/8 dev eth0 frobnicate 3 metric 5', reason: "unknown route attribute 'frobnicate'" }]);
  });

  it('warns about unreadable lines and goes on', () => {
    const text = 'RTNETLINK answers: Network is unreachable\n10.0.0.0/8 dev eth0\n10.0.0.0/33 dev eth0\n10.0.0.0/8 via nonsense\n10.0.0.0/8 metric x\n\tnexthop via 10.0.0.1 dev eth0 weight 1\n10.0.0.0/8 dev\n';
    const { records, warnings } = parse(text);
    expect(records.map((r) => r.origin.lineNumber)).toEqual([2]);
    expect(warnings.map((w) => w.lineNumber)).toEqual([1, 3, 4, 5, 7]);
    expect(records[0].nexthops).toHaveLength(1);
  });

  it('warns about nexthop and cache lines with no route before them', () => {
    const { records, warnings } = parse('\tnexthop via 10.0.0.1 dev eth0 weight 1\n    cache\n');
    expect(records).toEqual([]);
    expect(warnings.map((w) => w.lineNumber)).toEqual([1, 2]);
  });

  it('skips blank lines, handles CRLF and reports form text', () => {
    const result = parse('\r\n10.0.0.0/8 dev eth0\r\n\n');
    expect(result.form).toBe('text');
    expect(result.warnings).toEqual([]);
    expect(result.records[0].origin).toEqual({ lineNumber: 2, text: '10.0.0.0/8 dev eth0' });
  });

  it('registers as a parser', () => {
    expect(parser.name).toBe('ip-route');
    expect(parser.parse('10.0.0.0/8 dev eth0').records).toHaveLength(1);
  });
});

describe('ip-route JSON', () => {
  it('reads iproute2 -j keys into the same fields', () => {
    const { records, warnings, form } = parse(JSON.stringify([
      { dst: 'default', gateway: '10.0.0.1', dev: 'eth0', protocol: 'dhcp', prefsrc: '10.0.0.9', metric: 100, flags: [] },
      { type: 'blackhole', dst: '10.8.0.0/16', table: '100', flags: [] },
      { dst: '10.12.0.0/16', flags: [], nexthops: [{ gateway: '10.0.0.1', dev: 'd0', weight: 1, flags: ['onlink'] }] },
      { dst: '2001:db8::/64', dev: 'd1', metric: 1024, flags: [], expires: 299, metrics: [{ mtu: 1300 }], pref: 'medium' },
    ]));
    expect(form).toBe('json');
    expect(warnings).toEqual([]);
    expect(records.map(strip)).toEqual([
      { family: 4, type: 'unicast', dst: '0.0.0.0/0', table: 'main', via: '10.0.0.1', dev: 'eth0', proto: 'dhcp', src: '10.0.0.9', metric: 100, flags: [], nexthops: [] },
      { family: 4, type: 'blackhole', dst: '10.8.0.0/16', table: '100', flags: [], nexthops: [] },
      { family: 4, type: 'unicast', dst: '10.12.0.0/16', table: 'main', flags: [], nexthops: [{ via: '10.0.0.1', dev: 'd0', weight: 1, flags: ['onlink'] }] },
      { family: 6, type: 'unicast', dst: '2001:db8::/64', table: 'main', dev: 'd1', metric: 1024, flags: [], nexthops: [], expires: '299sec', mtu: 1300, pref: 'medium' },
    ]);
    expect(records[1].origin).toEqual({ lineNumber: 2, text: JSON.stringify({ type: 'blackhole', dst: '10.8.0.0/16', table: '100', flags: [] }) });
  });

  it('gives the same records as the text form of the same routes (captured in a namespace)', () => {
    const text = parse(CAPTURED_TEXT);
    const json = parse(CAPTURED_JSON);
    expect(text.warnings).toEqual([]);
    expect(json.warnings).toEqual([]);
    expect(json.records.map(strip)).toEqual(text.records.map(strip));
    expect(text.records.length).toBe(52 - 4); // 52 lines, 4 of them nexthop lines
    // Every route type and several tables are in the capture.
    expect(new Set(text.records.map((r) => r.type))).toEqual(new Set(['unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit', 'throw']));
    expect(new Set(text.records.map((r) => r.table))).toEqual(new Set(['main', 'local', '100', '200', '300', '4242']));
  });

  it('gives the same records for ip route get in both forms', () => {
    const text = parse(CAPTURED_GET_TEXT);
    const json = CAPTURED_GET_JSON.flatMap((j) => parse(j).records);
    expect(text.warnings).toEqual([]);
    expect(json.map(strip)).toEqual(text.records.map(strip));
    expect(text.records[0]).toMatchObject({ dst: '10.5.1.1/32', flags: ['cache'], mtu: 1400 });
  });

  it("recovers an encap route's own dst, which -j prints twice in one object", () => {
    const raw = '[{"dst":"10.19.0.0/16","encap":"ip","id":5,"src":"0.0.0.0","dst":"10.1.0.1","ttl":10,"tos":0,"gateway":"10.0.0.1","dev":"d0","flags":[]},{"dst":"10.20.0.0/16","gateway":"10.0.0.1","flags":[]}]';
    const { records, warnings } = parse(raw);
    expect(warnings).toEqual([]);
    expect(records.map((r) => r.dst)).toEqual(['10.19.0.0/16', '10.20.0.0/16']);
    expect(records[0].extra?.encap).toBe('ip');
  });

  it('warns per bad element with its index+1 and goes on', () => {
    const { records, warnings } = parse('[1, {"dst":"10.0.0.0/8"}, {"dev":"x"}, {"dst":"nonsense"}, {"dst":"10.0.0.0/8","type":"weird"}]');
    expect(records).toHaveLength(1);
    expect(warnings.map((w) => w.lineNumber)).toEqual([1, 3, 4, 5]);
  });

  it('warns once about JSON it cannot parse', () => {
    const { records, warnings } = parse('[{"dst": ');
    expect(records).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(parse('  []').records).toEqual([]);
  });
});

// ---- property tests ------------------------------------------------------------------------------

const octet = fc.integer({ min: 0, max: 255 });
const v4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
const v6 = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(':'));
const word = fc.stringMatching(/^[a-z][a-z0-9._-]{0,10}$/).filter((w) => !['lock', 'inet', 'inet6'].includes(w));

interface RouteModel {
  line: string;
  expected: Partial<RouteRecord>;
}

function prefixArb(fam: 4 | 6): fc.Arbitrary<{ text: string; dst: string }> {
  const addr = fam === 4 ? v4 : v6;
  const max = fam === 4 ? 32 : 128;
  return fc.oneof(
    fc.constant({ text: 'default', dst: fam === 4 ? '0.0.0.0/0' : '::/0' }),
    addr.map((a) => ({ text: a, dst: `${a}/${max}` })),
    // Any length: the parser keeps prefixes as printed and does not check host bits.
    fc.tuple(addr, fc.integer({ min: 0, max })).map(([a, l]) => ({ text: `${a}/${l}`, dst: `${a}/${l}` })),
  );
}

const routeLine: fc.Arbitrary<RouteModel> = fc.constantFrom<4 | 6>(4, 6).chain((fam) =>
  fc.record({
    type: fc.option(fc.constantFrom('unicast', 'local', 'broadcast', 'blackhole', 'unreachable', 'prohibit', 'throw'), { nil: undefined }),
    dst: prefixArb(fam),
    via: fc.option(fam === 4 ? v4 : v6, { nil: undefined }),
    dev: fc.option(word, { nil: undefined }),
    table: fc.option(fc.oneof(word, fc.integer({ min: 1, max: 2 ** 31 }).map(String)), { nil: undefined }),
    proto: fc.option(word, { nil: undefined }),
    scope: fc.option(fc.constantFrom('link', 'host', 'global', '253'), { nil: undefined }),
    src: fc.option(fam === 4 ? v4 : v6, { nil: undefined }),
    metric: fc.option(fc.integer({ min: 0, max: 4294967295 }), { nil: undefined }),
    flags: fc.subarray(['onlink', 'linkdown', 'dead']),
    pref: fc.option(fc.constantFrom('low', 'medium', 'high'), { nil: undefined }),
    sep: fc.constantFrom(' ', '  '),
    trail: fc.constantFrom('', ' '),
  }).map((m) => {
    // A default route naming no address takes its family from the lines before (tested by example).
    if (m.dst.text === 'default' && !m.via && !m.src && !(fam === 6 && m.pref)) m.via = fam === 4 ? '10.0.0.1' : 'fe80::1';
    const parts: string[] = [];
    if (m.type) parts.push(m.type);
    parts.push(m.dst.text);
    if (m.via) parts.push(`via ${m.via}`);
    if (m.dev) parts.push(`dev ${m.dev}`);
    if (m.table) parts.push(`table ${m.table}`);
    if (m.proto) parts.push(`proto ${m.proto}`);
    if (m.scope) parts.push(`scope ${m.scope}`);
    if (m.src) parts.push(`src ${m.src}`);
    if (m.metric !== undefined) parts.push(`metric ${m.metric}`);
    parts.push(...m.flags);
    // pref is printed only for IPv6 routes.
    const pref = fam === 6 ? m.pref : undefined;
    if (pref) parts.push(`pref ${pref}`);
    const expected: Partial<RouteRecord> = {
      family: fam, type: (m.type ?? 'unicast') as RouteRecord['type'], dst: m.dst.dst, table: m.table ?? 'main',
      via: m.via, dev: m.dev, proto: m.proto, scope: m.scope, src: m.src, metric: m.metric, pref, flags: m.flags,
      nexthops: [],
    };
    return { line: parts.join(m.sep) + m.trail, expected };
  }),
);

const garbageLine = fc.oneof(
  fc.stringMatching(/^[A-Z!%#@=][ -~]{0,30}$/),
  fc.constantFrom('10.0.0.0/33 dev eth0', '999.1.1.1 dev eth0', 'via 10.0.0.1', 'dev eth0', 'blackhole', '10.0.0.0/8 via',
    '10.0.0.0/8 metric -1', '10.0.0.0/8 via 10.0.0', 'fe80:::1/64 dev eth0', '10.0.0.0/8 nhid x', 'Error: any valid prefix is expected'),
);

function check(r: RouteRecord, e: Partial<RouteRecord>): void {
  for (const [k, v] of Object.entries(e)) expect((r as unknown as Record<string, unknown>)[k], k).toEqual(v);
}

describe('ip-route properties', () => {
  it('reads every valid line into its record and warns exactly once per garbage line', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(routeLine.map((v) => ({ valid: v })), garbageLine.map((g) => ({ garbage: g }))), { maxLength: 30 }), (items) => {
        const text = items.map((x) => ('valid' in x ? x.valid.line : x.garbage)).join('\n');
        const { records, warnings } = parse(text);
        const validLines = items.flatMap((x, i) => ('valid' in x ? [{ n: i + 1, m: x.valid }] : []));
        const garbageLines = items.flatMap((x, i) => ('garbage' in x ? [i + 1] : []));
        expect(records.map((r) => r.origin.lineNumber)).toEqual(validLines.map((v) => v.n));
        expect(warnings.map((w) => w.lineNumber)).toEqual(garbageLines);
        records.forEach((r, k) => {
          check(r, validLines[k].m.expected);
          expect(r.origin.text).toBe(validLines[k].m.line);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('gives the same record on the fast path as on the general path', () => {
    fc.assert(
      fc.property(routeLine, ({ line }) => {
        // A leading blank sends a line past the IPv4 fast path; nothing else changes.
        const fast = parse(line);
        const general = parse(` ${line}`);
        expect(general.records.map(strip)).toEqual(fast.records.map(strip));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on any string, and every warning has a line number within the input', () => {
    const assertSane = (s: string) => {
      const result = parse(s);
      const lines = s.split('\n').length;
      for (const w of result.warnings) expect(w.lineNumber).toBeLessThanOrEqual(Math.max(lines, 1));
    };
    fc.assert(fc.property(fc.string({ maxLength: 200 }), assertSane), { numRuns: 200 });
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), assertSane), { numRuns: 200 });
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => { parse(s); parse(`[${s}]`); }), { numRuns: 200 });
  });

  it('never throws on mutations of valid input', () => {
    const base = CAPTURED_TEXT;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length), fc.nat(5), fc.string({ maxLength: 4 })), { maxLength: 8 }), (edits) => {
        let s = base;
        for (const [at, del, ins] of edits) s = s.slice(0, at) + ins + s.slice(at + del);
        parse(s);
        let j = CAPTURED_JSON;
        for (const [at, del, ins] of edits) j = j.slice(0, at % j.length) + ins + j.slice((at % j.length) + del);
        parse(j);
      }),
      { numRuns: 200 },
    );
  });
});

describe('ip-route: big-table paths (shared lists, repeated tails)', () => {
  it('shares frozen lists between plain routes and copies them before a cache or nexthop line adds to one', () => {
    const r = parse([
      '10.7.0.5 via 10.1.0.1 dev d1 onlink ',
      '    cache expires 5sec ',
      '10.7.0.6 via 10.1.0.1 dev d1 onlink ',
      '32.0.0.1 proto static ',
      '\tnexthop via 10.0.0.2 dev eth0 weight 1 ',
      '\tnexthop via 10.0.0.3 dev eth0 weight 2 onlink ',
      '32.0.1.0/24 proto static ',
      '',
    ].join('\n'));
    expect(r.warnings).toEqual([]);
    const [cached, plain, multi, single] = r.records;
    expect(cached.flags).toEqual(['onlink', 'cache']);
    expect(cached.expires).toBe('5sec');
    expect(plain.flags).toEqual(['onlink']);
    expect(multi.nexthops).toEqual([
      { via: '10.0.0.2', dev: 'eth0', weight: 1, flags: [] },
      { via: '10.0.0.3', dev: 'eth0', weight: 2, flags: ['onlink'] },
    ]);
    expect(single.nexthops).toEqual([]);
    expect(single.flags).toEqual([]);
    // Records are read-only: the shared empty lists are frozen.
    expect(Object.isFrozen(single.flags) && Object.isFrozen(single.nexthops)).toBe(true);
    expect(Object.isFrozen(plain.flags)).toBe(true);
  });

  it('reads each line of a table whose lines repeat a few tails exactly as it reads that line alone', () => {
    const tails = fc.constantFrom(
      ' via 10.0.0.2 dev eth0 ', ' via 10.0.0.3 dev eth0 ', ' via 10.0.0.2 dev eth1 ', ' via 10.0.0.2 dev eth0 table 100 ',
      ' via 10.0.0.2 dev eth0 table 200 ', ' via 10.0.0.2 dev eth0 table 100 proto static metric 100 ',
      ' via 10.0.0.2 dev eth0 table 100 proto static metric 200 ', ' dev eth0 proto static scope link ',
      ' via 10.1.0.1 dev eth0 onlink ', ' via 10.1.0.1 dev eth0 onlink linkdown ', ' proto bgp metric 20', '',
      ' via 10.0.0.999 dev eth0', ' dev eth0 metric 12345678901', ' dev eth\u00e90', ' dev eth0\tproto static',
    );
    const line = fc.tuple(v4, fc.option(fc.integer({ min: 0, max: 33 }), { nil: undefined }), tails)
      .map(([a, len, tail]) => `${a}${len === undefined ? '' : `/${len}`}${tail}`);
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 60 }), (lines) => {
        const whole = parse(lines.join('\n'));
        const alone = lines.map((l) => parse(l));
        expect(whole.records.map(strip)).toEqual(alone.flatMap((r) => r.records.map(strip)));
        expect(whole.warnings.map((w) => w.reason)).toEqual(alone.flatMap((r) => r.warnings.map((w) => w.reason)));
        expect(whole.records.map((r) => r.origin.text)).toEqual(alone.flatMap((r) => r.records.map((x) => x.origin.text)));
      }),
      { numRuns: 200 },
    );
  });

  it('numbers lines read in place from CRLF text with blank lines and no final newline', () => {
    const r = parse('\r\n10.1.0.0/16 dev eth0\r\n\r\n  \r\n10.2.0.0/16 via 10.0.0.1 dev eth0 \r\nnot a route\r\n10.3.0.0/16 dev eth1');
    expect(r.records.map((x) => [x.origin.lineNumber, x.origin.text, x.dst])).toEqual([
      [2, '10.1.0.0/16 dev eth0', '10.1.0.0/16'],
      [5, '10.2.0.0/16 via 10.0.0.1 dev eth0 ', '10.2.0.0/16'],
      [7, '10.3.0.0/16 dev eth1', '10.3.0.0/16'],
    ]);
    expect(r.warnings.map((w) => [w.lineNumber, w.text])).toEqual([[6, 'not a route']]);
  });
});

describeSamples('ip-route', parse);
