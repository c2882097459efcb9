/**
 * vpn-selector-gap: a VPN gateway encrypts traffic to a remote network only for some sources;
 * the others are routed back and loop (the second incident). One check in two families: on a
 * Linux gateway (host.ts) and across the fleet and the topology (fleet.ts, cloud.ts). Every
 * finding's words are built in text.ts.
 */
import type { Check } from '../types.js';
import { gapsCoverFleet, gapsInFleet } from './fleet.js';
import { gapsOnHost } from './host.js';
import { ID } from './text.js';

export const vpnSelectorGap: Check = {
  id: ID,
  title: "A VPN gateway's selectors leave out sources that are routed back to it: a loop",
  severity: 'error',
  explain: `An IPsec gateway encrypts only the "interesting traffic" its out policies select
(ip xfrm policy: src SELECTOR dst REMOTE dir out; swanctl.conf local_ts/remote_ts; ipsec.conf
leftsubnet/rightsubnet; a cloud VPN connection's local subnets). A packet to the remote network
from a source outside the local selector is not encrypted: the gateway routes it like any packet.
When that route leads back out of the interface it arrived on (the VPC router's route for the
remote network points at the gateway, the gateway's own route points at the VPC router), the
packet loops until its TTL runs out; the client sees "Time to live exceeded" from the gateway's
private address, traceroute repeats it.

On a Linux gateway, for each remote network a tunnel policy protects, the check takes the
networks that can send to it through this host — its routes (not the default route, unless
nothing else is known), the connected subnets, --remote and --peer — subtracts the policies'
source selectors, and follows what is left through the route lookup (on a host that forwards:
with ip_forward = 0 nothing arrives to loop). It also reports swanctl.conf/ipsec.conf selectors
that differ from the kernel's policies, and configured connections with no kernel policy. On a
gateway that routes many networks back out (a full table), sibling networks reached the same way
are merged; the finding names the first six uncovered ones, counts the rest, and points at
0.0.0.0/0.

Across the fleet (hostcheck serve, hostcheck path) the finding is the gateway's: a fleet host's
(the one its own check gives with the fleet's peers and remotes), or a VPN gateway of the
topology file (--topology), where the networks that reach it are its VPC's CIDRs and vSwitches
and the other routes of the route tables that send the remote network to it. The fleet adds who
suffers it: each host's packets to every protected remote network are followed through its
routes, the fleet's routers (ip_forward = 1) and the topology's VPC routers; each host whose
packets a gateway passes in clear (or that leave the fleet into a VPC whose route table sends
them to such a gateway) is a pair of the finding. One finding per gateway and remote network.

Fix: add the uncovered source CIDR to the connection's local subnet (local_ts, leftsubnet, the
cloud VPN connection's local network: aliyun vpc ModifyVpnConnectionAttribute) — or, as the
incident's author suggests, 0.0.0.0/0 — and reload; on a Linux gateway the printed ip xfrm
command widens the kernel policy at once.`,
  families: { host: gapsOnHost, fleet: gapsInFleet },
  coversFleet: gapsCoverFleet,
};
