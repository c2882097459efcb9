/**
 * route-captures-peer (fleet): host B's bridge or tunnel route covers host A's address, and B's
 * own route lookup for a reply to A really leaves into that bridge. The candidates come from the
 * fleet index (A's addresses inside B's non-uplink routes); the finding is the host check's
 * finding on B with A as its peer (same key, evidence and fix), with a summary naming both sides.
 * First incident: "ecs3's docker0 172.17.0.0/16 captures replies to ecs1 172.17.0.64: ecs1 ↔ ecs3 broken".
 *
 * Speed: building B's full simulator costs about a millisecond, too much when thousands of hosts
 * capture a peer. When B's rules of the family are plain `from all lookup TABLE` rules (the usual
 * case) a light view of B's tables — built once per snapshot — decides which route wins exactly as
 * the simulator's table search does (longest prefix, TOS, metric, dead and linkdown nexthops,
 * reject types, `throw`); otherwise the host check itself (the full simulator) decides.
 */
import { findingKey, type Evidence, type Finding } from '../../model/finding.js';
import type { Peer } from '../../model/config.js';
import { memo, memoKey } from '../../model/memo.js';
import type { RouteRecord, RuleRecord } from '../../model/records.js';
import type { HostSnapshot, InterfaceModel } from '../../model/snapshot.js';
import { maskV4, maskV6, parseAddress, parsePrefix, type Address } from '../../net/address.js';
import { isRejectType, parseDsfield, tableKey, usableNexthops, type TableSearch, type UsableNexthop } from '../../simulate/fib.js';
import { fibContextFrom } from '../../simulate/route-lookup.js';
import { captureEvidence, livesOnInterface, ownerFix, routeCapturesPeer } from '../route-captures-peer.js';
import { addressOn, primaryUplink } from '../routing.js';
import { guessedGateway, interfaceByName, knownGateway, sysctls } from '../view.js';
import type { FleetCheck, FleetCheckContext, FleetFinding, FleetView } from './types.js';

export const ID = 'route-captures-peer';

/** Capturing host → the peers (address and owner) its non-uplink routes cover. */
type Candidates = Map<string, Map<string, string>>;
/** Peer addresses parsed once per run (null: unreadable). */
type ParsedAddresses = Map<string, Address | null>;

function addCandidate(out: Candidates, capturer: string, address: string, victim: string): void {
  if (capturer === victim) return;
  let peers = out.get(capturer);
  if (!peers) out.set(capturer, (peers = new Map()));
  peers.set(address, victim);
}

/** Others' addresses inside the capture routes of `capturer` (address → owner); undefined when none. */
function victimsOf(fleet: FleetView, capturer: string): Map<string, string> | undefined {
  let out: Map<string, string> | undefined;
  for (const r of fleet.routesOf(capturer)) {
    for (const a of fleet.addressesIn(r.prefix)) if (a.host !== capturer) (out ??= new Map()).set(a.address, a.host);
  }
  return out;
}

/** Pairs to verify after `host` reported: its capture routes against others' addresses, and the reverse. */
function candidates(fleet: FleetView, host: string): Candidates {
  const out: Candidates = new Map();
  const own = victimsOf(fleet, host);
  if (own) out.set(host, own);
  for (const a of fleet.addressesOf(host)) {
    for (const r of fleet.routesContaining(a.address)) addCandidate(out, r.host, a.address, host);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The light view: which route wins for an address, without building the simulator.

interface LightEntry {
  route: RouteRecord;
  len: number;
  key: number | bigint;
  /** The route's TOS (NaN when unreadable) and its sort key (NaN counts as 0), and metric. */
  tos: number;
  order: number;
  metric: number;
}

/** One table's routes of one family in listed order; a big table also gets a map per prefix length. */
interface LightTable { entries: LightEntry[]; byLen?: Map<number, Map<number | bigint, LightEntry[]>> }

/** Up to this many routes a table is scanned; above, looked up per prefix length. */
const SCAN_MAX = 64;

interface LightFamily {
  /** Tables in rule order; undefined when the rules are not plain (the simulator decides). */
  rules: RuleRecord[] | undefined;
  tables: Map<string, LightTable>;
  search: TableSearch;
  /** The reply's uplink, source and the gateway a pinning route names (the host check's pinRoute). */
  uplink?: { up?: InterfaceModel; src?: string; gw?: string };
}

/** What the findings of one capture route share: evidence and the owner's fix. */
interface CapturePieces { evidence: Evidence[]; ownerFix: string[] }

/** A host's light view, built once per snapshot (a report replaces the snapshot object). */
interface LightHost { s: HostSnapshot; families: Partial<Record<4 | 6, LightFamily>>; pieces?: Map<RouteRecord, CapturePieces> }

const LIGHT_HOST = memoKey<HostSnapshot, LightHost>('fleet route-captures-peer: light host');
const BUILTIN = { lineNumber: 0, text: 'built-in default rule (no rules were given for this family)' };
const builtin = (family: 4 | 6, priority: number, table: string): RuleRecord => ({
  family, priority, not: false, from: family === 4 ? '0.0.0.0/0' : '::/0', action: 'lookup', table, flags: [], origin: BUILTIN,
});
const DEFAULT_RULES = {
  4: [builtin(4, 0, 'local'), builtin(4, 32766, 'main'), builtin(4, 32767, 'default')],
  6: [builtin(6, 0, 'local'), builtin(6, 32766, 'main')],
};
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
  if (!sysctls(s).some((x) => x.name === 'ignore_routes_with_linkdown' && x.value.trim() !== '0')) return NO_LINKDOWN_IGNORED;
  const devices = fibContextFrom(s.interfaces.map((i) => ({ link: { name: i.name }, addresses: i.addresses })), sysctls(s)).devices ?? {};
  return { tos: 0, ignoresLinkdown: (dev) => dev !== undefined && devices[dev]?.ignoreRoutesWithLinkdown?.[family] === true };
}

function lightFamily(h: LightHost, family: 4 | 6): LightFamily {
  const cached = h.families[family];
  if (cached) return cached;
  const s = h.s;
  const own = s.rules.filter((r) => r.family === family);
  // Kernel order: priority, ties in listed order (Array.prototype.sort is stable).
  const rules = own.length === 0 ? DEFAULT_RULES[family] : own.every(plainRule) ? own.sort((a, b) => a.priority - b.priority) : undefined;
  const tables = new Map<string, LightTable>();
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
  return (h.families[family] = { rules, tables, search: linkdownSearch(s, family) });
}

function lightHost(s: HostSnapshot): LightHost {
  return memo(s, LIGHT_HOST, () => ({ s, families: {} }));
}

/** The table's entries whose prefix contains `a`. */
function containing(t: LightTable, a: Address): LightEntry[] {
  if (t.entries.length <= SCAN_MAX) {
    const out: LightEntry[] = [];
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
  const out: LightEntry[] = [];
  for (const [len, m] of t.byLen) for (const e of m.get(masked(a, len)) ?? []) out.push(e);
  return out;
}

/** Kernel order: longest prefix, then TOS routes first, then lowest metric, then listed order. */
const kernelOrder = (x: LightEntry, y: LightEntry): number => y.len - x.len || y.order - x.order || x.metric - y.metric;

/** The simulator's table search (RouteTable.search) for a locally generated reply with TOS 0. */
function searchTable(t: LightTable, a: Address, search: TableSearch): { route: RouteRecord; nexthops: UsableNexthop[] } | undefined {
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

/** The deciding rule and route for a reply to `a`; null when nothing decides; undefined when the light view cannot tell. */
function winner(v: LightFamily, a: Address): { rule: RuleRecord; route: RouteRecord; dev?: string } | null | undefined {
  if (!v.rules) return undefined;
  // Destinations the output path treats before the tables (0.0.0.0, multicast, broadcast, link-local, loopback).
  if (a.family === 4 ? a.value === 0 || a.value >>> 28 === 0xe || a.value === 0xffffffff
    : (a.value >> 120n) === 0xffn || (a.value >> 118n) === 0x3fan || a.value === 1n) return undefined;
  for (const rule of v.rules) {
    const t = v.tables.get(tableKey(rule.table));
    const hit = t && searchTable(t, a, v.search);
    if (!hit || hit.route.type === 'throw') continue;
    return { rule, route: hit.route, dev: hit.route.type === 'unicast' ? hit.nexthops[0]?.dev : undefined };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// The finding, built as the host check builds it for one peer.

function uplinkOf(s: HostSnapshot, v: LightFamily, family: 4 | 6): NonNullable<LightFamily['uplink']> {
  if (!v.uplink) {
    const up = primaryUplink(s, family);
    v.uplink = { up, src: addressOn(up, family), gw: up ? knownGateway(s, up) ?? guessedGateway(up) : undefined };
  }
  return v.uplink;
}

/** The host check's captureEvidence and ownerFix for one capture route, once per route. */
function piecesOf(h: LightHost, rule: RuleRecord, route: RouteRecord, iface: InterfaceModel, family: 4 | 6): CapturePieces {
  h.pieces ??= new Map();
  let p = h.pieces.get(route);
  if (!p) {
    p = { evidence: captureEvidence(rule, route, iface, family), ownerFix: ownerFix(h.s, iface, route.dst) };
    h.pieces.set(route, p);
  }
  return p;
}

/** The fleet finding: the host check's finding on the capturer, its summary naming both sides. */
function fleetFinding(capturer: string, victim: string, address: string, iface: string, dst: string, f: Pick<Finding, 'subject' | 'key' | 'evidence' | 'why' | 'fix'>): FleetFinding {
  return {
    check: ID, severity: 'error', host: capturer, subject: f.subject, key: f.key,
    summary: `${capturer}'s ${iface} ${dst} captures replies to ${victim} ${address}: ${victim} ↔ ${capturer} broken`,
    evidence: f.evidence, why: f.why, fix: f.fix, peers: [address, victim], pair: [victim, capturer],
  };
}

/** The light verdict for one peer: a finding, null (not captured), or undefined (ask the simulator). */
function lightVerify(capturer: string, h: LightHost, address: string, victim: string, parsed: ParsedAddresses): FleetFinding | null | undefined {
  let a = parsed.get(address);
  if (a === undefined) parsed.set(address, (a = parseAddress(address)));
  if (!a) return undefined;
  const v = lightFamily(h, a.family);
  const w = winner(v, a);
  if (w === undefined) return undefined;
  const iface = w?.dev === undefined ? undefined : interfaceByName(h.s, w.dev);
  if (!w || !iface || iface.uplink || iface.kind === 'loopback' || livesOnInterface(h.s, iface, address)) return null;
  const { up, src, gw } = uplinkOf(h.s, v, a.family);
  const { evidence, ownerFix: moveFix } = piecesOf(h, w.rule, w.route, iface, a.family);
  const subject = `${iface.name} ${w.route.dst} captures ${address}`;
  const pin = up ? [`ip route add ${address}/${a.family === 4 ? 32 : 128} ${gw ? `via ${gw} ` : ''}dev ${up.name}   # immediate: a more specific route out of ${up.name} (not persistent)`] : [];
  return fleetFinding(capturer, victim, address, iface.name, w.route.dst, {
    subject, key: findingKey(ID, capturer, subject), evidence,
    why: `A request from ${address} arrives on ${up?.name ?? 'the uplink'}, but the reply's route lookup (ip route get ${address}${src ? ` from ${src}` : ''}) picks ${w.route.dst} dev ${iface.name} in table ${w.route.table ?? 'main'}${iface.noCarrier ? ` — ${iface.name} has no carrier (linkdown) and still wins` : ''}. The reply never reaches the peer.`,
    fix: [...pin, ...moveFix],
  });
}

/** The host check run on the capturer with the victims as its peers (the full simulator). */
export function verifyWithSimulator(capturer: string, snapshot: HostSnapshot, victims: Map<string, string>): FleetFinding[] {
  const peers: Peer[] = [...victims].map(([address, name]) => ({ address, name }));
  const out: FleetFinding[] = [];
  for (const f of routeCapturesPeer.run({ host: capturer, snapshot, peers, remotes: [], ports: [] })) {
    const address = f.peers?.[0] ?? '';
    const victim = victims.get(address);
    if (f.severity !== 'error' || victim === undefined || !f.subject.endsWith(` captures ${address}`)) continue;
    const [iface, dst] = f.subject.split(' ');
    out.push(fleetFinding(capturer, victim, address, iface, dst, f));
  }
  return out;
}

/** Light verdicts where they decide, the simulator for the rest. */
export function verifyCaptures(capturer: string, snapshot: HostSnapshot, victims: Map<string, string>, out: FleetFinding[], parsed: ParsedAddresses = new Map()): void {
  const h = lightHost(snapshot);
  let undecided: Map<string, string> | undefined;
  for (const [address, victim] of victims) {
    const f = lightVerify(capturer, h, address, victim, parsed);
    if (f) out.push(f);
    else if (f === undefined) (undecided ??= new Map()).set(address, victim);
  }
  if (undecided) for (const f of verifyWithSimulator(capturer, snapshot, undecided)) out.push(f);
}

export const routeCapturesPeerFleet: FleetCheck = {
  id: ID,
  title: "A host's bridge or tunnel route captures replies to another host of the fleet",
  severity: 'error',
  explain: `The fleet form of route-captures-peer. The aggregator indexes every host's uplink
addresses and every non-uplink route (docker0, br-*, cni0, virbr*, tun*, ...). When host B
holds such a route covering host A's address, it asks B's own route lookup (rules, tables,
longest prefix) what happens to a reply to A. When the reply leaves into the bridge, A ↔ B is
broken although the cloud is fine: A's requests reach B, B's replies never reach A.

The finding is the host check's finding on B (same key, evidence and fix), with a summary that
names both sides, e.g. "ecs3's docker0 172.17.0.0/16 captures replies to ecs1 172.17.0.64:
ecs1 ↔ ecs3 broken". It is resolved when either side's report no longer shows the capture.

Fix: move the bridge to an unused range (Docker: "bip" and "default-address-pools" in
/etc/docker/daemon.json), or add a more specific route for the peer through the uplink.`,
  run(ctx: FleetCheckContext): FleetFinding[] {
    const out: FleetFinding[] = [];
    const parsed: ParsedAddresses = new Map();
    const verify = (capturer: string, victims: Map<string, string>): void => {
      const snapshot = ctx.fleet.snapshot(capturer);
      if (snapshot) verifyCaptures(capturer, snapshot, victims, out, parsed);
    };
    if (ctx.host !== undefined) for (const [capturer, victims] of candidates(ctx.fleet, ctx.host)) verify(capturer, victims);
    else {
      // The whole fleet one capturer at a time: no map of every capturer's peers is held.
      for (const capturer of ctx.fleet.hosts()) {
        const victims = victimsOf(ctx.fleet, capturer);
        if (victims) verify(capturer, victims);
      }
    }
    return out;
  },
};
