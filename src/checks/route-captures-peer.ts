/**
 * route-captures-peer: a route on a bridge or tunnel (docker0, br-*, cni0, virbr*, tun*, ...)
 * wins the lookup for a peer's address or for part of a remote network, so replies leave into
 * the bridge instead of the uplink. The first incident: ECS3's docker0 172.17.0.0/16 captures
 * replies to ECS1 172.17.0.64.
 */
import { evidenceOf, findingKey, uniqueEvidence, type Evidence, type Finding } from '../model/finding.js';
import type { RouteRecord, RuleRecord } from '../model/records.js';
import type { HostSnapshot, InterfaceModel } from '../model/snapshot.js';
import { formatIPv4, formatIPv6, formatPrefix, parsePrefix, PRIVATE_PREFIXES, prefixCovers, prefixesOverlap, type Prefix } from '../net/address.js';
import { kernelSignals } from '../simulate/kernel-signals.js';
import { routeQuestion } from '../simulate/route-get.js';
import { addressOn, leavesByNonUplink, primaryUplink, routeFor } from './routing.js';
import type { Check, CheckContext } from './types.js';
import { dockerNetworks, guessedGateway, interfaceByName, knownGateway, peerLabel, routesOnNonUplinks } from './view.js';

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

Fix: move the bridge to an unused range (Docker: "bip" and "default-address-pools" in
/etc/docker/daemon.json), or add a more specific route for the peer through the uplink.`,
  run(ctx) {
    const s = ctx.snapshot;
    const out: Finding[] = [];
    const capturedRoutes = new Set<RouteRecord>();
    for (const peer of ctx.peers) {
      const family = peer.address.includes(':') ? 6 : 4;
      const up = primaryUplink(s, family);
      const src = addressOn(up, family);
      const r = routeFor(s, { dst: peer.address, src });
      const iface = leavesByNonUplink(s, r);
      if (!iface || !r.route) continue;
      capturedRoutes.add(r.route);
      const subject = `${iface.name} ${r.route.dst} captures ${peer.address}`;
      out.push(make(ctx, 'error', subject, {
        summary: `${iface.name} ${r.route.dst} (${ownerText(iface)}) captures replies to ${peerLabel(peer)}: they leave into ${iface.name} instead of ${up?.name ?? 'the uplink'}`,
        evidence: captureEvidence(r.rule, r.route, iface, r.family),
        why: `A request from ${peer.address} arrives on ${up?.name ?? 'the uplink'}, but the reply's route lookup (ip route get ${peer.address}${src ? ` from ${src}` : ''}) picks ${r.route.dst} dev ${iface.name} in table ${r.table ?? 'main'}${iface.noCarrier ? ` — ${iface.name} has no carrier (linkdown) and still wins` : ''}. The reply never reaches the peer.`,
        fix: [pinRoute(s, `${peer.address}/${family === 4 ? 32 : 128}`, family), ...ownerFix(s, iface, r.route.dst)].filter((x): x is string => !!x),
        peers: [peer.address],
        queries: [routeQuestion({ dst: peer.address, src }, r)],
        signals: kernelSignals({ cause: 'device-capture', device: iface.name }),
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
        const src = addressOn(up, rp.family);
        const r = routeFor(s, { dst: witness, src });
        if (r.route !== route) continue;
        capturedRoutes.add(route);
        const subject = `${iface.name} ${route.dst} captures ${remote}`;
        out.push(make(ctx, 'error', subject, {
          summary: `${iface.name} ${route.dst} (${ownerText(iface)}) overlaps remote network ${remote}: traffic to ${formatPrefix(region)} leaves into ${iface.name}`,
          evidence: captureEvidence(r.rule, r.route, iface, r.family),
          why: `For ${witness} (in ${remote}) the route lookup picks ${route.dst} dev ${iface.name}, not the uplink: replies to hosts there go into the bridge.`,
          fix: [pinRoute(s, remote, rp.family), ...ownerFix(s, iface, route.dst)].filter((x): x is string => !!x),
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
      out.push(make(ctx, 'info', subject, {
        summary: `${iface.name} (${ownerText(iface)}) holds ${route.dst}: any peer or remote network in this range would be unreachable from here`,
        evidence: uniqueEvidence([...evidenceOf(route.origin), ...iface.addresses.filter((a) => a.family === route.family).flatMap((a) => evidenceOf(a.origin))]),
        why: `Replies to addresses in ${route.dst} leave into ${iface.name}. That is right for its own containers or tunnel peers, and wrong for a VM elsewhere that uses the same range.`,
        fix: [`# nothing to do unless a peer or remote network uses ${route.dst}; check with --peer IP or --remote CIDR.`],
      }));
    }
    return out;
  },
};
