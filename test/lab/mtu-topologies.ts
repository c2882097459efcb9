/**
 * Topologies where path MTU black holes really happen in the kernel (mtu-black-hole): a jumbo
 * uplink toward a peer behind a 1500-byte link, and containers on a bridge over a vxlan whose
 * MTU is larger than the device below carries.
 */
import { NO_DAD } from './datapath-topologies.js';
import type { Topology } from './topology.js';

/** Addresses of the jumbo-uplink topology. */
export const JUMBO = {
  host: '10.1.0.2',
  host6: '2001:db8:1::2',
  gw: '10.1.0.1',
  gw6: '2001:db8:1::1',
  peer: '10.2.0.2',
  peer6: '2001:db8:2::2',
  peerGw: '10.2.0.1',
  peerGw6: '2001:db8:2::1',
  /** The 1500-byte link between the two routers. */
  r1: '10.3.0.1',
  r16: '2001:db8:3::1',
  r2: '10.3.0.2',
  r26: '2001:db8:3::2',
  /** jumboRouter: the LAN `h` routes for, its address on it, and the sender `c` on it. */
  lan: '10.4.0.0/24',
  lan6: '2001:db8:4::/64',
  hLan: '10.4.0.1',
  hLan6: '2001:db8:4::1',
  c: '10.4.0.2',
  c6: '2001:db8:4::2',
} as const;

/**
 * Issue 16's example: `h` has eth0 mtu 9001 (as EC2 sets inside a VPC) and a default route via
 * router `r`; `r` reaches `p` through router `r2` over a link that carries 1500 (a VPN, the
 * internet); `p`'s own link is 9001 again, so TCP from `h` uses 8961-byte segments, and `p`
 * learns the path MTU for its replies from `r2`. h's INPUT (both families) drops by policy and accepts only ESTABLISHED
 * (IPv6 also neighbour discovery) — or, `related`, also RELATED.
 */
export function jumboUplink(opts: { related?: boolean } = {}): Topology {
  const a = JUMBO;
  const state = opts.related ? 'RELATED,ESTABLISHED' : 'ESTABLISHED';
  const input = (nd: string[]): string => ['*filter', ':INPUT DROP [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', '-A INPUT -i lo -j ACCEPT', ...nd, `-A INPUT -m conntrack --ctstate ${state} -j ACCEPT`, 'COMMIT', ''].join('\n');
  return {
    hosts: {
      h: {
        sysctls: NO_DAD,
        routes: [`default via ${a.gw} dev eth0`, `default via ${a.gw6} dev eth0`],
        iptables: input([]),
        ip6tables: input(['-A INPUT -p ipv6-icmp --icmpv6-type neighbour-solicitation -j ACCEPT', '-A INPUT -p ipv6-icmp --icmpv6-type neighbour-advertisement -j ACCEPT']),
      },
      r: { router: true, sysctls: NO_DAD, routes: [`10.2.0.0/24 via ${a.r2} dev eth1`, `2001:db8:2::/64 via ${a.r26} dev eth1`] },
      r2: { router: true, sysctls: NO_DAD, routes: [`default via ${a.r1} dev eth0`, `default via ${a.r16} dev eth0`] },
      p: { sysctls: NO_DAD, routes: [`default via ${a.peerGw} dev eth0`, `default via ${a.peerGw6} dev eth0`] },
    },
    links: [
      { a: { host: 'h', iface: 'eth0', mtu: 9001, addresses: [`${a.host}/24`, `${a.host6}/64`] }, b: { host: 'r', iface: 'eth0', mtu: 9001, addresses: [`${a.gw}/24`, `${a.gw6}/64`] } },
      { a: { host: 'r', iface: 'eth1', mtu: 1500, addresses: [`${a.r1}/24`, `${a.r16}/64`] }, b: { host: 'r2', iface: 'eth0', mtu: 1500, addresses: [`${a.r2}/24`, `${a.r26}/64`] } },
      { a: { host: 'r2', iface: 'eth1', mtu: 9001, addresses: [`${a.peerGw}/24`, `${a.peerGw6}/64`] }, b: { host: 'p', iface: 'eth0', mtu: 9001, addresses: [`${a.peer}/24`, `${a.peer6}/64`] } },
    ],
  };
}

/**
 * Routed senders behind a host: the jumbo-uplink topology where `h` routes (no NAT) for a LAN
 * lan0 (mtu 9001) with the sender `c` on it, and `r` routes the LAN back to `h`. h's INPUT
 * accepts everything (its own packets learn the path MTU); its FORWARD (both families) drops by
 * policy, accepts what the LAN sends out and, coming back, only ESTABLISHED — or, `related`,
 * RELATED,ESTABLISHED.
 */
export function jumboRouter(opts: { related?: boolean; outputEstablished?: boolean } = {}): Topology {
  const a = JUMBO;
  const base = jumboUplink();
  const state = opts.related ? 'RELATED,ESTABLISHED' : 'ESTABLISHED';
  const forward = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]', '-A FORWARD -i lan0 -o eth0 -j ACCEPT', `-A FORWARD -m conntrack --ctstate ${state} -j ACCEPT`, 'COMMIT', ''].join('\n');
  // outputEstablished: h's eth0 (and r's end) carry 1500, below the LAN's 9001, so h itself answers
  // the LAN's large packets; its OUTPUT drops by policy and accepts only ESTABLISHED (and, for
  // IPv6, neighbour discovery), FORWARD accepts everything.
  const output = (nd: string[]): string => ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT DROP [0:0]', '-A FORWARD -i lan0 -o eth0 -j ACCEPT', '-A OUTPUT -o lo -j ACCEPT', ...nd, '-A OUTPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT', 'COMMIT', ''].join('\n');
  const links = opts.outputEstablished ? (base.links ?? []).map((l, i) => (i === 0 ? { a: { ...l.a, mtu: 1500 }, b: { ...l.b, mtu: 1500 } } : l)) : (base.links ?? []);
  return {
    hosts: {
      ...base.hosts,
      h: opts.outputEstablished
        ? { router: true, sysctls: NO_DAD, routes: base.hosts.h.routes, iptables: output([]), ip6tables: output(['-A OUTPUT -p ipv6-icmp --icmpv6-type neighbour-solicitation -j ACCEPT', '-A OUTPUT -p ipv6-icmp --icmpv6-type neighbour-advertisement -j ACCEPT']) }
        : { router: true, sysctls: NO_DAD, routes: base.hosts.h.routes, iptables: forward, ip6tables: forward },
      r: { ...base.hosts.r, routes: [...(base.hosts.r.routes ?? []), `${a.lan} via ${a.host} dev eth0`, `${a.lan6} via ${a.host6} dev eth0`] },
      c: { sysctls: NO_DAD, routes: [`default via ${a.hLan} dev eth0`, `default via ${a.hLan6} dev eth0`] },
    },
    links: [
      ...links,
      { a: { host: 'h', iface: 'lan0', mtu: 9001, addresses: [`${a.hLan}/24`, `${a.hLan6}/64`] }, b: { host: 'c', iface: 'eth0', mtu: 9001, addresses: [`${a.c}/24`, `${a.c6}/64`] } },
    ],
  };
}

/** Addresses of the vxlan-bridge topology. */
export const VXLAN = {
  /** The container behind the bridge on `v`. */
  container: '10.50.0.2',
  /** The far end of the overlay, on `w`'s vxlan0. */
  remote: '10.50.0.3',
  container6: '2001:db8:50::2',
  remote6: '2001:db8:50::3',
  v: '10.1.0.2',
  w: '10.1.0.1',
} as const;

/**
 * Containers on a bridge over vxlan: on `v`, br0 has the container `c`'s veth c0 and vxlan0
 * (mtu 1500, no `dev`, over eth0 1500: it carries 1450). `w` ends the overlay at 10.50.0.3.
 * v's FORWARD drops by policy, accepts RELATED,ESTABLISHED and what the container sends — or,
 * `icmpAccepted`, also ICMP "fragmentation needed" first. `vxlanMtu` 1450 makes vxlan0 carry
 * what it says, below c0's 1500.
 */
export function vxlanBridge(opts: { icmpAccepted?: boolean; vxlanMtu?: number } = {}): Topology {
  const a = VXLAN;
  const forward = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]',
    ...(opts.icmpAccepted ? ['-A FORWARD -p icmp -m icmp --icmp-type 3/4 -j ACCEPT'] : []),
    '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-A FORWARD -m physdev --physdev-in c0 -j ACCEPT', 'COMMIT', ''].join('\n');
  // IPv6 alike; neighbour discovery is UNTRACKED and must be let through the bridge by itself.
  const forward6 = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]',
    ...(opts.icmpAccepted ? ['-A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type 2 -j ACCEPT'] : []),
    '-A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT', '-A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type 136 -j ACCEPT',
    '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-A FORWARD -m physdev --physdev-in c0 -j ACCEPT', 'COMMIT', ''].join('\n');
  return {
    hosts: {
      v: {
        bridges: [{ name: 'br0' }],
        devices: [{ name: 'vxlan0', link: `mtu ${opts.vxlanMtu ?? 1500} type vxlan id 42 dstport 4789 local ${a.v} remote ${a.w}`, bridge: 'br0' }],
        iptables: forward,
        ip6tables: forward6,
        sysctls: NO_DAD,
      },
      w: { sysctls: NO_DAD, devices: [{ name: 'vxlan0', link: `mtu 1500 type vxlan id 42 dstport 4789 local ${a.w} remote ${a.v}`, addresses: [`${a.remote}/24`, `${a.remote6}/64`] }] },
      c: { sysctls: NO_DAD },
    },
    links: [
      { a: { host: 'v', iface: 'eth0', addresses: [`${a.v}/24`] }, b: { host: 'w', iface: 'eth0', addresses: [`${a.w}/24`] } },
      { a: { host: 'v', iface: 'c0', bridge: 'br0' }, b: { host: 'c', iface: 'eth0', addresses: [`${a.container}/24`, `${a.container6}/64`] } },
    ],
  };
}
