/**
 * The cloud topology file: what no agent can report because nothing of ours runs there — VPC
 * route tables, VPN gateways and their IPsec connections, CEN/transit routers, and which hosts
 * sit in which VPC/vSwitch. YAML or JSON, validated with zod; errors name the field
 * (`vpnGateways[0].connections[1].localSubnets[0]: "10.16.0.5/16" has host bits set`).
 * Documented in docs/topology.md. The types and the queries over a topology are in topology.ts,
 * which loads no zod (the agent imports the checks that read a topology).
 */
import { z } from 'zod';
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

