/**
 * The words of vpn-selector-gap, written once: the summaries, whys and fixes every face prints
 * for a gateway that encrypts traffic to a remote network only for some sources. The host
 * family (a Linux gateway's `ip xfrm` policies), the fleet family (the same gateway seen from
 * the fleet, or a VPN gateway of the topology file) and the trace check traceroute-loop (a loop
 * at a VPN gateway's address) build their findings here, so one situation reads the same from
 * the one-shot, the agent, `hostcheck path`, `hostcheck serve` and `hostcheck trace`.
 */
import type { Evidence } from '../../model/finding.js';
import type { VpnConnection, VpnGateway } from '../../model/topology.js';
import { formatPrefix, type Prefix } from '../../net/address.js';
import { representative } from '../../simulate/path-selectors.js';

export const ID = 'vpn-selector-gap';

/** How many uncovered ranges a summary lists before "and N more". */
export const LIST_MAX = 6;
/** How many uncovered networks a finding names as peers (a full table would name a million). */
export const PEERS_MAX = 64;

export const text = (p: Prefix): string => formatPrefix(p);
export const listText = (ps: string[], sep = ', '): string => (ps.length <= LIST_MAX ? ps.join(sep) : `${ps.slice(0, LIST_MAX).join(sep)} and ${ps.length - LIST_MAX} more`);
/** The local subnet that selects every source of the remote's family. */
export const remoteFamilyAll = (remote: Prefix): string => (remote.family === 4 ? '0.0.0.0/0' : '::/0');
export const topologyLine = (line: string): Evidence => ({ source: 'topology', lineNumber: 0, text: line });

/** `vpn-x (name)`, `vco-x (name)`. */
export const label = (o: { id: string; name?: string }): string => `${o.id}${o.name ? ` (${o.name})` : ''}`;
/** `VPN gateway vpn-x (name) 10.100.1.18`. */
export const gatewayLabel = (g: VpnGateway): string => `VPN gateway ${label(g)}${g.privateIps[0] ? ` ${g.privateIps[0]}` : ''}`;
/** The topology's line for a connection: the path tracer quotes the same. */
export const connectionLine = (c: VpnConnection): string => `VPN connection ${c.id}: ${c.localSubnets.join(',')} === ${c.remoteSubnets.join(',')}`;

/** A source network a finding names, and how it reaches the gateway ("routed via eth0", "peer client"). */
export interface GapSource {
  prefix: Prefix;
  how: string;
}

/** What the summary of a loop or clear gap says. */
export interface GapWords {
  /** `IPsec policy for 10.200.0.0/20`, `IPsec connection vco-x (name) of VPN gateway vpn-y (...) 10.100.1.18`. */
  selector: string;
  remote: Prefix;
  covered: Prefix[];
  /** Said after the covered sources, e.g. ` (from swanctl.conf: the kernel has no policy for it)`. */
  note?: string;
  missing: Prefix[];
}

const coveredText = (w: GapWords): string => w.covered.map(text).join(', ') || 'no whole source network';

/** `… is not encrypted and goes back out eth0 via 10.100.1.253 — a loop until the TTL runs out`. */
export function loopSummary(w: GapWords, returns: string): string {
  const r = text(w.remote);
  return `${w.selector} covers only ${coveredText(w)}${w.note ?? ''}: traffic to ${r} from ${listText(w.missing.map(text))} is not encrypted and ${returns} — a loop until the TTL runs out`;
}

export function clearSummary(w: GapWords, dev: string): string {
  const r = text(w.remote);
  return `${w.selector} covers only ${coveredText(w)}${w.note ?? ''}: traffic to ${r} from ${listText(w.missing.map(text))} is not encrypted and leaves in clear through ${dev}`;
}

/** The end of every loop's why: what the client sees. */
const ttlWords = (from: string): string => `the packet bounces until its TTL is spent: "Time to live exceeded" from ${from}, traceroute repeating it to the last hop`;

/** The why of a Linux gateway's loop: the route that sends the unencrypted packet back. */
export function kernelLoopWhy(w: GapWords, hop: { dev: string; via?: string; route?: string }, sources: GapSource[]): string {
  const r = text(w.remote);
  return `A packet from ${representative(w.missing[0])} to ${representative(w.remote)} arrives on ${hop.dev}; no out policy selects it, so it is routed in clear, and the route (${hop.route ?? r}${hop.via ? ` via ${hop.via}` : ''} dev ${hop.dev}) sends it back where it came from. If the router there routes ${r} to this gateway, ${ttlWords("this gateway's address")}. Sources: ${listText(sources.map((s) => `${text(s.prefix)} (${s.how})`), '; ')}.`;
}

export function kernelClearWhy(remote: Prefix): string {
  return `No out policy selects these sources, so their packets to ${text(remote)} follow the routing table unencrypted; the remote side will not accept them (or they leak onto a network that should not see them).`;
}

/** The why of a topology VPN gateway's loop: the VPC route that points at the gateway itself. */
export function cloudLoopWhy(g: VpnGateway, c: VpnConnection, remote: Prefix, vpcRoutes: string[], sources: GapSource[], missing: Prefix[]): string {
  const r = text(remote);
  return `The VPC sends ${r} to VPN gateway ${label(g)}: ${vpcRoutes.join('; ')}. IPsec connection ${label(c)} encrypts only packets whose source is in ${c.localSubnets.join(', ')}: a packet from ${representative(missing[0])} is sent back to the VPC router unencrypted, whose route for ${r} points at the gateway again, and ${ttlWords(g.privateIps[0] ?? "the gateway's address")}. Sources: ${listText(sources.map((s) => `${text(s.prefix)} (${s.how})`), '; ')}.`;
}

/** A Linux gateway's kernel policy to copy for the new sources. */
export interface PolicyTemplate {
  priority: number;
  src: string;
  dst: string;
  proto?: string;
  reqid?: number;
}

/** The IPsec configuration that defines the connection (swanctl.conf or ipsec.conf), as the fix names it. */
export interface ConfiguredConnection {
  format: 'swanctl-conf' | 'ipsec-conf';
  connection: string;
  child?: string;
  localTs: string[];
  /** ipsec.conf: left/right are a convention, and this host is `right`. */
  rightIsLocal?: boolean;
}

/** What a Linux gateway's fix needs: the policy to copy, the routing rule covered sources use, and the config. */
export interface KernelFixInput {
  remote: Prefix;
  covered: Prefix[];
  missing: Prefix[];
  template?: PolicyTemplate;
  /** A policy-routing rule the covered sources reach the tunnel by: the new sources need it too. */
  rule?: { to?: string; table: string; priority: number; coveredSource: Prefix };
  conn?: ConfiguredConnection;
}

/** Widen the kernel policy now (as printed), the routing rule if covered sources use one, and the config for good. */
export function kernelFix(x: KernelFixInput): string[] {
  const steps: string[] = [];
  const r = text(x.remote);
  const { template: t, rule, conn, missing } = x;
  if (t) {
    for (const m of missing.slice(0, LIST_MAX)) {
      steps.push(`ip xfrm policy add src ${text(m)} dst ${r} dir out priority ${t.priority} tmpl src ${t.src} dst ${t.dst} proto ${t.proto ?? 'esp'}${t.reqid !== undefined ? ` reqid ${t.reqid}` : ''} mode tunnel   # immediate, not persistent: ${text(m)} is now encrypted (the IKE daemon installs the matching in/fwd policies once the config below is loaded)`);
    }
    if (rule) for (const m of missing.slice(0, LIST_MAX)) steps.push(`ip rule add from ${text(m)}${rule.to ? ` to ${rule.to}` : ''} lookup ${rule.table} priority ${rule.priority}   # the policy route ${text(rule.coveredSource)} already uses`);
  }
  // Beyond a handful (a gateway routing a full table back out), 0.0.0.0/0 is the only sensible local subnet.
  const tooMany = missing.length > LIST_MAX;
  const added = tooMany ? [remoteFamilyAll(x.remote)] : missing.map(text);
  const widened = [...new Set([...(conn ? conn.localTs : x.covered.map(text)), ...added])].join(', ');
  if (conn?.format === 'swanctl-conf') steps.push(`# persist: in /etc/swanctl/swanctl.conf set connections.${conn.connection}.children.${conn.child}.local_ts = ${widened}, then run swanctl --load-conns (and re-initiate the child)`);
  else if (conn?.format === 'ipsec-conf') steps.push(`# persist: in /etc/ipsec.conf, conn ${conn.connection}: ${conn.rightIsLocal ? 'rightsubnet' : 'leftsubnet'}=${widened.replaceAll(', ', ',')}, then run ipsec update (or ipsec reload)`);
  else if (tooMany) steps.push(`# persist: set the IPsec connection's local subnet ("interesting traffic") to ${remoteFamilyAll(x.remote)} where the tunnel is configured (the cloud VPN connection's local network, swanctl.conf local_ts, or ipsec.conf leftsubnet): ${missing.length} source networks are uncovered (${listText(missing.map(text))})`);
  else steps.push(`# persist: add ${missing.map(text).join(', ')} to the IPsec connection's local subnet ("interesting traffic") where the tunnel is configured: the cloud VPN connection's local network, swanctl.conf local_ts, or ipsec.conf leftsubnet`);
  if (tooMany) steps.push(`# ${missing.length} source networks are uncovered (the first ${LIST_MAX} get an ip xfrm line above): the local subnet ${remoteFamilyAll(x.remote)} encrypts every source this gateway forwards to ${r}`);
  else steps.push(`# or, as the incident's author suggests, set the local subnet to 0.0.0.0/0: every source this gateway forwards to ${r} is then encrypted`);
  return steps;
}

/**
 * Widen a topology VPN connection's local subnets: the console words, the Alibaba Cloud CLI line
 * (the one place it is written) and the peer's side. `add` undefined: the CIDR is not known.
 */
export function cloudFix(g: VpnGateway, c: VpnConnection, add: string[] | undefined): string[] {
  const what = add?.join(', ') ?? "the source's CIDR";
  return [
    `Add ${what} to the local subnets of IPsec connection ${label(c)} on VPN gateway ${label(g)} (now ${c.localSubnets.join(', ')}), or set them to 0.0.0.0/0 as the incident's author suggests: every source the VPC routes to the gateway is then encrypted.`,
    `Alibaba Cloud CLI: aliyun vpc ModifyVpnConnectionAttribute --RegionId <region> --VpnConnectionId ${c.id} --LocalSubnet ${add ? [...c.localSubnets, ...add].join(',') : '<cidrs>'}`,
    `Make the peer's remote subnets (its traffic selector) match, or the IPsec SA for the new range will not come up.`,
  ];
}

/** One source's loop at a topology VPN gateway, as a traceroute shows it (traceroute-loop's why). */
export function cloudSourceWhy(g: VpnGateway, c: VpnConnection | undefined, source: string | undefined, destination: string, vpcRoute: string | undefined, sourceCovered: boolean | undefined): string {
  const gw = `VPN gateway ${label(g)}`;
  const back = vpcRoute ? `the VPC route (${vpcRoute}) sends it straight back` : 'the VPC route for the destination points back at the gateway';
  if (!c) return `No IPsec connection of ${gw} has ${destination} in its remote subnets, so the gateway encrypts nothing for it; ${back}, and the packet circles until its TTL runs out.`;
  const conn = `IPsec connection ${label(c)} (local ${c.localSubnets.join(',')} === remote ${c.remoteSubnets.join(',')})`;
  if (sourceCovered === true) return `${source} is inside the local subnets of ${conn}, yet the gateway routes the packet back into the VPC: the tunnel may be down or the peer's selectors differ; ${back}, and the packet circles until its TTL runs out.`;
  return `${source ?? 'the source'} is outside the local subnets of ${conn}: the gateway does not encrypt its packets to ${destination}, looks the VPC route up again, and ${back}. The packet circles between the gateway and the VPC router until its TTL runs out; each pass answers one hop from the gateway's private address.`;
}

/** traceroute-loop's fix when no connection holds the destination. */
export function noConnectionFix(g: VpnGateway): string[] {
  return [`Add an IPsec connection (or a remote subnet) on VPN gateway ${label(g)} for the destination, or remove the VPC route that sends it to the gateway.`];
}
