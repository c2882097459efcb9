/**
 * The parser registry: keys are format names, equal to the file names in this folder and to
 * `hostcheck parse FORMAT`. A test asserts keys = files = fixture folders = docs entries.
 */
import { parser as conntrackStats } from './conntrack-stats.js';
import { parser as dockerDaemon } from './docker-daemon.js';
import { parser as dockerNetwork } from './docker-network.js';
import { parser as ipAddr } from './ip-addr.js';
import { parser as ipLink } from './ip-link.js';
import { parser as ipNeigh } from './ip-neigh.js';
import { parser as ipRoute } from './ip-route.js';
import { parser as ipRouteGet } from './ip-route-get.js';
import { parser as ipRule } from './ip-rule.js';
import { parser as ipXfrm } from './ip-xfrm.js';
import { parser as ipsecConf } from './ipsec-conf.js';
import { parser as ipvs } from './ipvs.js';
import { parser as ipset } from './ipset.js';
import { parser as iptablesList } from './iptables-list.js';
import { parser as iptablesSave } from './iptables-save.js';
import { parser as kfreeSkb } from './kfree-skb.js';
import { parser as nft } from './nft.js';
import { parser as nftText } from './nft-text.js';
import { parser as procNetCounters } from './proc-net-counters.js';
import { parser as swanctlConf } from './swanctl-conf.js';
import { parser as sysctl } from './sysctl.js';
import { parser as tcFilter } from './tc-filter.js';
import { parser as traceroute } from './traceroute.js';
import type { Parser } from './types.js';

export const parsers: Record<string, Parser> = {
  'conntrack-stats': conntrackStats,
  'docker-daemon': dockerDaemon,
  'docker-network': dockerNetwork,
  'ip-addr': ipAddr,
  'ip-link': ipLink,
  'ip-neigh': ipNeigh,
  'ip-route': ipRoute,
  'ip-route-get': ipRouteGet,
  'ip-rule': ipRule,
  'ip-xfrm': ipXfrm,
  'ipsec-conf': ipsecConf,
  ipvs,
  ipset,
  'iptables-list': iptablesList,
  'iptables-save': iptablesSave,
  'kfree-skb': kfreeSkb,
  nft,
  'nft-text': nftText,
  'proc-net-counters': procNetCounters,
  'swanctl-conf': swanctlConf,
  sysctl,
  'tc-filter': tcFilter,
  traceroute,
};

export function parserFor(format: string): Parser | undefined {
  return Object.prototype.hasOwnProperty.call(parsers, format) ? parsers[format] : undefined;
}
