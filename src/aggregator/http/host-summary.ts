/**
 * What the overview shows per host beyond its stored row: region and VPC (cloud identity),
 * the addresses it holds (every non-host-scope address with its prefix), and its open
 * findings counted by severity; for the topology map its subnet, bridges and tunnels.
 * Computed from the in-memory fleet index, not the database's snapshot column, so 1,000
 * hosts cost one findings query.
 */
import type { Severity } from '../../model/finding.js';
import type { HostSnapshot, InterfaceModel } from '../../model/snapshot.js';
import { formatPrefix, maskV4, maskV6, parsePrefix } from '../../net/address.js';

/** A bridge on the host (docker0, virbr0, cni0, br-…): who made it, its addresses, whether it has a carrier. */
export interface BridgeSummary {
  name: string;
  owner: string | null;
  cidrs: string[];
  noCarrier: boolean;
}

/**
 * A tunnel: a tunnel device (WireGuard, GRE, IPIP, SIT, VXLAN, tun) with its addresses, or an
 * IPsec tunnel from an outbound xfrm policy's template (`local` → `remote`, the selectors it carries).
 */
export interface TunnelSummary {
  name: string;
  kind: string;
  cidrs: string[];
  local?: string;
  remote?: string;
  selectors?: string[];
}

export interface HostSummary {
  region: string | null;
  vpc: string | null;
  /** The cloud subnet (vSwitch) CIDR, else the network of the host's first uplink address. */
  subnet: string | null;
  addresses: string[];
  bridges: BridgeSummary[];
  tunnels: TunnelSummary[];
  findings: Record<Severity, number>;
}

const TUNNEL_KINDS = new Set(['wireguard', 'gre', 'ipip', 'sit', 'vxlan', 'tun']);

/** "10.1.2.3/24" → "10.1.2.0/24"; null for anything else. */
export function networkOf(cidr: string): string | null {
  const p = parsePrefix(cidr, cidr.includes(':') ? 6 : 4, true);
  if (!p || !cidr.includes('/')) return null;
  return formatPrefix(p.family === 4 ? { family: 4, value: (p.value & maskV4(p.len)) >>> 0, len: p.len } : { family: 6, value: p.value & maskV6(p.len), len: p.len });
}

const globalCidrs = (i: InterfaceModel): string[] => i.addresses.filter((a) => a.scope !== 'host' && a.scope !== 'link').map((a) => a.cidr);

function subnetOf(snapshot: HostSnapshot): string | null {
  const cloud = snapshot.identity.cloud?.subnetCidrs?.[0];
  if (cloud) return cloud;
  const uplink = snapshot.interfaces.find((i) => i.uplink && globalCidrs(i).some((c) => !c.includes(':'))) ?? snapshot.interfaces.find((i) => i.uplink && globalCidrs(i).length);
  const cidr = uplink && (globalCidrs(uplink).find((c) => !c.includes(':')) ?? globalCidrs(uplink)[0]);
  return cidr ? networkOf(cidr) : null;
}

function tunnelsOf(snapshot: HostSnapshot): TunnelSummary[] {
  const out: TunnelSummary[] = snapshot.interfaces
    .filter((i) => TUNNEL_KINDS.has(i.kind) || (i.owner?.type === 'vpn' && !i.uplink))
    .map((i) => ({ name: i.name, kind: i.kind, cidrs: globalCidrs(i) }));
  const ipsec = new Map<string, TunnelSummary>();
  for (const p of snapshot.xfrmPolicies) {
    if (p.dir !== 'out' || p.action !== 'allow') continue;
    for (const t of p.templates) {
      if (t.mode !== 'tunnel' || !t.dst || /^(0\.0\.0\.0|::)$/.test(t.dst)) continue;
      const k = `${t.src}>${t.dst}`;
      let tunnel = ipsec.get(k);
      if (!tunnel) ipsec.set(k, (tunnel = { name: `ipsec ${t.src} → ${t.dst}`, kind: 'ipsec', cidrs: [], local: t.src, remote: t.dst, selectors: [] }));
      const sel = `${p.selector.src} → ${p.selector.dst}`;
      if (!tunnel.selectors!.includes(sel)) tunnel.selectors!.push(sel);
    }
  }
  return [...out, ...ipsec.values()];
}

/** Open (not resolved) findings by host: a fleet finding counts for every host of its pairs. */
export function openFindingCounts(findings: { finding: { host: string; severity: Severity; pairs?: string[][] }; state: string }[]): Map<string, Record<Severity, number>> {
  const counts = new Map<string, Record<Severity, number>>();
  for (const f of findings) {
    if (f.state === 'resolved') continue;
    for (const host of new Set([f.finding.host, ...(f.finding.pairs ?? []).flat()])) {
      let c = counts.get(host);
      if (!c) counts.set(host, (c = { error: 0, warning: 0, info: 0 }));
      c[f.finding.severity]++;
    }
  }
  return counts;
}

export function hostSummary(snapshot: HostSnapshot | undefined, vpcCidrs: string[], counts: Record<Severity, number> | undefined): HostSummary {
  const cloud = snapshot?.identity.cloud;
  const addresses = snapshot ? snapshot.interfaces.flatMap(globalCidrs) : [];
  return {
    region: cloud?.region ?? null,
    vpc: cloud?.vpcId ?? (vpcCidrs[0] ?? null),
    subnet: snapshot ? subnetOf(snapshot) : null,
    addresses,
    bridges: snapshot ? snapshot.interfaces.filter((i) => i.kind === 'bridge').map((i) => ({
      name: i.name, owner: i.owner ? `${i.owner.type}${i.owner.name ? ` ${i.owner.name}` : ''}` : null, cidrs: globalCidrs(i), noCarrier: i.noCarrier,
    })) : [],
    tunnels: snapshot ? tunnelsOf(snapshot) : [],
    findings: counts ?? { error: 0, warning: 0, info: 0 },
  };
}
