/**
 * Cloud nodes of the topology file as the path tracer sees them: a VPN gateway (encrypts what its
 * connections' local/remote subnets select, routes everything else by its VPC's route table) and
 * a VPC router (a vSwitch's gateway address, routing by the route table).
 */
import type { Evidence } from '../model/finding.js';
import { longestMatch, routeFor, vpnGatewayAt, type Topology, type TopologyRouteTable, type VpnGateway } from '../model/topology.js';
import type { CloudNode, Packet, PathHop, PathNode, Step } from './path-types.js';

function vpnNode(g: VpnGateway): CloudNode {
  return { name: `vpn-gateway ${g.id}`, kind: 'vpn-gateway', address: g.privateIps[0], gateway: g, vpc: g.vpc, vswitch: g.vswitch };
}

function routerNode(t: Topology, vswitch: string): CloudNode | undefined {
  for (const v of t.vpcs) {
    const s = v.vswitches.find((x) => x.id === vswitch);
    if (s) return { name: `vpc-router ${s.id}`, kind: 'vpc-router', address: s.gateway, vpc: v.id, vswitch: s.id };
  }
  return undefined;
}

/** The cloud node that holds an address (a VPN gateway's private IP, a vSwitch's gateway). */
export function cloudNodeAt(t: Topology, ip: string): CloudNode | undefined {
  const g = vpnGatewayAt(t, ip);
  if (g) return vpnNode(g);
  for (const v of t.vpcs) for (const s of v.vswitches) if (s.gateway === ip) return routerNode(t, s.id);
  return undefined;
}

/** The first cloud node a topology host's packets meet (its vSwitch's router), or a node by name. */
export function cloudStart(t: Topology, ipOrName: string): { node: CloudNode; address?: string } | undefined {
  const byName = [...t.vpnGateways.map(vpnNode), ...t.vpcs.flatMap((v) => v.vswitches.map((s) => routerNode(t, s.id)!))].find((n) => n.name === ipOrName);
  if (byName) return { node: byName, address: byName.address };
  const host = t.hosts.find((h) => h.addresses.includes(ipOrName));
  const vswitch = host?.vswitch ?? t.vpcs.flatMap((v) => v.vswitches).find((s) => longestMatch([s.cidr], ipOrName))?.id;
  const node = vswitch ? routerNode(t, vswitch) : undefined;
  return node ? { node } : undefined;
}

/** The route table of a VPC that serves a vSwitch (else the VPC's first table). */
function tableFor(t: Topology, vpc: string | undefined, vswitch: string | undefined): TopologyRouteTable | undefined {
  const tables = t.routeTables.filter((rt) => vpc === undefined || rt.vpc === undefined || rt.vpc === vpc);
  return tables.find((rt) => vswitch !== undefined && rt.vswitches.includes(vswitch)) ?? tables[0];
}

const topologyLine = (text: string): Evidence => ({ source: 'topology', lineNumber: 0, text });

/** Route a packet by the VPC route table, as the cloud's router does. */
function routeByTable(t: Topology, node: CloudNode, p: Packet, base: Omit<PathHop, 'action' | 'note' | 'evidence'>, neighbour: (ip: string) => PathNode | undefined, why: string): Step {
  const table = tableFor(t, node.vpc, node.vswitch);
  const route = table ? routeFor(table, p.dst) : undefined;
  const hopOf = route?.nextHops[0];
  if (!table || !route || !hopOf) {
    const local = neighbour(p.dst);
    if (local) return { hop: { ...base, action: 'forward', note: `${why}${p.dst} is in the VPC`, evidence: [] }, next: local };
    return { hop: { ...base, action: 'leave', note: `${why}no route for ${p.dst} in ${table ? `route table ${table.id}` : 'the topology'}`, evidence: [] }, outcome: 'left', detail: `left the known network at ${node.name}: no route for ${p.dst}` };
  }
  const line = `route table ${table.id}: ${route.destination} → ${hopOf.type}${hopOf.id ? ` ${hopOf.id}` : ''}`;
  const hop = { ...base, action: 'forward' as const, note: `${why}${line}`, evidence: [topologyLine(line)] };
  if (hopOf.type === 'vpn-gateway') {
    const g = t.vpnGateways.find((x) => x.id === hopOf.id);
    if (g) return { hop, next: { kind: 'cloud', node: vpnNode(g), iif: 'vpc' } };
  }
  if (hopOf.type === 'local') {
    const n = neighbour(p.dst);
    if (n) return { hop, next: n };
  }
  if (hopOf.type === 'instance' || hopOf.type === 'eni') {
    const h = t.hosts.find((x) => x.name === hopOf.id);
    const n = h?.addresses.map(neighbour).find((x) => x);
    if (n) return { hop, next: n };
  }
  return { hop: { ...hop, action: 'leave' }, outcome: 'left', detail: `left the known network at ${node.name}: ${line}` };
}

/** One cloud node's handling of the packet. */
export function cloudStep(t: Topology, node: CloudNode, p: Packet, neighbour: (ip: string) => PathNode | undefined): Step {
  const base = { node: node.name, kind: node.kind, iif: 'vpc', ttl: p.ttl };
  if (node.kind === 'vpn-gateway' && node.gateway) {
    const g = node.gateway;
    const conn = g.connections.find((c) => longestMatch(c.remoteSubnets, p.dst));
    if (conn && longestMatch(conn.localSubnets, p.src)) {
      const line = `VPN connection ${conn.id}: ${conn.localSubnets.join(',')} === ${conn.remoteSubnets.join(',')}`;
      return { hop: { ...base, action: 'encrypt', note: `${line} encrypts it`, evidence: [topologyLine(line)] }, outcome: 'left', detail: `encrypted at VPN gateway ${g.id} into IPsec connection ${conn.id}${conn.customerGateway ? ` to ${conn.customerGateway}` : ''}` };
    }
    const why = conn ? `${p.src} is outside VPN connection ${conn.id}'s local subnets ${conn.localSubnets.join(',')}: not encrypted; ` : `no VPN connection of ${g.id} has ${p.dst} in its remote subnets; `;
    // A VPC router we have a bundle of (its vSwitch gateway address) routes it; else the route table does.
    const vsw = node.vswitch ? routerNode(t, node.vswitch) : undefined;
    const viaRouter = vsw?.address ? neighbour(vsw.address) : undefined;
    if (viaRouter && viaRouter.kind === 'host') {
      return { hop: { ...base, action: 'forward', via: vsw!.address, note: `${why}sent to the VPC router ${vsw!.address}`, evidence: conn ? [topologyLine(`VPN connection ${conn.id}: ${conn.localSubnets.join(',')} === ${conn.remoteSubnets.join(',')}`)] : [] }, next: viaRouter };
    }
    return routeByTable(t, node, p, base, neighbour, why);
  }
  return routeByTable(t, node, p, base, neighbour, '');
}
