/**
 * vpn-selector-gap for a VPN gateway of the topology file (a cloud node, no host to look into):
 * a route table of the gateway's VPC sends a remote network to the gateway, and networks that
 * table reaches — the VPC's CIDRs and vSwitches, the table's other routes (an IDC behind a
 * router interface) — are outside the connection's local subnets. Their packets to the remote
 * are not encrypted; the gateway hands them back to the VPC router, whose route points at the
 * gateway again: a loop. A pure function of the topology, so `hostcheck path --topology` and
 * `hostcheck serve --topology` give the same finding; the fleet family adds which hosts suffer it.
 */
import { findingKey, type Finding } from '../../model/finding.js';
import { knownCidrOf, longestMatch, routeFor, type Topology, type TopologyRouteTable, type VpnConnection, type VpnGateway } from '../../model/topology.js';
import { parseAddress, parsePrefix, prefixContains, prefixesOverlap, type Prefix } from '../../net/address.js';
import { outermost } from '../../net/prefix-set.js';
import { masked, representative, subtractPrefixes } from '../../simulate/path-selectors.js';
import { cloudFix, cloudLoopWhy, cloudSourceWhy, connectionLine, gatewayLabel, ID, label, LIST_MAX, loopSummary, noConnectionFix, PEERS_MAX, text, topologyLine, type GapSource } from './text.js';

/** One remote network of one connection that sources outside its local subnets reach: a loop. */
export interface CloudGap {
  gateway: VpnGateway;
  connection: VpnConnection;
  remote: Prefix;
  /** Uncovered source networks, in address order. */
  missing: Prefix[];
  finding: Finding;
}

const prefixOf = (s: string): Prefix | null => {
  const p = parsePrefix(s, s.includes(':') ? 6 : 4, true);
  return p ? masked(p) : null;
};

/** `route table vtb-x (vpc-y): 10.200.0.0/20 → vpn-gateway vpn-z`: the line the path tracer and the findings quote. */
function tableLine(table: TopologyRouteTable, destination: string, target: string): string {
  return `route table ${table.id}${table.vpc ? ` (${table.vpc})` : ''}: ${destination} → ${target}`;
}

/** The route tables of the gateway's VPC whose route for the remote points at the gateway. */
function tablesToGateway(t: Topology, g: VpnGateway, remote: Prefix): { table: TopologyRouteTable; destination: string }[] {
  const probe = representative(remote);
  const out: { table: TopologyRouteTable; destination: string }[] = [];
  for (const table of t.routeTables) {
    if (g.vpc !== undefined && table.vpc !== undefined && table.vpc !== g.vpc) continue;
    const route = routeFor(table, probe);
    if (route?.nextHops.some((h) => h.type === 'vpn-gateway' && h.id === g.id)) out.push({ table, destination: route.destination });
  }
  return out;
}

/** The networks whose packets can reach the gateway through those tables: the VPC's, and the tables' other routes. */
function sourcesOf(t: Topology, g: VpnGateway, remote: Prefix, tables: TopologyRouteTable[]): (GapSource & { line?: string })[] {
  const out: (GapSource & { line?: string })[] = [];
  const add = (cidr: string, how: string, line?: string): void => {
    const p = prefixOf(cidr);
    if (p && p.len > 0 && p.family === remote.family && !prefixesOverlap(p, remote)) out.push({ prefix: p, how, ...(line && { line }) });
  };
  const vpcs = new Set([g.vpc, ...tables.map((x) => x.vpc)].filter((v): v is string => v !== undefined));
  for (const v of t.vpcs) {
    if (!vpcs.has(v.id)) continue;
    for (const c of v.cidrs) add(c, `VPC ${label(v)}`, `VPC ${label(v)}: ${c}`);
    for (const s of v.vswitches) add(s.cidr, `vSwitch ${label(s)}`, `vSwitch ${label(s)} of ${v.id}: ${s.cidr}`);
  }
  for (const table of tables) {
    for (const r of table.routes) {
      if (r.nextHops.some((h) => h.type === 'vpn-gateway' && h.id === g.id)) continue;
      const hop = r.nextHops.map((h) => (h.id ? `${h.type} ${h.id}` : h.type)).join(', ');
      add(r.destination, `route table ${table.id}: ${hop}`, tableLine(table, r.destination, hop));
    }
  }
  // A network inside one already listed adds nothing; the rest in address order.
  return outermost(out).sort((a, b) => (a.prefix.value < b.prefix.value ? -1 : a.prefix.value > b.prefix.value ? 1 : a.prefix.len - b.prefix.len));
}

/** Every (gateway, connection, remote) the topology routes uncovered sources to: one finding each. */
export function cloudGaps(t: Topology): CloudGap[] {
  const out: CloudGap[] = [];
  for (const g of t.vpnGateways) {
    for (const c of g.connections) {
      const local = c.localSubnets.map(prefixOf).filter((p): p is Prefix => p !== null);
      for (const rs of c.remoteSubnets) {
        const remote = prefixOf(rs);
        if (!remote) continue;
        const tables = tablesToGateway(t, g, remote);
        if (tables.length === 0) continue;
        const sources: GapSource[] = [];
        const lines: string[] = [];
        const missing: Prefix[] = [];
        for (const s of sourcesOf(t, g, remote, tables.map((x) => x.table))) {
          const uncovered = subtractPrefixes(s.prefix, local);
          if (uncovered.length === 0) continue;
          sources.push(s);
          missing.push(...uncovered);
          if (s.line) lines.push(s.line);
        }
        if (missing.length === 0) continue;
        const vpcRoutes = tables.map(({ table, destination }) => tableLine(table, destination, `vpn-gateway ${g.id}`));
        const r = text(remote);
        const subject = r;
        out.push({
          gateway: g, connection: c, remote, missing,
          finding: {
            check: ID, severity: 'error', host: g.id, subject, key: findingKey(ID, g.id, subject),
            summary: loopSummary({ selector: `IPsec connection ${label(c)} of ${gatewayLabel(g)}`, remote, covered: local, missing }, `goes back to the VPC router, whose route sends it to the gateway again`),
            evidence: [...vpcRoutes, ...lines.slice(0, LIST_MAX), connectionLine(c)].map(topologyLine),
            why: cloudLoopWhy(g, c, remote, vpcRoutes, sources, missing),
            fix: cloudFix(g, c, missing.map(text)),
            peers: [r, ...missing.slice(0, PEERS_MAX).map(text)],
          },
        });
      }
    }
  }
  return out;
}

/** The gap a source's packets to `remote` fall into at gateway `gatewayId`, if its address is among the uncovered. */
export function cloudGapOf(gaps: CloudGap[], gatewayId: string, remote: Prefix, source: string): CloudGap | undefined {
  const a = parseAddress(source);
  return gaps.find((x) => x.gateway.id === gatewayId && text(x.remote) === text(remote) && (a === null || x.missing.some((m) => prefixContains(m, a))));
}

/** What traceroute-loop says about a loop at `gateway` for `source` → `destination`: why and fix. */
export function cloudLoopAtGateway(t: Topology, gateway: VpnGateway, source: string | undefined, destination: string | undefined, dstText: string): { why: string; fix: string[] } {
  const connection = destination === undefined ? gateway.connections[0] : gateway.connections.find((c) => longestMatch(c.remoteSubnets, destination));
  if (!connection) return { why: cloudSourceWhy(gateway, undefined, source, dstText, vpcRouteOf(t, gateway, destination), undefined), fix: noConnectionFix(gateway) };
  const covered = source === undefined ? undefined : longestMatch(connection.localSubnets, source) !== undefined;
  return {
    why: cloudSourceWhy(gateway, connection, source, dstText, vpcRouteOf(t, gateway, destination), covered),
    fix: cloudFix(gateway, connection, source === undefined ? undefined : [cidrToAdd(t, gateway, connection, source)]),
  };
}

/** The CIDR to add for one source: its uncovered network as the topology routes it, else the narrowest network it names, else the /32. */
function cidrToAdd(t: Topology, g: VpnGateway, c: VpnConnection, source: string): string {
  const a = parseAddress(source);
  if (a) {
    for (const rs of c.remoteSubnets) {
      const remote = prefixOf(rs);
      const gap = remote && cloudGaps({ ...t, vpnGateways: [{ ...g, connections: [c] }] }).find((x) => text(x.remote) === text(remote));
      const piece = gap?.missing.find((m) => prefixContains(m, a));
      if (piece) return text(piece);
    }
  }
  return knownCidrOf(t, source) ?? `${source}/${source.includes(':') ? 128 : 32}`;
}

/** `route table vtb-x of vpc-y: 10.200.0.0/20 → vpn-z`, the VPC route that sends the destination to the gateway. */
function vpcRouteOf(t: Topology, g: VpnGateway, destination: string | undefined): string | undefined {
  if (destination === undefined) return undefined;
  for (const table of t.routeTables) {
    const route = routeFor(table, destination);
    if (route?.nextHops.some((h) => h.type === 'vpn-gateway' && h.id === g.id)) return `route table ${table.id}${table.vpc ? ` of ${table.vpc}` : ''}: ${route.destination} → ${g.id}`;
  }
  return undefined;
}
