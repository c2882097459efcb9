/**
 * One routing table of one family, as the kernel searches it: the longest prefix first, and
 * at each prefix its routes in the kernel's order (TOS routes before TOS-less ones, then the
 * lowest metric, then the order listed). If no route at a prefix is usable the search backs
 * off to the next shorter prefix, as fib_table_lookup (IPv4) and fib6_backtrack (IPv6) do.
 */
import type { Nexthop, RouteRecord } from '../model/records.js';
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
   * IPv6 with a source and an oif (no RT6_LOOKUP_F_IFACE): among the chosen prefix's routes of
   * the winning metric, one through this device is preferred, but others still do.
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

/** Routes of one table and family, indexed for longest-prefix search. */
export class RouteTable {
  readonly family: 4 | 6;
  /** Routes whose prefix could not be read (kept out of the search, reported by the builder). */
  readonly unreadable: RouteRecord[];
  private readonly routes: RouteRecord[];
  private readonly lpm4: Lpm4 | null;
  private readonly lpm6: Lpm6 | null;
  /** Per prefix entry: its routes are routeOrder[groupStart[e] .. groupStart[e + 1]). */
  private readonly groupStart: Int32Array;
  private readonly routeOrder: Int32Array;
  private readonly routeTos: Float64Array;

  constructor(family: 4 | 6, routes: RouteRecord[]) {
    this.family = family;
    this.unreadable = [];
    const kept: RouteRecord[] = [];
    const entryOf: number[] = [];
    const keys = new Map<number | string, number>();
    const starts4: number[] = [];
    const starts6: bigint[] = [];
    const lens: number[] = [];
    for (const r of routes) {
      const p = parsePrefix(r.dst, family);
      if (!p || p.family !== family) { this.unreadable.push(r); continue; }
      const key = p.family === 4 ? p.value * 64 + p.len : `${p.value}/${p.len}`;
      let e = keys.get(key);
      if (e === undefined) {
        e = lens.length;
        keys.set(key, e);
        if (p.family === 4) starts4.push(p.value); else starts6.push(p.value);
        lens.push(p.len);
      }
      kept.push(r);
      entryOf.push(e);
    }
    this.routes = kept;
    this.lpm4 = family === 4 ? Lpm4.build(starts4, lens) : null;
    this.lpm6 = family === 6 ? Lpm6.build(starts6, lens) : null;
    this.routeTos = new Float64Array(kept.length);
    const metric = new Float64Array(kept.length);
    const defaultMetric = family === 6 ? 1024 : 0;
    for (let i = 0; i < kept.length; i++) {
      this.routeTos[i] = parseDsfield(kept[i].tos);
      metric[i] = kept[i].metric ?? defaultMetric;
    }
    // Group routes by prefix (counting sort keeps the listed order), then order each group.
    const groups = lens.length;
    const start = new Int32Array(groups + 1);
    for (let i = 0; i < kept.length; i++) start[entryOf[i] + 1]++;
    for (let e = 0; e < groups; e++) start[e + 1] += start[e];
    const fill = start.slice(0, groups);
    const order = new Int32Array(kept.length);
    for (let i = 0; i < kept.length; i++) order[fill[entryOf[i]]++] = i;
    const tos = this.routeTos;
    for (let e = 0; e < groups; e++) {
      const a = start[e];
      const b = start[e + 1];
      if (b - a < 2) continue;
      const group = Array.from(order.subarray(a, b));
      // Unreadable TOS (NaN) sorts last; it never matches a flow anyway.
      group.sort((x, y) => (tos[y] || 0) - (tos[x] || 0) || metric[x] - metric[y] || x - y);
      order.set(group, a);
    }
    this.groupStart = start;
    this.routeOrder = order;
  }

  get size(): number {
    return this.routes.length;
  }

  /** Longest prefix entry containing an IPv4 address, or -1. */
  longest4(addr: number): number {
    return this.lpm4 ? this.lpm4.lookup(addr) : -1;
  }

  /** Longest prefix entry containing an IPv6 address given as four words, or -1. */
  longest6(w: Uint32Array): number {
    return this.lpm6 ? this.lpm6.lookupAt(w, 0) : -1;
  }

  /** The next shorter prefix entry containing entry `e`, or -1. */
  parent(e: number): number {
    return this.lpm4 ? this.lpm4.parent(e) : this.lpm6!.parent(e);
  }

  prefixLength(e: number): number {
    return this.lpm4 ? this.lpm4.prefixLength(e) : this.lpm6!.prefixLength(e);
  }

  /** Routes at prefix entry `e`, in the kernel's order. */
  routesAt(e: number): RouteRecord[] {
    const out: RouteRecord[] = [];
    for (let k = this.groupStart[e]; k < this.groupStart[e + 1]; k++) out.push(this.routes[this.routeOrder[k]]);
    return out;
  }

  /** Search from prefix entry `first` (the longest match) towards shorter prefixes. */
  search(first: number, flow: TableSearch): TableHit | null {
    for (let e = first; e >= 0; e = this.parent(e)) {
      for (let k = this.groupStart[e]; k < this.groupStart[e + 1]; k++) {
        const i = this.routeOrder[k];
        const tos = this.routeTos[i];
        if (tos !== 0 && tos !== flow.tos) continue;
        const route = this.routes[i];
        if (isRejectType(route.type)) {
          // IPv4 error routes decide before their nexthops are looked at (fib_props[type].error);
          // IPv6 ones are routes through lo like any other, so a strict oif passes them over.
          if (this.family === 6 && flow.oif !== undefined && (route.dev ?? 'lo') !== flow.oif) continue;
          return { route, prefixLen: this.prefixLength(e), nexthops: [] };
        }
        if (route.flags.includes('dead')) continue;
        const nexthops = usableNexthops(route, flow);
        if (nexthops.length === 0) continue;
        if (flow.preferOif !== undefined && !nexthops.some((n) => n.dev === flow.preferOif)) {
          const better = this.preferred(e, k, flow);
          if (better) return better;
        }
        return { route, prefixLen: this.prefixLength(e), nexthops };
      }
    }
    return null;
  }

  /** A later route at entry `e` with the same metric as position `k` that goes through preferOif. */
  private preferred(e: number, k: number, flow: TableSearch): TableHit | null {
    const metricOf = (r: RouteRecord): number => r.metric ?? (this.family === 6 ? 1024 : 0);
    const metric = metricOf(this.routes[this.routeOrder[k]]);
    for (let j = k + 1; j < this.groupStart[e + 1]; j++) {
      const route = this.routes[this.routeOrder[j]];
      if (metricOf(route) !== metric) break;
      if (isRejectType(route.type) || route.flags.includes('dead')) continue;
      const tos = this.routeTos[this.routeOrder[j]];
      if (tos !== 0 && tos !== flow.tos) continue;
      const nexthops = usableNexthops(route, flow);
      if (nexthops.some((n) => n.dev === flow.preferOif)) return { route, prefixLen: this.prefixLength(e), nexthops };
    }
    return null;
  }
}
