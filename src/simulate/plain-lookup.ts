/**
 * The route lookup for a locally generated packet (TOS 0, no mark) on a host whose rules of the
 * family are plain `from all lookup TABLE` rules (the usual case), without building the FIB.
 * The aggregator asks thousands of hosts where a reply to one address goes; building each
 * host's full simulator costs far more than the answer (docs/benchmarks.md, fleet). A host's
 * tables are held as small lists (a map per prefix length above 64 routes), built once per
 * snapshot, and searched as RouteTable.search does (longest prefix, TOS, metric, listed order,
 * dead and linkdown nexthops, reject types, `throw`). Anything else — rules with selectors,
 * special destinations — answers `undefined`: ask `lookup` (route-lookup.ts). The benchmark's
 * cross-check and test/simulate/plain-lookup.test.ts compare the two. The caller keeps a
 * PlainRoutes per snapshot (one cache entry beside its own per-snapshot data, not a second).
 */
import type { RouteRecord, RuleRecord } from '../model/records.js';
import type { HostSnapshot } from '../model/snapshot.js';
import { maskV4, maskV6, parsePrefix, type Address } from '../net/address.js';
import { isRejectType, parseDsfield, tableKey, usableNexthops, type TableSearch, type UsableNexthop } from './fib.js';
import { defaultRules, fibContextFrom } from './route-lookup.js';

/** The deciding rule and route, and the device the packet leaves by (unicast routes only). */
export interface PlainLookup {
  rule: RuleRecord;
  route: RouteRecord;
  dev?: string;
}

interface Entry {
  route: RouteRecord;
  len: number;
  key: number | bigint;
  /** The route's TOS (NaN when unreadable) and its sort key (NaN counts as 0), and metric. */
  tos: number;
  order: number;
  metric: number;
}

/** One table's routes of one family in listed order; a big table also gets a map per prefix length. */
interface Table { entries: Entry[]; byLen?: Map<number, Map<number | bigint, Entry[]>> }

/** Up to this many routes a table is scanned; above, looked up per prefix length. */
const SCAN_MAX = 64;

interface FamilyView {
  /** Rules in kernel order; undefined when they are not all plain (ask the simulator). */
  rules: RuleRecord[] | undefined;
  /** The table each rule looks up, by the rule's index (undefined: the table holds no route of the family). */
  tables: (Table | undefined)[];
  search: TableSearch;
}

const DEFAULT_RULES = { 4: defaultRules(4), 6: defaultRules(6) };
const NO_LINKDOWN_IGNORED: TableSearch = { tos: 0, ignoresLinkdown: () => false };

const masked = (a: Address, len: number): number | bigint =>
  a.family === 4 ? ((a.value & maskV4(len)) >>> 0) : (a.value & maskV6(len));

/** A rule that selects every packet and looks up a table: no selector, no suppression, no goto. */
function plainRule(r: RuleRecord): boolean {
  return r.action === 'lookup' && !r.not && r.table !== undefined && (r.from === '' || r.from === '0.0.0.0/0' || r.from === '::/0')
    && r.to === undefined && r.iif === undefined && r.oif === undefined && r.fwmark === undefined && r.fwmask === undefined
    && r.tos === undefined && r.uidrange === undefined && r.ipproto === undefined && r.sport === undefined && r.dport === undefined
    && r.suppressPrefixlength === undefined && r.suppressIfgroup === undefined && r.flags.length === 0;
}

/** ignore_routes_with_linkdown as the simulator reads it (fibContextFrom), only when some sysctl sets it. */
function linkdownSearch(s: HostSnapshot, family: 4 | 6): TableSearch {
  const sysctl = s.sysctls;
  if (!sysctl.some((x) => x.name === 'ignore_routes_with_linkdown' && x.value.trim() !== '0')) return NO_LINKDOWN_IGNORED;
  const devices = fibContextFrom(s.interfaces.map((i) => ({ link: { name: i.name }, addresses: i.addresses })), sysctl).devices ?? {};
  return { tos: 0, ignoresLinkdown: (dev) => dev !== undefined && devices[dev]?.ignoreRoutesWithLinkdown?.[family] === true };
}

function familyView(s: HostSnapshot, family: 4 | 6): FamilyView {
  const own = s.rules.filter((r) => r.family === family);
  // Kernel order: priority, ties in listed order (Array.prototype.sort is stable).
  const rules = own.length === 0 ? DEFAULT_RULES[family] : own.every(plainRule) ? own.sort((a, b) => a.priority - b.priority) : undefined;
  const tables = new Map<string, Table>();
  const defaultMetric = family === 6 ? 1024 : 0;
  for (const route of s.routes) {
    if (route.family !== family || route.flags.includes('cache')) continue;
    const p = parsePrefix(route.dst, family);
    if (!p || p.family !== family) continue; // unreadable: the simulator leaves it out too
    const k = tableKey(route.table);
    let t = tables.get(k);
    if (!t) tables.set(k, (t = { entries: [] }));
    const tos = parseDsfield(route.tos);
    t.entries.push({ route, len: p.len, key: p.value, tos, order: tos || 0, metric: route.metric ?? defaultMetric });
  }
  // Kept as long as the snapshot: a copy of each list in its own length (a list grown by push holds 17 slots or more).
  for (const t of tables.values()) if (t.entries.length < 17) t.entries = t.entries.slice();
  return { rules, tables: rules ? rules.map((r) => tables.get(tableKey(r.table))) : [], search: linkdownSearch(s, family) };
}

/** The table's entries whose prefix contains `a`. */
function containing(t: Table, a: Address): Entry[] {
  if (t.entries.length <= SCAN_MAX) {
    const out: Entry[] = [];
    for (const e of t.entries) if (masked(a, e.len) === e.key) out.push(e);
    return out;
  }
  if (!t.byLen) {
    t.byLen = new Map();
    for (const e of t.entries) {
      let m = t.byLen.get(e.len);
      if (!m) t.byLen.set(e.len, (m = new Map()));
      const list = m.get(e.key);
      if (list) list.push(e); else m.set(e.key, [e]);
    }
  }
  const out: Entry[] = [];
  for (const [len, m] of t.byLen) for (const e of m.get(masked(a, len)) ?? []) out.push(e);
  return out;
}

/** Kernel order: longest prefix, then TOS routes first, then lowest metric, then listed order. */
const kernelOrder = (x: Entry, y: Entry): number => y.len - x.len || y.order - x.order || x.metric - y.metric;

/** RouteTable.search for a locally generated packet with TOS 0. */
function searchTable(t: Table, a: Address, search: TableSearch): { route: RouteRecord; nexthops: UsableNexthop[] } | undefined {
  const hits = containing(t, a);
  if (hits.length > 1) hits.sort(kernelOrder); // stable: listed order among equals
  for (const { route, tos } of hits) {
    // IPv4 routes with a TOS match only that TOS.
    if (a.family === 4 && tos !== 0) continue;
    if (isRejectType(route.type)) return { route, nexthops: [] };
    if (route.flags.includes('dead')) continue;
    const nexthops = usableNexthops(route, search);
    if (nexthops.length > 0) return { route, nexthops };
  }
  return undefined;
}

/** One host's tables for the plain lookup, each family built on its first question. */
export class PlainRoutes {
  // Two fields, not a record keyed 4 and 6: an object with an element at index 4 or 6 carries a
  // 21-slot elements store (200 bytes), and the fleet keeps one PlainRoutes per capturing host.
  private v4: FamilyView | undefined;
  private v6: FamilyView | undefined;

  constructor(private readonly snapshot: HostSnapshot) {}

  /**
   * The deciding rule and route for a locally generated packet to `a`: null when no rule decides,
   * undefined when this lookup cannot tell (rules that are not plain, special destinations).
   */
  lookup(a: Address): PlainLookup | null | undefined {
    const v = a.family === 4 ? (this.v4 ??= familyView(this.snapshot, 4)) : (this.v6 ??= familyView(this.snapshot, 6));
    if (!v.rules) return undefined;
    // Destinations the output path treats before the tables (0.0.0.0, multicast, broadcast, link-local, loopback).
    if (a.family === 4 ? a.value === 0 || a.value >>> 28 === 0xe || a.value === 0xffffffff
      : (a.value >> 120n) === 0xffn || (a.value >> 118n) === 0x3fan || a.value === 1n) return undefined;
    for (let i = 0; i < v.rules.length; i++) {
      const rule = v.rules[i];
      const t = v.tables[i];
      const hit = t && searchTable(t, a, v.search);
      if (!hit || hit.route.type === 'throw') continue;
      return { rule, route: hit.route, dev: hit.route.type === 'unicast' ? hit.nexthops[0]?.dev : undefined };
    }
    return null;
  }
}
