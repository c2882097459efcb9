/**
 * The cloud topology file's types and the queries over it (which VPC, vSwitch, route or VPN
 * gateway holds an address). Reading and validating the file is topology-schema.ts (zod), kept
 * apart so that what the agent imports loads no zod. Documented in docs/topology.md.
 */
import { parseAddress, parsePrefix, prefixContains, type Prefix } from '../net/address.js';

export type { NextHopType, Topology, TopologyRoute, TopologyRouteTable, VpnConnection, VpnGateway } from './topology-schema.js';
import type { Topology, TopologyRoute, TopologyRouteTable, VpnGateway } from './topology-schema.js';

function within(cidrText: string, ip: string): boolean {
  const p = parsePrefix(cidrText);
  const a = parseAddress(ip);
  return p !== null && a !== null && p.family === a.family && prefixContains(p, a);
}

/** The most specific CIDR of `cidrs` that holds `ip`. */
export function longestMatch(cidrs: readonly string[], ip: string): string | undefined {
  let best: { text: string; len: number } | undefined;
  for (const c of cidrs) {
    if (!within(c, ip)) continue;
    const len = (parsePrefix(c) as Prefix).len;
    if (!best || len > best.len) best = { text: c, len };
  }
  return best?.text;
}

export const subnetContains = within;

const label = (kind: string, o: { id: string; name?: string }) => `${kind} ${o.id}${o.name ? ` (${o.name})` : ''}`;

/** Where an exact address belongs, e.g. `the private address of VPN gateway vpn-x (idc-vpn)`. */
export function describeAddress(t: Topology, ip: string): string | undefined {
  for (const g of t.vpnGateways) {
    if (g.privateIps.includes(ip)) return `the private address of ${label('VPN gateway', g)}`;
    if (g.publicIp === ip) return `the public address of ${label('VPN gateway', g)}`;
  }
  for (const r of t.transitRouters) if (r.addresses.includes(ip)) return `an address of ${label('transit router', r)}${r.cen ? ` in CEN ${r.cen}` : ''}`;
  for (const h of t.hosts) if (h.addresses.includes(ip)) return `host ${h.name}${h.role ? ` (${h.role})` : ''}${h.vpc ? ` in ${h.vpc}` : ''}`;
  for (const v of t.vpcs) for (const s of v.vswitches) if (s.gateway === ip) return `the VPC router's address in ${label('vSwitch', s)} of ${label('VPC', v)}`;
  return describeNetwork(t, ip);
}

/** Which known network holds `ip` (vSwitch, VPC, or a VPN connection's remote subnets). */
export function describeNetwork(t: Topology, ip: string): string | undefined {
  for (const v of t.vpcs) {
    for (const s of v.vswitches) if (within(s.cidr, ip)) return `an address in ${label('vSwitch', s)} (${s.cidr}) of ${label('VPC', v)}`;
    const c = longestMatch(v.cidrs, ip);
    if (c) return `an address in ${label('VPC', v)} (${c})`;
  }
  for (const g of t.vpnGateways) {
    for (const c of g.connections) {
      const r = longestMatch(c.remoteSubnets, ip);
      if (r) return `an address in the remote subnet ${r} of ${label('VPN connection', c)} on ${g.id}`;
    }
  }
  const n = longestMatch(t.networks.map((x) => x.cidr), ip);
  const net = n === undefined ? undefined : t.networks.find((x) => x.cidr === n);
  return net ? `an address in ${net.name} (${net.cidr})` : undefined;
}

/** The VPN gateway whose private address is `ip`. */
export function vpnGatewayAt(t: Topology, ip: string): VpnGateway | undefined {
  return t.vpnGateways.find((g) => g.privateIps.includes(ip));
}

/** The route of a table that `ip` takes (longest prefix). */
export function routeFor(table: TopologyRouteTable, ip: string): TopologyRoute | undefined {
  const dest = longestMatch(table.routes.map((r) => r.destination), ip);
  return dest === undefined ? undefined : table.routes.find((r) => r.destination === dest);
}

/** The narrowest CIDR the topology knows for `ip` (vSwitch, VPC, a named network), for fixes. */
export function knownCidrOf(t: Topology, ip: string): string | undefined {
  const candidates = [...t.vpcs.flatMap((v) => [...v.cidrs, ...v.vswitches.map((s) => s.cidr)]), ...t.networks.map((n) => n.cidr)];
  return longestMatch(candidates, ip);
}
