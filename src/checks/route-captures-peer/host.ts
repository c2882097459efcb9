/**
 * route-captures-peer, host family: a route on a bridge or tunnel (docker0, br-*, cni0, virbr*,
 * tun*, ...) wins the lookup for a peer's address or for part of a remote network, so replies
 * leave into the bridge instead of the uplink. The first incident: ECS3's docker0 172.17.0.0/16
 * captures replies to ECS1 172.17.0.64.
 */
import type { Peer } from '../../model/config.js';
import { evidenceOf, findingKey, uniqueEvidence, type Finding } from '../../model/finding.js';
import { memo, memoKey } from '../../model/memo.js';
import type { NeighbourRecord, RouteRecord } from '../../model/records.js';
import type { HostSnapshot, InterfaceModel } from '../../model/snapshot.js';
import { formatAddress, formatIPv4, formatIPv6, formatPrefix, parseAddress, parsePrefix, PRIVATE_PREFIXES, prefixContains, prefixCovers, prefixesOverlap, type Prefix } from '../../net/address.js';
import { kernelSignals } from '../../simulate/kernel-signals.js';
import { routeQuestion } from '../../simulate/route-get.js';
import { fibOf, leavesByNonUplink, routeFor } from '../routing.js';
import type { HostContext } from '../types.js';
import { interfaceByName, peerLabel, routesOnNonUplinks, sysctls } from '../view.js';
import { captureEvidence, ID, ownerFix, ownerText, peerCaptureFinding, pinRouteStep, replyUplink, withUplinkGateway } from './finding.js';

/** Resolved neighbour entries by `dev address` (canonical text), built once per snapshot. */
const RESOLVED_NEIGHBOURS = memoKey<HostSnapshot, Map<string, NeighbourRecord>>('checks: resolved neighbours by device and address');

function resolvedNeighbours(s: HostSnapshot): Map<string, NeighbourRecord> {
  const index = new Map<string, NeighbourRecord>();
  for (const n of s.neighbours ?? []) {
    const a = parseAddress(n.address);
    // Resolved: the kernel has its link-layer address (it answered ARP/ND, or was set by hand).
    if (a && n.dev && n.lladdr !== undefined && !n.states.includes('INCOMPLETE') && !n.states.includes('FAILED')) index.set(`${n.dev} ${formatAddress(a)}`, n);
  }
  return index;
}

function resolvedNeighbour(s: HostSnapshot, dev: string, address: string): NeighbourRecord | undefined {
  const index = memo(s, RESOLVED_NEIGHBOURS, resolvedNeighbours);
  const a = parseAddress(address);
  return a ? index.get(`${dev} ${formatAddress(a)}`) : undefined;
}

/**
 * The neighbour entry that shows `address` lives on `iface` (a VM or container on the host's
 * bridge), so the route into `iface` reaches it instead of capturing its replies: `iface` has
 * carrier (a bridge without ports holds nobody: the first incident's docker0 is NO-CARRIER),
 * the kernel has resolved the address there, and the address is not declared as reached through
 * the uplink (inside a --remote network). Shared with the fleet family.
 */
export function livesOnInterface(s: HostSnapshot, iface: InterfaceModel, address: string, remotes: readonly string[] = []): NeighbourRecord | undefined {
  if (iface.noCarrier) return undefined;
  const a = parseAddress(address);
  if (!a || remotes.some((r) => {
    const p = parsePrefix(r, r.includes(':') ? 6 : 4);
    return p !== null && p.family === a.family && prefixContains(p, a);
  })) return undefined;
  return resolvedNeighbour(s, iface.name, address);
}

/** An address inside `region` that no more specific route of the same table covers, if any. */
function uncoveredAddress(region: Prefix, moreSpecific: Prefix[]): string | undefined {
  const bits = region.family === 4 ? 32n : 128n;
  const start = BigInt(region.value);
  const end = start + (1n << (bits - BigInt(region.len))) - 1n;
  const spans = moreSpecific
    .filter((p) => prefixesOverlap(p, region))
    .map((p) => {
      const a = BigInt(p.value);
      return [a, a + (1n << (bits - BigInt(p.len))) - 1n] as const;
    })
    .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  let next = start;
  for (const [a, b] of spans) {
    if (a > next) break;
    if (b + 1n > next) next = b + 1n;
    if (next > end) return undefined;
  }
  if (next > end) return undefined;
  return region.family === 4 ? formatIPv4(Number(next)) : formatIPv6(next);
}

/** Prefixes longer than `len` of the routes in route `idx`'s family and table (other than it). */
function longerPrefixes(s: HostSnapshot, idx: number, len: number): Prefix[] {
  const routes = s.routes;
  const family = routes.family(idx);
  const table = routes.table(idx);
  const out: Prefix[] = [];
  for (let k = 0; k < routes.length; k++) {
    if (k === idx || routes.family(k) !== family || routes.table(k) !== table) continue;
    const plainLen = routes.plainPrefixLength(k);
    if (plainLen >= 0 && plainLen <= len) continue;
    const p = routes.prefix(k);
    if (p && p.len > len) out.push(p);
  }
  return out;
}

function make(ctx: HostContext, severity: Finding['severity'], subject: string, f: Omit<Finding, 'check' | 'severity' | 'host' | 'subject' | 'key'>): Finding {
  return { check: ID, severity, host: ctx.host, subject, key: findingKey(ID, ctx.host, subject), ...f };
}

/** How the kernel reaches a peer inside a bridge's range that the bridge does not capture. */
interface ReachedPeer {
  peer: Peer;
  /** The resolved neighbour entry when the peer lives on the bridge itself. */
  neighbour?: NeighbourRecord;
  /** Else the route that takes it elsewhere (a more specific route, or the one left when a linkdown route is skipped). */
  route?: RouteRecord;
  dev?: string;
}

/** The ignore_routes_with_linkdown lines (all, and the device's) that are on. */
function linkdownSettings(s: HostSnapshot, family: 4 | 6, dev: string): ReturnType<typeof sysctls> {
  return sysctls(s).filter((x) => x.name === 'ignore_routes_with_linkdown' && x.family === family && (x.device === 'all' || x.device === dev) && x.value.trim() !== '0');
}

/** True when the kernel skips `route` now: its device has no carrier and ignore_routes_with_linkdown is on. */
function linkdownSkipped(s: HostSnapshot, route: RouteRecord, iface: InterfaceModel): boolean {
  return iface.noCarrier && route.flags.includes('linkdown') && fibOf(s).ctx.devices?.[iface.name]?.ignoreRoutesWithLinkdown?.[route.family] === true;
}

/**
 * The info finding's summary and why for a private range a bridge or tunnel holds: the plain risk,
 * or, where the kernel reaches given peers inside it (they live there, a more specific route takes
 * them, ignore_routes_with_linkdown skips the route), what it really does (never "unreachable").
 */
function rangeInfoText(s: HostSnapshot, route: RouteRecord, iface: InterfaceModel, reached: ReachedPeer[]): { summary: string; why: string } {
  const holder = `${iface.name} (${ownerText(iface)}) holds ${route.dst}`;
  const how = reached.map((x) => x.neighbour
    ? `${peerLabel(x.peer)} lives on ${iface.name} (neighbour entry ${x.neighbour.states.join(' ')})`
    : `${peerLabel(x.peer)} is reached through ${x.dev ?? 'another interface'}${x.route ? ` (${x.route.dst})` : ''}`);
  const peersNote = how.length > 0 ? `; ${how.join(', ')}` : '';
  if (linkdownSkipped(s, route, iface)) {
    return {
      summary: `${holder}, but it has no carrier and ignore_routes_with_linkdown=1: the kernel skips the route while ${iface.name} is down${peersNote}; once ${iface.name} has a port (a container, a VM), replies to addresses in the range leave into it`,
      why: `net.ipv${route.family}.conf.${iface.name}.ignore_routes_with_linkdown (or .all) makes the kernel pass over ${route.dst} while ${iface.name} is NO-CARRIER; when a port comes up the route is used again and wins over the uplink for the whole range.`,
    };
  }
  if (how.length > 0) {
    return {
      summary: `${holder}${peersNote}: replies to other addresses in the range leave into ${iface.name}`,
      why: `The kernel reaches the peers named here as said; any other address in ${route.dst} is routed into ${iface.name}. That is right for its own containers or tunnel peers, and wrong for a VM elsewhere that uses the same range.`,
    };
  }
  return {
    summary: `${holder}: any peer or remote network in this range would be unreachable from here`,
    why: `Replies to addresses in ${route.dst} leave into ${iface.name}. That is right for its own containers or tunnel peers, and wrong for a VM elsewhere that uses the same range.`,
  };
}

/** The given peers inside `route`'s range that the kernel reaches (not captured by it), and how. */
function reachedInRange(route: RouteRecord, reached: ReachedPeer[]): ReachedPeer[] {
  const p = parsePrefix(route.dst, route.family);
  if (!p) return [];
  return reached.filter((x) => {
    const a = parseAddress(x.peer.address);
    return a !== null && a.family === p.family && prefixContains(p, a);
  });
}

/** Peers whose replies, remote networks whose traffic, a bridge or tunnel route captures; else the private space such routes hold. */
export function capturesOnHost(ctx: HostContext): Finding[] {
  const s = ctx.snapshot;
  const out: Finding[] = [];
  const capturedRoutes = new Set<RouteRecord>();
  const reached: ReachedPeer[] = [];
  for (const peer of ctx.peers) {
    const family = peer.address.includes(':') ? 6 : 4;
    const uplink = replyUplink(s, family, false);
    const r = routeFor(s, { dst: peer.address, src: uplink.src });
    const iface = leavesByNonUplink(s, r);
    if (!iface || !r.route) {
      reached.push({ peer, route: r.route, dev: r.dev });
      continue;
    }
    const neighbour = livesOnInterface(s, iface, peer.address, ctx.remotes);
    if (neighbour) {
      reached.push({ peer, neighbour });
      continue;
    }
    capturedRoutes.add(r.route);
    out.push({
      ...peerCaptureFinding({
        host: ctx.host, peer, family: r.family, rule: r.rule, route: r.route, table: r.table, iface, uplink: withUplinkGateway(s, uplink),
        evidence: captureEvidence(r.rule, r.route, iface, r.family), ownerFix: ownerFix(s, iface, r.route.dst),
      }),
      queries: [routeQuestion({ dst: peer.address, src: uplink.src }, r)],
      signals: kernelSignals({ cause: 'device-capture', device: iface.name }),
    });
  }
  for (const remote of ctx.remotes) {
    const rp = parsePrefix(remote, remote.includes(':') ? 6 : 4);
    if (!rp) continue;
    for (const idx of routesOnNonUplinks(s)) {
      const route = s.routes.get(idx);
      if (route.family !== rp.family || route.type !== 'unicast' || capturedRoutes.has(route)) continue;
      const devs = [route.dev, ...route.nexthops.map((n) => n.dev)].filter((d): d is string => !!d);
      const iface = devs.map((d) => interfaceByName(s, d)).find((i) => i && !i.uplink && i.kind !== 'loopback');
      const p = parsePrefix(route.dst, route.family);
      if (!iface || !p || !prefixesOverlap(p, rp)) continue;
      const region = p.len >= rp.len ? p : rp;
      const moreSpecific = longerPrefixes(s, idx, p.len);
      const witness = uncoveredAddress(region, moreSpecific);
      if (!witness) continue;
      const src = replyUplink(s, rp.family, false).src;
      const r = routeFor(s, { dst: witness, src });
      if (r.route !== route) continue;
      capturedRoutes.add(route);
      const subject = `${iface.name} ${route.dst} captures ${remote}`;
      out.push(make(ctx, 'error', subject, {
        summary: `${iface.name} ${route.dst} (${ownerText(iface)}) overlaps remote network ${remote}: traffic to ${formatPrefix(region)} leaves into ${iface.name}`,
        evidence: captureEvidence(r.rule, r.route, iface, r.family),
        why: `For ${witness} (in ${remote}) the route lookup picks ${route.dst} dev ${iface.name}, not the uplink: replies to hosts there go into the bridge.`,
        fix: [pinRouteStep(remote, replyUplink(s, rp.family)), ...ownerFix(s, iface, route.dst)].filter((x): x is string => !!x),
        queries: [routeQuestion({ dst: witness, src }, r)],
        signals: kernelSignals({ cause: 'device-capture', device: iface.name }),
      }));
    }
  }
  // Without a conflict, still say which private space bridges and tunnels hold.
  for (const idx of routesOnNonUplinks(s)) {
    const route = s.routes.get(idx);
    if (route.type !== 'unicast' || route.table !== 'main' || capturedRoutes.has(route) || !route.dev) continue;
    const iface = interfaceByName(s, route.dev);
    const p = parsePrefix(route.dst, route.family);
    if (!iface || iface.uplink || iface.kind === 'loopback' || !p || p.len === 0) continue;
    if (!PRIVATE_PREFIXES.some((pp) => prefixCovers(pp, p))) continue;
    if (iface.kind === 'veth' && (route.family === 4 ? p.len === 32 : p.len === 128)) continue; // per-pod host routes
    const subject = `${iface.name} ${route.dst}`;
    const inRange = reachedInRange(route, reached);
    const text = rangeInfoText(s, route, iface, inRange);
    out.push(make(ctx, 'info', subject, {
      summary: text.summary,
      evidence: uniqueEvidence([
        ...evidenceOf(route.origin),
        ...iface.addresses.filter((a) => a.family === route.family).flatMap((a) => evidenceOf(a.origin)),
        ...inRange.flatMap((x) => evidenceOf(x.neighbour?.origin ?? x.route?.origin)),
        ...(linkdownSkipped(s, route, iface) ? linkdownSettings(s, route.family, iface.name).flatMap((x) => evidenceOf(x.origin)) : []),
      ]),
      why: text.why,
      fix: [`# nothing to do unless a peer or remote network uses ${route.dst}; check with --peer IP or --remote CIDR.`],
    }));
  }
  return out;
}
