/**
 * Topologies where the datapath checks' faults really happen in the kernel: marks steering policy
 * routing (mark-routing), and the router cases (forward-blocked and its siblings).
 */
import { FIRST_INCIDENT as fi } from './topologies.js';
import type { HostSpec, Topology } from './topology.js';

/** The first incident's mesh with IPv6 beside IPv4 (ecs3 is the host under test). */
export const MESH6 = {
  ecs1: '2001:db8:17::64',
  ecs2: '2001:db8:18::22',
  ecs3: '2001:db8:31::18',
  gateway1: '2001:db8:17::253',
  gateway2: '2001:db8:18::253',
  gateway3: '2001:db8:31::253',
} as const;

/** No duplicate address detection: link-local addresses work at once, so the first IPv6 ping is not a second late. */
export const NO_DAD = { 'net.ipv6.conf.all.accept_dad': 0, 'net.ipv6.conf.default.accept_dad': 0 };

/** The mesh of the first incident (no docker0) in both families, with `ecs3` extended. */
export function dualStackMesh(ecs3: HostSpec = {}): Topology {
  const six = MESH6;
  const host = (gw4: string, gw6: string, extra: HostSpec = {}): HostSpec => ({
    ...extra,
    sysctls: { ...NO_DAD, ...extra.sysctls },
    routes: [`default via ${gw4} dev eth0`, `default via ${gw6} dev eth0`, ...(extra.routes ?? [])],
  });
  return {
    hosts: {
      router: { router: true, sysctls: NO_DAD },
      ecs1: host(fi.gateway1, six.gateway1),
      ecs2: host(fi.gateway2, six.gateway2),
      ecs3: host(fi.gateway3, six.gateway3, ecs3),
    },
    links: [
      { a: { host: 'router', iface: 'eth1', addresses: [`${fi.gateway1}/24`, `${six.gateway1}/64`] }, b: { host: 'ecs1', iface: 'eth0', addresses: [`${fi.ecs1}/24`, `${six.ecs1}/64`] } },
      { a: { host: 'router', iface: 'eth2', addresses: [`${fi.gateway2}/24`, `${six.gateway2}/64`] }, b: { host: 'ecs2', iface: 'eth0', addresses: [`${fi.ecs2}/24`, `${six.ecs2}/64`] } },
      { a: { host: 'router', iface: 'eth3', addresses: [`${fi.gateway3}/20`, `${six.gateway3}/64`] }, b: { host: 'ecs3', iface: 'eth0', addresses: [`${fi.ecs3}/20`, `${six.ecs3}/64`] } },
    ],
  };
}

/**
 * Issue 15's "marks into policy routing" on ecs3: mangle OUTPUT marks traffic to ecs2's network
 * 0x66, `fwmark 0x66 lookup 102`, and table 102 holds `blackhole default` (both families) —
 * or, healthy, a default route through the router.
 */
export function markIntoBlackhole(opts: { healthy?: boolean } = {}): Topology {
  const table102 = opts.healthy
    ? [`default via ${fi.gateway3} dev eth0 table 102`, `default via ${MESH6.gateway3} dev eth0 table 102`]
    : ['blackhole default table 102', 'blackhole ::/0 table 102'];
  return dualStackMesh({
    iptables: '*mangle\n-A OUTPUT -d 172.18.0.0/16 -j MARK --set-mark 0x66\nCOMMIT\n',
    ip6tables: '*mangle\n-A OUTPUT -d 2001:db8:18::/48 -j MARK --set-mark 0x66\nCOMMIT\n',
    rules: ['fwmark 0x66 lookup 102 pref 100'],
    routes: table102,
    setup: ['ip -6 rule add fwmark 0x66 lookup 102 pref 100'],
  });
}
