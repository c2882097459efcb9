/**
 * The second incident's diagnosis: a loop at a VPN gateway's private address means the gateway
 * did not encrypt the packet (its source is outside the IPsec connection's local subnets) and
 * routed it again by the VPC route that points at the gateway itself.
 */
import { knownCidrOf, longestMatch, routeFor, type Topology, type VpnConnection, type VpnGateway } from '../model/topology.js';

export interface SelectorGap {
  gateway: VpnGateway;
  /** The connection whose remote subnets hold the destination (undefined: none does). */
  connection?: VpnConnection;
  /** Whether the source is inside that connection's local subnets (undefined: source unknown). */
  sourceCovered?: boolean;
  /** `vtb-x: 10.200.0.0/20 → vpn-y`, the VPC route that sends the packet back to the gateway. */
  vpcRoute?: string;
  /** What to add to the local subnets. */
  cidrToAdd: string;
}

function label(o: { id: string; name?: string }): string {
  return `${o.id}${o.name ? ` (${o.name})` : ''}`;
}

/** Explain a loop at `gateway` for `source` → `destination`. */
export function selectorGap(topology: Topology, gateway: VpnGateway, source: string | undefined, destination: string | undefined): SelectorGap {
  const connection = destination === undefined ? gateway.connections[0] : gateway.connections.find((c) => longestMatch(c.remoteSubnets, destination));
  const gap: SelectorGap = { gateway, cidrToAdd: source ? (knownCidrOf(topology, source) ?? `${source}/32`) : "the source's CIDR" };
  if (connection) gap.connection = connection;
  if (connection && source) gap.sourceCovered = longestMatch(connection.localSubnets, source) !== undefined;
  if (destination !== undefined) {
    for (const table of topology.routeTables) {
      const route = routeFor(table, destination);
      if (route?.nextHops.some((h) => h.type === 'vpn-gateway' && h.id === gateway.id)) {
        gap.vpcRoute = `route table ${table.id}${table.vpc ? ` of ${table.vpc}` : ''}: ${route.destination} → ${gateway.id}`;
        break;
      }
    }
  }
  return gap;
}

/** Why the packet loops, in the words of the incident write-up. */
export function selectorGapWhy(gap: SelectorGap, source: string | undefined, destination: string): string {
  const gw = `VPN gateway ${label(gap.gateway)}`;
  const back = gap.vpcRoute ? `the VPC route (${gap.vpcRoute}) sends it straight back` : 'the VPC route for the destination points back at the gateway';
  if (!gap.connection) {
    return `No IPsec connection of ${gw} has ${destination} in its remote subnets, so the gateway encrypts nothing for it; ${back}, and the packet circles until its TTL runs out.`;
  }
  const conn = `IPsec connection ${label(gap.connection)} (local ${gap.connection.localSubnets.join(',')} === remote ${gap.connection.remoteSubnets.join(',')})`;
  if (gap.sourceCovered === true) {
    return `${source} is inside the local subnets of ${conn}, yet the gateway routes the packet back into the VPC: the tunnel may be down or the peer's selectors differ; ${back}, and the packet circles until its TTL runs out.`;
  }
  const who = source ?? 'the source';
  return `${who} is outside the local subnets of ${conn}: the gateway does not encrypt its packets to ${destination}, looks the VPC route up again, and ${back}. The packet circles between the gateway and the VPC router until its TTL runs out; each pass answers one hop from the gateway's private address.`;
}

/** The fix: widen the connection's local subnets (both ends must agree). */
export function selectorGapFix(gap: SelectorGap): string[] {
  const c = gap.connection;
  if (!c) return [`Add an IPsec connection (or a remote subnet) on VPN gateway ${label(gap.gateway)} for the destination, or remove the VPC route that sends it to the gateway.`];
  const widened = [...c.localSubnets, gap.cidrToAdd].join(',');
  return [
    `Add ${gap.cidrToAdd} to the local subnets of IPsec connection ${label(c)} (now ${c.localSubnets.join(',')}), or set them to 0.0.0.0/0 so every VPC source is encrypted.`,
    `Alibaba Cloud CLI: aliyun vpc ModifyVpnConnectionAttribute --RegionId <region> --VpnConnectionId ${c.id} --LocalSubnet ${gap.cidrToAdd.includes('/') ? widened : '<cidrs>'}`,
    `Make the peer's remote subnets (its traffic selector) match, or the IPsec SA for the new range will not come up.`,
  ];
}
