/**
 * nd-blocked: the IPv6 firewall drops neighbour discovery — a neighbour's solicitation for this
 * host's address, or the advertisement that answers this host's own — so on-link neighbours
 * (the default gateway included) cannot reach it over IPv6 although every service is allowed.
 */
import { findingKey, uniqueEvidence, type Finding } from '../model/finding.js';
import type { InterfaceModel } from '../model/snapshot.js';
import { formatIPv6, parseIPv6 } from '../net/address.js';
import { decisionPlace } from '../simulate/netfilter-hooks.js';
import { walkPacket, type Walk } from '../simulate/walk.js';
import { stageEvidence } from './datapath/evidence.js';
import type { Check, HostContext } from './types.js';

const ID = 'nd-blocked';

/** The neighbour that stands for every on-link host in the walks. */
const NEIGHBOUR = 'fe80::1';

/** ff02::1:ffXX:XXXX, the solicited-node group of an address. */
function solicitedNode(address: string): string | undefined {
  const v = parseIPv6(address);
  if (v === null) return undefined;
  return formatIPv6((0xff020000000000000000000000000000n) | 0x1ff000000n | (v & 0xffffffn));
}

interface Blocked {
  iface: InterfaceModel;
  what: string;
  walk: Walk;
}

/** Neighbour solicitations and advertisements the host's IPv6 firewall stops, per interface. */
export function blockedNeighbourDiscovery(ctx: HostContext): Blocked[] {
  const s = ctx.snapshot;
  const out: Blocked[] = [];
  if (s.netfilter.v6.length === 0 && !s.nft.some((t) => t.managedBy === 'native')) return out;
  for (const iface of s.interfaces) {
    if (iface.kind === 'loopback' || iface.noCarrier || iface.state === 'DOWN') continue;
    // A tentative address (DAD still running) has no local route yet: nothing is delivered to it.
    const settled = iface.addresses.filter((a) => a.family === 6 && !a.flags.includes('tentative') && !a.flags.includes('dadfailed'));
    const global = settled.find((a) => a.scope === undefined || a.scope === 'global');
    const linkLocal = settled.find((a) => a.scope === 'link');
    if (global === undefined) continue;
    const target = global.cidr.split('/')[0];
    const group = solicitedNode(target);
    const probes: [string, string, number][] = [];
    if (group !== undefined) probes.push([`a neighbour's solicitation for ${target}`, group, 135]);
    if (linkLocal !== undefined) probes.push(["a neighbour's advertisement answering this host's solicitation", linkLocal.cidr.split('/')[0], 136]);
    for (const [what, dst, type] of probes) {
      const walk = walkPacket(s, { src: NEIGHBOUR, dst, iif: iface.name, proto: 'icmpv6', icmpType: type, icmpCode: 0, ttl: 255 });
      // Only the firewall's drops are this check's: forwarding or a route stopping the walk is not neighbour discovery's fault.
      if ((walk.outcome === 'dropped' || walk.outcome === 'rejected') && walk.decidedBy?.kind === 'hook') out.push({ iface, what, walk });
    }
  }
  return out;
}

/** The findings of nd-blocked for one host. */
export function ndBlockedFindings(ctx: HostContext): Finding[] {
  const byIface = new Map<string, Blocked[]>();
  for (const b of blockedNeighbourDiscovery(ctx)) byIface.set(b.iface.name, [...(byIface.get(b.iface.name) ?? []), b]);
  const out: Finding[] = [];
  for (const [dev, blocked] of byIface) {
    const st = blocked[0].walk.decidedBy;
    const d = st?.kind === 'hook' ? st.decidedBy : undefined;
    const where = d ? decisionPlace(d) : blocked[0].walk.reason ?? 'the firewall';
    const subject = `${dev} neighbour discovery`;
    out.push({
      check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
      summary: `ip6tables drops IPv6 neighbour discovery on ${dev}: ${blocked.map((b) => b.what).join('; ')} — ${where}`,
      evidence: uniqueEvidence(blocked.flatMap((b) => (b.walk.decidedBy ? stageEvidence(ctx.snapshot, b.walk.decidedBy) : []))),
      why: `IPv6 has no ARP: a neighbour finds this host's link-layer address by a neighbour solicitation to its solicited-node group, and this host finds theirs from their advertisements (ICMPv6 135 and 136, hop limit 255). Conntrack leaves these packets UNTRACKED, so a rule accepting RELATED,ESTABLISHED does not let them in; ${where} drops them, and neighbours on ${dev} (the default gateway too) cannot reach this host over IPv6 whatever the service rules allow.`,
      fix: [
        `ip6tables -I INPUT -i ${dev} -p ipv6-icmp --icmpv6-type neighbour-solicitation -j ACCEPT`,
        `ip6tables -I INPUT -i ${dev} -p ipv6-icmp --icmpv6-type neighbour-advertisement -j ACCEPT`,
        '# router advertisements (134) too if the host configures its addresses or routes from them; persist where the firewall is managed',
      ],
    });
  }
  return out;
}

export const ndBlocked: Check = {
  id: ID,
  title: 'The IPv6 firewall drops neighbour discovery',
  severity: 'error',
  explain: `IPv6 has no ARP: neighbours find each other by ICMPv6 neighbour solicitations (to the
solicited-node multicast group of the address they look for) and advertisements, hop limit 255.
A hand-written ip6tables INPUT chain with a DROP policy that accepts RELATED,ESTABLISHED and the
services but not these messages cuts the host off from every on-link neighbour over IPv6, its
default gateway included: conntrack leaves neighbour discovery (and MLD) UNTRACKED — measured: a
solicitation matches --ctstate UNTRACKED, never NEW or INVALID — so the state rule does not
let it in.

For every interface with a global IPv6 address the check walks a neighbour's solicitation for
that address and an advertisement to the host's link-local address through the firewall
(docs/walk.md) and reports the rule or policy that drops them.

Fix: accept ICMPv6 types 135 and 136 before the drop (the printed ip6tables -I INPUT ...
lines; add -m hl --hl-eq 255 to take only on-link ones), and 134 where the host learns
addresses or routes from router advertisements.`,
  families: { host: ndBlockedFindings },
};
