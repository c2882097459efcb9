/**
 * Random iptables rulesets, ipsets and packets for the differential test against the kernel
 * (netfilter-diff.test.ts). Deterministic from a seed. Every match and target the evaluator
 * claims to decide appears; each rule records its features for the coverage report.
 *
 * The receiver ("rx") has eth0 10.1.0.1/24 + 10.1.0.2/24, eth1 10.2.0.1/24 and 10.9.0.1/32,
 * 10.9.0.2/32 on lo; the sender ("tx") has eth0 10.1.0.100/24 and eth1 10.2.0.100/24 and
 * writes raw frames, so sources, ports, TCP flags and ICMP types are free.
 */
import type { CtState, NetfilterPacket } from '../../src/simulate/netfilter.js';
import { prng } from '../helpers/prng.js';
export { prng };


/** The lab's addresses (see the file comment). */
export const LAB = {
  rxAddresses: [
    { cidr: '10.1.0.1/24', dev: 'eth0' },
    { cidr: '10.1.0.2/24', dev: 'eth0' },
    { cidr: '10.2.0.1/24', dev: 'eth1' },
    { cidr: '10.9.0.1/32', dev: 'lo' },
    { cidr: '10.9.0.2/32', dev: 'lo' },
  ],
  txAddresses: { eth0: '10.1.0.100', eth1: '10.2.0.100' },
  /** Destinations on rx: its addresses and the two subnet broadcasts. */
  destinations: ['10.1.0.1', '10.1.0.2', '10.2.0.1', '10.9.0.1', '10.9.0.2', '10.1.0.255', '10.2.0.255'],
  /** Sources that route back through tx (never on rx's own subnets but for tx's addresses). */
  sources: ['10.1.0.100', '10.2.0.100', '192.168.1.10', '192.168.1.77', '192.168.2.5', '172.16.5.9', '172.16.200.1', '10.5.3.4', '10.5.200.7', '203.0.113.50'],
};

/** TCP flag combinations sent, with the state conntrack gives a packet of no known connection. */
const TCP_FLAGS: [number, CtState, number][] = [
  [0x02, 'NEW', 50], [0x10, 'NEW', 10], [0x18, 'NEW', 5], [0x12, 'INVALID', 5], [0x01, 'INVALID', 4], [0x04, 'INVALID', 4],
  [0x14, 'INVALID', 3], [0x03, 'INVALID', 3], [0x00, 'INVALID', 3], [0x11, 'INVALID', 3], [0x29, 'INVALID', 3],
];
/** ICMP type/code sent: requests start connections, replies and errors (with no inner packet) are INVALID. */
const ICMP_TYPES: [number, number, CtState, number][] = [[8, 0, 'NEW', 50], [13, 0, 'NEW', 10], [0, 0, 'INVALID', 10], [3, 3, 'INVALID', 10], [11, 0, 'INVALID', 5], [3, 1, 'INVALID', 5]];

export interface GeneratedRule {
  table: string;
  chain: string;
  /** 1-based position in its chain. */
  position: number;
  text: string;
  features: string[];
}

export interface GeneratedCase {
  seed: number;
  /** iptables-restore input with all five tables. */
  rules: string;
  /** ipset restore input (may be empty). */
  ipsets: string;
  setNames: string[];
  ruleList: GeneratedRule[];
  /** The restore text of a subset of `ruleList` (for shrinking a failure). */
  render: (rules: GeneratedRule[]) => string;
  packets: NetfilterPacket[];
}

interface Ctx {
  r: () => number;
  sets: { name: string; type: string }[];
  marks: string[];
  userChains: Map<string, string[]>;
  comment: number;
}

export const pick = <T>(r: () => number, items: readonly T[]): T => items[Math.floor(r() * items.length)];
export const chance = (r: () => number, p: number): boolean => r() < p;
export const int = (r: () => number, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
export function weighted<T extends unknown[]>(r: () => number, items: T[]): T {
  const total = items.reduce((s, i) => s + (i[i.length - 1] as number), 0);
  let x = r() * total;
  for (const i of items) {
    x -= i[i.length - 1] as number;
    if (x < 0) return i;
  }
  return items[items.length - 1];
}

/** One of `items` by weight. */
export function choose<T>(r: () => number, items: [T, number][]): T {
  return weighted(r, items)[0] as T;
}

export const TCP_PORTS = [22, 80, 443, 8080, 3306, 6443];
export const UDP_PORTS = [53, 67, 123, 161, 500, 4500];
const PORT_RANGES = ['1000:2000', '8000:9000', ':1023', '1024:', '50000:65535', '22:80'];

function port(r: () => number, proto: 'tcp' | 'udp'): string {
  if (chance(r, 0.3)) return pick(r, PORT_RANGES);
  return String(pick(r, proto === 'tcp' ? TCP_PORTS : UDP_PORTS));
}

export function prefixAround(r: () => number, addr: string): string {
  const len = pick(r, [8, 16, 24, 32, 32, 12, 28]);
  const octets = addr.split('.').map(Number);
  const v = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const net = (v & mask) >>> 0;
  return `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${len}`;
}

const bang = (r: () => number, p = 0.2): string => (chance(r, p) ? '! ' : '');

/** One rule's matches: a few features drawn at random, consistent with each other. */
function matches(c: Ctx, hook: 'PREROUTING' | 'INPUT'): { text: string; features: string[]; proto?: string } {
  const { r } = c;
  const parts: string[] = [];
  const features: string[] = [];
  let proto: string | undefined;
  let negatedProto = false;
  const n = chance(r, 0.1) ? 0 : int(r, 1, 3);
  const kinds = new Set<string>();
  for (let i = 0; i < n; i++) kinds.add(pick(r, ['src', 'dst', 'in', 'proto', 'proto', 'proto', 'ctstate', 'addrtype', 'mark', 'set', 'comment', 'iprange', 'frag', 'limit', 'state', 'connmark']));
  if (kinds.has('proto')) {
    proto = pick(r, ['tcp', 'tcp', 'udp', 'icmp', '253', 'all']);
    const neg = proto === 'all' || ((proto === 'tcp' || proto === 'udp' || proto === 'icmp') && chance(r, 0.6)) ? '' : bang(r, 0.25);
    parts.push(`${neg}-p ${proto}`);
    features.push(neg ? '-p !' : '-p');
    // Targets that need a protocol (tcp-reset, DNAT with a port) must not see a negated one.
    if (neg !== '') negatedProto = true;
    if (neg === '' && (proto === 'tcp' || proto === 'udp')) {
      const kind = pick(r, ['dport', 'sport', 'multiport', 'flags', 'none', 'dport']);
      if (kind === 'dport' || kind === 'sport') {
        parts.push(`-m ${proto} ${bang(r)}--${kind} ${port(r, proto)}`);
        features.push(`--${kind}`);
      } else if (kind === 'multiport') {
        const which = pick(r, ['dports', 'sports', 'ports']);
        // multiport wants both ends of a range.
        const list = Array.from({ length: int(r, 1, 4) }, () => port(r, proto as 'tcp' | 'udp').replace(/^:/, '0:').replace(/:$/, ':65535'));
        parts.push(`-m multiport ${bang(r)}--${which} ${[...new Set(list)].join(',')}`);
        features.push(`multiport --${which}`);
      } else if (kind === 'flags' && proto === 'tcp') {
        parts.push(`-m tcp ${bang(r)}${pick(r, ['--syn', '--tcp-flags SYN,RST,ACK,FIN SYN', '--tcp-flags ALL ACK', '--tcp-flags SYN,ACK SYN,ACK', '--tcp-flags ALL NONE', '--tcp-flags FIN,SYN FIN,SYN', '--tcp-flags ACK ACK'])}`);
        features.push('tcp flags');
      }
    } else if (neg === '' && proto === 'icmp' && chance(r, 0.7)) {
      parts.push(`-m icmp ${bang(r)}--icmp-type ${pick(r, ['echo-request', '8', '8/0', '0', 'echo-reply', '3', '3/3', 'port-unreachable', 'any', '13', 'timestamp-request', '11', 'destination-unreachable', 'host-unreachable'])}`);
      features.push('icmp-type');
    }
  }
  if (kinds.has('src')) {
    parts.push(`${bang(r)}-s ${prefixAround(r, pick(r, LAB.sources))}`);
    features.push('-s');
  }
  if (kinds.has('dst')) {
    parts.push(`${bang(r)}-d ${prefixAround(r, pick(r, LAB.destinations))}`);
    features.push('-d');
  }
  if (kinds.has('in')) {
    parts.push(`${bang(r)}-i ${pick(r, ['eth0', 'eth1', 'eth+', 'e+', 'lo', 'veth+'])}`);
    features.push('-i');
  }
  if (kinds.has('ctstate')) {
    parts.push(`-m conntrack ${bang(r)}--ctstate ${pick(r, ['NEW', 'NEW', 'ESTABLISHED,RELATED', 'INVALID', 'UNTRACKED', 'NEW,UNTRACKED', 'DNAT', 'RELATED,ESTABLISHED,NEW'])}`);
    features.push('ctstate');
  }
  if (kinds.has('state')) {
    parts.push(`-m state ${bang(r)}--state ${pick(r, ['NEW', 'INVALID', 'ESTABLISHED', 'UNTRACKED'])}`);
    features.push('state');
  }
  if (kinds.has('addrtype')) {
    const which = pick(r, ['--dst-type', '--dst-type', '--src-type']);
    const type = which === '--dst-type' ? pick(r, ['LOCAL', 'BROADCAST', 'UNICAST', 'LOCAL,BROADCAST', 'MULTICAST']) : pick(r, ['LOCAL', 'UNICAST', 'BROADCAST']);
    const limit = chance(r, 0.25) ? ` --limit-iface-in` : '';
    parts.push(`-m addrtype ${bang(r)}${which} ${type}${limit}`);
    features.push(limit ? 'addrtype limit-iface-in' : 'addrtype');
  }
  if (kinds.has('mark') && c.marks.length > 0) {
    parts.push(`-m mark ${bang(r)}--mark ${pick(r, c.marks)}`);
    features.push('mark');
  }
  if (kinds.has('connmark')) {
    parts.push(`-m connmark ${bang(r)}--mark ${pick(r, ['0x4/0x4', '0x0', '0x1/0x1'])}`);
    features.push('connmark');
  }
  if (kinds.has('set') && c.sets.length > 0) {
    const set = pick(r, c.sets);
    const flags = set.type.split(',').length === 2 ? pick(r, ['src,dst', 'dst,dst', 'src']) : pick(r, ['src', 'dst', 'src,dst']);
    parts.push(`-m set ${bang(r)}--match-set ${set.name} ${flags}`);
    features.push(`set ${set.type}`);
  }
  if (kinds.has('comment')) {
    parts.push(`-m comment --comment "gen rule ${c.comment++}"`);
    features.push('comment');
  }
  if (kinds.has('iprange')) {
    parts.push(`-m iprange ${bang(r)}--src-range ${pick(r, ['192.168.1.1-192.168.1.50', '172.16.0.0-172.16.255.255', '10.1.0.0-10.2.0.255'])}`);
    features.push('iprange');
  }
  if (kinds.has('frag')) {
    parts.push(`${bang(r, 0.7)}-f`);
    features.push('-f');
  }
  if (kinds.has('limit')) {
    parts.push('-m limit --limit 100/sec --limit-burst 1000');
    features.push('limit');
  }
  void hook;
  return { text: parts.join(' '), features, proto: negatedProto ? undefined : proto };
}

type Table = 'raw' | 'mangle' | 'nat' | 'filter';

const TERMINAL = new Set(['ACCEPT', 'DROP', 'REJECT', 'RETURN', 'goto', 'DNAT', 'SNAT']);

/** A target fitting the table and chain; jumps only go to later user chains (no loops). */
function target(c: Ctx, table: Table, chain: string, proto: string | undefined, builtin: boolean): { text: string; feature: string } {
  const { r } = c;
  // nat user chains may hold DNAT, valid only when reached from PREROUTING: nat INPUT never jumps.
  const later = table === 'nat' && chain === 'INPUT' ? [] : [...c.userChains.keys()].filter((n) => n.startsWith(`${table}-`) && n > chain);
  const jumpTo = later.length > 0 && chance(r, builtin ? 0.3 : 0.2) ? pick(r, later) : undefined;
  if (jumpTo !== undefined) {
    const g = chance(r, 0.25);
    return { text: `${g ? '-g' : '-j'} ${jumpTo}`, feature: g ? 'goto' : 'jump' };
  }
  const ret = builtin ? 0.03 : 0.2;
  switch (table) {
    case 'raw':
      return choose(r, [[{ text: '', feature: 'no target' }, 4], [{ text: '-j CT --notrack', feature: 'CT --notrack' }, 2], [{ text: '-j ACCEPT', feature: 'ACCEPT' }, 1], [{ text: '-j DROP', feature: 'DROP' }, 0.5], [{ text: '-j RETURN', feature: 'RETURN' }, ret * 10]]);
    case 'mangle': {
      const mark = pick(r, ['--set-xmark 0x1/0x1', '--set-mark 0x2', '--or-mark 0x4', '--and-mark 0xfffffffe', '--xor-mark 0x8', '--set-xmark 0x10/0xff', '--set-mark 0x3/0x3']);
      return choose(r, [[{ text: '', feature: 'no target' }, 2], [{ text: `-j MARK ${mark}`, feature: 'MARK' }, 5], [{ text: '-j CONNMARK --set-mark 0x4/0x4', feature: 'CONNMARK set' }, 1], [{ text: '-j CONNMARK --save-mark', feature: 'CONNMARK save' }, 1], [{ text: '-j CONNMARK --restore-mark', feature: 'CONNMARK restore' }, 1], [{ text: '-j ACCEPT', feature: 'ACCEPT' }, 1], [{ text: '-j DROP', feature: 'DROP' }, 0.3], [{ text: '-j RETURN', feature: 'RETURN' }, ret * 10]]);
    }
    case 'nat': {
      if (chain === 'INPUT') return choose(r, [[{ text: '', feature: 'no target' }, 2], [{ text: '-j ACCEPT', feature: 'ACCEPT' }, 1], [{ text: '-j SNAT --to-source 10.5.5.5', feature: 'SNAT' }, 1]]);
      const ported = proto === 'tcp' || proto === 'udp';
      return choose(r, [[{ text: '', feature: 'no target' }, 2], [{ text: '-j ACCEPT', feature: 'ACCEPT' }, 1], [{ text: '-j DNAT --to-destination 10.9.0.2', feature: 'DNAT' }, 2], [{ text: ported ? '-j DNAT --to-destination 10.9.0.1:8080' : '-j DNAT --to-destination 10.9.0.1', feature: 'DNAT' }, 1], [{ text: '-j RETURN', feature: 'RETURN' }, ret * 10]]);
    }
    default: {
      const reject = proto === 'tcp' && chance(r, 0.4) ? '-j REJECT --reject-with tcp-reset' : pick(r, ['-j REJECT', '-j REJECT --reject-with icmp-host-prohibited', '-j REJECT --reject-with icmp-admin-prohibited']);
      return choose(r, [[{ text: '-j ACCEPT', feature: 'ACCEPT' }, 4], [{ text: '-j DROP', feature: 'DROP' }, 3], [{ text: reject, feature: 'REJECT' }, 1.5], [{ text: '', feature: 'no target' }, 1], [{ text: '-j LOG --log-prefix "hc "', feature: 'LOG' }, 0.5], [{ text: '-j NFLOG --nflog-group 5', feature: 'NFLOG' }, 0.3], [{ text: '-j RETURN', feature: 'RETURN' }, ret * 10]]);
    }
  }
}

function makeSets(c: Ctx, seed: number): string {
  const { r } = c;
  const lines: string[] = [];
  const count = int(r, 0, 3);
  for (let i = 0; i < count; i++) {
    const type = pick(r, ['hash:ip', 'hash:net', 'hash:ip,port', 'hash:net,port', 'bitmap:port', 'hash:net']);
    const name = `hc${seed % 100000}-${i}`;
    c.sets.push({ name, type });
    if (type === 'bitmap:port') lines.push(`create ${name} bitmap:port range 0-65535`);
    else lines.push(`create ${name} ${type} family inet hashsize 64 maxelem 1024`);
    const members = int(r, 1, 6);
    const seen = new Set<string>();
    for (let m = 0; m < members; m++) {
      let member: string;
      const addr = chance(r, 0.6) ? pick(r, LAB.sources) : pick(r, LAB.destinations);
      if (type === 'hash:ip') member = addr;
      else if (type === 'hash:net') member = prefixAround(r, addr);
      // 2048 and 3328 are what an ICMP echo / timestamp request would read as a port (type << 8).
      else if (type === 'bitmap:port') member = String(chance(r, 0.2) ? pick(r, [2048, 3328]) : chance(r, 0.5) ? pick(r, TCP_PORTS) : pick(r, UDP_PORTS));
      else {
        const p = chance(r, 0.6) ? 'tcp' : 'udp';
        const a = type === 'hash:ip,port' ? addr : prefixAround(r, addr);
        member = `${a},${p}:${pick(r, p === 'tcp' ? TCP_PORTS : UDP_PORTS)}`;
      }
      if (type === 'hash:net' || type === 'hash:net,port') member = member.replace(/\/32(,|$)/, '$1');
      if (seen.has(member)) continue;
      seen.add(member);
      const nomatch = (type === 'hash:net' || type === 'hash:net,port') && chance(r, 0.2) ? ' nomatch' : '';
      lines.push(`add ${name} ${member}${nomatch}`);
    }
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** A ruleset over raw, mangle, nat, filter and security (its INPUT counts delivered packets). */
export function generateCase(seed: number, packetCount: number): GeneratedCase {
  const r = prng(seed);
  const c: Ctx = { r, sets: [], marks: [], userChains: new Map(), comment: 1 };
  const ipsets = makeSets(c, seed);
  c.marks = ['0x1/0x1', '0x2', '0x4/0x4', '0x8/0x8', '0x10/0xff', '0x0', '0x3/0x3', '0x6'];
  const ruleList: GeneratedRule[] = [];
  const builtin: Record<Table, string[]> = { raw: ['PREROUTING'], mangle: ['PREROUTING', 'INPUT'], nat: ['PREROUTING', 'INPUT'], filter: ['INPUT'] };
  const userCount: Record<Table, number> = { raw: int(r, 0, 1), mangle: int(r, 0, 2), nat: int(r, 0, 1), filter: int(r, 1, 4) };
  for (const table of Object.keys(userCount) as Table[]) {
    for (let i = 1; i <= userCount[table]; i++) c.userChains.set(`${table}-C${i}`, []);
  }
  const ruleCount: Record<Table, [number, number]> = { raw: [0, 3], mangle: [0, 4], nat: [0, 3], filter: [3, 12] };
  const add = (table: Table, chain: string, isBuiltin: boolean, hook: 'PREROUTING' | 'INPUT', n: number): void => {
    for (let i = 0; i < n; i++) {
      let m = matches(c, hook);
      let t = target(c, table, chain, m.proto, isBuiltin);
      // A terminal rule that matches everything would hide the rest of its chain: draw again.
      for (let k = 0; k < 5 && m.text === '' && TERMINAL.has(t.feature); k++) {
        m = matches(c, hook);
        t = target(c, table, chain, m.proto, isBuiltin);
      }
      const text = [m.text, t.text].filter((s) => s !== '').join(' ');
      const position = ruleList.filter((x) => x.table === table && x.chain === chain).length + 1;
      ruleList.push({ table, chain, position, text, features: [...m.features, t.feature] });
    }
  };
  for (const table of Object.keys(builtin) as Table[]) {
    for (const chain of builtin[table]) add(table, chain, true, chain as 'PREROUTING' | 'INPUT', int(r, ...ruleCount[table]));
    for (const chain of c.userChains.keys()) if (chain.startsWith(`${table}-`)) add(table, chain, false, 'INPUT', int(r, 1, 5));
  }
  const policy = chance(r, 0.5) ? 'DROP' : 'ACCEPT';
  const userChains = [...c.userChains.keys()];
  const render = (rules: GeneratedRule[]): string => renderRules(rules, userChains, policy);
  return { seed, rules: render(ruleList), ipsets, setNames: c.sets.map((s) => s.name), ruleList, render, packets: makePackets(r, packetCount) };
}

const CHAINS_OF: Record<string, string[]> = {
  raw: ['PREROUTING', 'OUTPUT'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  security: ['INPUT', 'FORWARD', 'OUTPUT'],
};

/** iptables-restore text of `rules` (positions recomputed), with the security table's delivery counter. */
function renderRules(rules: GeneratedRule[], userChains: string[], policy: string): string {
  const text: string[] = [];
  for (const table of ['raw', 'mangle', 'nat', 'filter', 'security']) {
    text.push(`*${table}`);
    for (const chain of CHAINS_OF[table]) text.push(`:${chain} ${table === 'filter' && chain === 'INPUT' ? policy : 'ACCEPT'} [0:0]`);
    for (const chain of userChains) if (chain.startsWith(`${table}-`)) text.push(`:${chain} - [0:0]`);
    for (const rule of rules) if (rule.table === table) text.push(`-A ${rule.chain}${rule.text ? ` ${rule.text}` : ''}`);
    if (table === 'security') text.push('-A INPUT -m comment --comment delivered');
    text.push('COMMIT');
  }
  return `${text.join('\n')}\n`;
}

/** Packets with the fields the evaluator needs, ctstate as conntrack will see it. */
export function makePackets(r: () => number, count: number): NetfilterPacket[] {
  const out: NetfilterPacket[] = [];
  for (let i = 0; i < count; i++) {
    const inIf = chance(r, 0.7) ? 'eth0' : 'eth1';
    const src = pick(r, LAB.sources);
    const dst = pick(r, LAB.destinations);
    const kind = weighted(r, [['tcp', 45], ['udp', 25], ['icmp', 22], ['raw', 8]])[0];
    const base = { family: 4 as const, src, dst, inIf, physdev: null };
    if (kind === 'tcp') {
      const [flags, ctstate] = weighted(r, TCP_FLAGS);
      out.push({ ...base, proto: 'tcp', sport: chance(r, 0.8) ? int(r, 1024, 65535) : pick(r, [80, 443, 1500, 53]), dport: chance(r, 0.75) ? pick(r, TCP_PORTS) : int(r, 1, 65535), tcpFlags: flags, ctstate });
    } else if (kind === 'udp') {
      out.push({ ...base, proto: 'udp', sport: chance(r, 0.7) ? int(r, 1024, 65535) : pick(r, [53, 123, 500]), dport: chance(r, 0.75) ? pick(r, UDP_PORTS) : int(r, 1, 65535), ctstate: 'NEW' });
    } else if (kind === 'icmp') {
      const [icmpType, icmpCode, ctstate] = weighted(r, ICMP_TYPES);
      out.push({ ...base, proto: 'icmp', icmpType, icmpCode, ctstate });
    } else {
      out.push({ ...base, proto: 253, ctstate: 'NEW' });
    }
  }
  return out;
}
