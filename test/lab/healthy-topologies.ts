/**
 * The healthy-host corpus (issue 14): hosts that work, built as namespaces, which no check may
 * warn about. Each topology has one subject host that hostcheck runs in (`HEALTHY[case].host`)
 * and the peers it is given. Peers are chosen outside Docker's default address pools
 * (172.17.0.0/16 to 172.31.0.0/16, 192.168.0.0/16) unless they live on the host's own bridge or
 * the case is about a peer in the bridge's range; `dockerPoolRisk` is the one case where a peer
 * inside the pools is a true latent risk, and says so.
 */
import { FIRST_INCIDENT, firstIncident } from './topologies.js';
import type { Topology } from './topology.js';

/** One corpus case: the topology, the host hostcheck checks, its peers (IP=NAME). */
export interface HealthyCase {
  topology: () => Topology;
  host: string;
  peers: { address: string; name: string }[];
}

/** Docker's filter and nat rules (Docker 24, iptables-nft) with a published port 8080 → ctr:80. */
export const DOCKER_RULES = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -s 10.40.0.0/24 -o docker0 -m conntrack --ctstate NEW,RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-USER -j RETURN
COMMIT
`;

/** libvirt's default network rules (iptables backend) for virbr0 192.168.122.0/24. */
const LIBVIRT_RULES = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:LIBVIRT_PRT - [0:0]
-A POSTROUTING -j LIBVIRT_PRT
-A LIBVIRT_PRT -s 192.168.122.0/24 -d 224.0.0.0/24 -j RETURN
-A LIBVIRT_PRT -s 192.168.122.0/24 -d 255.255.255.255/32 -j RETURN
-A LIBVIRT_PRT -s 192.168.122.0/24 ! -d 192.168.122.0/24 -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:LIBVIRT_FWI - [0:0]
:LIBVIRT_FWO - [0:0]
:LIBVIRT_FWX - [0:0]
:LIBVIRT_INP - [0:0]
:LIBVIRT_OUT - [0:0]
-A INPUT -j LIBVIRT_INP
-A FORWARD -j LIBVIRT_FWX
-A FORWARD -j LIBVIRT_FWI
-A FORWARD -j LIBVIRT_FWO
-A OUTPUT -j LIBVIRT_OUT
-A LIBVIRT_FWI -d 192.168.122.0/24 -o virbr0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A LIBVIRT_FWI -o virbr0 -j REJECT --reject-with icmp-port-unreachable
-A LIBVIRT_FWO -s 192.168.122.0/24 -i virbr0 -j ACCEPT
-A LIBVIRT_FWO -i virbr0 -j REJECT --reject-with icmp-port-unreachable
-A LIBVIRT_FWX -i virbr0 -o virbr0 -j ACCEPT
-A LIBVIRT_INP -i virbr0 -p udp -m udp --dport 53 -j ACCEPT
-A LIBVIRT_INP -i virbr0 -p tcp -m tcp --dport 53 -j ACCEPT
-A LIBVIRT_INP -i virbr0 -p udp -m udp --dport 67 -j ACCEPT
-A LIBVIRT_OUT -o virbr0 -p udp -m udp --dport 68 -j ACCEPT
COMMIT
`;

/**
 * A subject host `host` behind `gw` (eth0, default route) and a `client` on another subnet of
 * gw: the frame most cases share. `extra` adds the subject's own state.
 */
function behindGateway(subnet: number, host: HostExtra = {}, more: Partial<Topology> = {}): Topology {
  const net = `10.${subnet}.0`;
  return {
    hosts: {
      gw: { router: true },
      client: { routes: [`default via 10.${subnet + 10}.0.1 dev eth0`] },
      host: { ...host, routes: [`default via ${net}.1 dev eth0`, ...(host.routes ?? [])] },
      ...more.hosts,
    },
    links: [
      { a: { host: 'gw', iface: 'eth1', addresses: [`${net}.1/24`] }, b: { host: 'host', iface: 'eth0', addresses: [`${net}.10/24`] } },
      { a: { host: 'gw', iface: 'eth2', addresses: [`10.${subnet + 10}.0.1/24`] }, b: { host: 'client', iface: 'eth0', addresses: [`10.${subnet + 10}.0.5/24`] } },
      ...(more.links ?? []),
    ],
  };
}
type HostExtra = Topology['hosts'][string];

/** A namespace `name` on bridge `bridge` of `host`, addressed `cidr`, default route via `gateway`. */
function onBridge(host: string, bridge: string, name: string, port: string, cidr: string, gateway: string): Partial<Topology> {
  return {
    hosts: { [name]: { routes: [`default via ${gateway} dev eth0`] } },
    links: [{ a: { host, iface: port, bridge }, b: { host: name, iface: 'eth0', addresses: [cidr] } }],
  };
}

function merge(...parts: Partial<Topology>[]): Partial<Topology> {
  return { hosts: Object.assign({}, ...parts.map((p) => p.hosts ?? {})), links: parts.flatMap((p) => p.links ?? []) };
}

const fi = FIRST_INCIDENT;

export const HEALTHY: Record<string, HealthyCase> = {
  /** One NIC with an IPv4 and an IPv6 default route: the usual dual-stack cloud instance. */
  'dual-stack': {
    host: 'host',
    peers: [{ address: '10.20.0.5', name: 'client' }, { address: '2001:db8:20::5', name: 'client6' }],
    topology: () => ({
      hosts: {
        gw: { router: true },
        client: { routes: ['default via 10.20.0.1 dev eth0', 'default via 2001:db8:20::1 dev eth0'] },
        host: { routes: ['default via 10.10.0.1 dev eth0', 'default via 2001:db8:10::1 dev eth0'] },
      },
      links: [
        { a: { host: 'gw', iface: 'eth1', addresses: ['10.10.0.1/24', '2001:db8:10::1/64'] }, b: { host: 'host', iface: 'eth0', addresses: ['10.10.0.10/24', '2001:db8:10::10/64'] } },
        { a: { host: 'gw', iface: 'eth2', addresses: ['10.20.0.1/24', '2001:db8:20::1/64'] }, b: { host: 'client', iface: 'eth0', addresses: ['10.20.0.5/24', '2001:db8:20::5/64'] } },
      ],
    }),
  },

  /**
   * Two NICs, each with its own table and `from` rule (the cloud's second-ENI recipe done right);
   * the router checks sources strictly, as a cloud's source check does.
   */
  'multi-nic': {
    host: 'host',
    peers: [{ address: '10.9.0.5', name: 'client' }],
    topology: () => ({
      hosts: {
        gw: { router: true, sysctls: { 'net.ipv4.conf.all.rp_filter': 1, 'net.ipv4.conf.eth1.rp_filter': 1, 'net.ipv4.conf.eth2.rp_filter': 1, 'net.ipv4.conf.eth3.rp_filter': 1 } },
        client: { routes: ['default via 10.9.0.1 dev eth0'] },
        host: {
          routes: ['default via 10.1.0.1 dev eth0', 'default via 10.1.0.1 dev eth0 table 100', 'default via 10.2.0.1 dev eth1 table 101', '10.2.0.0/24 dev eth1 scope link src 10.2.0.10 table 101'],
          rules: ['from 10.1.0.10 lookup 100 pref 1000', 'from 10.2.0.10 lookup 101 pref 1001'],
        },
      },
      links: [
        { a: { host: 'gw', iface: 'eth1', addresses: ['10.1.0.1/24'] }, b: { host: 'host', iface: 'eth0', addresses: ['10.1.0.10/24'] } },
        { a: { host: 'gw', iface: 'eth2', addresses: ['10.2.0.1/24'] }, b: { host: 'host', iface: 'eth1', addresses: ['10.2.0.10/24'] } },
        { a: { host: 'gw', iface: 'eth3', addresses: ['10.9.0.1/24'] }, b: { host: 'client', iface: 'eth0', addresses: ['10.9.0.5/24'] } },
      ],
    }),
  },

  /**
   * A NAT gateway: eth0 public (203.0.113.2, default route to the ISP), eth1 private 10.0.1.1/24
   * with `lanpc` on it; `wan` beyond the ISP. LAN traffic leaves masqueraded.
   */
  'nat-router': {
    host: 'host',
    peers: [{ address: '10.0.1.10', name: 'lanpc' }, { address: '198.51.100.20', name: 'wan' }],
    topology: () => ({
      hosts: {
        isp: { router: true },
        wan: { routes: ['default via 198.51.100.1 dev eth0'] },
        lanpc: { routes: ['default via 10.0.1.1 dev eth0'] },
        host: {
          router: true,
          routes: ['default via 203.0.113.1 dev eth0'],
          iptables: ['*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', '-A POSTROUTING -s 10.0.1.0/24 -o eth0 -j MASQUERADE', 'COMMIT',
            '*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]', '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-A FORWARD -i eth1 -o eth0 -j ACCEPT', 'COMMIT', ''].join('\n'),
        },
      },
      links: [
        { a: { host: 'isp', iface: 'eth1', addresses: ['203.0.113.1/24'] }, b: { host: 'host', iface: 'eth0', addresses: ['203.0.113.2/24'] } },
        { a: { host: 'isp', iface: 'eth2', addresses: ['198.51.100.1/24'] }, b: { host: 'wan', iface: 'eth0', addresses: ['198.51.100.20/24'] } },
        { a: { host: 'host', iface: 'eth1', addresses: ['10.0.1.1/24'] }, b: { host: 'lanpc', iface: 'eth0', addresses: ['10.0.1.10/24'] } },
      ],
    }),
  },

  /**
   * A Docker host: docker0 172.17.0.1/16 with a container `ctr` 172.17.0.2 (a peer too), Docker's
   * rules with DOCKER-USER accepting the client's subnet, a port published to the container.
   */
  docker: {
    host: 'host',
    peers: [{ address: '10.40.0.5', name: 'client' }, { address: '172.17.0.2', name: 'ctr' }],
    topology: () => behindGateway(30, { router: true, bridges: [{ name: 'docker0', addresses: ['172.17.0.1/16'] }], iptables: DOCKER_RULES }, onBridge('host', 'docker0', 'ctr', 'veth1a2b3c4', '172.17.0.2/16', '172.17.0.1')),
  },

  /**
   * A Kubernetes node: pods on cni0 10.244.1.0/24, flannel.1 (vxlan) to node2's pods 10.244.2.0/24;
   * the pod CIDR 10.244.0.0/16 overlaps no peer.
   */
  'k8s-node': {
    host: 'node1',
    peers: [{ address: '10.50.0.12', name: 'node2' }, { address: '10.60.0.5', name: 'client' }],
    topology: () => {
      const node = (n: 1 | 2): HostExtra => {
        const other = 3 - n;
        return {
          router: true,
          bridges: [{ name: 'cni0', addresses: [`10.244.${n}.1/24`] }],
          devices: [{ name: 'flannel.1', link: `type vxlan id 1 dstport 8472 local 10.50.0.1${n} nolearning`, addresses: [`10.244.${n}.0/32`] }],
          routes: ['default via 10.50.0.1 dev eth0', `10.244.${other}.0/24 via 10.244.${other}.0 dev flannel.1 onlink`],
          setup: [
            `ip link set flannel.1 address 02:f1:00:00:00:0${n}`,
            `ip neigh replace 10.244.${other}.0 lladdr 02:f1:00:00:00:0${other} dev flannel.1 nud permanent`,
            `bridge fdb append 02:f1:00:00:00:0${other} dev flannel.1 dst 10.50.0.1${other}`,
          ],
        };
      };
      return {
        hosts: {
          gw: { router: true, bridges: [{ name: 'br0', addresses: ['10.50.0.1/24'] }] },
          client: { routes: ['default via 10.60.0.1 dev eth0'] },
          node1: node(1),
          node2: node(2),
          pod1: { routes: ['default via 10.244.1.1 dev eth0'] },
          pod2: { routes: ['default via 10.244.2.1 dev eth0'] },
        },
        links: [
          { a: { host: 'gw', iface: 'n1', bridge: 'br0' }, b: { host: 'node1', iface: 'eth0', addresses: ['10.50.0.11/24'] } },
          { a: { host: 'gw', iface: 'n2', bridge: 'br0' }, b: { host: 'node2', iface: 'eth0', addresses: ['10.50.0.12/24'] } },
          { a: { host: 'gw', iface: 'eth2', addresses: ['10.60.0.1/24'] }, b: { host: 'client', iface: 'eth0', addresses: ['10.60.0.5/24'] } },
          { a: { host: 'node1', iface: 'vethpod1', bridge: 'cni0' }, b: { host: 'pod1', iface: 'eth0', addresses: ['10.244.1.2/24'] } },
          { a: { host: 'node2', iface: 'vethpod2', bridge: 'cni0' }, b: { host: 'pod2', iface: 'eth0', addresses: ['10.244.2.2/24'] } },
        ],
      };
    },
  },

  /** The first incident after its immediate fix: a /32 route takes ecs1 out of docker0's range. */
  'bridge-range-rescued': {
    host: 'ecs3',
    peers: [{ address: fi.ecs1, name: 'ecs1' }],
    topology: () => {
      const t = firstIncident();
      t.hosts.ecs3.routes = [...(t.hosts.ecs3.routes ?? []), `${fi.ecs1}/32 via ${fi.gateway3} dev eth0`];
      return t;
    },
  },

  /** A KVM host whose VMs sit on its bridge br0 192.168.50.0/24 (NAT out of eth0): the VMs are its peers. */
  'vms-on-own-bridge': {
    host: 'host',
    peers: [{ address: '192.168.50.11', name: 'vm1' }, { address: '192.168.50.12', name: 'vm2' }, { address: '10.80.0.5', name: 'client' }],
    topology: () => behindGateway(70, {
      router: true,
      bridges: [{ name: 'br0', addresses: ['192.168.50.1/24'] }],
      iptables: ['*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', '-A POSTROUTING -s 192.168.50.0/24 ! -d 192.168.50.0/24 -j MASQUERADE', 'COMMIT', ''].join('\n'),
    }, merge(onBridge('host', 'br0', 'vm1', 'vnet0', '192.168.50.11/24', '192.168.50.1'), onBridge('host', 'br0', 'vm2', 'vnet1', '192.168.50.12/24', '192.168.50.1'))),
  },

  /** The first incident's docker0 (NO-CARRIER) with ignore_routes_with_linkdown=1: ecs1 is reached. */
  'linkdown-ignored': {
    host: 'ecs3',
    peers: [{ address: fi.ecs1, name: 'ecs1' }],
    topology: () => {
      const t = firstIncident();
      t.hosts.ecs3.sysctls = { ...t.hosts.ecs3.sysctls, 'net.ipv4.conf.docker0.ignore_routes_with_linkdown': 1 };
      return t;
    },
  },

  /** Debian's default /etc/nftables.conf: table inet filter, three chains, policy accept, no rules. */
  'nft-empty-accept': {
    host: 'host',
    peers: [{ address: '10.100.0.5', name: 'client' }],
    topology: () => behindGateway(90, {
      setup: ['nft add table inet filter', "nft 'add chain inet filter input { type filter hook input priority filter; policy accept; }'",
        "nft 'add chain inet filter forward { type filter hook forward priority filter; policy accept; }'", "nft 'add chain inet filter output { type filter hook output priority filter; policy accept; }'"],
    }),
  },

  /** libvirt's default network: virbr0 192.168.122.1/24 with no VM yet (NO-CARRIER), its rules; no peer uses the range. */
  'libvirt-default': {
    host: 'host',
    peers: [{ address: '10.120.0.5', name: 'client' }],
    topology: () => behindGateway(110, { router: true, bridges: [{ name: 'virbr0', addresses: ['192.168.122.1/24'] }], iptables: LIBVIRT_RULES }),
  },
};

/**
 * The one true latent risk: the rescued first-incident host with ecs2 172.18.1.22 as a peer too.
 * ecs2 is reached today, but 172.18.0.0/16 is the next /16 Docker's built-in pools hand out.
 */
export const DOCKER_POOL_RISK: HealthyCase = {
  host: 'ecs3',
  peers: [{ address: fi.ecs1, name: 'ecs1' }, { address: fi.ecs2, name: 'ecs2' }],
  topology: HEALTHY['bridge-range-rescued'].topology,
};
