/**
 * Which bundle sources each host check reads. When a bundle lacks them (a sosreport has no
 * iptables-save for the stack sos ran in) or they failed, the report says which checks could not
 * decide, and which decided without part of what they read. `needs`: groups of which at least
 * one source must be read for the check to decide; `uses`: sources it decides better with.
 */
import type { HostSnapshot } from '../model/snapshot.js';

interface CheckSources {
  needs: string[][];
  uses?: string[];
}

const ROUTES = ['ip-route-v4', 'ip-route-v6'];
const RULES = ['ip-rule-v4', 'ip-rule-v6'];
const ROUTING: CheckSources = { needs: [ROUTES, ['ip-addr']], uses: RULES };
const FIREWALL = ['iptables-save', 'ip6tables-save', 'nft'];
/** The legacy backend's tables: where present, the firewall verdicts evaluate them too. */
const LEGACY = ['iptables-legacy-save', 'ip6tables-legacy-save'];
/** The packet walk: routes and addresses, and the firewall, settings and what it cannot evaluate. */
const WALK: CheckSources = { needs: [ROUTES, ['ip-addr']], uses: [...RULES, ...FIREWALL, ...LEGACY, 'ipset', 'sysctl', 'tc-filter', 'ipvs'] };
/** The forwarding checks also need the settings that make a router (ip_forward, bridge-nf-call-*). */
const FORWARDING: CheckSources = { needs: [ROUTES, ['ip-addr'], ['sysctl']], uses: WALK.uses };

export const CHECK_SOURCES: Record<string, CheckSources> = {
  'asymmetric-return': ROUTING,
  'bridge-forward-blocked': { needs: [['ip-addr'], ['sysctl'], FIREWALL], uses: ['ipset', 'tc-filter'] },
  // Without nf_conntrack loaded none of these exist, and there is nothing to fill: optional, not needed.
  'conntrack-table-full': { needs: [], uses: ['conntrack-sysctl', 'conntrack-stat', 'conntrack-stats', 'sysctl'] },
  'datapath-unseen': { needs: [ROUTES, ['ip-addr'], ['tc-filter', 'ipvs', 'ip-link']], uses: WALK.uses },
  'dnat-reply-asymmetric': { needs: [ROUTES, ['ip-addr'], ['sysctl'], FIREWALL], uses: WALK.uses },
  'docker-pool-conflict': { needs: [['ip-addr']], uses: ['docker-daemon', 'docker-networks'] },
  'firewall-blocks-peer': { needs: [FIREWALL], uses: ['ipset', ...LEGACY] },
  'forward-blocked': FORWARDING,
  'ipsec-policy-blocks-peer': { needs: [['ip-xfrm-policy'], ['ip-addr']], uses: ROUTES },
  'iptables-two-backends': { needs: [LEGACY, FIREWALL] },
  'mark-routing': { needs: [ROUTES, ['ip-addr'], RULES, FIREWALL], uses: WALK.uses },
  'mtu-black-hole': { needs: [ROUTES, ['ip-addr']], uses: [...(WALK.uses ?? []), 'ip-link'] },
  'multi-nic-routing': ROUTING,
  'nd-blocked': { needs: [['ip-addr'], ['ip6tables-save', 'nft']], uses: WALK.uses },
  // The neighbour table tells a peer that lives on a bridge from one whose replies it captures.
  'route-captures-peer': { ...ROUTING, uses: [...RULES, 'ip-neigh'] },
  'route-kills-traffic': { needs: [ROUTES], uses: RULES },
  'rp-filter-drop': { needs: [['sysctl'], ROUTES], uses: RULES },
  'snat-missing': FORWARDING,
  'vpn-selector-gap': { needs: [['ip-xfrm-policy', 'swanctl-conf', 'ipsec-conf']], uses: ROUTES },
};

/** Sources that were not read and matter: lacking from the bundle, failed, or required. */
function unreadSources(snapshot: HostSnapshot): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of snapshot.sources) {
    if (s.status === 'collected' || !(s.lacking || s.status === 'failed' || s.required)) continue;
    out.set(s.name, s.lacking ? 'not in this bundle' : s.status);
  }
  return out;
}

/** One note per check that read less than it needs: could not decide, or decided without some sources. */
export function undecidedNotes(snapshot: HostSnapshot, checks: Iterable<string>): string[] {
  const unread = unreadSources(snapshot);
  if (unread.size === 0) return [];
  const notes: string[] = [];
  const why = (names: string[]) => [...new Set(names.map((s) => unread.get(s)))].join(', ');
  for (const id of checks) {
    const { needs, uses = [] } = CHECK_SOURCES[id] ?? { needs: [] };
    const missing = needs.filter((g) => g.every((s) => unread.has(s))).flat();
    const without = [...needs.flat(), ...uses].filter((s) => unread.has(s) && !missing.includes(s));
    if (missing.length) notes.push(`${id} could not decide: ${missing.join(', ')} not read (${why(missing)})`);
    else if (without.length) notes.push(`${id} decided without ${without.join(', ')} (${why(without)}): what ${without.length > 1 ? 'they hold' : 'it holds'} was not checked`);
  }
  return notes;
}
