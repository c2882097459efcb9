import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parser, tokenize } from '../../parsers/ip-link.js';
import type { LinkKind, LinkRecord } from '../../src/model/records.js';
import { describeSamples } from '../helpers/samples.js';

function dropOrigin(r: LinkRecord): Omit<LinkRecord, 'origin'> {
  const { origin: _origin, ...rest } = r;
  // The XDP attachment quotes its header line (text) or its interface's object (JSON).
  if (rest.xdp) rest.xdp = { ...rest.xdp, origin: { lineNumber: 0, text: '' } };
  return rest;
}

describe('ip-link: text examples', () => {
  it('reads the header and link line of `ip link`', () => {
    const text = [
      '33: veth4722669f@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1410 qdisc noqueue master cni0 state UP mode DEFAULT group default',
      '    link/ether c2:58:cd:37:d2:38 brd ff:ff:ff:ff:ff:ff link-netnsid 1',
    ].join('\n');
    const r = parse(text);
    expect(r.warnings).toEqual([]);
    expect(r.records).toEqual([
      {
        ifindex: 33, name: 'veth4722669f', parent: 'if3', kind: 'veth', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
        mtu: 1410, master: 'cni0', state: 'UP', linkType: 'ether', mac: 'c2:58:cd:37:d2:38', linkNetnsid: 1,
        origin: { lineNumber: 1, text: text.split('\n')[0] },
      },
    ]);
  });

  it('skips old and new -s/-s -s counter layouts and reads what follows them', () => {
    const text = [
      '1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000',
      '    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00',
      '    RX: bytes  packets  errors  dropped overrun mcast',
      '    38374458039 291293530 0       0       0       0',
      '    RX errors: length   crc     frame   fifo    missed',
      '               0        0       0       0       0',
      '    TX: bytes  packets  errors  dropped carrier collsns',
      '    38374458039 291293530 0       0       0       0',
      '    TX errors: aborted  fifo   window heartbeat transns',
      '               0        0       0       0       4',
      '2: enp1s0: <BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP> mtu 1500 qdisc fq_codel master bond0 state UP mode DEFAULT group default qlen 1000',
      '    link/ether 52:54:00:36:37:ea brd ff:ff:ff:ff:ff:ff promiscuity 0 allmulti 0 minmtu 68 maxmtu 65535',
      '    bond_slave state ACTIVE mii_status UP link_failure_count 0 perm_hwaddr 52:54:00:36:37:ea queue_id 0 prio 0 addrgenmode none',
      '    RX:  bytes  packets errors dropped  missed   mcast',
      '    6539676111 45171801      0  505436       0       0',
      '    TX:  bytes  packets errors dropped carrier collsns',
      '    3288089549 21839778      0       0       0       0',
      '    altname enx5254003637ea',
    ].join('\n');
    const r = parse(text);
    expect(r.warnings).toEqual([]);
    expect(r.records.map(dropOrigin)).toEqual([
      { ifindex: 1, name: 'lo', kind: 'loopback', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], mtu: 65536, state: 'UNKNOWN', linkType: 'loopback', mac: '00:00:00:00:00:00' },
      {
        ifindex: 2, name: 'enp1s0', kind: 'ethernet', flags: ['BROADCAST', 'MULTICAST', 'SLAVE', 'UP', 'LOWER_UP'], mtu: 1500, master: 'bond0',
        state: 'UP', linkType: 'ether', mac: '52:54:00:36:37:ea', altnames: ['enx5254003637ea'],
        details: { slave_kind: 'bond', slave_state: 'ACTIVE', slave_mii_status: 'UP' },
      },
    ]);
  });

  it('warns about a counter line with no RX/TX header in its block', () => {
    const r = parse('1: lo: <LOOPBACK> mtu 65536\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n    42 17 0 0 0 0\n');
    expect(r.warnings.map((w) => [w.lineNumber, w.text, w.reason])).toEqual([[3, '    42 17 0 0 0 0', 'unrecognised line']]);
  });

  it('reads `-d` kind and slave lines of kinds this machine cannot create', () => {
    const text = [
      '4: bond0: <BROADCAST,MULTICAST,MASTER,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000',
      '    link/ether 52:54:00:36:37:ea brd ff:ff:ff:ff:ff:ff promiscuity 0 allmulti 0 minmtu 68 maxmtu 65535',
      '    bond mode active-backup active_slave enp1s0 miimon 100 updelay 0 addrgenmode none numtxqueues 16',
      '5: bond0.57@bond0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master blue state UP mode DEFAULT group default qlen 1000',
      '    link/ether 52:54:00:36:37:ea brd ff:ff:ff:ff:ff:ff promiscuity 0',
      '    vlan protocol 802.1Q id 57 <REORDER_HDR> ',
      '    vrf_slave table 10 addrgenmode eui64',
      '6: blue: <NOARP,MASTER,UP,LOWER_UP> mtu 65575 qdisc noqueue state UP mode DEFAULT group default qlen 1000',
      '    link/ether 7a:1c:3e:9d:00:01 brd ff:ff:ff:ff:ff:ff promiscuity 0',
      '    vrf table 10 addrgenmode eui64 numtxqueues 1',
      '7: gre1@NONE: <POINTOPOINT,NOARP,UP,LOWER_UP> mtu 1476 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000',
      '    link/gre 198.51.100.1 peer 203.0.113.9 promiscuity 0',
      '    gre remote 203.0.113.9 local 198.51.100.1 ttl 64 pmtudisc',
      '8: wg0: <POINTOPOINT,NOARP,UP,LOWER_UP> mtu 1420 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000',
      '    link/none  promiscuity 0',
      '    wireguard addrgenmode none',
      '9: dummy0: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 1000',
      '    link/ether 7e:c3:58:20:6b:a3 brd ff:ff:ff:ff:ff:ff promiscuity 0',
      '    dummy addrgenmode eui64',
      '10: genev0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000',
      '    link/ether 0e:00:00:00:00:01 brd ff:ff:ff:ff:ff:ff promiscuity 0',
      '    geneve id 5 remote 10.1.1.1 ttl auto dstport 6081 noudpcsum',
      '11: ovs-system: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 1000',
      '    link/ether d6:fe:ce:4d:91:c1 brd ff:ff:ff:ff:ff:ff promiscuity 1',
      '    openvswitch addrgenmode eui64 numtxqueues 1',
      '12: eno1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9000 qdisc mq master ovs-system state UP mode DEFAULT group default qlen 1000',
      '    link/ether 38:90:a5:80:43:c9 brd ff:ff:ff:ff:ff:ff promiscuity 1',
      '    openvswitch_slave addrgenmode eui64',
      '    prog/xdp id 17 tag 3b185187f1855c4c jited ',
      '    vf 0     link/ether 00:00:00:00:00:00 brd ff:ff:ff:ff:ff:ff, spoof checking on, link-state auto, trust off',
    ].join('\n');
    const r = parse(text);
    expect(r.warnings).toEqual([]);
    expect(r.records.map((l) => [l.name, l.kind, l.kindText, l.details])).toEqual([
      ['bond0', 'bond', 'bond', { mode: 'active-backup', active_slave: 'enp1s0' }],
      ['bond0.57', 'vlan', 'vlan', { protocol: '802.1Q', id: '57', slave_kind: 'vrf', slave_table: '10' }],
      ['blue', 'vrf', 'vrf', { table: '10' }],
      ['gre1', 'gre', 'gre', { peer: '203.0.113.9', remote: '203.0.113.9', local: '198.51.100.1' }],
      ['wg0', 'wireguard', 'wireguard', undefined],
      ['dummy0', 'dummy', 'dummy', undefined],
      ['genev0', 'other', 'geneve', { id: '5', remote: '10.1.1.1', dstport: '6081' }],
      ['ovs-system', 'openvswitch', 'openvswitch', undefined],
      ['eno1', 'ethernet', undefined, { slave_kind: 'openvswitch' }],
    ]);
    expect(r.records[3].parent).toBeUndefined();
  });

  it('reads `ip -o link` and skips the address lines of `ip addr` input', () => {
    const text = [
      '2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP mode DEFAULT group default qlen 1000\\    link/ether 02:f0:a2:fb:16:95 brd ff:ff:ff:ff:ff:ff\\    altname enp0s5',
      '28: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1410 qdisc noqueue state UNKNOWN group default',
      '    link/ether 3e:35:13:4b:5d:4d brd ff:ff:ff:ff:ff:ff promiscuity 0',
      '    vxlan id 1 local 10.162.0.7 dev ens4 srcport 0 0 dstport 8472 nolearning ageing 300 udpcsum',
      '    inet 10.244.73.0/32 scope global flannel.1',
      '       valid_lft forever preferred_lft forever',
    ].join('\n');
    const r = parse(text);
    expect(r.warnings).toEqual([]);
    expect(r.records.map((l) => [l.name, l.kind, l.mac, l.altnames, l.origin.lineNumber])).toEqual([
      ['eth0', 'ethernet', '02:f0:a2:fb:16:95', ['enp0s5'], 1],
      ['flannel.1', 'vxlan', '3e:35:13:4b:5d:4d', undefined, 2],
    ]);
    expect(r.records[0].origin.text).toBe(text.split('\n')[0]);
  });

  it('gives one warning per unreadable line', () => {
    const text = [
      'Message truncated',
      '1: lo: <LOOPBACK,UP,LOWER_UP> mtu big qdisc noqueue state UNKNOWN',
      '    link/',
      '    link/ether 00:11:22:33:44:55 link-netnsid x',
      '    altname',
      '    RX',
      'x: eth0: <UP> mtu 1500',
      '7: : <UP>',
    ].join('\n');
    expect(parse(text).warnings.map((w) => [w.lineNumber, w.reason])).toEqual([
      [1, 'not an interface header, and no interface block is open'],
      [2, 'bad mtu'],
      [3, 'link/ without a type'],
      [4, 'bad link-netnsid'],
      [5, 'altname without exactly one name'],
      [6, 'unrecognised line'],
      [7, 'unrecognised line'],
      [8, 'interface header without a name'],
    ]);
  });

  it('splits on spaces and tabs', () => {
    expect(tokenize('  a\tb  c ')).toEqual(['a', 'b', 'c']);
    expect(tokenize('')).toEqual([]);
  });

  it('is registered under its file name', () => {
    expect(parser.name).toBe('ip-link');
    expect(parser.parse).toBe(parse);
  });
});

describe('ip-link: JSON examples', () => {
  it('reads ip -d -j link, including vxlan external, slaves and a null link', () => {
    const text = JSON.stringify([
      {
        ifindex: 6, ifname: 'vxlan_sys_4789', flags: ['BROADCAST', 'UP'], mtu: 65000, master: 'ovs-system', operstate: 'UNKNOWN',
        link_type: 'ether', address: 'aa:be:45:24:75:f8', broadcast: 'ff:ff:ff:ff:ff:ff', promiscuity: 1,
        linkinfo: { info_kind: 'vxlan', info_data: { id: 0, port_range: { low: 0, high: 0 }, port: 4789, collect_metadata: true }, info_slave_kind: 'openvswitch' },
      },
      { ifindex: 7, link: null, ifname: 'sit0', flags: ['NOARP'], mtu: 1480, operstate: 'DOWN', link_type: 'sit', address: '0.0.0.0', broadcast: '0.0.0.0' },
      { ifindex: 8, link: 'eth0', ifname: 'mv0', flags: [], link_type: 'ether', linkinfo: { info_kind: 'macvlan', info_data: { mode: 'vepa' } }, altnames: ['x1', 7] },
    ]);
    const r = parse(text);
    expect(r.warnings).toEqual([]);
    expect(r.records.map(dropOrigin)).toEqual([
      {
        ifindex: 6, name: 'vxlan_sys_4789', kind: 'vxlan', kindText: 'vxlan', flags: ['BROADCAST', 'UP'], mtu: 65000, master: 'ovs-system',
        state: 'UNKNOWN', linkType: 'ether', mac: 'aa:be:45:24:75:f8', details: { id: '0', dstport: '4789', external: 'true', slave_kind: 'openvswitch' },
      },
      { ifindex: 7, name: 'sit0', kind: 'sit', flags: ['NOARP'], mtu: 1480, state: 'DOWN', linkType: 'sit', mac: '0.0.0.0' },
      { ifindex: 8, name: 'mv0', parent: 'eth0', kind: 'macvlan', kindText: 'macvlan', flags: [], linkType: 'ether', details: { mode: 'vepa' }, altnames: ['x1'] },
    ]);
    expect(r.records[1].origin).toEqual({ lineNumber: 1, text: JSON.stringify(JSON.parse(text)[1]) });
  });

  it('warns about entries it cannot read', () => {
    const r = parse('[\n  {"ifname": "lo", "flags": "UP"},\n  null,\n  {"ifname": ""}\n]\n');
    expect(r.warnings.map((w) => [w.lineNumber, w.text, w.reason])).toEqual([
      [3, 'null', 'interface entry is not an object'],
      [4, '{"ifname": ""}', 'interface without "ifname"'],
    ]);
    expect(r.records.map((l) => [l.name, l.flags])).toEqual([['lo', []]]);
  });
});

// ---------------------------------------------------------------------------------------------
// Property tests: a model of `ip -d -s link` blocks, rendered as text and as `ip -d -j link` JSON.

type ModelKind = 'bond' | 'dummy' | 'vrf' | 'ipvlan' | 'vlan' | 'wireguard';
interface ModelLink {
  name: string;
  flags: string[];
  mtu: number;
  state: string;
  master?: string;
  mac: string;
  kind?: ModelKind;
  slave?: 'bond' | 'openvswitch' | 'vrf';
  stats: 0 | 1 | 2;
  xdp: boolean;
  altnames: string[];
}

const byte = fc.integer({ min: 0, max: 255 });
const modelLink: fc.Arbitrary<ModelLink> = fc.record({
  name: fc.stringMatching(/^n[a-z0-9]{1,8}$/),
  flags: fc.subarray(['BROADCAST', 'MULTICAST', 'NOARP', 'UP', 'LOWER_UP', 'NO-CARRIER', 'SLAVE', 'MASTER', 'PROMISC']),
  mtu: fc.integer({ min: 68, max: 65536 }),
  state: fc.constantFrom('UP', 'DOWN', 'UNKNOWN'),
  master: fc.option(fc.stringMatching(/^m[a-z0-9]{1,6}$/), { nil: undefined }),
  mac: fc.array(byte, { minLength: 6, maxLength: 6 }).map((a) => a.map((x) => x.toString(16).padStart(2, '0')).join(':')),
  kind: fc.option(fc.constantFrom<ModelKind>('bond', 'dummy', 'vrf', 'ipvlan', 'vlan', 'wireguard'), { nil: undefined }),
  slave: fc.option(fc.constantFrom<'bond' | 'openvswitch' | 'vrf'>('bond', 'openvswitch', 'vrf'), { nil: undefined }),
  stats: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
  xdp: fc.boolean(),
  altnames: fc.array(fc.stringMatching(/^enp[0-9]s[0-9]$/), { maxLength: 2 }),
});

const KINDS: Record<ModelKind, { line: string; details?: Record<string, string>; data?: Record<string, unknown> }> = {
  bond: { line: 'bond mode balance-rr miimon 0 updelay 0', details: { mode: 'balance-rr' }, data: { mode: 'balance-rr', miimon: 0, updelay: 0 } },
  dummy: { line: 'dummy ' },
  vrf: { line: 'vrf table 100', details: { table: '100' }, data: { table: 100 } },
  ipvlan: { line: 'ipvlan  mode l2 bridge', details: { mode: 'l2' }, data: { mode: 'l2' } },
  vlan: { line: 'vlan protocol 802.1ad id 7 <REORDER_HDR> ', details: { protocol: '802.1ad', id: '7' }, data: { protocol: '802.1ad', id: 7, flags: ['REORDER_HDR'] } },
  wireguard: { line: 'wireguard ' },
};
const SLAVES = {
  bond: { line: 'bond_slave state BACKUP mii_status UP link_failure_count 0', details: { slave_kind: 'bond', slave_state: 'BACKUP', slave_mii_status: 'UP' }, data: { state: 'BACKUP', mii_status: 'UP', link_failure_count: 0 } },
  openvswitch: { line: 'openvswitch_slave ', details: { slave_kind: 'openvswitch' }, data: undefined },
  vrf: { line: 'vrf_slave table 100', details: { slave_kind: 'vrf', slave_table: '100' }, data: { table: 100 } },
};
const STATS: string[][] = [
  [],
  ['    RX: bytes  packets  errors  dropped overrun mcast', '    108341661705196 87334303936 0       5632499 0       7110182', '    TX: bytes  packets  errors  dropped carrier collsns', '    0 0 0 0 0 0'],
  ['    RX:  bytes packets errors dropped  missed   mcast           ', '             0       0      0       0       0       0 ', '    RX errors:  length    crc   frame    fifo overrun', '                     0      0       0       0       0 ', '    TX:  bytes packets errors dropped carrier collsns           ', '             0       0      0       0       0       0 ', '    TX errors: aborted   fifo  window heartbt transns', '                     0      0       0       0       0 '],
];

function render(links: ModelLink[]): { lines: string[]; headerAt: number[]; json: unknown[]; expected: LinkRecord[] } {
  const lines: string[] = [];
  const headerAt: number[] = [];
  const json: unknown[] = [];
  const expected: LinkRecord[] = [];
  links.forEach((l, i) => {
    const index = i + 1;
    const name = `${l.name}x${index}`;
    const k = l.kind ? KINDS[l.kind] : undefined;
    const s = l.slave ? SLAVES[l.slave] : undefined;
    const none = l.kind === 'wireguard';
    // iproute2 names the XDP mode after the mtu when a program is attached.
    const header = `${index}: ${name}: <${l.flags.join(',')}> mtu ${l.mtu}${l.xdp ? ' xdp' : ''} qdisc noqueue${l.master ? ` master ${l.master}` : ''} state ${l.state} mode DEFAULT group default qlen 1000`;
    headerAt.push(lines.length);
    lines.push(header);
    lines.push(`    link/${none ? 'none ' : `ether ${l.mac} brd ff:ff:ff:ff:ff:ff`} promiscuity 0 allmulti 0 minmtu 68 maxmtu 65535`);
    if (k) lines.push(`    ${k.line}`);
    if (s) lines.push(`    ${s.line}`);
    if (l.xdp) lines.push('    prog/xdp id 17 tag 3b185187f1855c4c jited ');
    lines.push(...STATS[l.stats]);
    for (const a of l.altnames) lines.push(`    altname ${a}`);

    const kind: LinkKind = l.kind ?? (none ? 'other' : 'ethernet');
    const rec: LinkRecord = { ifindex: index, name, kind, flags: l.flags, mtu: l.mtu, state: l.state, linkType: none ? 'none' : 'ether', origin: { lineNumber: 0, text: header } };
    if (l.master) rec.master = l.master;
    if (!none) rec.mac = l.mac;
    if (l.kind) rec.kindText = l.kind;
    if (k?.details || s) rec.details = { ...k?.details, ...s?.details };
    if (l.altnames.length) rec.altnames = l.altnames;
    if (l.xdp) rec.xdp = { mode: 'xdp', programs: [{ id: 17, tag: '3b185187f1855c4c' }], origin: rec.origin };
    expected.push(rec);

    const o: Record<string, unknown> = { ifindex: index, ifname: name, flags: l.flags, mtu: l.mtu, qdisc: 'noqueue' };
    if (l.master) o.master = l.master;
    Object.assign(o, { operstate: l.state, linkmode: 'DEFAULT', group: 'default', txqlen: 1000, link_type: none ? 'none' : 'ether' });
    if (!none) Object.assign(o, { address: l.mac, broadcast: 'ff:ff:ff:ff:ff:ff' });
    Object.assign(o, { promiscuity: 0, allmulti: 0, min_mtu: 68, max_mtu: 65535 });
    if (l.kind || l.slave) {
      const info: Record<string, unknown> = {};
      if (l.kind) { info.info_kind = l.kind; if (k?.data) info.info_data = k.data; }
      if (l.slave) { info.info_slave_kind = l.slave; if (s?.data) info.info_slave_data = s.data; }
      o.linkinfo = info;
    }
    if (l.altnames.length) o.altnames = l.altnames;
    if (l.xdp) o.xdp = { mode: 1, prog: { id: 17, tag: '3b185187f1855c4c', jited: 1 } };
    if (l.stats) o.stats64 = { rx: { bytes: 0, packets: 0 }, tx: { bytes: 0, packets: 0 } };
    json.push(o);
  });
  return { lines, headerAt, json, expected };
}

const garbageLine = fc.oneof(
  fc.constantFrom('Message truncated', 'Device "eth9" does not exist.', 'RX', 'TX errors', 'link/', 'altname', '12:', '%%%', '    frobnicate 7', '    bond_master x'),
  fc.stringMatching(/^[A-Z#%!][A-Za-z #%!=-]{0,20}$/),
);

describe('ip-link: properties', () => {
  it('reads every generated link, skips counters, and gives one warning per garbage line', () => {
    fc.assert(
      fc.property(fc.array(modelLink, { maxLength: 6 }), fc.array(fc.record({ at: fc.nat(), text: garbageLine }), { maxLength: 6 }), (links, garbage) => {
        const r = render(links);
        const slots = new Map<number, string[]>();
        for (const g of garbage) { const at = g.at % (r.lines.length + 1); slots.set(at, [...(slots.get(at) ?? []), g.text]); }
        const out: string[] = [];
        const garbageLines: number[] = [];
        const headerLines = new Map<number, number>();
        for (let i = 0; i <= r.lines.length; i++) {
          for (const g of slots.get(i) ?? []) { out.push(g); garbageLines.push(out.length); }
          if (i < r.lines.length) { out.push(r.lines[i]); headerLines.set(i, out.length); }
        }
        r.expected.forEach((rec, n) => { rec.origin.lineNumber = headerLines.get(r.headerAt[n])!; });
        const result = parse(out.join('\n'));
        expect(result.records).toEqual(r.expected);
        expect(result.warnings.map((w) => w.lineNumber)).toEqual(garbageLines);
      }),
      { numRuns: 200 },
    );
  });

  it('gives the same records from text and from JSON of the same links', () => {
    fc.assert(
      fc.property(fc.array(modelLink, { maxLength: 6 }), (links) => {
        const r = render(links);
        const json = parse(JSON.stringify(r.json));
        expect(json.warnings).toEqual([]);
        expect(json.records.map(dropOrigin)).toEqual(r.expected.map(dropOrigin));
      }),
      { numRuns: 200 },
    );
  });

  it('never throws, on any string or on mutations of valid text', () => {
    const check = (s: string) => {
      const r = parse(s);
      expect(Array.isArray(r.records)).toBe(true);
      for (const w of r.warnings) expect(w.lineNumber).toBeLessThanOrEqual(s.split('\n').length);
    };
    fc.assert(fc.property(fc.string(), check), { numRuns: 200 });
    fc.assert(fc.property(fc.string({ unit: 'binary' }), check), { numRuns: 200 });
    fc.assert(fc.property(fc.jsonValue(), (v) => check(JSON.stringify([v, { ifname: 'x', linkinfo: v, flags: v, altnames: v }]))), { numRuns: 200 });
    const edit = fc.record({ at: fc.nat(), del: fc.nat({ max: 5 }), ins: fc.string({ maxLength: 4, unit: fc.constantFrom(' ', '\n', '\\', ':', '@', '<', '>', '0', 'a', '_') }) });
    fc.assert(fc.property(fc.array(modelLink, { maxLength: 3 }), fc.array(edit, { maxLength: 8 }), (links, edits) => {
      const text = edits.reduce((acc, e) => { const at = e.at % (acc.length + 1); return acc.slice(0, at) + e.ins + acc.slice(at + e.del); }, render(links).lines.join('\n'));
      check(text);
    }), { numRuns: 200 });
  });
});

describeSamples('ip-link', parse);
