/**
 * vpn-selector-gap, fleet family. The finding is the gateway's: a fleet host with `dir out`
 * tunnel policies (its host family's finding, given the peers and remotes the aggregator gives
 * its agent) or a VPN gateway of the topology file (cloud.ts). The fleet adds who suffers it:
 * each host's packets to every protected remote network are followed by the path tracer
 * (src/simulate/path.ts) through the host's routes, the fleet's routers (ip_forward = 1) and the
 * topology's VPC routers; where a gateway handles them without encrypting, or where they leave
 * the fleet at a host's uplink into a VPC whose route table sends them to such a gateway, the
 * gateway's finding gets the pair [source host, gateway]. One finding per (gateway, remote),
 * whatever the face: the matcher merges the pairs.
 */
import type { Finding } from '../../model/finding.js';
import { memo, memoKey } from '../../model/memo.js';
import type { HostSnapshot } from '../../model/snapshot.js';
import { parseAddress, prefixContains, type Prefix } from '../../net/address.js';
import { followPacket, type PathLeg } from '../../simulate/path.js';
import { representative } from '../../simulate/path-selectors.js';
import { contextFor, contextNames, contextPeers } from '../fleet-context.js';
import { fleetFinding } from '../fleet-finding.js';
import { routeFor } from '../routing.js';
import type { FleetContext, FleetFinding, FleetView } from '../types.js';
import { sysctls } from '../view.js';
import { cloudGaps, type CloudGap } from './cloud.js';
import { gatewayGaps, protectedNetworks, type GatewayGap } from './host.js';
import { text } from './text.js';

/** A fleet host that can forward a packet towards a gateway (ip_forward = 1), or is a gateway. */
interface Router {
  snapshot: HostSnapshot;
  /** The remote networks it protects as a gateway (none: a plain router). */
  remotes: Prefix[];
  /** Its gaps as a gateway, and the peers and remotes they were found with. */
  gaps?: { context: string; gaps: GatewayGap[] };
}

function forwards(s: HostSnapshot): boolean {
  return sysctls(s).some((r) => (r.key === 'net.ipv4.ip_forward' || r.key === 'net.ipv6.conf.all.forwarding') && r.value.trim() === '1');
}

function routerOf(s: HostSnapshot | undefined): Router | undefined {
  if (!s) return undefined;
  const remotes = protectedNetworks(s);
  return remotes.length > 0 || forwards(s) ? { snapshot: s, remotes } : undefined;
}

/** The fleet's routers and gateway hosts, kept per view and updated for the reporting host only. */
const ROUTERS = memoKey<FleetView, Map<string, Router>>('fleet vpn-selector-gap: routers');

function routersOf(fleet: FleetView, host: string | undefined): Map<string, Router> {
  let fresh = false;
  const routers = memo(fleet, ROUTERS, () => ((fresh = true), new Map<string, Router>()));
  if (fresh || host === undefined) {
    routers.clear();
    for (const h of fleet.hosts()) {
      const r = routerOf(fleet.snapshot(h));
      if (r) routers.set(h, r);
    }
    return routers;
  }
  for (const h of [host, ...routers.keys()]) {
    const s = fleet.snapshot(h);
    if (h !== host && routers.get(h)?.snapshot === s) continue;
    const r = routerOf(s);
    if (r) routers.set(h, r); else routers.delete(h);
  }
  return routers;
}

/** True when the packet left the known network at a host through an uplink: the cloud's route table takes it from there. */
function leftAtHost(leg: PathLeg, snapshots: Map<string, HostSnapshot>): boolean {
  const last = leg.hops[leg.hops.length - 1];
  if (leg.outcome !== 'left' || !last || last.kind !== 'host' || (last.action !== 'send' && last.action !== 'forward')) return false;
  return snapshots.get(last.node)?.interfaces.find((i) => i.name === last.dev)?.uplink === true;
}

/** True when a fleet host holds `ip` on an uplink. */
function heldByFleet(fleet: FleetView, ip: string): boolean {
  const a = parseAddress(ip);
  return a !== null && fleet.addressesIn({ ...a, len: a.family === 4 ? 32 : 128 } as Prefix).length > 0;
}

/** One run's view of the gateways: host gateways' gaps (kept while their snapshot and context stay) and the topology's. */
class Gateways {
  private readonly asked = new Set<string>();
  readonly cloud: CloudGap[];

  constructor(private readonly fleet: FleetView, readonly routers: Map<string, Router>, topology: FleetContext['topology']) {
    // A topology gateway whose private address a fleet host holds is that host: its own view stands.
    this.cloud = topology ? cloudGaps(topology).filter((g) => !g.gateway.privateIps.some((ip) => heldByFleet(fleet, ip))) : [];
  }

  /** A gateway host's gaps: its host family with the peers and remotes its agent gets from the fleet. */
  ofHost(name: string): GatewayGap[] {
    const router = this.routers.get(name);
    if (!router || router.remotes.length === 0) return [];
    if (router.gaps && this.asked.has(name)) return router.gaps.gaps;
    this.asked.add(name);
    const snapshot = router.snapshot;
    const own = new Set(snapshot.interfaces.flatMap((i) => i.addresses.map((a) => a.cidr.split('/')[0])));
    const { peers, remotes } = contextPeers(contextFor(this.fleet, name, contextNames(this.fleet, name)), own);
    // The analysis costs far more than its context: keep it while the context is the same.
    const context = `${peers.map((p) => `${p.address}=${p.name}`).join(',')}|${remotes.join(',')}`;
    if (router.gaps?.context !== context) router.gaps = { context, gaps: gatewayGaps({ host: name, snapshot, peers, remotes, ports: [] }) };
    return router.gaps.gaps;
  }

  /** The remote networks the gateways protect. */
  remotes(): Prefix[] {
    const out = new Map<string, Prefix>();
    for (const r of this.routers.values()) for (const p of r.remotes) out.set(text(p), p);
    for (const g of this.cloud) out.set(text(g.remote), g.remote);
    return [...out.values()];
  }
}

/** A gateway's finding and the gateway's name (a fleet host, or a topology VPN gateway's id). */
interface GapAt {
  finding: Finding;
  name: string;
}

/** The gateway finding that holds `address`'s packets to `remote` at `node` (a host's name or `vpn-gateway ID`). */
function gapAt(gw: Gateways, node: string, remote: Prefix, address: string): GapAt | undefined {
  const a = parseAddress(address);
  if (!a) return undefined;
  const holds = (g: { remote: Prefix; missing: Prefix[] }) => text(g.remote) === text(remote) && g.missing.some((m) => prefixContains(m, a));
  if (node.startsWith('vpn-gateway ')) {
    const id = node.slice('vpn-gateway '.length);
    const gap = gw.cloud.find((g) => g.gateway.id === id && holds(g));
    return gap && { finding: gap.finding, name: id };
  }
  const gap = gw.ofHost(node).find(holds);
  return gap && { finding: gap.finding, name: node };
}

/** Every gateway finding, and each fleet host whose packets fall into one. */
export function gapsInFleet(ctx: FleetContext): FleetFinding[] {
  const { fleet, host, topology } = ctx;
  const gw = new Gateways(fleet, routersOf(fleet, host), topology);
  const remotes = gw.remotes();
  if (remotes.length === 0) return [];
  // A router's or gateway's change can move any host's path: every host's findings are made again.
  const whole = host === undefined || gw.routers.has(host);
  const found = new Map<string, FleetFinding>();
  const add = (f: FleetFinding): void => {
    const involves = whole || f.host === host || f.pairs.some((p) => p.includes(host)) || f.via?.includes(host);
    if (involves) found.set(`${f.key}\u0000${f.pairs.map((p) => p.join('\u0000')).join('\u0000')}`, f);
  };
  // The gateways' own findings: all of them when every host's are made again; else none involve the host.
  if (whole) {
    for (const [name, r] of gw.routers) if (r.remotes.length > 0) for (const g of gw.ofHost(name)) add(fleetFinding(g.finding, []));
    for (const g of gw.cloud) add(fleetFinding(g.finding, []));
  }
  const sources = whole ? [...fleet.hosts()] : [host!];
  for (const source of sources) {
    const s = fleet.snapshot(source);
    if (!s) continue;
    const snaps = new Map<string, HostSnapshot>([[source, s]]);
    for (const [h, r] of gw.routers) if (h !== source) snaps.set(h, r.snapshot);
    const list = [...snaps.values()];
    // A router's other addresses stand for the networks behind it: only the source its own traffic takes counts.
    const isRouter = gw.routers.has(source);
    for (const { address } of fleet.addressesOf(source)) {
      const a = parseAddress(address);
      if (!a) continue;
      for (const remote of remotes) {
        if (remote.family !== a.family || prefixContains(remote, a)) continue;
        const dst = representative(remote);
        if (isRouter && routeFor(s, { dst }).src !== address) continue;
        const leg = followPacket(list, topology, { kind: 'host', snapshot: s }, { src: address, dst, proto: 'icmp', ttl: 64 });
        const nodes = [...new Set(leg.hops.map((h) => h.node))];
        const pairWith = (gap: GapAt): void => {
          const via = nodes.filter((n) => n !== source && n !== gap.name && !n.startsWith('vpn-gateway ') && !n.startsWith('vpc-router '));
          add(fleetFinding(gap.finding, [[source, gap.name]], via));
        };
        // Each gateway on the way that handles the packet without encrypting it.
        const seen = new Set<string>();
        for (const h of leg.hops) {
          if (seen.has(h.node) || h.node === source || h.iif === undefined || h.action === 'encrypt' || h.action === 'deliver' || h.action === 'drop') continue;
          seen.add(h.node);
          const gap = gapAt(gw, h.node, remote, address);
          if (gap) pairWith(gap);
        }
        // Out of an uplink into the cloud: the topology's route table sends it to a VPN gateway that leaves it out.
        if (topology && leftAtHost(leg, snaps)) for (const g of gw.cloud) if (text(g.remote) === text(remote) && g.missing.some((m) => prefixContains(m, a))) pairWith({ finding: g.finding, name: g.gateway.id });
      }
    }
  }
  return [...found.values()];
}

/** A router's or gateway's report makes every host's findings again (its change can move any path). */
export function gapsCoverFleet({ fleet, host }: FleetContext): boolean {
  return host === undefined || routersOf(fleet, host).has(host);
}
