/**
 * Random policy-routing setups and lookups for the differential test against the kernel
 * (route-diff.test.ts), deterministic from a seed, and the per-feature coverage count.
 *
 * The host ("r", one namespace) has veth pairs d0-p0, d1-p1, d2-p2, d4-p4 (p4 stays down, so
 * d4 has no carrier and its routes are `linkdown`) and a bridge br0 with the port p3 of d3-p3;
 * d0..d2, br0 and d4 carry 10.N.0.1/24 and 2001:db8:(a+N)::1/64 (d1 also 10.1.0.2/24, a
 * secondary), with gateways at .254 / ::fe; ignore_routes_with_linkdown on d4 varies per setup. A setup fills tables main, 100,
 * 200 and 300 of both families from a pool of overlapping prefixes and adds rules over them;
 * lookups aim at those prefixes, the rules' selectors and marks, and the host's own addresses.
 *
 * Left out on purpose, because the kernel's answer then depends on state that a bundle does not
 * hold (see docs/kernel-tests.md): IPv4 default routes of equal metric in one table
 * (fib_select_default rotates them by neighbour state), IPv4 TOS on default routes, martian
 * sources and destinations on input lookups (refused before any table), and IPv6 setups the
 * kernel's dump misrepresents: `src` on gateway routes (siblings keep their own, the dump shows
 * the first one's) and a gateway route appended to a group where a non-gateway route follows
 * the first gateway route (the dump then skips routes).
 */

import { prng } from '../helpers/prng.js';

export { prng };

type Rand = () => number;
const int = (rnd: Rand, lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
const pick = <T>(rnd: Rand, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
const chance = (rnd: Rand, p: number): boolean => rnd() < p;
function weighted<T>(rnd: Rand, xs: readonly (readonly [T, number])[]): T {
  const total = xs.reduce((s, x) => s + x[1], 0);
  let r = rnd() * total;
  for (const [x, w] of xs) if ((r -= w) < 0) return x;
  return xs[xs.length - 1][0];
}

/** One interface of the host as the generator uses it. */
interface HostDevice { name: string; local: string; gw: string; remote: string }

/** Per-family facts about the host (see the file comment). */
export interface FamilyHost {
  family: 4 | 6;
  devices: HostDevice[];
  /** Every local address (output `from`). */
  locals: string[];
  /** Route prefixes, overlapping. */
  prefixes: string[];
  /** Rule `from` selectors. */
  fromPrefixes: string[];
  /** Rule `to` selectors. */
  toPrefixes: string[];
  /** Sources of arriving packets: not local, not martian. */
  remotes: string[];
  /** Destinations outside every pool prefix. */
  outside: string[];
  /** Special destinations for locally generated packets only (loopback, multicast, broadcast). */
  specialOutput: string[];
  suppressLengths: number[];
}

export const HOST: { v4: FamilyHost; v6: FamilyHost; iifs: string[]; oifs: string[] } = {
  v4: {
    family: 4,
    devices: [
      { name: 'd0', local: '10.0.0.1', gw: '10.0.0.254', remote: '10.0.0.9' },
      { name: 'd1', local: '10.1.0.1', gw: '10.1.0.254', remote: '10.1.0.9' },
      { name: 'd2', local: '10.2.0.1', gw: '10.2.0.254', remote: '10.2.0.9' },
      { name: 'br0', local: '10.3.0.1', gw: '10.3.0.254', remote: '10.3.0.9' },
      { name: 'd4', local: '10.4.0.1', gw: '10.4.0.254', remote: '10.4.0.9' },
    ],
    locals: ['10.0.0.1', '10.1.0.1', '10.1.0.2', '10.2.0.1', '10.3.0.1', '10.4.0.1'],
    prefixes: ['default', '20.0.0.0/8', '20.1.0.0/16', '20.1.2.0/24', '20.1.2.128/25', '20.1.2.192/26', '20.1.2.200/32',
      '20.64.0.0/10', '30.0.0.0/8', '30.0.0.0/16', '30.0.128.0/17', '10.0.0.0/8', '10.0.0.128/25', '10.2.0.0/16',
      '0.0.0.0/1', '192.168.0.0/16', '192.168.5.0/24'],
    fromPrefixes: ['10.0.0.0/8', '10.1.0.0/24', '10.1.0.2/32', '10.2.0.0/16', '10.3.0.0/24', '192.168.0.0/16', '172.16.0.0/12'],
    toPrefixes: ['20.0.0.0/8', '20.1.0.0/16', '20.1.2.128/25', '30.0.0.0/16', '10.0.0.0/8', '192.168.5.0/24', '0.0.0.0/1'],
    remotes: ['10.0.0.9', '10.1.0.9', '10.2.0.9', '10.3.0.9', '192.168.5.5', '192.168.77.1', '172.16.1.1', '20.1.2.7'],
    outside: ['8.8.8.8', '172.16.1.1', '100.64.3.2', '11.0.0.1', '198.51.100.7'],
    specialOutput: ['127.0.0.5', '224.0.0.5', '239.1.2.3', '255.255.255.255', '0.0.0.0'],
    suppressLengths: [0, 8, 16, 24, 32],
  },
  v6: {
    family: 6,
    devices: [
      { name: 'd0', local: '2001:db8:a::1', gw: '2001:db8:a::fe', remote: '2001:db8:a::9' },
      { name: 'd1', local: '2001:db8:b::1', gw: '2001:db8:b::fe', remote: '2001:db8:b::9' },
      { name: 'd2', local: '2001:db8:c::1', gw: '2001:db8:c::fe', remote: '2001:db8:c::9' },
      { name: 'br0', local: '2001:db8:d::1', gw: '2001:db8:d::fe', remote: '2001:db8:d::9' },
      { name: 'd4', local: '2001:db8:e::1', gw: '2001:db8:e::fe', remote: '2001:db8:e::9' },
    ],
    locals: ['2001:db8:a::1', '2001:db8:b::1', '2001:db8:c::1', '2001:db8:d::1', '2001:db8:e::1'],
    prefixes: ['default', '2001:db8:20::/44', '2001:db8:21::/48', '2001:db8:21:2::/64', '2001:db8:21:2::80/121',
      '2001:db8:21:2::c8/128', '2001:db8:2f::/48', '2001:db8:30::/48', '2001:db8:30:8000::/49', '2001:db8::/32',
      '2001:db8:a::/65', '2001:db8:c::/56', 'fd00::/8', 'fd00:5::/64', '2000::/3'],
    fromPrefixes: ['2001:db8::/32', '2001:db8:b::/48', '2001:db8:c::/64', '2001:db8:b::1/128', 'fd00::/8', '2001:db8:d::/64'],
    toPrefixes: ['2001:db8:20::/44', '2001:db8:21::/48', '2001:db8:21:2::80/121', '2001:db8:30::/48', 'fd00::/8', '2000::/3'],
    remotes: ['2001:db8:a::9', '2001:db8:b::9', '2001:db8:c::9', '2001:db8:d::9', 'fd00:5::7', 'fd00:99::1', '2001:db8:21:2::5'],
    outside: ['2a00:1450::1', '3000::5', 'fc00::1', '2001:db9::1', '2001:db8:ffff::1'],
    specialOutput: ['::1', 'ff02::1', 'fe80::1'],
    suppressLengths: [0, 32, 48, 64, 128],
  },
  iifs: ['d0', 'd1', 'd2', 'br0', 'd4', 'p0'],
  oifs: ['d0', 'd1', 'd2', 'br0', 'd4'],
};

const TABLES: readonly (readonly [string, number])[] = [['main', 25], ['100', 30], ['200', 25], ['300', 20]];
const FWMARKS: readonly (readonly [number, number | undefined])[] = [
  [0x1, undefined], [0x1, 0x1], [0x10, 0xf0], [0x2, 0x3], [0x100, 0xff00], [0x0, 0x1], [0x4, 0x4], [0x13, 0xff],
];
const QUERY_MARKS = [0x1, 0x2, 0x3, 0x5, 0x4, 0x10, 0x11, 0x13, 0x30, 0x100, 0x1ff, 0x104, 0xff, 0x213];

/** One lookup: `ip route get` words after `route get`. */
export interface Lookup {
  family: 4 | 6;
  words: string;
}

/** One setup: the lines of `ip -4 -batch` and `ip -6 -batch`, the link state and the lookups. */
export interface RouteSetup {
  seed: number;
  /** net.ipv{4,6}.conf.d4.ignore_routes_with_linkdown. */
  ignoreLinkdown: boolean;
  v4: string[];
  v6: string[];
  lookups: Lookup[];
}

/** Text of a random address inside `prefix` (first, last or any address). */
function addressIn(rnd: Rand, family: 4 | 6, prefix: string): string {
  if (prefix === 'default') return family === 4 ? randomV4(rnd) : randomV6(rnd);
  const [base, lenText] = prefix.split('/');
  const len = Number(lenText);
  const mode = rnd();
  if (family === 4) {
    const b = v4Value(base);
    const host = 32 - len;
    const span = host === 32 ? 0x100000000 : 2 ** host;
    const off = mode < 0.15 ? 0 : mode < 0.3 ? span - 1 : Math.floor(rnd() * span);
    return v4Text((b + off) >>> 0);
  }
  const b = v6Value(base);
  const host = 128 - len;
  const span = 1n << BigInt(host);
  let off: bigint;
  if (mode < 0.15) off = 0n;
  else if (mode < 0.3) off = span - 1n;
  else {
    off = 0n;
    for (let i = 0; i < 4; i++) off = (off << 32n) | BigInt(Math.floor(rnd() * 0x100000000));
    off %= span;
    // Keep most addresses near the start so that longer pool prefixes inside get hit.
    if (host > 24 && chance(rnd, 0.6)) off &= 0xffffffffn;
  }
  return v6Text(b + off);
}

function randomV4(rnd: Rand): string {
  for (;;) {
    const v = Math.floor(rnd() * 0x100000000);
    const top = v >>> 24;
    // Not 0/8, 127/8, multicast or class E: those are other paths (specialOutput).
    if (top !== 0 && top !== 127 && top < 224) return v4Text(v);
  }
}

function randomV6(rnd: Rand): string {
  let v = 0x2n;
  for (let i = 0; i < 4; i++) v = (v << 32n) | BigInt(Math.floor(rnd() * 0x100000000));
  // A global unicast address (2000::/3).
  v = (v & ((1n << 125n) - 1n)) | (1n << 125n);
  return v6Text(v);
}

function v4Value(text: string): number {
  const p = text.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}
const v4Text = (v: number): string => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;

function v6Value(text: string): bigint {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}
function v6Text(v: bigint): string {
  const g: string[] = [];
  for (let i = 7; i >= 0; i--) g.push(((v >> BigInt(i * 16)) & 0xffffn).toString(16));
  // Compress the longest run of zero groups (two or more), as ip prints it.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return g.join(':');
  return `${g.slice(0, best).join(':')}::${g.slice(best + bestLen).join(':')}`;
}

interface GenRoute { prefix: string; table: string; metric: number; tos: string; gateway: boolean }

/** Route lines of one family. */
function routeLines(rnd: Rand, h: FamilyHost, out: GenRoute[]): string[] {
  const lines: string[] = [];
  const n = int(rnd, 7, 18);
  const metrics = h.family === 4 ? [0, 1, 2, 3] : [1, 2, 3, 1024];
  if (chance(rnd, 0.5)) {
    // Half the setups have a default route in main, so that more lookups end in one.
    const dev = pick(rnd, h.devices);
    const metric = pick(rnd, metrics);
    out.push({ prefix: 'default', table: 'main', metric, tos: '', gateway: true });
    lines.push(`route add default table main metric ${metric} via ${dev.gw} dev ${dev.name}`);
  }
  for (let i = 0; i < n; i++) {
    let kind: string = weighted(rnd, [['via', 4], ['dev', 2], ['multipath', 2], ['blackhole', 1], ['unreachable', 1], ['prohibit', 1], ['throw', 2]] as const);
    // A tie: the same prefix, table, metric and TOS as an earlier route, appended after it.
    const tieable = out.filter((r) => !(h.family === 4 && r.prefix === 'default'));
    const tie = tieable.length > 0 && chance(rnd, 0.25) ? pick(rnd, tieable) : undefined;
    if (tie && h.family === 6 && (kind === 'via' || kind === 'multipath')) {
      // An IPv6 gateway route joins the group's first gateway route as a sibling, but is
      // stored after the routes appended since; the dump then skips as many routes as the
      // group has siblings after the first, so those would be missing from the bundle.
      const group = out.filter((r) => r.prefix === tie.prefix && r.table === tie.table && r.metric === tie.metric);
      const first = group.findIndex((r) => r.gateway);
      if (first >= 0 && group.slice(first + 1).some((r) => !r.gateway)) kind = 'dev';
    }
    const unicast = kind === 'via' || kind === 'dev' || kind === 'multipath';
    const prefix = tie?.prefix ?? pick(rnd, h.prefixes);
    const table = tie?.table ?? weighted(rnd, TABLES);
    const metric = tie?.metric ?? pick(rnd, metrics);
    const tos = tie?.tos ?? (h.family === 4 && prefix !== 'default' && chance(rnd, 0.1) ? '0x10' : '');
    out.push({ prefix, table, metric, tos, gateway: kind === 'via' || kind === 'multipath' });
    const head = `route ${tie ? 'append' : 'add'} ${unicast ? '' : `${kind} `}${prefix} table ${table} metric ${metric}${tos ? ` tos ${tos}` : ''}`;
    const dev = pick(rnd, h.devices);
    // IPv6 siblings keep their own src, but the dump shows only the first one's.
    const src = unicast && (h.family === 4 || kind === 'dev') && chance(rnd, 0.1) ? ` src ${pick(rnd, h.locals)}` : '';
    switch (kind) {
      case 'via': lines.push(`${head} via ${dev.gw} dev ${dev.name}${src}`); break;
      case 'dev': lines.push(`${head} dev ${dev.name}${src}`); break;
      case 'multipath': {
        const others = h.devices.filter((d) => d !== dev);
        const hops = [dev, ...(chance(rnd, 0.3) ? [pick(rnd, others), pick(rnd, others)] : [pick(rnd, others)])];
        const unique = hops.filter((d, k) => hops.indexOf(d) === k);
        lines.push(`${head}${src} ${unique.map((d) => `nexthop via ${d.gw} dev ${d.name} weight ${int(rnd, 1, 3)}`).join(' ')}`);
        break;
      }
      default: lines.push(head);
    }
  }
  return lines;
}

interface GenRule { pref: number; line: string }

/** Rule lines of one family: the default rules back, then random ones. */
function ruleLines(rnd: Rand, h: FamilyHost, marks: Set<number>, iifs: Set<string>): string[] {
  const rules: GenRule[] = [];
  const n = int(rnd, 2, 9);
  const prefs: number[] = [];
  for (let i = 0; i < n; i++) prefs.push(chance(rnd, 0.1) && prefs.length > 0 ? pick(rnd, prefs) : int(rnd, 1, 60) * 10);
  prefs.sort((a, b) => a - b);
  for (const pref of prefs) {
    const sel: string[] = [];
    const count = weighted(rnd, [[0, 2], [1, 5], [2, 3]] as const);
    const used = new Set<string>();
    for (let k = 0; k < count; k++) {
      const what = weighted(rnd, [['from', 3], ['to', 3], ['iif', 2], ['oif', 1], ['fwmark', 3], ['tos', h.family === 4 ? 1 : 0], ['dport', 1], ['uid', 1]] as const);
      if (used.has(what)) continue;
      used.add(what);
      switch (what) {
        case 'from': sel.push(`from ${pick(rnd, h.fromPrefixes)}`); break;
        case 'to': sel.push(`to ${pick(rnd, h.toPrefixes)}`); break;
        case 'iif': {
          const dev = chance(rnd, 0.9) ? pick(rnd, [...HOST.iifs, 'lo']) : 'nosuch0';
          iifs.add(dev);
          sel.push(`iif ${dev}`);
          break;
        }
        case 'oif': sel.push(`oif ${pick(rnd, HOST.oifs)}`); break;
        case 'fwmark': {
          const [value, mask] = pick(rnd, FWMARKS);
          marks.add(value);
          sel.push(`fwmark 0x${value.toString(16)}${mask !== undefined ? `/0x${mask.toString(16)}` : ''}`);
          break;
        }
        case 'tos': sel.push('tos 0x10'); break;
        case 'dport': sel.push(chance(rnd, 0.5) ? 'ipproto tcp dport 80' : 'ipproto tcp dport 1000-2000'); break;
        case 'uid': sel.push('uidrange 1000-2000'); break;
      }
    }
    const not = chance(rnd, 0.2) ? 'not ' : '';
    const action = weighted(rnd, [['lookup', 10], ['goto', 3], ['nop', 2], ['blackhole', 1], ['unreachable', 1], ['prohibit', 1]] as const);
    let tail: string;
    switch (action) {
      case 'lookup': {
        const table = weighted(rnd, [['100', 3], ['200', 3], ['300', 2], ['main', 2], ['default', 1]] as const);
        const suppress = chance(rnd, 0.3) ? ` suppress_prefixlength ${pick(rnd, h.suppressLengths)}` : '';
        tail = `lookup ${table}${suppress}`;
        break;
      }
      case 'goto': {
        // Mostly a later rule's priority (or main's); sometimes one no rule has (unresolved).
        const later = prefs.filter((p) => p > pref);
        const target = later.length > 0 && chance(rnd, 0.8) ? pick(rnd, later) : chance(rnd, 0.5) ? 32766 : pref + 5;
        tail = `goto ${target}`;
        break;
      }
      default: tail = action;
    }
    rules.push({ pref, line: `rule add pref ${pref} ${not}${sel.join(' ')}${sel.length ? ' ' : ''}${tail}` });
  }
  return rules.map((r) => r.line.replace('  ', ' '));
}

/** The lines that bring a family back to the kernel's default rules and empty tables. */
export function resetLines(family: 4 | 6, keepMain = true): string[] {
  return [
    'rule flush',
    ...(keepMain ? ['rule add pref 32766 lookup main'] : []),
    ...(family === 4 ? ['rule add pref 32767 lookup default'] : []),
    'route flush table 100', 'route flush table 200', 'route flush table 300', 'route flush table default',
    'route flush table main proto boot',
  ];
}

function lookupWords(rnd: Rand, h: FamilyHost, marks: Set<number>, iifs: Set<string>): string {
  const input = chance(rnd, 0.3);
  const words: string[] = [];
  const r = rnd();
  let dst: string;
  if (r < 0.62) {
    dst = addressIn(rnd, h.family, pick(rnd, [...h.prefixes, ...h.toPrefixes]));
    // 0.0.0.0/1 holds 0/8 and 127/8: martian destinations for an arriving packet.
    if (input && h.family === 4 && (dst.startsWith('0.') || dst.startsWith('127.'))) dst = pick(rnd, h.outside);
  }
  else if (r < 0.8) {
    const dev = pick(rnd, h.devices);
    dst = pick(rnd, [dev.local, dev.gw, dev.remote, addressIn(rnd, h.family, h.family === 4 ? `${dev.local.slice(0, -1)}0/24` : `${dev.local.slice(0, -1)}/64`)]);
    if (h.family === 4 && chance(rnd, 0.25)) dst = `${dev.local.slice(0, -1)}255`;
  } else if (r < 0.95 || input) dst = pick(rnd, h.outside);
  else dst = pick(rnd, h.specialOutput);
  words.push(dst);
  if (input) {
    words.push('from', pick(rnd, h.remotes), 'iif', chance(rnd, 0.5) && iifs.size > 0 ? pick(rnd, [...iifs].filter((d) => d !== 'nosuch0' && d !== 'lo').concat(HOST.iifs)) : pick(rnd, HOST.iifs));
  } else {
    // Mostly this host's own addresses; an IPv4 output lookup from any other is refused.
    if (chance(rnd, 0.4)) words.push('from', chance(rnd, 0.85) ? pick(rnd, h.locals) : pick(rnd, h.remotes));
    if (chance(rnd, 0.2)) words.push('oif', pick(rnd, HOST.oifs));
    if (chance(rnd, 0.05)) words.push('uid', '1500');
  }
  if (chance(rnd, 0.45)) words.push('mark', `0x${(chance(rnd, 0.5) && marks.size > 0 ? pick(rnd, [...marks]) : pick(rnd, QUERY_MARKS)).toString(16)}`);
  if (h.family === 4 && chance(rnd, 0.1)) words.push('tos', '0x10');
  if (chance(rnd, 0.1)) words.push('ipproto', 'tcp', 'dport', pick(rnd, ['80', '1500', '22']));
  return words.join(' ');
}

/** Setup number `seed`: routes and rules of both families and `lookupsPerFamily` lookups of each. */
export function generateSetup(seed: number, lookupsPerFamily: number): RouteSetup {
  const rnd = prng(seed * 2654435761);
  const setup: RouteSetup = { seed, ignoreLinkdown: chance(rnd, 0.5), v4: [], v6: [], lookups: [] };
  for (const h of [HOST.v4, HOST.v6]) {
    const marks = new Set<number>();
    const iifs = new Set<string>();
    const routes: GenRoute[] = [];
    const lines = [...resetLines(h.family, chance(rnd, 0.93)), ...routeLines(rnd, h, routes), ...ruleLines(rnd, h, marks, iifs)];
    if (h.family === 4) setup.v4 = lines; else setup.v6 = lines;
    for (let i = 0; i < lookupsPerFamily; i++) setup.lookups.push({ family: h.family, words: lookupWords(rnd, h, marks, iifs) });
  }
  return setup;
}

// ---- coverage ----

/** The features the suite must exercise, in the order the table prints them. */
export const FEATURES = ['goto', 'nop', 'suppress_prefixlength', 'throw', 'not', 'fwmark mask', 'metric ties', 'multipath', 'iif', 'v6'] as const;
export type Feature = (typeof FEATURES)[number];

/** What coverage needs to know about one simulated lookup (RouteLookupResult fits). */
export interface TracedLookup {
  family: 4 | 6;
  route?: { table?: string; dst: string; metric?: number; tos?: string; nexthops: unknown[] };
  trace?: { rule: { not: boolean; fwmark?: number; fwmask?: number }; outcome: string }[];
}

/**
 * The features one lookup exercised: a goto or nop rule it matched, a suppression that fired,
 * a throw route it hit, a `not` rule that matched, a masked fwmark rule whose answer the mask
 * changed, a deciding route with an equal-metric sibling at its prefix, a multipath deciding
 * route, an input interface, IPv6.
 */
export function featuresOf(q: { iif?: string; mark?: number }, r: TracedLookup, tieKeys: ReadonlySet<string>): Feature[] {
  const f: Feature[] = [];
  const trace = r.trace ?? [];
  const has = (o: string): boolean => trace.some((t) => t.outcome === o);
  if (has('goto')) f.push('goto');
  if (has('nop')) f.push('nop');
  if (has('suppressed')) f.push('suppress_prefixlength');
  if (has('throw')) f.push('throw');
  if (trace.some((t) => t.rule.not && t.outcome !== 'no-match')) f.push('not');
  const mark = (q.mark ?? 0) >>> 0;
  if (trace.some((t) => {
    const { fwmark, fwmask } = t.rule;
    if (fwmark === undefined || fwmask === undefined || fwmask >>> 0 === 0xffffffff) return false;
    return (((mark ^ fwmark) & fwmask) === 0) !== (mark === fwmark >>> 0);
  })) f.push('fwmark mask');
  if (r.route && tieKeys.has(tieKey(r.family, r.route))) f.push('metric ties');
  if (r.route && r.route.nexthops.length > 1) f.push('multipath');
  if (q.iif !== undefined) f.push('iif');
  if (r.family === 6) f.push('v6');
  return f;
}

/** Routes sharing this key (family, table, prefix, metric, TOS) tie. */
export function tieKey(family: 4 | 6, r: { table?: string; dst: string; metric?: number; tos?: string }): string {
  const table = r.table === undefined || r.table === 'main' ? '254' : r.table;
  return `${family}|${table}|${r.dst}|${r.metric ?? (family === 6 ? 1024 : 0)}|${r.tos ?? ''}`;
}

/** Keys of ties among routes (RouteRecord fits). */
export function tieKeysOf(routes: { family: 4 | 6; table?: string; dst: string; metric?: number; tos?: string; type: string }[]): Set<string> {
  const seen = new Map<string, number>();
  for (const r of routes) {
    if (r.table === 'local') continue;
    const k = tieKey(r.family, r);
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return new Set([...seen].filter(([, n]) => n > 1).map(([k]) => k));
}

/** Per-feature counts of decided lookups. */
export class Coverage {
  readonly counts = new Map<Feature, number>(FEATURES.map((f) => [f, 0]));
  readonly answers = new Map<string, number>();
  lookups = 0;

  add(features: Feature[], answer: string): void {
    this.lookups++;
    for (const f of features) this.counts.set(f, (this.counts.get(f) ?? 0) + 1);
    this.answers.set(answer, (this.answers.get(answer) ?? 0) + 1);
  }

  /** Features exercised by fewer than `min` lookups. */
  short(min: number): Feature[] {
    return FEATURES.filter((f) => (this.counts.get(f) ?? 0) < min);
  }

  table(): string {
    const rows = FEATURES.map((f) => `  ${f.padEnd(22)} ${String(this.counts.get(f)).padStart(7)}`);
    const answers = [...this.answers].sort((a, b) => b[1] - a[1]).map(([a, n]) => `${a} ${n}`).join(', ');
    return [`  ${'feature'.padEnd(22)} ${'lookups'.padStart(7)}`, ...rows, `  answers: ${answers}`].join('\n');
  }
}
