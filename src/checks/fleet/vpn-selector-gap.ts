/**
 * vpn-selector-gap (fleet): a fleet host's traffic to a VPN connection's remote network reaches the
 * VPN gateway — a cloud node of the topology file, or a fleet host with `dir out` tunnel policies —
 * whose local subnets do not select the host's address. The gateway routes such packets in clear,
 * back by the route that brought them: the second incident's loop. Which gateway a source's packets
 * reach is decided by the path tracer (src/simulate/path.ts) over the sources' and routers' snapshots
 * and the topology's VPC routers; where a packet leaves the known network at a host, the topology's
 * VPC route table decides (topologySelectorGapList). One finding per (gateway, remote, source address).
 */
import type { XfrmPolicyRecord } from '../../model/xfrm.js';
import { findingKey, uniqueEvidence, type Evidence } from '../../model/finding.js';
import { memo, memoKey } from '../../model/memo.js';
import type { HostSnapshot } from '../../model/snapshot.js';
import { knownCidrOf, routeFor as tableRouteFor, type Topology } from '../../model/topology.js';
import { formatPrefix, parseAddress, parsePrefix, prefixContains, type Prefix } from '../../net/address.js';
import { followPacket, type PathHop, type PathLeg } from '../../simulate/path.js';
import { masked, outPolicies, representative, subtractPrefixes } from '../../simulate/path-selectors.js';
import { topologySelectorGapList } from '../../simulate/path-topology-gaps.js';
import { routeFor } from '../routing.js';
import { orientedConnections, selectorPrefixes } from '../vpn-selector-gap.js';
import { sysctls } from '../view.js';
import type { FleetCheck, FleetCheckContext, FleetFinding, FleetView } from './types.js';

const ID = 'vpn-selector-gap';

/** One remote network a gateway encrypts for some sources. */
interface Tunnel {
  remote: Prefix;
  /** `IPsec connection vco-x (name)`, `IPsec connection net/child`, or the kernel policy. */
  connection: string;
  local: Prefix[];
  evidence: Evidence[];
  /** The fix steps for a missing source CIDR. */
  fix(missing: string): string[];
}

interface Gateway {
  /** The finding's host: a topology gateway's id or a fleet host's name. */
  name: string;
  /** Its node name in path hops. */
  node: string;
  kind: 'cloud' | 'host';
  /** `VPN gateway vpn-x (name) 10.100.1.18` or `gateway host gw1`. */
  label: string;
  tunnels: Tunnel[];
  snapshot?: HostSnapshot;
}

/** A fleet host that can forward a packet towards a gateway (ip_forward = 1), or is a gateway. */
interface Router {
  snapshot: HostSnapshot;
  gateway?: Gateway;
}

const topologyLine = (text: string): Evidence => ({ source: 'topology', lineNumber: 0, text });
const hostEvidence = (host: string, ev: Evidence[]): Evidence[] => ev.map((e) => ({ ...e, source: `${host}:${e.source}` }));
const text = (p: Prefix): string => formatPrefix(p);
const prefixOf = (s: string): Prefix | null => {
  const p = parsePrefix(s, s.includes(':') ? 6 : 4, true);
  return p ? masked(p) : null;
};

function cloudGateways(t: Topology): Gateway[] {
  return t.vpnGateways.map((g) => ({
    name: g.id, node: `vpn-gateway ${g.id}`, kind: 'cloud' as const,
    label: `VPN gateway ${g.id}${g.name ? ` (${g.name})` : ''}${g.privateIps[0] ? ` ${g.privateIps[0]}` : ''}`,
    tunnels: g.connections.flatMap((c) => c.remoteSubnets.map((r) => prefixOf(r)).filter((r): r is Prefix => r !== null).map((remote) => ({
      remote,
      connection: `IPsec connection ${c.id}${c.name ? ` (${c.name})` : ''}`,
      local: c.localSubnets.map(prefixOf).filter((p): p is Prefix => p !== null),
      // The path tracer's line for the same connection, so the two merge.
      evidence: [topologyLine(`VPN connection ${c.id}: ${c.localSubnets.join(',')} === ${c.remoteSubnets.join(',')}`)],
      fix: (missing: string) => [
        `Add ${missing} to the local subnets of IPsec connection ${c.id} on VPN gateway ${g.id} (now ${c.localSubnets.join(', ')}), or set them to 0.0.0.0/0 as the incident's author suggests; the peer's remote subnets must match.`,
        `Alibaba Cloud CLI: aliyun vpc ModifyVpnConnectionAttribute --VpnConnectionId ${c.id} --LocalSubnet ${[...c.localSubnets, missing].join(',')} --RegionId <region>`,
      ],
    }))),
  }));
}

/** A fleet host's tunnel policies grouped by remote network, named by its IPsec config where it has one. */
function hostGateway(name: string, s: HostSnapshot): Gateway | undefined {
  const byRemote = new Map<string, { remote: Prefix; policies: XfrmPolicyRecord[]; local: Prefix[] }>();
  for (const p of outPolicies(s.xfrmPolicies)) {
    if (p.action !== 'allow' || !p.templates.some((t) => t.mode === 'tunnel')) continue;
    const dst = prefixOf(p.selector.dst);
    const src = prefixOf(p.selector.src);
    if (!dst || !src || dst.len === 0) continue;
    let g = byRemote.get(text(dst));
    if (!g) byRemote.set(text(dst), (g = { remote: dst, policies: [], local: [] }));
    g.policies.push(p);
    if (p.selector.proto === undefined) g.local.push(src);
  }
  if (byRemote.size === 0) return undefined;
  const conns = orientedConnections(s);
  const tunnels = [...byRemote.values()].map(({ remote, policies, local }): Tunnel => {
    const conf = conns.find((c) => selectorPrefixes(c.remoteTs, c.remoteAddrs).some((p) => text(p) === text(remote)));
    const model = policies.find((p) => p.selector.proto === undefined) ?? policies[0];
    const tmpl = model.templates.find((t) => t.mode === 'tunnel')!;
    return {
      remote, local,
      connection: conf ? `IPsec connection ${conf.connection}${conf.child ? `/${conf.child}` : ''}` : `the IPsec policy for ${text(remote)}`,
      evidence: hostEvidence(name, policies.map((p) => ({ source: p.origin.source ?? 'ip-xfrm-policy', lineNumber: p.origin.lineNumber, text: p.origin.text }))),
      fix: (missing) => [
        `on ${name}: ip xfrm policy add src ${missing} dst ${text(remote)} dir out priority ${model.priority} tmpl src ${tmpl.src} dst ${tmpl.dst} proto ${tmpl.proto ?? 'esp'}${tmpl.reqid !== undefined ? ` reqid ${tmpl.reqid}` : ''} mode tunnel   # immediate, not persistent`,
        `# persist: add ${missing} to ${conf ? `${conf.connection}'s local subnet (${conf.format === 'swanctl-conf' ? 'local_ts' : 'leftsubnet'})` : 'the connection\'s local subnet (swanctl.conf local_ts, ipsec.conf leftsubnet, the cloud VPN connection\'s local network)'} on ${name} and reload; or set it to 0.0.0.0/0 as the incident's author suggests`,
      ],
    };
  });
  return { name, node: name, kind: 'host', label: `IPsec gateway host ${name}`, tunnels, snapshot: s };
}

function forwards(s: HostSnapshot): boolean {
  return sysctls(s).some((r) => (r.key === 'net.ipv4.ip_forward' || r.key === 'net.ipv6.conf.all.forwarding') && r.value.trim() === '1');
}

function routerOf(name: string, s: HostSnapshot | undefined): Router | undefined {
  if (!s) return undefined;
  const gateway = hostGateway(name, s);
  return gateway || forwards(s) ? { snapshot: s, ...(gateway && { gateway }) } : undefined;
}

/** The fleet's routers and gateway hosts, kept per view and updated for the reporting host only. */
const ROUTERS = memoKey<FleetView, Map<string, Router>>('fleet vpn-selector-gap: routers');

function routersOf(fleet: FleetView, host: string | undefined): Map<string, Router> {
  let fresh = false;
  const routers = memo(fleet, ROUTERS, () => ((fresh = true), new Map<string, Router>()));
  if (fresh || host === undefined) {
    routers.clear();
    for (const h of fleet.hosts()) {
      const r = routerOf(h, fleet.snapshot(h));
      if (r) routers.set(h, r);
    }
    return routers;
  }
  for (const h of [host, ...routers.keys()]) {
    const s = fleet.snapshot(h);
    if (h !== host && routers.get(h)?.snapshot === s) continue;
    const r = routerOf(h, s);
    if (r) routers.set(h, r); else routers.delete(h);
  }
  return routers;
}

/** The CIDR to add: the narrowest network known for the address (topology, the gateway's route, its subnet), minus what is selected. */
function missingCidr(address: string, tunnel: Tunnel, gateway: Gateway, source: HostSnapshot, topology: Topology | undefined, hint?: string): string {
  const a = parseAddress(address)!;
  const own = source.interfaces.flatMap((i) => i.addresses).find((x) => x.cidr.split('/')[0] === address)?.cidr;
  const back = gateway.snapshot ? routeFor(gateway.snapshot, { dst: address }).route?.dst : undefined;
  for (const c of [hint, topology && knownCidrOf(topology, address), back, own]) {
    const p = c ? prefixOf(c) : null;
    if (!p || p.len === 0 || p.family !== a.family || !prefixContains(p, a)) continue;
    const piece = subtractPrefixes(p, tunnel.local).find((x) => prefixContains(x, a));
    if (piece) return text(piece);
  }
  return `${address}/${a.family === 4 ? 32 : 128}`;
}

/** The first hop where a gateway handles the packet without encrypting it. */
function unencryptedAt(leg: PathLeg, gateways: Map<string, Gateway>): { index: number; gateway: Gateway }[] {
  const out: { index: number; gateway: Gateway }[] = [];
  const seen = new Set<string>();
  leg.hops.forEach((h, index) => {
    const g = gateways.get(h.node);
    if (!g || seen.has(g.node) || h.iif === undefined || h.action === 'encrypt' || h.action === 'deliver' || h.action === 'drop') return;
    seen.add(g.node);
    out.push({ index, gateway: g });
  });
  return out;
}

/** True when the packet left the known network at a host through an uplink: the cloud's route table takes it from there. */
function leftAtHost(leg: PathLeg, snapshots: Map<string, HostSnapshot>): boolean {
  const last = leg.hops[leg.hops.length - 1];
  if (leg.outcome !== 'left' || !last || last.kind !== 'host' || (last.action !== 'send' && last.action !== 'forward')) return false;
  return snapshots.get(last.node)?.interfaces.find((i) => i.name === last.dev)?.uplink === true;
}

interface Gap {
  source: string;
  address: string;
  gateway: Gateway;
  tunnel: Tunnel;
  hops: PathHop[];
  loop: boolean;
  /** The cloud route table line that sends the remote to the gateway (the fallback). */
  tableLine?: string;
  hint?: string;
}

const hopEvidence = (hops: PathHop[]): Evidence[] => hops.flatMap((h) => (h.kind === 'host' ? hostEvidence(h.node, h.evidence) : h.evidence));

function findingOf(g: Gap, snapshot: HostSnapshot, topology: Topology | undefined): FleetFinding {
  const { source, address, gateway, tunnel } = g;
  const remote = text(tunnel.remote);
  const missing = missingCidr(address, tunnel, gateway, snapshot, topology, g.hint);
  const subject = `${remote} from ${address}`;
  const local = tunnel.local.map(text).join(', ') || 'no whole source network';
  const path = g.hops.map((h) => h.node).filter((n, i, all) => all.indexOf(n) === i);
  const via = path.filter((n) => n !== source && n !== gateway.name && snapshot.identity.name !== n && !n.startsWith('vpn-gateway ') && !n.startsWith('vpc-router '));
  const then = g.loop ? 'loops until its TTL runs out' : 'goes on unencrypted';
  return {
    check: ID, severity: 'error', host: gateway.name, subject, key: findingKey(ID, gateway.name, subject), pair: [source, gateway.name],
    ...(via.length > 0 && { via }),
    summary: `${source} ${address}'s traffic to ${remote} reaches ${gateway.label}, but ${tunnel.connection} selects only ${local}: ${address} is not encrypted and ${then}; add ${missing} to the connection's local subnets`,
    evidence: uniqueEvidence([...hopEvidence(g.hops), ...(g.tableLine ? [topologyLine(g.tableLine)] : []), ...tunnel.evidence]),
    why: `${g.tableLine ? `${source} sends ${remote} out of the known network and the cloud's ${g.tableLine}` : `The path ${path.join(' → ')} takes ${address}'s packets for ${remote} to ${gateway.name}`}. The gateway encrypts only sources in ${local}; a packet from ${address} is routed in clear instead${g.loop ? ', back by the route that brought it, and circles until its TTL runs out ("Time to live exceeded" from the gateway\'s private address; traceroute repeats it)' : ''}.`,
    fix: tunnel.fix(missing),
    peers: [address, remote],
  };
}

/** Trace each address of `source` to each remote network and collect the gateways that pass it in clear. */
function gapsOf(source: string, s: HostSnapshot, fleet: FleetView, routers: Map<string, Router>, gateways: Map<string, Gateway>, topology: Topology | undefined): Gap[] {
  const snaps = new Map<string, HostSnapshot>([[source, s]]);
  for (const [h, r] of routers) if (h !== source) snaps.set(h, r.snapshot);
  const list = [...snaps.values()];
  const remotes = new Map<string, Prefix>();
  for (const g of gateways.values()) for (const t of g.tunnels) remotes.set(text(t.remote), t.remote);
  const out: Gap[] = [];
  for (const { address } of fleet.addressesOf(source)) {
    const a = parseAddress(address);
    if (!a) continue;
    // A router's other addresses stand for the networks behind it: only the source its own traffic takes counts.
    const isRouter = routers.has(source);
    let fallback: ReturnType<typeof topologySelectorGapList> | undefined;
    for (const remote of remotes.values()) {
      if (remote.family !== a.family || prefixContains(remote, a)) continue;
      const dst = representative(remote);
      if (isRouter && routeFor(s, { dst }).src !== address) continue;
      const leg = followPacket(list, topology, { kind: 'host', snapshot: s }, { src: address, dst, proto: 'icmp', ttl: 64 });
      const tunnelAt = (g: Gateway) => g.tunnels.find((t) => text(t.remote) === text(remote) && !t.local.some((l) => prefixContains(l, a)));
      for (const { index, gateway } of unencryptedAt(leg, gateways)) {
        const tunnel = gateway.name === source ? undefined : tunnelAt(gateway);
        if (tunnel) out.push({ source, address, gateway, tunnel, hops: leg.hops.slice(0, index + 1), loop: leg.outcome === 'loop' });
      }
      if (!topology || !leftAtHost(leg, snaps)) continue;
      fallback ??= topologySelectorGapList(topology, [address]);
      for (const gap of fallback.filter((x) => x.remote === text(remote))) {
        const gateway = gateways.get(`vpn-gateway ${gap.gateway.id}`);
        const tunnel = gateway && tunnelAt(gateway);
        const route = tableRouteFor(gap.routeTable, dst);
        if (!gateway || !tunnel || !route) continue;
        const tableLine = `route table ${gap.routeTable.id}${gap.routeTable.vpc ? ` (${gap.routeTable.vpc})` : ''}: ${route.destination} → vpn-gateway ${gap.gateway.id}`;
        out.push({ source, address, gateway, tunnel, hops: leg.hops, loop: true, tableLine, hint: gap.missing });
      }
    }
  }
  return out;
}

export const vpnSelectorGapFleet: FleetCheck = {
  id: ID,
  title: "A host's traffic to a VPN's remote network reaches a gateway whose connection does not select it: a loop",
  severity: 'error',
  explain: `At fleet level the check follows each host's packets to every remote network a VPN
gateway protects — through the host's own routes, the routers of the fleet (hosts with ip_forward = 1)
and the topology file's VPC routers and route tables (hostcheck serve --topology) — and reports when
they reach the gateway (a VPN gateway of the topology, or a fleet host with ip xfrm "dir out" tunnel
policies) while the connection's local subnets ("interesting traffic") do not select the host's address.
The gateway then routes the packet in clear, back by the route that brought it: it loops until its TTL
runs out (the second incident: 10.64.3.22 → 10.200.1.15, "Time to live exceeded" from 10.100.1.18).
Where a packet leaves the fleet at a host's uplink, the topology's VPC route table decides whether it
reaches the gateway. The finding names the source host and address, the gateway, the connection and
the CIDR to add.

Fix: add the missing CIDR to the connection's local subnets (the cloud VPN connection's local
network, swanctl.conf local_ts, ipsec.conf leftsubnet) — or set them to 0.0.0.0/0 — and reload.`,
  run(ctx: FleetCheckContext): FleetFinding[] {
    const { fleet, host, topology } = ctx;
    const routers = routersOf(fleet, host);
    const gateways = new Map<string, Gateway>();
    for (const g of topology ? cloudGateways(topology) : []) if (g.tunnels.length) gateways.set(g.node, g);
    for (const r of routers.values()) if (r.gateway) gateways.set(r.gateway.node, r.gateway);
    if (gateways.size === 0) return [];
    // A router's or gateway's change can move any host's path: every host's findings are made again.
    const whole = host === undefined || routers.has(host);
    const sources = whole ? [...fleet.hosts()] : [host];
    const found = new Map<string, FleetFinding>();
    for (const source of sources) {
      const s = fleet.snapshot(source);
      if (!s) continue;
      for (const gap of gapsOf(source, s, fleet, routers, gateways, topology)) {
        const f = findingOf(gap, s, topology);
        if (!found.has(f.key) && (whole || f.pair.includes(host!) || f.via?.includes(host!))) found.set(f.key, f);
      }
    }
    return [...found.values()];
  },
  coversFleet: ({ fleet, host }) => host === undefined || routersOf(fleet, host).has(host),
};
