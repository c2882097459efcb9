/**
 * route-captures-peer, host family: a route on a bridge or tunnel (docker0, br-*, cni0, virbr*,
 * tun*, ...) wins the lookup for a peer's address or for part of a remote network, so replies
 * leave into the bridge instead of the uplink. The first incident: ECS3's docker0 172.17.0.0/16
 * captures replies to ECS1 172.17.0.64.
 */
import { evidenceOf, findingKey, uniqueEvidence, type Finding } from '../../model/finding.js';
import type { RouteRecord } from '../../model/records.js';
import type { HostSnapshot } from '../../model/snapshot.js';
import { formatIPv4, formatIPv6, formatPrefix, parsePrefix, PRIVATE_PREFIXES, prefixCovers, prefixesOverlap, type Prefix } from '../../net/address.js';
import { leavesByNonUplink, routeFor } from '../routing.js';
import type { HostContext } from '../types.js';
import { interfaceByName, routesOnNonUplinks } from '../view.js';
import { captureEvidence, ID, ownerFix, ownerText, peerCaptureFinding, pinRouteStep, replyUplink, withUplinkGateway } from './finding.js';

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

/** Peers whose replies, remote networks whose traffic, a bridge or tunnel route captures; else the private space such routes hold. */
export function capturesOnHost(ctx: HostContext): Finding[] {
  const s = ctx.snapshot;
  const out: Finding[] = [];
  const capturedRoutes = new Set<RouteRecord>();
  for (const peer of ctx.peers) {
    const family = peer.address.includes(':') ? 6 : 4;
    const uplink = replyUplink(s, family, false);
    const r = routeFor(s, { dst: peer.address, src: uplink.src });
    const iface = leavesByNonUplink(s, r);
    if (!iface || !r.route) continue;
    capturedRoutes.add(r.route);
    out.push(peerCaptureFinding({
      host: ctx.host, peer, family: r.family, rule: r.rule, route: r.route, table: r.table, iface, uplink: withUplinkGateway(s, uplink),
      evidence: captureEvidence(r.rule, r.route, iface, r.family), ownerFix: ownerFix(s, iface, r.route.dst),
    }));
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
      const r = routeFor(s, { dst: witness, src: replyUplink(s, rp.family, false).src });
      if (r.route !== route) continue;
      capturedRoutes.add(route);
      const subject = `${iface.name} ${route.dst} captures ${remote}`;
      out.push(make(ctx, 'error', subject, {
        summary: `${iface.name} ${route.dst} (${ownerText(iface)}) overlaps remote network ${remote}: traffic to ${formatPrefix(region)} leaves into ${iface.name}`,
        evidence: captureEvidence(r.rule, r.route, iface, r.family),
        why: `For ${witness} (in ${remote}) the route lookup picks ${route.dst} dev ${iface.name}, not the uplink: replies to hosts there go into the bridge.`,
        fix: [pinRouteStep(remote, replyUplink(s, rp.family)), ...ownerFix(s, iface, route.dst)].filter((x): x is string => !!x),
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
    out.push(make(ctx, 'info', subject, {
      summary: `${iface.name} (${ownerText(iface)}) holds ${route.dst}: any peer or remote network in this range would be unreachable from here`,
      evidence: uniqueEvidence([...evidenceOf(route.origin), ...iface.addresses.filter((a) => a.family === route.family).flatMap((a) => evidenceOf(a.origin))]),
      why: `Replies to addresses in ${route.dst} leave into ${iface.name}. That is right for its own containers or tunnel peers, and wrong for a VM elsewhere that uses the same range.`,
      fix: [`# nothing to do unless a peer or remote network uses ${route.dst}; check with --peer IP or --remote CIDR.`],
    }));
  }
  return out;
}
