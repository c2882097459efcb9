/**
 * The cloud topology file: what no agent can report because nothing of ours runs there — VPC
 * route tables, VPN gateways and their IPsec connections, CEN/transit routers, and which hosts
 * sit in which VPC/vSwitch. YAML or JSON, validated with zod; errors name the field
 * (`vpnGateways[0].connections[1].localSubnets[0]: "10.16.0.5/16" has host bits set`).
 * Documented in docs/topology.md.
 */
import { z } from 'zod';
import { parseAddress, parsePrefix, prefixContains, type Prefix } from '../net/address.js';
import { addressProblem, cidrProblem } from './config.js';
import { formatZodErrors } from './zod-errors.js';

const address = z.string().refine((s) => addressProblem(s) === undefined, { message: 'not an IPv4 or IPv6 address' });
/** A CIDR as people type it, with zero host bits (config.ts's cidrProblem). */
export const cidrSchema = z.string().superRefine((s, ctx) => {
  const problem = cidrProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
const cidr = cidrSchema;
const id = z.string().min(1);

/** Next-hop kinds of a cloud route table (Alibaba's NextHopType, in kebab-case). */
export const NEXT_HOP_TYPES = ['vpn-gateway', 'instance', 'eni', 'ha-vip', 'router-interface', 'transit-router', 'ipv4-gateway', 'ipv6-gateway', 'nat-gateway', 'vpc-peer', 'local', 'other'] as const;

const nextHopSchema = z.object({ type: z.enum(NEXT_HOP_TYPES), id: id.optional() }).strict();
const routeSchema = z.object({ destination: cidr, nextHops: z.array(nextHopSchema).min(1), name: z.string().optional() }).strict();
const routeTableSchema = z
  .object({ id, vpc: id.optional(), name: z.string().optional(), type: z.string().optional(), vswitches: z.array(id).default([]), routes: z.array(routeSchema).default([]) })
  .strict();
const vswitchSchema = z.object({ id, name: z.string().optional(), cidr, gateway: address.optional() }).strict();
const vpcSchema = z.object({ id, name: z.string().optional(), cidrs: z.array(cidr).default([]), vswitches: z.array(vswitchSchema).default([]) }).strict();
const connectionSchema = z
  .object({
    id,
    name: z.string().optional(),
    /** The "interesting traffic" on the cloud side: sources the gateway encrypts. */
    localSubnets: z.array(cidr).min(1),
    remoteSubnets: z.array(cidr).min(1),
    customerGateway: id.optional(),
    status: z.string().optional(),
  })
  .strict();
const vpnGatewaySchema = z
  .object({
    id,
    name: z.string().optional(),
    vpc: id.optional(),
    vswitch: id.optional(),
    /** The gateway's addresses inside the VPC: what traceroute shows when it loops. */
    privateIps: z.array(address).default([]),
    publicIp: address.optional(),
    connections: z.array(connectionSchema).default([]),
  })
  .strict();
const transitRouterSchema = z
  .object({ id, name: z.string().optional(), cen: id.optional(), addresses: z.array(address).default([]), attachments: z.array(id).default([]) })
  .strict();
/** Networks outside the cloud (the IDC, another cloud), so fixes can name a CIDR, not a /32. */
const networkSchema = z.object({ cidr, name: z.string().min(1), kind: z.string().optional() }).strict();
const hostSchema = z
  .object({ name: id, addresses: z.array(address).min(1), vpc: id.optional(), vswitch: id.optional(), role: z.string().optional() })
  .strict();

export const topologySchema = z
  .object({
    name: z.string().optional(),
    vpcs: z.array(vpcSchema).default([]),
    routeTables: z.array(routeTableSchema).default([]),
    vpnGateways: z.array(vpnGatewaySchema).default([]),
    transitRouters: z.array(transitRouterSchema).default([]),
    networks: z.array(networkSchema).default([]),
    hosts: z.array(hostSchema).default([]),
  })
  .strict();

export type Topology = z.infer<typeof topologySchema>;
export type TopologyRoute = z.infer<typeof routeSchema>;
export type TopologyRouteTable = z.infer<typeof routeTableSchema>;
export type VpnGateway = z.infer<typeof vpnGatewaySchema>;
export type VpnConnection = z.infer<typeof connectionSchema>;
export type NextHopType = (typeof NEXT_HOP_TYPES)[number];

/** Validate a parsed topology; errors read `field.path: problem`. */
export function parseTopology(raw: unknown): { topology?: Topology; errors: string[] } {
  const r = topologySchema.safeParse(raw ?? {});
  if (!r.success) return { errors: formatZodErrors(r.error) };
  const errors = crossReferenceErrors(r.data);
  return errors.length ? { errors } : { topology: r.data, errors: [] };
}

/** References that zod cannot see: a route table's vpc, a host's vswitch. */
function crossReferenceErrors(t: Topology): string[] {
  const vpcs = new Set(t.vpcs.map((v) => v.id));
  const vswitches = new Set(t.vpcs.flatMap((v) => v.vswitches.map((s) => s.id)));
  const errors: string[] = [];
  const check = (field: string, value: string | undefined, known: Set<string>, what: string) => {
    if (value !== undefined && known.size > 0 && !known.has(value)) errors.push(`${field}: "${value}" is not a ${what} of this file`);
  };
  t.routeTables.forEach((rt, i) => {
    check(`routeTables[${i}].vpc`, rt.vpc, vpcs, 'vpc');
    rt.vswitches.forEach((s, j) => check(`routeTables[${i}].vswitches[${j}]`, s, vswitches, 'vswitch'));
  });
  t.hosts.forEach((h, i) => {
    check(`hosts[${i}].vpc`, h.vpc, vpcs, 'vpc');
    check(`hosts[${i}].vswitch`, h.vswitch, vswitches, 'vswitch');
  });
  t.vpnGateways.forEach((g, i) => check(`vpnGateways[${i}].vpc`, g.vpc, vpcs, 'vpc'));
  return errors;
}

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
