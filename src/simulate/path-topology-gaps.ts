/**
 * The fleet face of vpn-selector-gap: a source whose route to a remote network leads to a VPN
 * gateway (a cloud node of the topology) whose connection for that network does not select the
 * source. The gateway sends such packets back by the VPC route that points at itself: a loop.
 * Pure, so `hostcheck path --topology` and the aggregator call the same function.
 */
import { findingKey, type Evidence, type Finding } from '../model/finding.js';
import { knownCidrOf, longestMatch, routeFor, subnetContains, type Topology, type TopologyRouteTable, type VpnConnection, type VpnGateway } from '../model/topology.js';
import { parsePrefix } from '../net/address.js';
import { representative } from './path-selectors.js';

const ID = 'vpn-selector-gap';

/** One uncovered source, with what the finding names. */
export interface TopologySelectorGap {
  source: string;
  remote: string;
  gateway: VpnGateway;
  connection: VpnConnection;
  routeTable: TopologyRouteTable;
  /** The CIDR to add to the connection's local subnets. */
  missing: string;
}

const line = (text: string): Evidence => ({ source: 'topology', lineNumber: 0, text });

/** Does `source` send through `table`: a host of its VPC, inside its CIDRs, or a network it routes to (an IDC)? */
function reaches(t: Topology, table: TopologyRouteTable, source: string): { yes: boolean; network?: string } {
  const host = t.hosts.find((h) => h.addresses.includes(source));
  if (host?.vpc !== undefined && table.vpc !== undefined) return { yes: host.vpc === table.vpc };
  const vpc = t.vpcs.find((v) => v.id === table.vpc);
  const inVpc = vpc ? longestMatch([...vpc.cidrs, ...vpc.vswitches.map((s) => s.cidr)], source) : undefined;
  if (inVpc) return { yes: true, network: inVpc };
  const back = routeFor(table, source);
  if (back && parsePrefix(back.destination)?.len !== 0) return { yes: true, network: back.destination };
  return { yes: vpc === undefined };
}

/** Every (source, gateway, connection) where the source's traffic reaches the gateway unselected. */
export function topologySelectorGapList(t: Topology, sources: readonly string[]): TopologySelectorGap[] {
  const out: TopologySelectorGap[] = [];
  for (const g of t.vpnGateways) {
    for (const c of g.connections) {
      for (const remote of c.remoteSubnets) {
        const target = parsePrefix(remote);
        if (!target) continue;
        const probe = representative(target);
        for (const table of t.routeTables) {
          if (g.vpc !== undefined && table.vpc !== undefined && table.vpc !== g.vpc) continue;
          const route = routeFor(table, probe);
          if (!route?.nextHops.some((h) => h.type === 'vpn-gateway' && h.id === g.id)) continue;
          for (const source of sources) {
            if (subnetContains(remote, source) || longestMatch(c.localSubnets, source)) continue;
            const r = reaches(t, table, source);
            if (!r.yes) continue;
            const missing = r.network ?? knownCidrOf(t, source) ?? `${source}/32`;
            out.push({ source, remote, gateway: g, connection: c, routeTable: table, missing });
          }
        }
      }
    }
  }
  return out;
}

/** The gaps as findings (check vpn-selector-gap, host = the gateway's id). */
export function topologySelectorGaps(t: Topology, sources: readonly string[]): Finding[] {
  const seen = new Set<string>();
  const findings: Finding[] = [];
  for (const gap of topologySelectorGapList(t, sources)) {
    const { source, remote, gateway: g, connection: c, routeTable: table, missing } = gap;
    const subject = `${c.id} ${source} → ${remote}`;
    if (seen.has(subject)) continue;
    seen.add(subject);
    const gw = `VPN gateway ${g.id}${g.name ? ` (${g.name})` : ''}${g.privateIps[0] ? ` ${g.privateIps[0]}` : ''}`;
    findings.push({
      check: ID, severity: 'error', host: g.id, subject, key: findingKey(ID, g.id, subject),
      summary: `${source}'s traffic to ${remote} goes to ${gw}, but IPsec connection ${c.id} selects only ${c.localSubnets.join(', ')} === ${c.remoteSubnets.join(', ')}: ${source} is not encrypted and loops; add ${missing}`,
      evidence: [
        line(`route table ${table.id}${table.vpc ? ` (${table.vpc})` : ''}: ${routeFor(table, representative(parsePrefix(remote)!))?.destination ?? remote} → vpn-gateway ${g.id}`),
        line(`VPN connection ${c.id}: local ${c.localSubnets.join(',')} === remote ${c.remoteSubnets.join(',')}`),
      ],
      why: `The VPC routes ${remote} to ${g.id}. The gateway encrypts only packets whose source is in ${c.localSubnets.join(', ')}; a packet from ${source} is routed again by the VPC route, which points at the gateway itself, and circles until its TTL runs out ("Time to live exceeded" from ${g.privateIps[0] ?? 'the gateway'}).`,
      fix: [
        `Add ${missing} to the local subnets of IPsec connection ${c.id} (now ${c.localSubnets.join(', ')}), or set them to 0.0.0.0/0 as the incident's author suggests; the peer's remote subnets must match.`,
        `Alibaba Cloud CLI: aliyun vpc ModifyVpnConnectionAttribute --VpnConnectionId ${c.id} --LocalSubnet ${[...c.localSubnets, missing].join(',')} --RegionId <region>`,
      ],
      peers: [source, remote],
    });
  }
  return findings;
}
