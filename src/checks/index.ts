/**
 * The check registry: every check of every family (host, fleet, trace), keyed by its id, which
 * is its file name (`src/checks/<id>.ts`) or folder name (`src/checks/<id>/index.ts`).
 * test/checks/registry.test.ts asserts keys = files = fixture folders = docs/checks.md entries.
 */
import { asymmetricReturn } from './asymmetric-return.js';
import { bridgeForwardBlocked } from './bridge-forward-blocked.js';
import { conntrackTableFull } from './conntrack-table-full.js';
import { datapathUnseen } from './datapath-unseen.js';
import { dnatReplyAsymmetric } from './dnat-reply-asymmetric.js';
import { dockerPoolConflict } from './docker-pool-conflict.js';
import { firewallBlocksPeer } from './firewall-blocks-peer.js';
import { forwardBlocked } from './forward-blocked.js';
import { ipsecPolicyBlocksPeer } from './ipsec-policy-blocks-peer.js';
import { iptablesTwoBackends } from './iptables-two-backends.js';
import { markRouting } from './mark-routing.js';
import { mtuBlackHole } from './mtu-black-hole/index.js';
import { multiNicRouting } from './multi-nic-routing.js';
import { ndBlocked } from './nd-blocked.js';
import { routeCapturesPeer } from './route-captures-peer/index.js';
import { routeKillsTraffic } from './route-kills-traffic.js';
import { rpFilterDrop } from './rp-filter-drop.js';
import { snatMissing } from './snat-missing.js';
import { tracerouteLoop } from './traceroute-loop.js';
import { tracerouteStops } from './traceroute-stops.js';
import { tracerouteUnreachable } from './traceroute-unreachable.js';
import type { Check, Family } from './types.js';
import { vpnSelectorGap } from './vpn-selector-gap/index.js';

export const checks: Record<string, Check> = {
  'asymmetric-return': asymmetricReturn,
  'bridge-forward-blocked': bridgeForwardBlocked,
  'conntrack-table-full': conntrackTableFull,
  'datapath-unseen': datapathUnseen,
  'dnat-reply-asymmetric': dnatReplyAsymmetric,
  'docker-pool-conflict': dockerPoolConflict,
  'firewall-blocks-peer': firewallBlocksPeer,
  'forward-blocked': forwardBlocked,
  'ipsec-policy-blocks-peer': ipsecPolicyBlocksPeer,
  'iptables-two-backends': iptablesTwoBackends,
  'mark-routing': markRouting,
  'mtu-black-hole': mtuBlackHole,
  'multi-nic-routing': multiNicRouting,
  'nd-blocked': ndBlocked,
  'route-captures-peer': routeCapturesPeer,
  'route-kills-traffic': routeKillsTraffic,
  'rp-filter-drop': rpFilterDrop,
  'snat-missing': snatMissing,
  'traceroute-loop': tracerouteLoop,
  'traceroute-stops': tracerouteStops,
  'traceroute-unreachable': tracerouteUnreachable,
  'vpn-selector-gap': vpnSelectorGap,
};

/** The checks that run in a family, in id order. */
export function checksOf(family: Family): Check[] {
  return Object.values(checks).filter((c) => c.families[family] !== undefined);
}
