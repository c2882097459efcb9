/**
 * Random setups for the packet walk's differential test (walk-diff.test.ts): a router namespace
 * "r" with three links to a peer namespace "s", policy routing with fwmark rules (masks, `not`),
 * tables with unicast, blackhole, unreachable, prohibit and throw routes, rp_filter,
 * src_valid_mark and per-device forwarding, and an iptables ruleset that marks (MARK, CONNMARK
 * --save/--restore/--set), translates (DNAT, REDIRECT, SNAT, MASQUERADE, nat OUTPUT) and
 * filters; plus packets that arrive on r from s, or that r's own sockets send. Deterministic
 * from a seed; each part records its features for the coverage report.
 *
 * r: eth0 10.0.0.1/24, eth1 10.0.1.1/24, eth2 10.0.2.1/24, 10.9.0.1/32 on lo.
 * s: eth0 10.0.0.254, eth1 10.0.1.254, eth2 10.0.2.254 (r's gateways; permanent neighbours on r).
 *
 * IPv6 setups (generateWalkSetup6) use the same generator over WALK_LAB6 with `ip -6` routes and
 * rules and an ip6tables ruleset: r has 2001:db8:a::1/64, 2001:db8:b::1/64, 2001:db8:c::1/64 and
 * 2001:db8:99::1/128 on lo; s the `::fe` of each link. No rp_filter there (IPv6 has none); the
 * forwarding settings are `all` and the devices' own (which do not gate IPv6 forwarding).
 */
import { prng } from '../helpers/prng.js';

export const WALK_LAB = {
  devs: ['eth0', 'eth1', 'eth2'] as const,
  rAddr: ['10.0.0.1', '10.0.1.1', '10.0.2.1'],
  gateways: ['10.0.0.254', '10.0.1.254', '10.0.2.254'],
  loopback: '10.9.0.1',
  /** Remote destinations, all routed through a gateway (never ARPed for). */
  remotes: ['198.51.100.7', '198.51.100.200', '203.0.113.5', '192.0.2.10', '172.18.1.22', '172.18.9.9', '10.20.0.5', '10.20.1.5', '8.8.8.8', '100.64.0.5'],
  /** Sources of arriving packets (10.0.1.1 is r's own address: a martian). */
  sources: ['192.168.10.5', '192.168.10.77', '172.18.1.22', '10.20.0.5', '203.0.113.9', '100.64.0.5', '10.0.0.254', '10.0.1.254', '198.51.100.7'],
  prefixes: ['198.51.100.0/24', '198.51.100.0/25', '203.0.113.0/24', '192.0.2.0/24', '172.18.0.0/16', '172.18.1.0/24', '10.20.0.0/16', '10.20.1.0/24', '8.0.0.0/8', '100.64.0.0/10', '192.168.10.0/24', '0.0.0.0/0'],
  marks: ['0x1', '0x2', '0x66', '0x100', '0x3'],
  masks: ['0xff', '0xf', '0x100', '0xff00', '0x1'],
};

/** The IPv6 lab: the same shape, with addresses outside every link so all of them go through a gateway. */
export const WALK_LAB6 = {
  devs: WALK_LAB.devs,
  rAddr: ['2001:db8:a::1', '2001:db8:b::1', '2001:db8:c::1'],
  gateways: ['2001:db8:a::fe', '2001:db8:b::fe', '2001:db8:c::fe'],
  loopback: '2001:db8:99::1',
  remotes: ['2001:db8:100::7', '2001:db8:100::200', '2001:db8:200::5', '2001:db8:300::10', 'fd00:18:1::22', 'fd00:18:9::9', '2001:db8:20::5', '2001:db8:20:1::5', '2606:4700::1111', '64:ff9b::5'],
  sources: ['fd00:10::5', 'fd00:10::77', 'fd00:18:1::22', '2001:db8:20::5', '2001:db8:200::9', '64:ff9b::5', '2001:db8:a::fe', '2001:db8:b::fe', '2001:db8:100::7'],
  prefixes: ['2001:db8:100::/48', '2001:db8:100::/56', '2001:db8:200::/48', '2001:db8:300::/48', 'fd00:18::/32', 'fd00:18:1::/48', '2001:db8:20::/48', '2001:db8:20:1::/64', '2606::/16', '64:ff9b::/96', 'fd00:10::/64', '::/0'],
  marks: WALK_LAB.marks,
  masks: WALK_LAB.masks,
};

/** One family's lab, as the generator reads it. */
type Lab = typeof WALK_LAB | typeof WALK_LAB6;
const v6 = (L: Lab): boolean => L === WALK_LAB6;
/** The ruleset's words for ICMP: `-p icmp` / `-p ipv6-icmp`. */
const icmpWord = (L: Lab): string => (v6(L) ? 'ipv6-icmp' : 'icmp');
/** A NAT target address with a port: `a:p` / `[a]:p`. */
const withPort = (L: Lab, addr: string, port: number): string => (v6(L) ? `[${addr}]:${port}` : `${addr}:${port}`);
/** Prefixes a match's `-s`/`-d` may name: the pool (without the default), r's links and lo. */
const matchPrefixes = (L: Lab): string[] => [...L.prefixes.slice(0, 11), v6(L) ? '2001:db8::/32' : '10.0.0.0/16', v6(L) ? '2001:db8:99::1/128' : '10.9.0.1/32'];

export interface WalkProbe {
  /** Arriving on r's `iif` (sent by s on the same-numbered link), or sent by r's own socket. */
  kind: 'arrive' | 'local';
  iif?: string;
  src?: string;
  dst: string;
  /** `icmp` is ICMPv6 in an IPv6 setup. */
  proto: 'tcp' | 'udp' | 'icmp';
  /** An ICMP type other than echo: 135, a neighbour solicitation for `target` (IPv6). */
  icmpType?: number;
  target?: string;
  sport?: number;
  dport?: number;
  ttl?: number;
  /** Socket mark for local probes. */
  mark?: number;
  /** Follow the reply (sent by s for forwarded/sent packets; the kernel's own echo reply for delivered ones). */
  reply: boolean;
  /**
   * For a packet that leaves r: instead of the reply, the next router answers with an ICMP error
   * about it (port unreachable or fragmentation needed; IPv6: port unreachable 1/4 or packet
   * too big 2/0), which r's conntrack calls RELATED.
   */
  error?: { type: number; code: number };
}

export interface WalkSetup {
  seed: number;
  family: 4 | 6;
  /** `ip -batch` lines (`ip -6 -batch` for IPv6): routes and rules (after the flush lines). */
  ipBatch: string[];
  /** sysctl writes key → value, in order. */
  sysctls: Record<string, string>;
  /** iptables-restore (IPv6: ip6tables-restore) input. */
  iptables: string;
  probes: WalkProbe[];
  features: string[];
}

const pick = <T>(r: () => number, items: readonly T[]): T => items[Math.floor(r() * items.length)];
const chance = (r: () => number, p: number): boolean => r() < p;
const int = (r: () => number, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

/** One route of a table: mostly via a gateway, some error routes and throws. */
function route(L: Lab, r: () => number, prefix: string, table: string, features: Set<string>): string {
  const t = table === 'main' ? '' : ` table ${table}`;
  const kind = pick(r, ['via', 'via', 'via', 'via', 'blackhole', 'unreachable', 'prohibit', 'throw']);
  if (kind !== 'via') {
    features.add(`route ${kind}`);
    return `route add ${kind} ${prefix}${t}`;
  }
  const n = int(r, 0, 2);
  return `route add ${prefix} via ${L.gateways[n]} dev eth${n}${t}`;
}

function mark(r: () => number): string {
  return pick(r, WALK_LAB.marks);
}

const isDefault = (p: string): boolean => p === '0.0.0.0/0' || p === '::/0';

/** A policy rule: fwmark (with a mask, sometimes `not`), from, to, iif; lookup or an error action. */
function rule(L: Lab, r: () => number, pref: number, tables: string[], features: Set<string>): string {
  const sel: string[] = [];
  const kind = pick(r, ['fwmark', 'fwmark', 'fwmark', 'from', 'to', 'iif', 'fwmark-iif']);
  if (kind.startsWith('fwmark')) {
    const masked = chance(r, 0.4);
    sel.push(`fwmark ${mark(r)}${masked ? `/${pick(r, WALK_LAB.masks)}` : ''}`);
    features.add(masked ? 'fwmark rule mask' : 'fwmark rule');
  }
  if (kind === 'from') sel.push(`from ${pick(r, L.prefixes.filter((p) => !isDefault(p)))}`);
  if (kind === 'to') sel.push(`to ${pick(r, L.prefixes.filter((p) => !isDefault(p)))}`);
  if (kind === 'iif' || kind === 'fwmark-iif') sel.push(`iif ${pick(r, ['eth0', 'eth1', 'eth2', 'lo'])}`);
  const not = chance(r, 0.12) ? 'not ' : '';
  if (not) features.add('not rule');
  const action = chance(r, 0.12) ? pick(r, ['blackhole', 'prohibit', 'unreachable']) : `lookup ${pick(r, tables)}`;
  if (!action.startsWith('lookup')) features.add(`rule ${action}`);
  return `rule add ${not}${sel.join(' ')} ${action} pref ${pref}`;
}

const MATCH_PORTS = [22, 53, 80, 443, 8080];

/** A few matches for a rule on `hook` of `table`. */
function matches(L: Lab, r: () => number, hook: string, features: Set<string>): { text: string; proto?: 'tcp' | 'udp' | 'icmp' } {
  const parts: string[] = [];
  let proto: 'tcp' | 'udp' | 'icmp' | undefined;
  const n = int(r, 0, 2);
  const kinds = new Set<string>();
  for (let i = 0; i < n; i++) kinds.add(pick(r, ['src', 'dst', 'dst', 'in', 'out', 'proto', 'proto', 'mark', 'mark', 'connmark', 'ctstate']));
  if (kinds.has('proto')) {
    proto = pick(r, ['tcp', 'udp', 'icmp'] as const);
    parts.push(`-p ${proto === 'icmp' ? icmpWord(L) : proto}`);
    if (proto !== 'icmp' && chance(r, 0.5)) parts.push(`--dport ${pick(r, MATCH_PORTS)}`);
  }
  if (kinds.has('src')) parts.push(`${chance(r, 0.15) ? '! ' : ''}-s ${pick(r, matchPrefixes(L))}`);
  if (kinds.has('dst')) parts.push(`${chance(r, 0.15) ? '! ' : ''}-d ${pick(r, matchPrefixes(L))}`);
  const hasIn = hook === 'PREROUTING' || hook === 'INPUT' || hook === 'FORWARD';
  const hasOut = hook === 'OUTPUT' || hook === 'FORWARD' || hook === 'POSTROUTING';
  if (kinds.has('in') && hasIn) parts.push(`-i ${pick(r, ['eth0', 'eth1', 'eth2', 'eth+'])}`);
  if (kinds.has('out') && hasOut) parts.push(`-o ${pick(r, ['eth0', 'eth1', 'eth2', 'eth+', 'lo'])}`);
  if (kinds.has('mark')) {
    parts.push(`-m mark ${chance(r, 0.15) ? '! ' : ''}--mark ${mark(r)}${chance(r, 0.3) ? `/${pick(r, WALK_LAB.masks)}` : ''}`);
    features.add('-m mark');
  }
  if (kinds.has('connmark')) {
    parts.push(`-m connmark --mark ${mark(r)}`);
    features.add('-m connmark');
  }
  if (kinds.has('ctstate')) parts.push(`-m conntrack --ctstate ${pick(r, ['NEW', 'ESTABLISHED', 'RELATED,ESTABLISHED', 'DNAT', 'SNAT'])}`);
  return proto === undefined ? { text: parts.join(' ') } : { text: parts.join(' '), proto };
}

function markTarget(r: () => number, features: Set<string>): string {
  const kind = pick(r, ['set', 'set', 'xset', 'or', 'and', 'xor', 'save', 'restore', 'restore', 'ctset']);
  switch (kind) {
    case 'set': features.add('MARK'); return `-j MARK --set-mark ${mark(r)}`;
    case 'xset': features.add('MARK'); return `-j MARK --set-xmark ${mark(r)}/${pick(r, WALK_LAB.masks)}`;
    case 'or': features.add('MARK'); return `-j MARK --or-mark ${mark(r)}`;
    case 'and': features.add('MARK'); return `-j MARK --and-mark ${pick(r, ['0xff', '0xf00', '0x0'])}`;
    case 'xor': features.add('MARK'); return `-j MARK --xor-mark ${mark(r)}`;
    case 'save': features.add('CONNMARK --save-mark'); return `-j CONNMARK --save-mark${chance(r, 0.3) ? ` --mask ${pick(r, WALK_LAB.masks)}` : ''}`;
    case 'restore': features.add('CONNMARK --restore-mark'); return `-j CONNMARK --restore-mark${chance(r, 0.3) ? ` --mask ${pick(r, WALK_LAB.masks)}` : ''}`;
    default: features.add('CONNMARK --set-mark'); return `-j CONNMARK --set-mark ${mark(r)}`;
  }
}

/** The nat target for a rule on `hook` (ports only with a port protocol). */
function natTarget(L: Lab, r: () => number, hook: string, proto: string | undefined, features: Set<string>): string {
  const ported = proto === 'tcp' || proto === 'udp';
  if (hook === 'POSTROUTING') {
    if (chance(r, 0.5)) { features.add('MASQUERADE'); return '-j MASQUERADE'; }
    features.add('SNAT');
    const to = pick(r, [L.rAddr[0], L.rAddr[2], L.loopback, L.rAddr[1]]);
    return `-j SNAT --to-source ${ported && chance(r, 0.3) ? withPort(L, to, 2000) : to}`;
  }
  if (hook === 'PREROUTING' && ported && chance(r, 0.2)) { features.add('REDIRECT'); return '-j REDIRECT --to-ports 8080'; }
  features.add(hook === 'OUTPUT' ? 'DNAT OUTPUT' : 'DNAT');
  const to = pick(r, [...L.remotes.slice(0, 6), L.loopback, L.rAddr[1]]);
  return `-j DNAT --to-destination ${ported && chance(r, 0.4) ? withPort(L, to, pick(r, [80, 8443])) : to}`;
}

function filterTarget(r: () => number, hook: string, proto: string | undefined, features: Set<string>): string {
  const t = pick(r, ['ACCEPT', 'ACCEPT', 'DROP', 'DROP', 'REJECT', 'RETURN']);
  // REJECT in OUTPUT answers a local socket through OUTPUT again: counters would not compare.
  if (t === 'REJECT' && hook === 'OUTPUT') return '-j DROP';
  features.add(`filter ${t}`);
  if (t === 'REJECT' && proto === 'tcp' && chance(r, 0.5)) return '-j REJECT --reject-with tcp-reset';
  return `-j ${t}`;
}

const CHAINS: Record<string, string[]> = {
  raw: ['PREROUTING', 'OUTPUT'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  security: ['INPUT', 'FORWARD', 'OUTPUT'],
};

/**
 * r's own neighbour discovery, MLD, redirects and neighbour advertisements stop in raw OUTPUT
 * (rules 1–3 of an IPv6 setup; the test leaves their counters out): a forwarding change sends
 * MLD reports; IPv6 has no `send_redirects` — a packet forwarded back out of its link to an
 * on-link destination gets a redirect, which would count in POSTROUTING; and r answers a
 * neighbour solicitation probe with an advertisement.
 */
export const OWN_ND_RULES = ['-A OUTPUT -d ff02::/16 -p ipv6-icmp -j DROP', '-A OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type 137 -j DROP', '-A OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type 136 -j DROP'];

/** The solicited-node group of r's addresses (they all end in ::1) and its Ethernet address. */
export const SOLICITED = { addr: 'ff02::1:ff00:1', mac: '33:33:ff:00:00:01' };

function ruleset(L: Lab, r: () => number, features: Set<string>): string {
  const lines: string[] = [];
  for (const table of ['raw', 'mangle', 'nat', 'filter', 'security']) {
    lines.push(`*${table}`);
    const policies: Record<string, string> = {};
    if (table === 'filter') for (const c of CHAINS.filter) policies[c] = chance(r, c === 'FORWARD' ? 0.3 : 0.12) ? 'DROP' : 'ACCEPT';
    for (const c of CHAINS[table]) lines.push(`:${c} ${policies[c] ?? 'ACCEPT'} [0:0]`);
    if (policies.FORWARD === 'DROP') features.add('FORWARD policy DROP');
    if (table === 'raw' && v6(L)) lines.push(...OWN_ND_RULES);
    for (const hook of CHAINS[table]) {
      if (table === 'security') continue;
      const count = table === 'raw' ? int(r, 0, 1) : table === 'nat' ? (hook === 'INPUT' ? 0 : int(r, 0, 3)) : table === 'mangle' ? int(r, 0, hook === 'PREROUTING' || hook === 'OUTPUT' ? 4 : 2) : int(r, 0, 4);
      for (let i = 0; i < count; i++) {
        const m = matches(L, r, hook, features);
        let t: string;
        if (table === 'raw') { t = chance(r, 0.5) ? '-j CT --notrack' : ''; if (t) features.add('NOTRACK'); }
        else if (table === 'mangle') t = chance(r, 0.85) ? markTarget(r, features) : pick(r, ['-j ACCEPT', '-j RETURN', '']);
        else if (table === 'nat') {
          // A nat rule matching every packet hides the rest: nat rules always match something.
          if (m.text === '') { lines.push(`-A ${hook} -d ${pick(r, L.prefixes.slice(0, 8))} ${natTarget(L, r, hook, undefined, features)}`); continue; }
          t = natTarget(L, r, hook, m.proto, features);
        } else t = m.text === '' && chance(r, 0.7) ? '-j ACCEPT' : filterTarget(r, hook, m.proto, features);
        const text = [m.text, t].filter((x) => x !== '').join(' ');
        lines.push(`-A ${hook}${text ? ` ${text}` : ''}`);
      }
    }
    if (table === 'security') lines.push('-A INPUT -m comment --comment delivered');
    // r's ICMP errors to its own address (a probe with a martian source) must not loop back in and count.
    if (table === 'raw' && !v6(L)) lines.push('-A OUTPUT -d 10.0.1.1/32 -p icmp -m icmp ! --icmp-type 8 -j DROP');
    lines.push('COMMIT');
  }
  return `${lines.join('\n')}\n`;
}

/** The next router's ICMP error about a packet: port unreachable or fragmentation needed / packet too big. */
function errorOf(L: Lab, r: () => number): { type: number; code: number } {
  const code = pick(r, [3, 4] as const);
  if (!v6(L)) return { type: 3, code };
  return code === 3 ? { type: 1, code: 4 } : { type: 2, code: 0 };
}

function probe(L: Lab, r: () => number): WalkProbe {
  if (v6(L) && chance(r, 0.08)) {
    // s asks for r's address on the link: conntrack leaves neighbour discovery UNTRACKED.
    const i = int(r, 0, 2);
    return { kind: 'arrive', iif: L.devs[i], src: L.gateways[i], dst: SOLICITED.addr, proto: 'icmp', icmpType: 135, target: L.rAddr[i], ttl: 255, reply: false };
  }
  const proto = pick(r, ['tcp', 'tcp', 'udp', 'icmp', 'icmp'] as const);
  const ports = proto === 'icmp' ? {} : { sport: int(r, 20000, 60000), dport: pick(r, [...MATCH_PORTS, 9999]) };
  if (chance(r, 0.3)) {
    const dst = chance(r, 0.85) ? pick(r, L.remotes) : pick(r, [L.loopback, ...L.rAddr]);
    const p: WalkProbe = { kind: 'local', dst, proto, ...ports, reply: proto !== 'tcp' && chance(r, 0.85) };
    if (p.reply && chance(r, 0.35)) p.error = errorOf(L, r);
    if (chance(r, 0.25)) p.src = pick(r, [...L.rAddr, L.loopback]);
    if (chance(r, 0.2)) p.mark = Number(mark(r));
    return p;
  }
  const iif = pick(r, L.devs);
  const local = chance(r, 0.25);
  const dst = local ? pick(r, [L.loopback, ...L.rAddr]) : pick(r, L.remotes);
  // IPv4: now and then r's own address as the source (a martian). IPv6 has no such check, and
  // what r would answer such a packet loops back into it.
  const src = chance(r, 0.04) && !v6(L) ? '10.0.1.1' : pick(r, L.sources);
  const p: WalkProbe = { kind: 'arrive', iif, src, dst, proto, ...ports, reply: chance(r, 0.85) };
  if (p.reply && chance(r, 0.35)) p.error = errorOf(L, r);
  if (chance(r, 0.05)) p.ttl = 1;
  return p;
}

/** Routes and rules of tables 100–102 and main, as `ip -batch` lines. */
function routing(L: Lab, r: () => number, features: Set<string>): string[] {
  const tables = ['100', '101', '102', 'main'];
  const ipBatch: string[] = [];
  // main keeps its connected routes; the test routes come on top, mostly with a default route.
  for (const table of tables) {
    const n = int(r, table === 'main' ? 1 : 0, 5);
    const used = new Set<string>();
    if (table === 'main' && chance(r, 0.8)) {
      const g = int(r, 0, 2);
      ipBatch.push(`route add default via ${L.gateways[g]} dev eth${g}`);
      used.add(v6(L) ? '::/0' : '0.0.0.0/0');
    }
    for (let i = 0; i < n; i++) {
      const prefix = pick(r, L.prefixes);
      if (used.has(prefix)) continue;
      used.add(prefix);
      ipBatch.push(route(L, r, prefix, table, features));
    }
  }
  const prefs = new Set<number>();
  const ruleCount = int(r, 1, 5);
  for (let i = 0; i < ruleCount; i++) {
    let pref = int(r, 10, 300) * 10;
    while (prefs.has(pref)) pref += 1;
    prefs.add(pref);
    ipBatch.push(rule(L, r, pref, tables.filter((t) => t !== 'main').concat('main'), features));
  }
  return ipBatch;
}

export function generateWalkSetup(seed: number, probeCount: number): WalkSetup {
  const r = prng(seed);
  const features = new Set<string>();
  const ipBatch = routing(WALK_LAB, r, features);
  const sysctls: Record<string, string> = {};
  const rp = pick(r, ['0', '0', '0', '1', '2']);
  sysctls['net.ipv4.conf.all.rp_filter'] = rp;
  for (const dev of WALK_LAB.devs) sysctls[`net.ipv4.conf.${dev}.rp_filter`] = chance(r, 0.3) ? pick(r, ['0', '1', '2']) : '0';
  if (rp !== '0' || Object.values(sysctls).some((v) => v !== '0')) features.add('rp_filter');
  const validMark = chance(r, 0.3) ? '1' : '0';
  for (const dev of ['all', ...WALK_LAB.devs]) sysctls[`net.ipv4.conf.${dev}.src_valid_mark`] = dev === 'all' ? validMark : '0';
  for (const dev of WALK_LAB.devs) sysctls[`net.ipv4.conf.${dev}.forwarding`] = chance(r, 0.08) ? '0' : '1';
  if (Object.entries(sysctls).some(([k, v]) => k.endsWith('.forwarding') && v === '0')) features.add('forwarding off on a device');
  const iptables = ruleset(WALK_LAB, r, features);
  const probes = Array.from({ length: probeCount }, () => probe(WALK_LAB, r));
  return { seed, family: 4, ipBatch, sysctls, iptables, probes, features: [...features] };
}

/**
 * An IPv6 setup: the same routes, rules and ruleset over WALK_LAB6 (ip6tables), with IPv6's
 * forwarding settings — `all` (which also sets every device's), then each device's own, and
 * `force_forwarding` on a device now and then — instead of rp_filter and src_valid_mark.
 */
export function generateWalkSetup6(seed: number, probeCount: number): WalkSetup {
  const r = prng(seed ^ 0x6006);
  const features = new Set<string>();
  const ipBatch = routing(WALK_LAB6, r, features);
  const sysctls: Record<string, string> = {};
  const all = chance(r, 0.1) ? '0' : '1';
  sysctls['net.ipv6.conf.all.forwarding'] = all;
  for (const dev of WALK_LAB6.devs) sysctls[`net.ipv6.conf.${dev}.forwarding`] = chance(r, 0.15) ? '0' : '1';
  for (const dev of WALK_LAB6.devs) sysctls[`net.ipv6.conf.${dev}.force_forwarding`] = all === '0' && chance(r, 0.4) ? '1' : '0';
  if (all === '0') features.add('forwarding off (all)');
  if (Object.entries(sysctls).some(([k, v]) => k.endsWith('.force_forwarding') && v === '1')) features.add('force_forwarding on a device');
  if (Object.entries(sysctls).some(([k, v]) => /eth\d\.forwarding$/.test(k) && v === '0')) features.add('forwarding off on a device (no effect)');
  const iptables = ruleset(WALK_LAB6, r, features);
  const probes = Array.from({ length: probeCount }, () => probe(WALK_LAB6, r));
  return { seed, family: 6, ipBatch, sysctls, iptables, probes, features: [...features] };
}
