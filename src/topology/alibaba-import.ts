/**
 * Alibaba Cloud API responses → the topology file (docs/topology.md). Reads the JSON the
 * `aliyun vpc` CLI prints for DescribeRouteTableList, DescribeRouteEntryList,
 * DescribeVpnConnections and (optionally) DescribeVpnGateways:
 *
 *     RouteEntrys.RouteEntry[] { RouteTableId, DestinationCidrBlock, NextHops.NextHop[] { NextHopType, NextHopId } }
 *     VpnConnections.VpnConnection[] { VpnConnectionId, VpnGatewayId, LocalSubnet "10.16.0.0/16,10.17.0.0/16", RemoteSubnet }
 *
 * The APIs do not return a VPN gateway's private address (what a looping traceroute shows), so
 * callers pass it (`--private-ip vpn-x=10.100.1.18`). Unknown API fields are ignored; missing or
 * malformed ones are errors naming the file and field.
 */
import { z } from 'zod';
import { cidrSchema, parseTopology, type NextHopType, type Topology } from '../model/topology-schema.js';
import { formatZodErrors } from '../model/zod-errors.js';

const str = z.string();
const opt = str.optional();

const routeTablesSchema = z.object({
  RouterTableList: z.object({
    RouterTableListType: z.array(
      z.object({ RouteTableId: str, VpcId: opt, RouteTableName: opt, RouteTableType: opt, VSwitchIds: z.object({ VSwitchId: z.array(str) }).optional() }),
    ),
  }),
});
const nextHop = z.object({ NextHopType: str, NextHopId: opt });
const routeEntriesSchema = z.object({
  RouteEntrys: z.object({
    RouteEntry: z.array(
      z.object({
        RouteEntryId: opt,
        RouteEntryName: opt,
        RouteTableId: str,
        DestinationCidrBlock: str,
        Type: opt,
        Status: opt,
        NextHopType: opt,
        InstanceId: opt,
        NextHops: z.object({ NextHop: z.array(nextHop) }).optional(),
      }),
    ),
  }),
});
const vpnConnectionsSchema = z.object({
  VpnConnections: z.object({
    VpnConnection: z.array(
      z.object({ VpnConnectionId: str, VpnGatewayId: str, Name: opt, LocalSubnet: str, RemoteSubnet: str, CustomerGatewayId: opt, Status: opt }),
    ),
  }),
});
const vpnGatewaysSchema = z.object({
  VpnGateways: z.object({ VpnGateway: z.array(z.object({ VpnGatewayId: str, VpcId: opt, VSwitchId: opt, InternetIp: opt, Name: opt })) }),
});

/** The raw JSON of each API response, as parsed from the files. */
export interface AlibabaResponses {
  routeTables?: unknown;
  routeEntries?: unknown;
  vpnConnections?: unknown;
  vpnGateways?: unknown;
  /** VPN gateway id → its private addresses in the VPC. */
  privateIps?: Record<string, string[]>;
}

/** An API response did not have the fields we read; `problems` name the file and field. */
export class AlibabaImportError extends Error {
  override name = 'AlibabaImportError';
  constructor(readonly problems: string[]) {
    super(`cannot import:\n  ${problems.join('\n  ')}`);
  }
}

const NEXT_HOP: Record<string, NextHopType> = {
  vpngateway: 'vpn-gateway',
  instance: 'instance',
  networkinterface: 'eni',
  havip: 'ha-vip',
  routerinterface: 'router-interface',
  transitrouter: 'transit-router',
  ipv4gateway: 'ipv4-gateway',
  ipv6gateway: 'ipv6-gateway',
  natgateway: 'nat-gateway',
  vpcpeer: 'vpc-peer',
  local: 'local',
};

function nextHopType(apiType: string): NextHopType {
  return NEXT_HOP[apiType.toLowerCase()] ?? 'other';
}

function read<T>(schema: z.ZodType<T>, raw: unknown, label: string, problems: string[]): T | undefined {
  if (raw === undefined) return undefined;
  const r = schema.safeParse(raw);
  if (!r.success) problems.push(...formatZodErrors(r.error).map((e) => `${label}: ${e}`));
  return r.success ? r.data : undefined;
}

/** "10.16.0.0/16,10.17.0.0/16" → CIDRs; a bad one is a problem naming the field. */
function subnets(text: string, field: string, problems: string[]): string[] {
  const out: string[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const r = cidrSchema.safeParse(part);
    if (r.success) out.push(part);
    else problems.push(`${field}: ${r.error.issues[0].message}`);
  }
  if (out.length === 0 && !problems.some((p) => p.startsWith(field))) problems.push(`${field}: no subnet in "${text}"`);
  return out;
}

/** Build a topology from the API responses; throws AlibabaImportError listing every problem. */
export function importAlibaba(input: AlibabaResponses): Topology {
  const problems: string[] = [];
  const tables = read(routeTablesSchema, input.routeTables, '--route-tables (DescribeRouteTableList)', problems);
  const entries = read(routeEntriesSchema, input.routeEntries, '--route-entries (DescribeRouteEntryList)', problems);
  const connections = read(vpnConnectionsSchema, input.vpnConnections, '--vpn-connections (DescribeVpnConnections)', problems);
  const gateways = read(vpnGatewaysSchema, input.vpnGateways, '--vpn-gateways (DescribeVpnGateways)', problems);
  if (problems.length) throw new AlibabaImportError(problems);

  const routeTables = (tables?.RouterTableList.RouterTableListType ?? []).map((t) => ({
    id: t.RouteTableId,
    ...(t.VpcId && { vpc: t.VpcId }),
    ...(t.RouteTableName && { name: t.RouteTableName }),
    ...(t.RouteTableType && { type: t.RouteTableType }),
    vswitches: t.VSwitchIds?.VSwitchId ?? [],
    routes: [] as Topology['routeTables'][number]['routes'],
  }));
  (entries?.RouteEntrys.RouteEntry ?? []).forEach((e, i) => {
    const field = `--route-entries: RouteEntrys.RouteEntry[${i}]`;
    const dest = cidrSchema.safeParse(e.DestinationCidrBlock);
    if (!dest.success) return problems.push(`${field}.DestinationCidrBlock: ${dest.error.issues[0].message}`);
    const hops = e.NextHops?.NextHop.length ? e.NextHops.NextHop : e.NextHopType ? [{ NextHopType: e.NextHopType, NextHopId: e.InstanceId }] : [];
    if (hops.length === 0) return problems.push(`${field}: neither NextHops.NextHop nor NextHopType`);
    let table = routeTables.find((t) => t.id === e.RouteTableId);
    if (!table) routeTables.push((table = { id: e.RouteTableId, vswitches: [], routes: [] }));
    table.routes.push({
      destination: e.DestinationCidrBlock,
      nextHops: hops.map((h) => ({ type: nextHopType(h.NextHopType), ...(h.NextHopId && { id: h.NextHopId }) })),
      ...(e.RouteEntryName && { name: e.RouteEntryName }),
    });
  });

  const vpnGateways = (gateways?.VpnGateways.VpnGateway ?? []).map((g) => ({
    id: g.VpnGatewayId,
    ...(g.Name && { name: g.Name }),
    ...(g.VpcId && { vpc: g.VpcId }),
    ...(g.VSwitchId && { vswitch: g.VSwitchId }),
    privateIps: input.privateIps?.[g.VpnGatewayId] ?? [],
    ...(g.InternetIp && { publicIp: g.InternetIp }),
    connections: [] as Topology['vpnGateways'][number]['connections'],
  }));
  (connections?.VpnConnections.VpnConnection ?? []).forEach((c, i) => {
    const field = `--vpn-connections: VpnConnections.VpnConnection[${i}]`;
    let gw = vpnGateways.find((g) => g.id === c.VpnGatewayId);
    if (!gw) vpnGateways.push((gw = { id: c.VpnGatewayId, privateIps: input.privateIps?.[c.VpnGatewayId] ?? [], connections: [] }));
    gw.connections.push({
      id: c.VpnConnectionId,
      ...(c.Name && { name: c.Name }),
      localSubnets: subnets(c.LocalSubnet, `${field}.LocalSubnet`, problems),
      remoteSubnets: subnets(c.RemoteSubnet, `${field}.RemoteSubnet`, problems),
      ...(c.CustomerGatewayId && { customerGateway: c.CustomerGatewayId }),
      ...(c.Status && { status: c.Status }),
    });
  });
  for (const id of Object.keys(input.privateIps ?? {})) {
    if (!vpnGateways.some((g) => g.id === id)) problems.push(`--private-ip ${id}: no VPN gateway ${id} in the responses`);
  }
  if (problems.length) throw new AlibabaImportError(problems);

  const vpcIds = [...new Set([...routeTables.map((t) => t.vpc), ...vpnGateways.map((g) => g.vpc)].filter((v): v is string => !!v))].sort();
  const { topology, errors } = parseTopology({ vpcs: vpcIds.map((id) => ({ id })), routeTables, vpnGateways });
  if (!topology) throw new AlibabaImportError(errors);
  return topology;
}
