/**
 * The check registry: keys are check ids, equal to the file names in this folder.
 * A test asserts keys = files = fixture folders = docs entries.
 */
import { asymmetricReturn } from './asymmetric-return.js';
import { dockerPoolConflict } from './docker-pool-conflict.js';
import { firewallBlocksPeer } from './firewall-blocks-peer.js';
import { ipsecPolicyBlocksPeer } from './ipsec-policy-blocks-peer.js';
import { multiNicRouting } from './multi-nic-routing.js';
import { routeCapturesPeer } from './route-captures-peer.js';
import { routeKillsTraffic } from './route-kills-traffic.js';
import { rpFilterDrop } from './rp-filter-drop.js';
import type { Check } from './types.js';
import { vpnSelectorGap } from './vpn-selector-gap.js';

export const hostChecks: Record<string, Check> = {
  'asymmetric-return': asymmetricReturn,
  'docker-pool-conflict': dockerPoolConflict,
  'firewall-blocks-peer': firewallBlocksPeer,
  'ipsec-policy-blocks-peer': ipsecPolicyBlocksPeer,
  'multi-nic-routing': multiNicRouting,
  'route-captures-peer': routeCapturesPeer,
  'route-kills-traffic': routeKillsTraffic,
  'rp-filter-drop': rpFilterDrop,
  'vpn-selector-gap': vpnSelectorGap,
};
