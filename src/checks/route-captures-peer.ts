/**
 * route-captures-peer: a route on a bridge or tunnel (docker0, br-*, cni0, virbr*, tun*, ...)
 * wins the lookup for a peer's address or for part of a remote network, so replies leave into
 * the bridge instead of the uplink. The first incident: ECS3's docker0 172.17.0.0/16 captures
 * replies to ECS1 172.17.0.64.
 */
import type { Peer } from '../model/config.js';
import { evidenceOf, findingKey, uniqueEvidence, type Evidence, type Finding } from '../model/finding.js';
import { memo, memoKey } from '../model/memo.js';
import type { NeighbourRecord, RouteRecord, RuleRecord } from '../model/records.js';
import type { HostSnapshot, InterfaceModel } from '../model/snapshot.js';
import { formatAddress, formatIPv4, formatIPv6, formatPrefix, parseAddress, parsePrefix, PRIVATE_PREFIXES, prefixContains, prefixCovers, prefixesOverlap, type Prefix } from '../net/address.js';
import { addressOn, fibOf, leavesByNonUplink, primaryUplink, routeFor } from './routing.js';
import type { Check, CheckContext } from './types.js';
import { dockerNetworks, guessedGateway, interfaceByName, knownGateway, peerLabel, routesOnNonUplinks, sysctls } from './view.js';

export const ID = 'route-captures-peer';

/** Who made the interface, in words: "Docker network bridge", "CNI", "libvirt", "VPN". */
export function ownerText(i: InterfaceModel): string {
  const o = i.owner;
  if (!o) return i.kind;
  if (o.type === 'docker') return o.name ? `Docker network "${o.name}"` : 'Docker';
  return { cni: 'a CNI plugin', kubernetes: 'Kubernetes', libvirt: 'libvirt', vpn: 'a VPN', unknown: i.kind }[o.type];
}

/**
 * The lines that prove a capture: the rule (when not the plain main lookup), the route, the
 * interface's addresses of the family, its NO-CARRIER line. Shared with the fleet check, so
 * both findings quote the same lines.
 */
export function captureEvidence(rule: Pick<RuleRecord, 'origin' | 'priority' | 'table'> | undefined, route: RouteRecord | undefined, iface: InterfaceModel, family: 4 | 6): Evidence[] {
  const ev: Evidence[] = [];
  if (rule && rule.origin.lineNumber > 0 && !(rule.priority === 32766 && rule.table === 'main')) ev.push(...evidenceOf(rule.origin));
  ev.push(...evidenceOf(route?.origin));
  for (const a of iface.addresses) if (a.family === family) ev.push(...evidenceOf(a.origin));
  if (iface.noCarrier) ev.push(...evidenceOf(iface.origin));
  return uniqueEvidence(ev);
}

/** The owner-specific fix steps (shared with the fleet check, so both findings say the same). */
export function ownerFix(s: HostSnapshot, iface: InterfaceModel, avoid: string): string[] {
  if (iface.owner?.type === 'docker') {
    const net = dockerNetworks(s).find((n) => n.bridgeName === iface.name);
    if (iface.name === 'docker0' || net?.name === 'bridge') {
      return [`# then move docker0 off ${avoid}: set "bip" (and "default-address-pools") in /etc/docker/daemon.json to an unused range, e.g. {"bip": "10.250.0.1/24", "default-address-pools": [{"base": "10.251.0.0/16", "size": 24}]}, then systemctl restart docker`];
    }
    return [`# then recreate Docker network ${net ? `"${net.name}"` : iface.name} on an unused subnet (docker network rm, then docker network create --subnet 10.251.x.0/24 ...), and set "default-address-pools" in /etc/docker/daemon.json so new networks avoid ${avoid}`];
  }
  if (iface.owner?.type === 'libvirt') return [`# then readdress the libvirt network on ${iface.name} (virsh net-edit) to a range that avoids ${avoid}`];
  if (iface.owner?.type === 'cni' || iface.owner?.type === 'kubernetes') return [`# then move the pod/service CIDR of the CNI on ${iface.name} off ${avoid} (cluster network configuration)`];
  return [`# then readdress ${iface.name} so its routes no longer cover ${avoid}`];
}

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
 * the uplink (inside a --remote network). Shared with the fleet check.
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

function pinRoute(s: HostSnapshot, target: string, family: 4 | 6): string | undefined {
  const up = primaryUplink(s, family);
  if (!up) return undefined;
  const gw = knownGateway(s, up) ?? guessedGateway(up);
  return `ip route add ${target} ${gw ? `via ${gw} ` : ''}dev ${up.name}   # immediate: a more specific route out of ${up.name} (not persistent)`;
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

function make(ctx: CheckContext, severity: Finding['severity'], subject: string, f: Omit<Finding, 'check' | 'severity' | 'host' | 'subject' | 'key'>): Finding {
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

export const routeCapturesPeer: Check = {
  id: ID,
  title: 'A bridge or tunnel route captures traffic for a peer or remote network',
  severity: 'error',
  explain: `A peer's request arrives on the uplink (eth0), but the kernel routes the reply by
destination: when a bridge or tunnel interface (docker0, br-*, cni0, flannel.*, cali*, virbr*,
tun*, wg*) holds a route covering the peer's address, that route wins and the reply leaves into
the bridge. The peer sees a timeout; other peers work; the cloud's configuration is correct.
A NO-CARRIER docker0 with no containers still captures: its route says "linkdown" but stays
usable unless ignore_routes_with_linkdown=1.

It checks every peer (--peer, config, fleet) with the same lookup the kernel makes for the
reply, and every remote network (--remote) for any address a bridge route wins. Without peers
or remotes it reports, as info, the private address space bridges and tunnels hold.

A peer that lives on the bridge (a VM or container on br0, docker0, virbr0) is reached there,
not captured: the bridge has carrier, the kernel has resolved the peer's address on it (a
neighbour entry with a link-layer address, from ip neigh), and the peer is not inside a
--remote network. A peer elsewhere whose replies go into the bridge never answers its ARP
there (FAILED or no entry), and a bridge without ports (NO-CARRIER) holds nobody.

Fix: move the bridge to an unused range (Docker: "bip" and "default-address-pools" in
/etc/docker/daemon.json), or add a more specific route for the peer through the uplink.`,
  run(ctx) {
    const s = ctx.snapshot;
    const out: Finding[] = [];
    const capturedRoutes = new Set<RouteRecord>();
    const reached: ReachedPeer[] = [];
    for (const peer of ctx.peers) {
      const family = peer.address.includes(':') ? 6 : 4;
      const up = primaryUplink(s, family);
      const src = addressOn(up, family);
      const r = routeFor(s, { dst: peer.address, src });
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
      const subject = `${iface.name} ${r.route.dst} captures ${peer.address}`;
      out.push(make(ctx, 'error', subject, {
        summary: `${iface.name} ${r.route.dst} (${ownerText(iface)}) captures replies to ${peerLabel(peer)}: they leave into ${iface.name} instead of ${up?.name ?? 'the uplink'}`,
        evidence: captureEvidence(r.rule, r.route, iface, r.family),
        why: `A request from ${peer.address} arrives on ${up?.name ?? 'the uplink'}, but the reply's route lookup (ip route get ${peer.address}${src ? ` from ${src}` : ''}) picks ${r.route.dst} dev ${iface.name} in table ${r.table ?? 'main'}${iface.noCarrier ? ` — ${iface.name} has no carrier (linkdown) and still wins` : ''}. The reply never reaches the peer.`,
        fix: [pinRoute(s, `${peer.address}/${family === 4 ? 32 : 128}`, family), ...ownerFix(s, iface, r.route.dst)].filter((x): x is string => !!x),
        peers: [peer.address],
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
        const up = primaryUplink(s, rp.family);
        const r = routeFor(s, { dst: witness, src: addressOn(up, rp.family) });
        if (r.route !== route) continue;
        capturedRoutes.add(route);
        const subject = `${iface.name} ${route.dst} captures ${remote}`;
        out.push(make(ctx, 'error', subject, {
          summary: `${iface.name} ${route.dst} (${ownerText(iface)}) overlaps remote network ${remote}: traffic to ${formatPrefix(region)} leaves into ${iface.name}`,
          evidence: captureEvidence(r.rule, r.route, iface, r.family),
          why: `For ${witness} (in ${remote}) the route lookup picks ${route.dst} dev ${iface.name}, not the uplink: replies to hosts there go into the bridge.`,
          fix: [pinRoute(s, remote, rp.family), ...ownerFix(s, iface, route.dst)].filter((x): x is string => !!x),
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
  },
};
