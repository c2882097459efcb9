/**
 * One routing table of one family, as the kernel searches it: the longest prefix first, and
 * at each prefix its routes in the kernel's order (TOS routes before TOS-less ones, then the
 * lowest metric, then the order listed). If no route at a prefix is usable the search backs
 * off to the next shorter prefix, as fib_table_lookup (IPv4) and fib6_backtrack (IPv6) do.
 */
import type { Nexthop, RouteRecord } from '../model/records.js';
import type { RouteList } from '../model/route-list.js';
import { parsePrefix } from '../net/address.js';
import { Lpm4 } from '../net/lpm.js';
import { Lpm6 } from '../net/lpm-v6.js';

/** Well-known table names (`/etc/iproute2/rt_tables`). */
const TABLE_IDS: Record<string, string> = { local: '255', main: '254', default: '253', unspec: '0' };

/** One key per table whether it is written by name or number ("main" and "254" are the same). */
export function tableKey(table: string | undefined): string {
  if (table === undefined || table === '') return '254';
  const known = TABLE_IDS[table];
  if (known !== undefined) return known;
  return /^\d+$/.test(table) ? String(Number(table)) : table;
}

/** DSCP/TOS names iproute2 prints from /etc/iproute2/rt_dsfield. */
const DSFIELD_NAMES: Record<string, number> = {
  default: 0, AF11: 0x28, AF12: 0x30, AF13: 0x38, AF21: 0x48, AF22: 0x50, AF23: 0x58, AF31: 0x68,
  AF32: 0x70, AF33: 0x78, AF41: 0x88, AF42: 0x90, AF43: 0x98, CS1: 0x20, CS2: 0x40, CS3: 0x60,
  CS4: 0x80, CS5: 0xa0, CS6: 0xc0, CS7: 0xe0, EF: 0xb8,
  lowdelay: 0x10, throughput: 0x08, reliability: 0x04, mincost: 0x02,
};

/** TOS/DS field text ("0x10", "16", "AF11") as a number; NaN when unreadable. */
export function parseDsfield(text: string | undefined): number {
  if (text === undefined) return 0;
  const named = DSFIELD_NAMES[text];
  if (named !== undefined) return named;
  if (/^0x[0-9a-f]+$/i.test(text)) return parseInt(text.slice(2), 16);
  if (/^\d+$/.test(text)) return Number(text);
  return NaN;
}

/** Types whose result is an error: the search stops at them without looking at nexthops. */
export function isRejectType(type: RouteRecord['type']): boolean {
  return type === 'blackhole' || type === 'unreachable' || type === 'prohibit' || type === 'throw' || type === 'nat';
}

/** A nexthop that can carry the packet, with its weight (1 when the route gave none). */
export interface UsableNexthop {
  via?: string;
  dev?: string;
  weight: number;
}

/** What the table search needs from the flow and the host. */
export interface TableSearch {
  tos: number;
  /** Only routes through this device are usable. */
  oif?: string;
  /**
   * IPv6 without RT6_LOOKUP_F_IFACE (an oif with a source, or an arriving packet's iif): routes
   * through this device score higher among those the prefix offers, but others still do.
   */
  preferOif?: string;
  /** True when routes through `dev` marked linkdown must be skipped (ignore_routes_with_linkdown). */
  ignoresLinkdown(dev: string | undefined): boolean;
}

/** The table's answer: a route at a prefix, or nothing. */
export interface TableHit {
  route: RouteRecord;
  prefixLen: number;
  /** Usable nexthops (empty for reject types). */
  nexthops: UsableNexthop[];
}

const NO_FLAGS: string[] = [];

/** The route's nexthops as the kernel holds them (a single-path route is one nexthop). */
export function nexthopsOf(route: RouteRecord): Nexthop[] {
  if (route.nexthops.length > 0) return route.nexthops;
  return [{ via: route.via, dev: route.dev, weight: undefined, flags: route.flags ?? NO_FLAGS }];
}

/** Nexthops not dead, not linkdown where that is ignored, and through `oif` when one is given. */
export function usableNexthops(route: RouteRecord, search: TableSearch): UsableNexthop[] {
  const out: UsableNexthop[] = [];
  for (const nh of nexthopsOf(route)) {
    const flags = nh.flags ?? NO_FLAGS;
    if (flags.includes('dead')) continue;
    if (flags.includes('linkdown') && search.ignoresLinkdown(nh.dev)) continue;
    if (search.oif !== undefined && nh.dev !== search.oif) continue;
    out.push({ via: nh.via, dev: nh.dev, weight: nh.weight ?? 1 });
  }
  return out;
}

/** What parsePrefix(s, 4) reads, as value * 64 + len, without allocating; -1 where it gives null or IPv6. */
function prefixKey4(s: string): number {
  if (s === 'default' || s === 'all' || s === 'any') return 0;
  const n = s.length;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 47) break;
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  value = value * 256 + octet;
  let len = 32;
  if (i < n) {
    if (n - i - 1 < 1 || n - i - 1 > 3) return -1;
    len = 0;
    for (let k = i + 1; k < n; k++) {
      const c = s.charCodeAt(k);
      if (c < 48 || c > 57) return -1;
      len = len * 10 + (c - 48);
    }
    if (len > 32) return -1;
  }
  // Host bits set: parsePrefix refuses the prefix.
  if (len < 32 && value % 2 ** (32 - len) !== 0) return -1;
  return value * 64 + len;
}

/** A table's routes with readable prefixes (indices into the list), the prefix entry of each, and each entry's prefix. */
interface PrefixEntries {
  kept: Int32Array;
  entryOf: ArrayLike<number>;
  starts4: ArrayLike<number>;
  starts6: bigint[];
  lens: ArrayLike<number>;
}

/**
 * IPv4 prefix entries of a table's routes (`prefixKeys[i]`: route ids[i]'s prefix as value * 64 + len,
 * -1 when unreadable), numbered in order of first appearance. The kernel
 * lists a table in ascending prefix order, so a repeated prefix is one of the same start
 * address just before; a Map of every prefix is built only when the input is out of that order.
 */
function prefixEntries4(ids: Int32Array, prefixKeys: Float64Array): PrefixEntries {
  const n = ids.length;
  const entryOf = new Int32Array(n);
  const starts = new Uint32Array(n);
  const lens = new Uint8Array(n);
  const kept = new Int32Array(n);
  let keys: Map<number, number> | null = null;
  let entries = 0;
  let m = 0;
  let lastStart = -1;
  let runFirst = 0;
  for (let i = 0; i < n; i++) {
    const id = ids[i];
    const key = prefixKeys[i];
    if (key < 0) continue;
    const len = key % 64;
    const start = (key - len) / 64;
    let e = -1;
    if (keys === null) {
      if (start === lastStart) {
        for (let k = runFirst; k < entries; k++) if (lens[k] === len) { e = k; break; }
      } else if (start < lastStart) {
        keys = new Map();
        for (let k = 0; k < entries; k++) keys.set(starts[k] * 64 + lens[k], k);
      }
    }
    if (keys !== null) e = keys.get(key) ?? -1;
    if (e < 0) {
      e = entries++;
      if (keys !== null) keys.set(key, e);
      else if (start !== lastStart) { runFirst = e; lastStart = start; }
      starts[e] = start;
      lens[e] = len;
    }
    kept[m] = id;
    entryOf[m++] = e;
  }
  return { kept: kept.subarray(0, m), entryOf: entryOf.subarray(0, m), starts4: starts.subarray(0, entries), starts6: [], lens: lens.subarray(0, entries) };
}

/** The same for IPv6, with a Map of prefix texts (IPv6 tables are small next to IPv4's). */
function prefixEntries6(list: RouteList, ids: Int32Array, unreadable: RouteRecord[]): PrefixEntries {
  const kept: number[] = [];
  const entryOf: number[] = [];
  const starts6: bigint[] = [];
  const lens: number[] = [];
  const keys = new Map<string, number>();
  for (const id of ids) {
    const p = parsePrefix(list.dst(id), 6);
    if (!p || p.family !== 6) { unreadable.push(list.get(id)); continue; }
    const key = `${p.value}/${p.len}`;
    let e = keys.get(key);
    if (e === undefined) {
      e = lens.length;
      keys.set(key, e);
      starts6.push(p.value);
      lens.push(p.len);
    }
    kept.push(id);
    entryOf.push(e);
  }
  return { kept: Int32Array.from(kept), entryOf, starts4: [], starts6, lens };
}

/** Lookups an IPv4 table answers by scanning its routes before it builds its index. */
export const SCANS_BEFORE_INDEX = 32;

/** 2^(32 − len): the size of an IPv4 prefix of each length. */
const PREFIX_SIZE = Array.from({ length: 33 }, (_, len) => 2 ** (32 - len));

/** The built index of a table: prefix entries in an LPM, each entry's routes in the kernel's order. */
interface TableIndex {
  /** The table's routes with readable prefixes (indices into the list), in listed order. */
  ids: Int32Array;
  lpm4: Lpm4 | null;
  lpm6: Lpm6 | null;
  /** Per prefix entry: its routes are routeOrder[groupStart[e] .. groupStart[e + 1]). */
  groupStart: Int32Array;
  routeOrder: Int32Array;
  routeTos: Float64Array;
}

/**
 * Routes of one table and family, searched as the kernel does. An IPv4 table answers its first
 * SCANS_BEFORE_INDEX lookups by one pass over its routes' prefix columns and only then builds its
 * LPM: a one-shot on a million-route host asks a handful of lookups, and the index costs more
 * than the parse (docs/benchmarks.md, oneshot). IPv6 tables are indexed at once.
 */
export class RouteTable {
  readonly family: 4 | 6;
  /** Routes whose prefix could not be read (kept out of the search, reported by the builder). */
  readonly unreadable: RouteRecord[];
  private readonly list: RouteList;
  /** The table's routes (indices into `list`) in listed order, unreadable ones included. */
  private readonly all: Int32Array;
  /** IPv4: each route's prefix as value * 64 + len (-1: unreadable), in the order of `all`. */
  private readonly keys: Float64Array;
  private index: TableIndex | null = null;
  private scans = 0;

  /** The routes `ids` of `list` (all of this family and table), in listed order. */
  constructor(family: 4 | 6, list: RouteList, ids: Int32Array, private readonly scansBeforeIndex = SCANS_BEFORE_INDEX) {
    this.family = family;
    this.list = list;
    this.all = ids;
    this.unreadable = [];
    this.keys = new Float64Array(family === 4 ? ids.length : 0);
    if (family === 6) {
      this.index = this.build();
      return;
    }
    for (let i = 0; i < ids.length; i++) {
      // A plain route carries its prefix as a number; any other is read from its dst text.
      let key = list.plainKey4(ids[i]);
      if (key < 0) key = prefixKey4(list.dst(ids[i]));
      this.keys[i] = key;
      if (key < 0) this.unreadable.push(list.get(ids[i]));
    }
  }

  private build(): TableIndex {
    const list = this.list;
    const family = this.family;
    const unreadable: RouteRecord[] = [];
    const { kept, entryOf, starts4, starts6, lens } = family === 4 ? prefixEntries4(this.all, this.keys) : prefixEntries6(list, this.all, unreadable);
    if (family === 6) this.unreadable.push(...unreadable);
    const routeTos = new Float64Array(kept.length);
    const metric = new Float64Array(kept.length);
    const defaultMetric = family === 6 ? 1024 : 0;
    for (let i = 0; i < kept.length; i++) {
      routeTos[i] = parseDsfield(list.tos(kept[i]));
      metric[i] = list.metric(kept[i]) ?? defaultMetric;
    }
    // Group routes by prefix (counting sort keeps the listed order), then order each group.
    const groups = lens.length;
    const start = new Int32Array(groups + 1);
    for (let i = 0; i < kept.length; i++) start[entryOf[i] + 1]++;
    for (let e = 0; e < groups; e++) start[e + 1] += start[e];
    const fill = start.slice(0, groups);
    const order = new Int32Array(kept.length);
    for (let i = 0; i < kept.length; i++) order[fill[entryOf[i]]++] = i;
    for (let e = 0; e < groups; e++) {
      const a = start[e];
      const b = start[e + 1];
      if (b - a < 2) continue;
      const group = Array.from(order.subarray(a, b));
      group.sort((x, y) => kernelOrder(routeTos[x], metric[x], x, routeTos[y], metric[y], y));
      order.set(group, a);
    }
    return {
      ids: kept, groupStart: start, routeOrder: order, routeTos,
      lpm4: family === 4 ? Lpm4.build(starts4, lens) : null,
      lpm6: family === 6 ? Lpm6.build(starts6, lens) : null,
    };
  }

  private indexed(): TableIndex {
    this.index ??= this.build();
    return this.index;
  }

  get size(): number {
    return this.all.length - (this.family === 4 ? this.unreadable.length : 0);
  }

  /** The route to an IPv4 address as fib_table_lookup finds it (backing off to shorter prefixes), or null. */
  lookup4(addr: number, flow: TableSearch): TableHit | null {
    if (this.index === null && this.scans < this.scansBeforeIndex) {
      this.scans++;
      return this.scan4(addr, flow);
    }
    return this.search(this.longest4(addr), flow);
  }

  /**
   * lookup4 without the index: one pass over the routes keeps those whose prefix holds the
   * address, then they are tried longest prefix first, each prefix's routes in the kernel's order.
   */
  private scan4(addr: number, flow: TableSearch): TableHit | null {
    const list = this.list;
    const ids = this.all;
    const keys = this.keys;
    const hits: { at: number; len: number; tos: number; metric: number }[] = [];
    for (let i = 0; i < ids.length; i++) {
      const key = keys[i];
      if (key < 0) continue;
      const len = key % 64;
      const start = (key - len) / 64;
      if (addr >= start && addr < start + PREFIX_SIZE[len]) hits.push({ at: i, len, tos: 0, metric: 0 });
    }
    for (const h of hits) {
      h.tos = parseDsfield(list.tos(ids[h.at]));
      h.metric = list.metric(ids[h.at]) ?? 0;
    }
    hits.sort((a, b) => b.len - a.len || kernelOrder(a.tos, a.metric, a.at, b.tos, b.metric, b.at));
    for (let k = 0; k < hits.length;) {
      const len = hits[k].len;
      let end = k;
      while (end < hits.length && hits[end].len === len) end++;
      for (; k < end; k++) {
        const hit = tryRoute4(list.get(ids[hits[k].at]), hits[k].tos, len, null, flow);
        if (hit !== undefined) return hit;
      }
    }
    return null;
  }

  /** The table's i-th indexed route (listed order) as a record. */
  private route(i: number): RouteRecord {
    return this.list.get(this.indexed().ids[i]);
  }

  /** Longest prefix entry containing an IPv4 address, or -1. */
  longest4(addr: number): number {
    const lpm = this.indexed().lpm4;
    return lpm ? lpm.lookup(addr) : -1;
  }

  /** Longest prefix entry containing an IPv6 address given as four words, or -1. */
  longest6(w: Uint32Array): number {
    const lpm = this.indexed().lpm6;
    return lpm ? lpm.lookupAt(w, 0) : -1;
  }

  /** The next shorter prefix entry containing entry `e`, or -1. */
  parent(e: number): number {
    const x = this.indexed();
    return x.lpm4 ? x.lpm4.parent(e) : x.lpm6!.parent(e);
  }

  prefixLength(e: number): number {
    const x = this.indexed();
    return x.lpm4 ? x.lpm4.prefixLength(e) : x.lpm6!.prefixLength(e);
  }

  /** Routes at prefix entry `e`, in the kernel's order. */
  routesAt(e: number): RouteRecord[] {
    const x = this.indexed();
    const out: RouteRecord[] = [];
    for (let k = x.groupStart[e]; k < x.groupStart[e + 1]; k++) out.push(this.route(x.routeOrder[k]));
    return out;
  }

  /** Search from prefix entry `first` (the longest match) towards shorter prefixes. */
  search(first: number, flow: TableSearch): TableHit | null {
    for (let e = first; e >= 0; e = this.parent(e)) {
      const hit = this.family === 4 ? this.searchAt4(e, flow) : this.searchAt6(e, flow);
      if (hit) return hit;
    }
    return null;
  }

  /** fib_table_lookup at one prefix entry: its routes in the kernel's order. */
  private searchAt4(e: number, flow: TableSearch): TableHit | null {
    const x = this.indexed();
    for (let k = x.groupStart[e]; k < x.groupStart[e + 1]; k++) {
      const i = x.routeOrder[k];
      const hit = tryRoute4(this.route(i), x.routeTos[i], e, this, flow);
      if (hit !== undefined) return hit;
    }
    return null;
  }

  /**
   * find_rr_leaf at one prefix: among the routes of the lowest metric, the first with the best
   * score (2 through `preferOif` or without one, else 0); when none of them can carry the
   * packet, the same among all the later routes whatever their metric. Error routes are routes
   * through lo here, so a strict oif passes them over and a preferred one ranks them low.
   */
  private searchAt6(e: number, flow: TableSearch): TableHit | null {
    const x = this.indexed();
    const end = x.groupStart[e + 1];
    let k = x.groupStart[e];
    if (k === end) return null;
    const metricOf = (r: RouteRecord): number => r.metric ?? 1024;
    const firstMetric = metricOf(this.route(x.routeOrder[k]));
    let best: TableHit | null = null;
    let bestScore = -1;
    for (let pass = 0; pass < 2 && !best; pass++) {
      for (; k < end; k++) {
        const route = this.route(x.routeOrder[k]);
        if (pass === 0 && metricOf(route) !== firstMetric) break;
        let nexthops: UsableNexthop[];
        let devs: (string | undefined)[];
        if (isRejectType(route.type)) {
          const dev = route.dev ?? 'lo';
          if (flow.oif !== undefined && dev !== flow.oif) continue;
          nexthops = [];
          devs = [dev];
        } else {
          if (route.flags.includes('dead')) continue;
          nexthops = usableNexthops(route, flow);
          if (nexthops.length === 0) continue;
          devs = nexthops.map((n) => n.dev);
        }
        const score = flow.preferOif === undefined || devs.includes(flow.preferOif) ? 2 : 0;
        if (score > bestScore) {
          best = { route, prefixLen: this.prefixLength(e), nexthops };
          bestScore = score;
        }
      }
    }
    return best;
  }
}

/** The kernel's order of the routes at one prefix: TOS routes first (unreadable TOS, NaN, last), the lowest metric, the listed order. */
function kernelOrder(tosA: number, metricA: number, a: number, tosB: number, metricB: number, b: number): number {
  return (tosB || 0) - (tosA || 0) || metricA - metricB || a - b;
}

/**
 * fib_table_lookup's test of one route at a prefix (tried in the kernel's order): the hit when it
 * matches the TOS and can carry the packet (or is an error route), else undefined. The prefix
 * length is `len`, or entry `len` of `table`'s index when one is given.
 */
function tryRoute4(route: RouteRecord, tos: number, len: number, table: RouteTable | null, flow: TableSearch): TableHit | undefined {
  if (tos !== 0 && tos !== flow.tos) return undefined;
  const prefixLen = (): number => (table ? table.prefixLength(len) : len);
  // Error routes decide before their nexthops are looked at (fib_props[type].error).
  if (isRejectType(route.type)) return { route, prefixLen: prefixLen(), nexthops: [] };
  if (route.flags.includes('dead')) return undefined;
  const nexthops = usableNexthops(route, flow);
  return nexthops.length > 0 ? { route, prefixLen: prefixLen(), nexthops } : undefined;
}
