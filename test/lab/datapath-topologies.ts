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

/** Addresses of the NAT gateway topology. */
export const NATGW = {
  client: '10.30.0.5',
  client6: '2001:db8:30::5',
  lan: '10.30.0.0/24',
  lan6: '2001:db8:30::/64',
  /** The unique-local LAN of `natGateway({ ula: true })`. */
  ulaLan: 'fd00:30::/64',
  ulaGw: 'fd00:30::1',
  ulaClient: 'fd00:30::5',
  gwLan: '10.30.0.1',
  gwLan6: '2001:db8:30::1',
  gwVpc: '10.0.0.10',
  gwVpc6: '2001:db8:a::10',
  vpcRouter: '10.0.0.1',
  vpcRouter6: '2001:db8:a::1',
  inet: '192.0.2.10',
  inet6: '2001:db8:c::10',
} as const;

/** Docker's filter and nat rules as dockerd 24–27 writes them for docker0 (172.17.0.0/16), with `extraUser` in DOCKER-USER. */
export function dockerRules(family: 4 | 6, extraUser: string[] = []): string {
  const net = family === 4 ? '172.17.0.0/16' : 'fd00:d0c::/64';
  return [
    '*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]',
    ':DOCKER - [0:0]', ':DOCKER-ISOLATION-STAGE-1 - [0:0]', ':DOCKER-ISOLATION-STAGE-2 - [0:0]', ':DOCKER-USER - [0:0]',
    '-A FORWARD -j DOCKER-USER', '-A FORWARD -j DOCKER-ISOLATION-STAGE-1',
    '-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-A FORWARD -o docker0 -j DOCKER',
    '-A FORWARD -i docker0 ! -o docker0 -j ACCEPT', '-A FORWARD -i docker0 -o docker0 -j ACCEPT',
    '-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2', '-A DOCKER-ISOLATION-STAGE-1 -j RETURN',
    '-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP', '-A DOCKER-ISOLATION-STAGE-2 -j RETURN',
    ...extraUser.map((r) => `-A DOCKER-USER ${r}`), '-A DOCKER-USER -j RETURN',
    'COMMIT',
    '*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', ':DOCKER - [0:0]',
    '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER', `-A OUTPUT ! -d ${family === 4 ? '127.0.0.0/8' : '::1/128'} -m addrtype --dst-type LOCAL -j DOCKER`,
    `-A POSTROUTING -s ${net} ! -o docker0 -j MASQUERADE`, '-A DOCKER -i docker0 -j RETURN',
    'COMMIT', '',
  ].join('\n');
}

/**
 * A NAT gateway instance: eth0 in the VPC (default via the VPC router, which reaches "inet"
 * 192.0.2.10 but has no route to the private subnet), eth1 the private subnet 10.30.0.0/24
 * with `client`; MASQUERADE for it. IPv6 is routed without NAT (the VPC router routes
 * 2001:db8:30::/64 to the gateway). `docker` installs Docker's rules (FORWARD policy DROP) and
 * an idle docker0; `dockerUser` adds DOCKER-USER rules; `eth1Forwarding` 0 turns forwarding off
 * on eth1 only.
 */
export function natGateway(opts: { docker?: boolean; dockerUser?: { 4: string[]; 6: string[] }; eth1Forwarding?: 0 | 1; masquerade?: boolean; ula?: boolean } = {}): Topology {
  const a = NATGW;
  const nat = opts.masquerade !== false;
  const masquerade = nat ? `-A POSTROUTING -s ${a.lan} -o eth0 -j MASQUERADE` : '';
  const v4 = opts.docker ? dockerRules(4, opts.dockerUser?.[4]).replace(`-A POSTROUTING -s 172.17.0.0/16`, `${masquerade}\n-A POSTROUTING -s 172.17.0.0/16`) : `*nat\n${masquerade}\nCOMMIT\n`;
  const [gwLan6, client6] = opts.ula ? [a.ulaGw, a.ulaClient] : [a.gwLan6, a.client6];
  const gw: HostSpec = {
    router: true,
    sysctls: { ...NO_DAD, ...(opts.eth1Forwarding === 0 ? { 'net.ipv4.conf.eth1.forwarding': 0 } : {}) },
    routes: [`default via ${a.vpcRouter} dev eth0`, `default via ${a.vpcRouter6} dev eth0`],
    iptables: v4,
    ...(opts.docker ? { ip6tables: dockerRules(6, opts.dockerUser?.[6]), bridges: [{ name: 'docker0', addresses: ['172.17.0.1/16', 'fd00:d0c::1/64'] }] } : {}),
    ...(opts.ula && !opts.docker && nat ? { ip6tables: `*nat\n-A POSTROUTING -s ${a.ulaLan} -o eth0 -j MASQUERADE\nCOMMIT\n` } : {}),
  };
  return {
    hosts: {
      gw,
      // The VPC router routes the documentation-prefix LAN to the gateway; a ULA LAN it does not know.
      vpcr: { router: true, sysctls: NO_DAD, routes: opts.ula ? [] : [`${a.lan6} via ${a.gwVpc6} dev eth0`] },
      client: { sysctls: NO_DAD, routes: [`default via ${a.gwLan} dev eth0`, `default via ${gwLan6} dev eth0`] },
      inet: { sysctls: NO_DAD, routes: ['default via 192.0.2.1 dev eth0', 'default via 2001:db8:c::1 dev eth0'] },
    },
    links: [
      { a: { host: 'gw', iface: 'eth0', addresses: [`${a.gwVpc}/24`, `${a.gwVpc6}/64`] }, b: { host: 'vpcr', iface: 'eth0', addresses: [`${a.vpcRouter}/24`, `${a.vpcRouter6}/64`] } },
      { a: { host: 'gw', iface: 'eth1', addresses: [`${a.gwLan}/24`, `${gwLan6}/64`] }, b: { host: 'client', iface: 'eth0', addresses: [`${a.client}/24`, `${client6}/64`] } },
      { a: { host: 'vpcr', iface: 'eth1', addresses: ['192.0.2.1/24', '2001:db8:c::1/64'] }, b: { host: 'inet', iface: 'eth0', addresses: [`${a.inet}/24`, `${a.inet6}/64`] } },
    ],
  };
}

/** Addresses of the KVM host topology. */
export const KVM = {
  host: '192.168.122.1',
  vm1: '192.168.122.10',
  vm2: '192.168.122.11',
  host6: 'fd00:122::1',
  vm16: 'fd00:122::10',
  vm26: 'fd00:122::11',
} as const;

/**
 * A KVM host: bridge br0 (192.168.122.1/24, fd00:122::1/64) with two VMs on ports vnet0 and
 * vnet1; bridge-nf-call-iptables and -ip6tables are 1 (this kernel's default once br_netfilter
 * is in). `docker` installs Docker's rules (FORWARD DROP) and an idle docker0; `dockerUser`
 * adds DOCKER-USER rules (IPv4 and IPv6 alike).
 */
export function kvmHost(opts: { docker?: boolean; dockerUser?: string[] } = {}): Topology {
  const k = KVM;
  return {
    hosts: {
      kvm: {
        sysctls: { ...NO_DAD, 'net.bridge.bridge-nf-call-iptables': 1, 'net.bridge.bridge-nf-call-ip6tables': 1 },
        bridges: [{ name: 'br0', addresses: [`${k.host}/24`, `${k.host6}/64`] }, ...(opts.docker ? [{ name: 'docker0', addresses: ['172.17.0.1/16', 'fd00:d0c::1/64'] }] : [])],
        ...(opts.docker ? { iptables: dockerRules(4, opts.dockerUser), ip6tables: dockerRules(6, opts.dockerUser) } : {}),
      },
      vm1: { sysctls: NO_DAD },
      vm2: { sysctls: NO_DAD },
    },
    links: [
      { a: { host: 'kvm', iface: 'vnet0', bridge: 'br0' }, b: { host: 'vm1', iface: 'eth0', addresses: [`${k.vm1}/24`, `${k.vm16}/64`] } },
      { a: { host: 'kvm', iface: 'vnet1', bridge: 'br0' }, b: { host: 'vm2', iface: 'eth0', addresses: [`${k.vm2}/24`, `${k.vm26}/64`] } },
    ],
  };
}

/** Addresses of the dual-WAN topology. */
export const DUALWAN = {
  wan1: '198.18.1.2',
  isp1: '198.18.1.1',
  wan2: '203.0.113.2',
  isp2: '203.0.113.1',
  lan: '192.168.10.1',
  server: '192.168.10.5',
  client: '192.0.2.50',
  port: 8080,
  wan1v6: '2001:db8:1::2',
  isp1v6: '2001:db8:1::1',
  wan2v6: '2001:db8:2::2',
  isp2v6: '2001:db8:2::1',
  lan6: 'fd00:10::1',
  server6: 'fd00:10::5',
  client6: '2001:db8:99::50',
} as const;

/**
 * A router with two uplinks: wan1 198.18.1.2 (default route, provider isp1) and wan2
 * 203.0.113.2 (isp2), a LAN 192.168.10.0/24 with `srv` listening on TCP 8080, and a port
 * forward on wan2 (`-i wan2 -p tcp --dport 8080 -j DNAT --to-destination 192.168.10.5`). The
 * client 192.0.2.50 reaches wan2 through isp2 and wan1 through isp1; each provider filters
 * sources that are not its customer's (rp_filter=1 toward the router). `connmark` adds the
 * CONNMARK routing that sends replies back by wan2; `wan2RpFilter` sets r's rp_filter on wan2.
 * `v6` adds the same in IPv6 (2001:db8:1::/64, 2001:db8:2::/64, a ULA LAN fd00:10::/64 with
 * NAT66, the client 2001:db8:99::50; the providers filter by an ip6tables FORWARD rule).
 */
export function dualWan(opts: { connmark?: boolean; wan2RpFilter?: 0 | 1 | 2; v6?: boolean } = {}): Topology {
  const d = DUALWAN;
  const v6 = opts.v6 === true;
  const mangle = opts.connmark
    ? ['*mangle', '-A PREROUTING -i wan2 -m conntrack --ctstate NEW -j CONNMARK --set-mark 0x102', '-A PREROUTING -i lan -m conntrack --ctstate ESTABLISHED,RELATED -j CONNMARK --restore-mark', 'COMMIT']
    : [];
  const server = "import socket\ns=socket.socket(socket.AF_INET6)\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0)\ns.bind(('::',8080))\ns.listen(16)\nwhile True:\n  c,_=s.accept()\n  c.sendall(b'ok')\n  c.close()";
  const isp = (n: 1 | 2): HostSpec => ({
    router: true,
    sysctls: { ...NO_DAD, 'net.ipv4.conf.all.rp_filter': 0, 'net.ipv4.conf.eth0.rp_filter': 1 },
    routes: [`default via 10.9${n}.0.2 dev eth1`, ...(v6 ? [`default via 2001:db8:9${n}::2 dev eth1`] : [])],
    // BCP 38 for IPv6 (no rp_filter there): only the customer's own prefix comes in from it.
    ...(v6 ? { ip6tables: `*filter\n-A FORWARD -i eth0 ! -s 2001:db8:${n}::/64 -j DROP\nCOMMIT\n` } : {}),
  });
  const nat6 = ['*nat', `-A PREROUTING -i wan2 -p tcp --dport ${d.port} -j DNAT --to-destination ${d.server6}`, '-A POSTROUTING -s fd00:10::/64 -o wan1 -j MASQUERADE', '-A POSTROUTING -s fd00:10::/64 -o wan2 -j MASQUERADE', 'COMMIT'];
  const six = (a: string, len = 64): string[] => (v6 ? [`${a}/${len}`] : []);
  return {
    hosts: {
      r: {
        router: true,
        sysctls: { ...NO_DAD, 'net.ipv4.conf.all.rp_filter': 0, ...(opts.wan2RpFilter !== undefined ? { 'net.ipv4.conf.wan2.rp_filter': opts.wan2RpFilter } : {}) },
        routes: [
          `default via ${d.isp1} dev wan1`, ...(opts.connmark ? [`default via ${d.isp2} dev wan2 table 102`] : []),
          ...(v6 ? [`default via ${d.isp1v6} dev wan1`, ...(opts.connmark ? [`default via ${d.isp2v6} dev wan2 table 102`] : [])] : []),
        ],
        rules: opts.connmark ? ['fwmark 0x102 lookup 102 pref 1000'] : [],
        setup: opts.connmark && v6 ? ['ip -6 rule add fwmark 0x102 lookup 102 pref 1000'] : [],
        iptables: [...mangle, '*nat', `-A PREROUTING -i wan2 -p tcp --dport ${d.port} -j DNAT --to-destination ${d.server}`, '-A POSTROUTING -s 192.168.10.0/24 -o wan1 -j MASQUERADE', '-A POSTROUTING -s 192.168.10.0/24 -o wan2 -j MASQUERADE', 'COMMIT', ''].join('\n'),
        ...(v6 ? { ip6tables: [...mangle, ...nat6, ''].join('\n') } : {}),
      },
      srv: { sysctls: NO_DAD, routes: [`default via ${d.lan} dev eth0`, ...(v6 ? [`default via ${d.lan6} dev eth0`] : [])], setup: [`python3 -c "${server}" >/dev/null 2>&1 &`, `for i in $(seq 100); do ss -Hltn 'sport = :${d.port}' | grep -q . && break; sleep 0.05; done`] },
      isp1: isp(1),
      isp2: isp(2),
      cli: {
        router: true,
        sysctls: NO_DAD,
        addresses: [`${d.client}/32 dev lo`, ...(v6 ? [`${d.client6}/128 dev lo`] : [])],
        routes: [
          '203.0.113.0/24 via 10.92.0.1 dev eth0', '198.18.1.0/24 via 10.91.0.1 dev eth1',
          ...(v6 ? ['2001:db8:2::/64 via 2001:db8:92::1 dev eth0', '2001:db8:1::/64 via 2001:db8:91::1 dev eth1'] : []),
        ],
      },
    },
    links: [
      { a: { host: 'r', iface: 'wan1', addresses: [`${d.wan1}/24`, ...six(d.wan1v6)] }, b: { host: 'isp1', iface: 'eth0', addresses: [`${d.isp1}/24`, ...six(d.isp1v6)] } },
      { a: { host: 'r', iface: 'wan2', addresses: [`${d.wan2}/24`, ...six(d.wan2v6)] }, b: { host: 'isp2', iface: 'eth0', addresses: [`${d.isp2}/24`, ...six(d.isp2v6)] } },
      { a: { host: 'r', iface: 'lan', addresses: [`${d.lan}/24`, ...six(d.lan6)] }, b: { host: 'srv', iface: 'eth0', addresses: [`${d.server}/24`, ...six(d.server6)] } },
      { a: { host: 'isp1', iface: 'eth1', addresses: ['10.91.0.1/30', ...six('2001:db8:91::1')] }, b: { host: 'cli', iface: 'eth1', addresses: ['10.91.0.2/30', ...six('2001:db8:91::2')] } },
      { a: { host: 'isp2', iface: 'eth1', addresses: ['10.92.0.1/30', ...six('2001:db8:92::1')] }, b: { host: 'cli', iface: 'eth0', addresses: ['10.92.0.2/30', ...six('2001:db8:92::2')] } },
    ],
  };
}

/**
 * The mesh with a program on ecs3's eth0 that drops everything: a tc BPF filter on the ingress
 * (`tc`), or an XDP program in generic mode (`xdp`). The firewall and the routes let the peers in.
 */
export function meshWithDropProgram(kind: 'tc' | 'xdp', object: string): Topology {
  const attach = kind === 'tc'
    ? [`tc qdisc add dev eth0 clsact && tc filter add dev eth0 ingress bpf da obj ${object} sec tc`]
    : [`ip link set dev eth0 xdpgeneric obj ${object} sec xdp`];
  return dualStackMesh({ setup: attach });
}

/**
 * Two hosts on one IPv6 link; `h`'s ip6tables INPUT drops by policy and accepts RELATED,ESTABLISHED
 * and pings — and, `nd`, neighbour solicitations and advertisements.
 */
export function ipv6Link(opts: { nd?: boolean } = {}): Topology {
  const rules = ['*filter', ':INPUT DROP [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]', '-A INPUT -i lo -j ACCEPT',
    ...(opts.nd ? ['-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type neighbour-solicitation -j ACCEPT', '-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type neighbour-advertisement -j ACCEPT'] : []),
    '-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type echo-request -j ACCEPT', 'COMMIT', ''];
  return {
    hosts: { h: { sysctls: NO_DAD, ip6tables: rules.join('\n') }, peer: { sysctls: NO_DAD } },
    links: [{ a: { host: 'h', iface: 'eth0', addresses: ['2001:db8:6::1/64'] }, b: { host: 'peer', iface: 'eth0', addresses: ['2001:db8:6::2/64'] } }],
  };
}
