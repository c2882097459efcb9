/** The lab cases test/lab/make-check-fixtures.ts captures into fixtures/checks/<check>/<case>/. */
import { writeBpfObject } from './bpf-object.js';
import { dualStackMesh, dualWan, ipv6Link, kvmHost, markIntoBlackhole, meshWithDropProgram, MESH6, NATGW, natGateway } from './datapath-topologies.js';
import { JUMBO, jumboRouter, jumboUplink, vxlanBridge } from './mtu-topologies.js';
import type { Topology } from './topology.js';
import { FIRST_INCIDENT as fi } from './topologies.js';

export interface CheckFixtureCase {
  check: string;
  name: string;
  topology: () => Topology;
  host: string;
  /** case.json: host, peers, remotes, ports, routeFor. */
  options: Record<string, unknown>;
  /** Shell lines run in the host before the capture. */
  before?: string[];
  /** Files written into the case beside the captured ones (what this kernel cannot show, e.g. /proc/net/ip_vs). */
  extraFiles?: Record<string, string>;
}

const NAT_CASE = { host: 'gw', peers: [{ address: NATGW.inet, name: 'inet' }, { address: NATGW.inet6, name: 'inet' }], routeFor: [NATGW.lan6] };

/** A new bridge comes up once its ports have carrier: wait for it (at most 5 s) before the capture. */
const BRIDGE_UP = 'for i in $(seq 50); do ip link show br0 | grep -q "state UP" && break; sleep 0.1; done';

const MESH_PEERS = [{ address: fi.ecs1, name: 'ecs1' }, { address: fi.ecs2, name: 'ecs2' }, { address: MESH6.ecs1, name: 'ecs1' }, { address: MESH6.ecs2, name: 'ecs2' }];

export const CHECK_FIXTURE_CASES: CheckFixtureCase[] = [
  { check: 'mark-routing', name: 'positive-mark-into-blackhole', topology: () => markIntoBlackhole(), host: 'ecs3', options: { host: 'ecs3', peers: MESH_PEERS } },
  { check: 'mark-routing', name: 'negative-marked-table-routes', topology: () => markIntoBlackhole({ healthy: true }), host: 'ecs3', options: { host: 'ecs3', peers: MESH_PEERS } },
  { check: 'forward-blocked', name: 'positive-docker-on-a-router', topology: () => natGateway({ docker: true }), host: 'gw', options: NAT_CASE },
  { check: 'forward-blocked', name: 'positive-forwarding-off-on-eth1', topology: () => natGateway({ eth1Forwarding: 0 }), host: 'gw', options: NAT_CASE },
  {
    check: 'forward-blocked', name: 'negative-docker-user-rules', host: 'gw', options: NAT_CASE,
    topology: () => natGateway({ docker: true, dockerUser: { 4: [`-i eth1 -o eth0 -s ${NATGW.lan} -j ACCEPT`, '-i eth0 -o eth1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'], 6: [`-i eth1 -o eth0 -s ${NATGW.lan6} -j ACCEPT`, '-i eth0 -o eth1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'] } }),
  },
  { check: 'bridge-forward-blocked', name: 'positive-kvm-bridge-after-docker', topology: () => kvmHost({ docker: true }), host: 'kvm', options: { host: 'kvm' } },
  { check: 'bridge-forward-blocked', name: 'negative-docker-user-accepts-bridge', topology: () => kvmHost({ docker: true, dockerUser: ['-i br0 -o br0 -j ACCEPT'] }), host: 'kvm', options: { host: 'kvm' } },
  { check: 'snat-missing', name: 'positive-gateway-without-masquerade', topology: () => natGateway({ masquerade: false, ula: true }), host: 'gw', options: { host: 'gw', routeFor: [NATGW.lan, NATGW.ulaLan] } },
  { check: 'snat-missing', name: 'negative-gateway-masquerades', topology: () => natGateway({ ula: true }), host: 'gw', options: { host: 'gw', routeFor: [NATGW.lan, NATGW.ulaLan] } },
  { check: 'dnat-reply-asymmetric', name: 'positive-port-forward-on-second-uplink', topology: () => dualWan(), host: 'r', options: { host: 'r' } },
  { check: 'dnat-reply-asymmetric', name: 'negative-connmark-routing', topology: () => dualWan({ connmark: true }), host: 'r', options: { host: 'r' } },
  { check: 'forward-blocked', name: 'positive-rp-filter-on-second-uplink', topology: () => dualWan({ wan2RpFilter: 1 }), host: 'r', options: { host: 'r' } },
  { check: 'datapath-unseen', name: 'positive-tc-bpf-drop-on-eth0', topology: () => meshWithDropProgram('tc', writeBpfObject('tc_drop.o', 'tc', 2)), host: 'ecs3', options: { host: 'ecs3', peers: MESH_PEERS } },
  {
    check: 'datapath-unseen', name: 'positive-ipvs-virtual-service', topology: () => dualStackMesh(), host: 'ecs3', options: { host: 'ecs3', peers: MESH_PEERS, ports: ['tcp/443'] },
    // This kernel has no IPVS: the service kube-proxy would make for ecs3's address, as /proc/net/ip_vs prints it.
    extraFiles: { 'ipvs.txt': 'IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\nTCP  AC1F0412:01BB rr\n  -> 0AF40105:2B67      Masq    1      0          0\n' },
  },
  { check: 'datapath-unseen', name: 'negative-nothing-on-the-way', topology: () => dualStackMesh(), host: 'ecs3', options: { host: 'ecs3', peers: MESH_PEERS, ports: ['tcp/443'] } },
  { check: 'nd-blocked', name: 'positive-input-forgets-neighbour-discovery', topology: () => ipv6Link(), host: 'h', options: { host: 'h', peers: [{ address: '2001:db8:6::2', name: 'peer' }] } },
  { check: 'nd-blocked', name: 'negative-neighbour-discovery-accepted', topology: () => ipv6Link({ nd: true }), host: 'h', options: { host: 'h', peers: [{ address: '2001:db8:6::2', name: 'peer' }] } },
  { check: 'dnat-reply-asymmetric', name: 'positive-port-forward-on-second-uplink-ipv6', topology: () => dualWan({ v6: true }), host: 'r', options: { host: 'r' } },
  { check: 'mtu-black-hole', name: 'positive-jumbo-uplink-established-only', topology: () => jumboUplink(), host: 'h', options: { host: 'h', peers: [{ address: JUMBO.peer, name: 'p' }, { address: JUMBO.peer6, name: 'p' }] } },
  { check: 'mtu-black-hole', name: 'negative-jumbo-uplink-related-accepted', topology: () => jumboUplink({ related: true }), host: 'h', options: { host: 'h', peers: [{ address: JUMBO.peer, name: 'p' }, { address: JUMBO.peer6, name: 'p' }] } },
  { check: 'mtu-black-hole', name: 'positive-bridge-over-vxlan', topology: () => vxlanBridge(), host: 'v', options: { host: 'v' }, before: [BRIDGE_UP] },
  { check: 'mtu-black-hole', name: 'positive-bridge-port-above-vxlan-mtu', topology: () => vxlanBridge({ vxlanMtu: 1450 }), host: 'v', options: { host: 'v' }, before: [BRIDGE_UP] },
  { check: 'mtu-black-hole', name: 'negative-bridge-over-vxlan-icmp-accepted', topology: () => vxlanBridge({ icmpAccepted: true }), host: 'v', options: { host: 'v' }, before: [BRIDGE_UP] },
  { check: 'mtu-black-hole', name: 'positive-routed-lan-established-only', topology: () => jumboRouter(), host: 'h', options: { host: 'h', peers: [{ address: JUMBO.peer, name: 'p' }, { address: JUMBO.peer6, name: 'p' }] } },
  { check: 'mtu-black-hole', name: 'negative-routed-lan-related-accepted', topology: () => jumboRouter({ related: true }), host: 'h', options: { host: 'h', peers: [{ address: JUMBO.peer, name: 'p' }, { address: JUMBO.peer6, name: 'p' }] } },
  { check: 'mtu-black-hole', name: 'positive-routed-lan-own-error-output-established', topology: () => jumboRouter({ outputEstablished: true }), host: 'h', options: { host: 'h', peers: [{ address: JUMBO.peer, name: 'p' }, { address: JUMBO.peer6, name: 'p' }] } },
];
