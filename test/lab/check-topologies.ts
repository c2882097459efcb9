/**
 * Small topologies where each host check's fault really happens in the kernel (issue: the kernel
 * as oracle). `firstIncident` lives in topologies.ts; these add the second-NIC and policy cases.
 */
import type { Topology } from './topology.js';
import { FIRST_INCIDENT, firstIncident } from './topologies.js';

/** Addresses of the two-NIC topology. */
export const TWO_NIC = {
  client: '10.9.0.5',
  ecs4eth0: '10.1.0.10',
  ecs4eth1: '10.2.0.10',
  gwA: '10.1.0.1',
  gwB: '10.2.0.1',
  gwClient: '10.9.0.1',
} as const;

/**
 * `client` reaches `ecs4` through `router`; ecs4 has eth0 (10.1.0.10, default route) and a second
 * NIC eth1 (10.2.0.10) without a table of its own. The client pings eth1's address.
 * `ecs4RpFilter` sets eth1's rp_filter; `routerRpFilter` makes the router drop spoofed-looking
 * sources the way a cloud's source check does.
 */
export function twoNic(opts: { ecs4RpFilter?: number; routerRpFilter?: number } = {}): Topology {
  const a = TWO_NIC;
  const routerSysctls: Record<string, number> = {};
  if (opts.routerRpFilter !== undefined) {
    routerSysctls['net.ipv4.conf.all.rp_filter'] = opts.routerRpFilter;
    for (const i of ['eth1', 'eth2', 'eth3']) routerSysctls[`net.ipv4.conf.${i}.rp_filter`] = opts.routerRpFilter;
  }
  return {
    hosts: {
      router: { router: true, sysctls: routerSysctls },
      client: { routes: [`default via ${a.gwClient} dev eth0`] },
      ecs4: {
        routes: [`default via ${a.gwA} dev eth0`],
        sysctls: opts.ecs4RpFilter !== undefined ? { 'net.ipv4.conf.eth1.rp_filter': opts.ecs4RpFilter } : {},
      },
    },
    links: [
      { a: { host: 'router', iface: 'eth1', addresses: [`${a.gwA}/24`] }, b: { host: 'ecs4', iface: 'eth0', addresses: [`${a.ecs4eth0}/24`] } },
      { a: { host: 'router', iface: 'eth2', addresses: [`${a.gwB}/24`] }, b: { host: 'ecs4', iface: 'eth1', addresses: [`${a.ecs4eth1}/24`] } },
      { a: { host: 'router', iface: 'eth3', addresses: [`${a.gwClient}/24`] }, b: { host: 'client', iface: 'eth0', addresses: [`${a.client}/24`] } },
    ],
  };
}

/** The first incident's mesh without docker0, plus something on ECS3 (a rule, a route, a firewall, a bridge). */
export function meshWithEcs3(extra: { rules?: string[]; routes?: string[]; iptables?: string; bridges?: { name: string; addresses: string[] }[] }): Topology {
  const t = firstIncident({ docker0: false });
  const ecs3 = t.hosts.ecs3;
  ecs3.rules = [...(ecs3.rules ?? []), ...(extra.rules ?? [])];
  ecs3.routes = [...(ecs3.routes ?? []), ...(extra.routes ?? [])];
  if (extra.iptables) ecs3.iptables = extra.iptables;
  if (extra.bridges) ecs3.bridges = [...(ecs3.bridges ?? []), ...extra.bridges];
  return t;
}

/**
 * ECS3's firewall for the sosreport firewall tests: ecs1's ICMP dropped; ecs2's only above 2000
 * bytes (`-m length`, which `iptables -nvL` prints in a form hostcheck does not read back).
 */
export function ecs3PeerFirewall(): Topology {
  return meshWithEcs3({
    iptables: ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':PEERS - [0:0]',
      '-A INPUT -p icmp -j PEERS',
      `-A PEERS -s ${FIRST_INCIDENT.ecs1}/32 -m comment --comment "old monitoring block" -j DROP`,
      `-A PEERS -s ${FIRST_INCIDENT.ecs2}/32 -m length --length 2000:3000 -j DROP`,
      'COMMIT', ''].join('\n'),
  });
}

/**
 * ECS3's drops in nf_tables for the sosreport nft tests: a native `table inet filter` dropping
 * 172.18.0.0/16 (ecs2) and an iptables-nft rule in the raw table dropping ecs1's ICMP (sos 4.0
 * lists only the filter table on an iptables-nft host). Applied by `applyEcs3NftDrops`.
 */
export const ECS3_NFT_DROPS = {
  ruleset: 'table inet filter {\n  chain input {\n    type filter hook input priority filter; policy accept;\n    ip saddr 172.18.0.0/16 drop\n  }\n}\n',
  raw: ['iptables-nft', '-t', 'raw', '-A', 'PREROUTING', '-s', FIRST_INCIDENT.ecs1, '-p', 'icmp', '-j', 'DROP'],
};

export async function applyEcs3NftDrops(lab: { exec: (host: string, argv: string[], opts?: { input?: string; check?: boolean }) => Promise<unknown> }): Promise<void> {
  await lab.exec('ecs3', ['nft', '-f', '-'], { input: ECS3_NFT_DROPS.ruleset, check: true });
  await lab.exec('ecs3', ECS3_NFT_DROPS.raw, { check: true });
}
