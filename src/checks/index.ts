/**
 * The check registry: keys are check ids, equal to the file names in this folder.
 * A test asserts keys = files = fixture folders = docs entries.
 */
import { asymmetricReturn } from './asymmetric-return.js';
import { bridgeForwardBlocked } from './bridge-forward-blocked.js';
import { datapathUnseen } from './datapath-unseen.js';
import { dnatReplyAsymmetric } from './dnat-reply-asymmetric.js';
import { dockerPoolConflict } from './docker-pool-conflict.js';
import { firewallBlocksPeer } from './firewall-blocks-peer.js';
import { forwardBlocked } from './forward-blocked.js';
import { markRouting } from './mark-routing.js';
import { multiNicRouting } from './multi-nic-routing.js';
import { ndBlocked } from './nd-blocked.js';
import { routeCapturesPeer } from './route-captures-peer.js';
import { routeKillsTraffic } from './route-kills-traffic.js';
import { rpFilterDrop } from './rp-filter-drop.js';
import { snatMissing } from './snat-missing.js';
import type { Check } from './types.js';
import { vpnSelectorGap } from './vpn-selector-gap.js';

export const hostChecks: Record<string, Check> = {
  'asymmetric-return': asymmetricReturn,
  'bridge-forward-blocked': bridgeForwardBlocked,
  'datapath-unseen': datapathUnseen,
  'dnat-reply-asymmetric': dnatReplyAsymmetric,
  'docker-pool-conflict': dockerPoolConflict,
  'firewall-blocks-peer': firewallBlocksPeer,
  'forward-blocked': forwardBlocked,
  'mark-routing': markRouting,
  'multi-nic-routing': multiNicRouting,
  'nd-blocked': ndBlocked,
  'route-captures-peer': routeCapturesPeer,
  'route-kills-traffic': routeKillsTraffic,
  'rp-filter-drop': rpFilterDrop,
  'snat-missing': snatMissing,
  'vpn-selector-gap': vpnSelectorGap,
};
