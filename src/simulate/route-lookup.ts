/**
 * The Linux route lookup for one packet, IPv4 and IPv6: rules in priority order, each
 * `lookup` rule searching its table (longest prefix, TOS, metric, usable nexthops), route
 * types and `throw`, `suppress_prefixlength`, `goto`, then the output-path adjustments that
 * `ip route get` shows. Pure: the host is described by the records and a context.
 *
 * Simplifications (the kernel does more):
 * - Multipath: every usable nexthop is returned with its weight; `dev`/`via` are the first
 *   one's. The kernel hashes each flow to one of them; several default routes of equal metric
 *   (fib_select_default) are not rotated either: the first listed wins.
 * - IPv6 router reachability and preference (RT6_LOOKUP_F_REACHABLE, round-robin among
 *   routers) are not modelled. An oif filters routes strictly, except for IPv6 packets with a
 *   source to a global destination, where it only prefers a route of the same metric.
 * - Source addresses: the query's `src`, else the route's `src`, else for `local` routes the
 *   destination, else an address of the output device (see source-address.ts).
 * - A packet without `iif` is locally generated; with `iif` it is the FIB answer for a
 *   packet arriving there: forwarding, rp_filter and martian checks are other checks' business.
 * - The flow's uid is 0 unless given (packets without a socket carry the netns root uid).
 * - The rules are always honoured. (A kernel whose IPv6 rules were never changed skips them
 *   and searches local then main, which gives the same answer with the default rules.)
 */
import type { RouteRecord, RuleRecord } from '../model/records.js';
import { RouteList } from '../model/route-list.js';
import { formatIPv4, formatIPv6, parseAddress, type Address } from '../net/address.js';
import { toWords6 } from '../net/lpm-v6.js';
import { RouteTable, tableKey, type TableHit, type TableSearch, type UsableNexthop } from './fib.js';
import { compileRules, protocolNumber, ruleMatches, type CompiledRule, type RuleFlow } from './rules.js';
import { SourceSelector } from './source-address.js';

export type { UsableNexthop } from './fib.js';

/** What the lookup needs to know about one device. */
export interface DeviceInfo {
  /** Addresses on the device in `ip addr` order ("10.0.0.5/24"; AddressRecord fits). */
  addresses?: { cidr: string; flags?: string[]; scope?: string }[];
  /** ignore_routes_with_linkdown per family, already combined with `all`. */
  ignoreRoutesWithLinkdown?: { 4?: boolean; 6?: boolean };
  /** Device group number (for `suppress_ifgroup`). */
  group?: number;
}

/** The host around the tables. Without `devices`, rules naming any iif/oif count as present. */
export interface FibContext {
  devices?: Record<string, DeviceInfo>;
}

/** A packet to route. Without `iif` it is locally generated. */
export interface RouteQuery {
  dst: string | Address;
  src?: string | Address;
  iif?: string;
  oif?: string;
  mark?: number;
  tos?: number;
  ipproto?: number | string;
  sport?: number;
  dport?: number;
  uid?: number;
}

export type LookupType =
  | 'unicast' | 'local' | 'broadcast' | 'anycast' | 'multicast'
  | 'blackhole' | 'unreachable' | 'prohibit' | 'none';

/** What happened at one rule, for explanations. */
export interface TraceStep {
  rule: RuleRecord;
  outcome: 'no-match' | 'goto' | 'unresolved-goto' | 'nop' | 'no-table' | 'no-route' | 'throw' | 'suppressed' | 'decided';
  route?: RouteRecord;
}

export interface RouteLookupResult {
  type: LookupType;
  family: 4 | 6;
  /** Table that decided, as the deciding route (or rule) names it. */
  table?: string;
  rule?: RuleRecord;
  route?: RouteRecord;
  dev?: string;
  via?: string;
  src?: string;
  nexthops?: UsableNexthop[];
  prefixLen?: number;
  /** IPv4 with `oif` and no usable route: the kernel assumes the destination is on-link there. */
  assumedOnLink?: boolean;
  trace?: TraceStep[];
}

interface FamilyFib {
  rules: CompiledRule[];
  tables: Map<string, RouteTable>;
}

/** Tables and rules of both families, built once per snapshot. */
export interface Fib {
  v4: FamilyFib;
  v6: FamilyFib;
  ctx: FibContext;
  sources: SourceSelector;
  /** Routes whose prefix could not be read (left out of every table). */
  unreadableRoutes: RouteRecord[];
}

const BUILTIN_ORIGIN = { lineNumber: 0, text: 'built-in default rule (no rules were given for this family)' };

/** The rules a fresh kernel has, used when the input has none for a family. */
export function defaultRules(family: 4 | 6): RuleRecord[] {
  const all = family === 4 ? '0.0.0.0/0' : '::/0';
  const rule = (priority: number, table: string): RuleRecord => ({
    family, priority, not: false, from: all, action: 'lookup', table, flags: [], origin: BUILTIN_ORIGIN,
  });
  return family === 4 ? [rule(0, 'local'), rule(32766, 'main'), rule(32767, 'default')] : [rule(0, 'local'), rule(32766, 'main')];
}

/** Build the tables (one LPM per table and family) and compile the rules. */
export function buildFib(routes: RouteList | readonly RouteRecord[], rules: RuleRecord[], ctx: FibContext = {}): Fib {
  const devices = ctx.devices ? new Set(Object.keys(ctx.devices)) : undefined;
  const unreadableRoutes: RouteRecord[] = [];
  const list = RouteList.of(routes);
  const family = (f: 4 | 6): FamilyFib => {
    // By table key: "main" and "254" are one table (their routes merged in listed order).
    const byTable = new Map<string, Int32Array>();
    for (const [table, ids] of list.indicesByTable(f, (flags) => flags.includes('cache'))) {
      const key = tableKey(table);
      const before = byTable.get(key);
      if (!before) { byTable.set(key, ids); continue; }
      const merged = new Int32Array(before.length + ids.length);
      merged.set(before);
      merged.set(ids, before.length);
      byTable.set(key, merged.sort());
    }
    const tables = new Map<string, RouteTable>();
    for (const [key, ids] of byTable) {
      const t = new RouteTable(f, list, ids);
      unreadableRoutes.push(...t.unreadable);
      tables.set(key, t);
    }
    const own = rules.filter((r) => r.family === f);
    return { rules: compileRules(own.length > 0 ? own : defaultRules(f), f, devices), tables };
  };
  return { v4: family(4), v6: family(6), ctx, sources: new SourceSelector(ctx.devices), unreadableRoutes };
}

/** An interface as `ip addr` blocks (InterfaceBlock) or the snapshot (InterfaceModel) give it. */
type InterfaceLike = ({ name: string } | { link: { name: string } }) & {
  addresses: { cidr: string; flags?: string[]; scope?: string }[];
};

/**
 * Context from interfaces and sysctl records (SysctlRecord fits): addresses per device and
 * net.ipv4/ipv6.conf.{all,DEV}.ignore_routes_with_linkdown.
 */
export function fibContextFrom(
  interfaces: InterfaceLike[],
  sysctl: { family?: 4 | 6; device?: string; name?: string; value: string }[] = [],
): FibContext {
  const devices: Record<string, DeviceInfo> = {};
  for (const b of interfaces) devices['link' in b ? b.link.name : b.name] = { addresses: b.addresses };
  const all: { 4?: boolean; 6?: boolean } = {};
  const per = new Map<string, { 4?: boolean; 6?: boolean }>();
  for (const s of sysctl) {
    if (s.name !== 'ignore_routes_with_linkdown' || s.device === undefined || s.family === undefined) continue;
    const on = s.value.trim() !== '0';
    if (s.device === 'all') all[s.family] = on;
    else {
      const e = per.get(s.device) ?? {};
      e[s.family] = on;
      per.set(s.device, e);
    }
  }
  for (const [name, d] of Object.entries(devices)) {
    const e = per.get(name) ?? {};
    d.ignoreRoutesWithLinkdown = { 4: Boolean(all[4] || e[4]), 6: Boolean(all[6] || e[6]) };
  }
  return { devices };
}

function toAddress(a: string | Address, what: string): Address {
  if (typeof a !== 'string') return a;
  const p = parseAddress(a);
  if (!p) throw new TypeError(`route lookup: ${what} '${a}' is not an address`);
  return p;
}

const text = (a: Address): string => (a.family === 4 ? formatIPv4(a.value) : formatIPv6(a.value));

/**
 * Route one packet. Throws TypeError only when `dst`/`src` are not addresses (a caller error:
 * parse user input first).
 */
export function lookup(fib: Fib, q: RouteQuery, opts: { trace?: boolean } = {}): RouteLookupResult {
  const dst = toAddress(q.dst, 'destination');
  const src = q.src === undefined ? undefined : toAddress(q.src, 'source');
  if (src && src.family !== dst.family) throw new TypeError('route lookup: source and destination families differ');
  const family = dst.family;
  const trace = opts.trace ? [] as TraceStep[] : undefined;
  const finish = (r: RouteLookupResult): RouteLookupResult => (trace ? { ...r, trace } : r);
  const output = q.iif === undefined;

  // A packet arriving for the limited broadcast is delivered here before any table (brd_input).
  if (family === 4 && !output && dst.value === 0xffffffff) {
    return finish({ type: 'broadcast', family, dev: 'lo', src: src ? text(src) : undefined });
  }
  if (family === 4 && output) {
    // The steps of ip_route_output_key_hash_rcu before the tables.
    const d = dst.value as number;
    const multi = d === 0xffffffff || (d >>> 28) === 0xe;
    if (src && fib.ctx.devices) {
      // A source must be an address of this host (-ENETUNREACH); multicast and the limited
      // broadcast without an oif leave through that address's device.
      const srcDev = localDevice4(fib, src);
      if (srcDev === undefined) return finish({ type: 'none', family });
      if (q.oif === undefined && multi) return finish({ type: d === 0xffffffff ? 'broadcast' : 'multicast', family, dev: srcDev, src: text(src) });
    }
    // Limited broadcast and 224.0.0.0/24 with an oif skip the tables.
    if (q.oif !== undefined && (d === 0xffffffff || (d >>> 8) === 0xe00000)) {
      return finish({
        type: d === 0xffffffff ? 'broadcast' : 'multicast', family, dev: q.oif,
        src: src ? text(src) : fib.sources.choose(4, q.oif, undefined, dst),
      });
    }
    // Destination 0.0.0.0 is this host: the source (else the oif's address, else 127.0.0.1) through lo.
    if (d === 0) {
      const own = src ? text(src) : (q.oif !== undefined ? fib.sources.choose(4, q.oif, undefined, dst) : undefined) ?? '127.0.0.1';
      return finish({ type: 'local', family, dev: 'lo', src: own });
    }
  }

  const flow: RuleFlow = {
    family,
    dst4: family === 4 ? dst.value as number : 0,
    dst6: family === 6 ? dst.value as bigint : 0n,
    src4: family === 4 && src ? src.value as number : 0,
    src6: family === 6 && src ? src.value as bigint : undefined,
    iif: q.iif ?? 'lo',
    oif: q.oif,
    mark: (q.mark ?? 0) >>> 0,
    tos: q.tos ?? 0,
    ipproto: protocolNumber(q.ipproto),
    sport: q.sport ?? 0,
    dport: q.dport ?? 0,
    uid: q.uid ?? 0,
  };
  const devices = fib.ctx.devices;
  // IPv6 filters on oif only without a source or for link-local/multicast/loopback destinations
  // (RT6_LOOKUP_F_IFACE in ip6_route_output_flags); otherwise the oif is a preference. An
  // arriving packet is looked up with its iif as the oif (ip6_pol_route_input), strict only for
  // those destinations (ip6_route_input_lookup).
  const strict6 = family === 6 && needsStrictOif(dst.value as bigint);
  const v6Oif = output ? q.oif : q.iif;
  const v6Loose = family === 6 && !strict6 && (!output || src !== undefined);
  const search: TableSearch = {
    tos: flow.tos,
    oif: family === 4 ? q.oif : v6Loose ? undefined : v6Oif,
    preferOif: v6Loose ? v6Oif : undefined,
    ignoresLinkdown: (dev) => (dev !== undefined && devices?.[dev]?.ignoreRoutesWithLinkdown?.[family]) === true,
  };
  const words = family === 6 ? toWords6(dst.value as bigint, new Uint32Array(4)) : undefined;
  const decided = decide(family === 4 ? fib.v4 : fib.v6, flow, search, words, devices, trace);

  let result: RouteLookupResult;
  if (decided.kind === 'none') {
    result = { type: 'none', family };
  } else if (decided.kind === 'rule') {
    result = { type: decided.rule.record.action as LookupType, family, rule: decided.rule.record };
  } else {
    const { hit, rule } = decided;
    const route = hit.route;
    const type: LookupType = route.type === 'nat' ? 'blackhole' : route.type as LookupType;
    result = { type, family, table: route.table, rule: rule.record, route, prefixLen: hit.prefixLen };
    if (hit.nexthops.length > 0) {
      const first = hit.nexthops[0];
      result.nexthops = hit.nexthops;
      // Local delivery goes through lo; so does an arriving broadcast (ip_route_input_slow) and
      // an IPv6 anycast address of this host (ip6_rt_get_dev_rcu).
      result.dev = type === 'local' || (type === 'broadcast' && !output) || (type === 'anycast' && family === 6) ? 'lo' : first.dev;
      if (first.via !== undefined && type !== 'local') result.via = first.via;
      result.src = src ? text(src)
        : route.src ?? (type === 'local' ? text(dst) : fib.sources.choose(family, first.dev, first.via, dst));
    }
  }

  if (family === 4 && output) {
    const d = dst.value as number;
    const failed = result.nexthops === undefined;
    if (failed && q.oif !== undefined) {
      // "Apparently, routing tables are wrong. Assume, that the destination is on link."
      // (__mkroute_output still makes a multicast destination's route multicast.)
      return finish({
        type: (d >>> 28) === 0xe ? 'multicast' : 'unicast', family, dev: q.oif, assumedOnLink: true,
        src: src ? text(src) : fib.sources.choose(4, q.oif, undefined, dst),
      });
    }
    if (!failed && result.type !== 'local' && (d === 0xffffffff || (d >>> 28) === 0xe)) {
      result.type = d === 0xffffffff ? 'broadcast' : 'multicast';
      delete result.via;
    }
  }
  return finish(result);
}

/**
 * __ip_dev_find: the device holding an IPv4 address of this host (an interface address, else a
 * `local` route of the local table), or undefined.
 */
function localDevice4(fib: Fib, a: Address): string | undefined {
  const own = fib.sources.deviceOf(a);
  if (own !== undefined) return own;
  const local = fib.v4.tables.get('255');
  if (!local) return undefined;
  const hit = local.lookup4(a.value as number, { tos: 0, ignoresLinkdown: () => false });
  return hit?.route.type === 'local' ? hit.nexthops[0]?.dev ?? hit.route.dev : undefined;
}

/** rt6_need_strict: multicast, link-local and loopback destinations are bound to their interface. */
function needsStrictOif(dst: bigint): boolean {
  return (dst >> 120n) === 0xffn || (dst >> 118n) === 0x3fan || dst === 1n;
}

type Decision =
  | { kind: 'none' }
  | { kind: 'rule'; rule: CompiledRule }
  | { kind: 'route'; rule: CompiledRule; hit: TableHit };

/** fib_rules_lookup: walk the rules until one decides. */
function decide(
  ff: FamilyFib, flow: RuleFlow, search: TableSearch, words: Uint32Array | undefined,
  devices: Record<string, DeviceInfo> | undefined, trace: TraceStep[] | undefined,
): Decision {
  const rules = ff.rules;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    const r = rule.record;
    if (!ruleMatches(rule, flow)) { trace?.push({ rule: r, outcome: 'no-match' }); continue; }
    switch (r.action) {
      case 'goto':
        if (rule.gotoIndex < 0) { trace?.push({ rule: r, outcome: 'unresolved-goto' }); continue; }
        trace?.push({ rule: r, outcome: 'goto' });
        i = rule.gotoIndex - 1;
        continue;
      case 'nop':
        trace?.push({ rule: r, outcome: 'nop' });
        continue;
      case 'blackhole': case 'unreachable': case 'prohibit':
        trace?.push({ rule: r, outcome: 'decided' });
        return { kind: 'rule', rule };
      default: break;
    }
    const table = ff.tables.get(rule.table);
    if (!table) { trace?.push({ rule: r, outcome: 'no-table' }); continue; }
    const hit = flow.family === 4 ? table.lookup4(flow.dst4, search) : table.search(table.longest6(words!), search);
    if (!hit) { trace?.push({ rule: r, outcome: 'no-route' }); continue; }
    if (hit.route.type === 'throw') { trace?.push({ rule: r, outcome: 'throw', route: hit.route }); continue; }
    // Suppression applies to successful answers only (fib4_rule_suppress runs when err == 0).
    if (hit.nexthops.length > 0 && suppressed(rule, hit, devices)) {
      trace?.push({ rule: r, outcome: 'suppressed', route: hit.route });
      continue;
    }
    trace?.push({ rule: r, outcome: 'decided', route: hit.route });
    return { kind: 'route', rule, hit };
  }
  return { kind: 'none' };
}

function suppressed(rule: CompiledRule, hit: TableHit, devices: Record<string, DeviceInfo> | undefined): boolean {
  if (hit.prefixLen <= rule.suppressPrefixlength) return true;
  if (rule.suppressIfgroup !== undefined) {
    // The kernel looks at the route's first nexthop device, usable or not.
    const dev = hit.route.nexthops.length > 0 ? hit.route.nexthops[0].dev : hit.route.dev;
    const group = dev !== undefined ? devices?.[dev]?.group ?? 0 : undefined;
    if (group === rule.suppressIfgroup) return true;
  }
  return false;
}
