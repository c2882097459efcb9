/**
 * traceroute-unreachable: a router (or the destination) answered with ICMP Destination
 * Unreachable — traceroute's `!H`, `!N`, `!P`, `!X` (and the rarer `!S`, `!F`, `!V`, `!C`, `!<N>`).
 */
import { uniqueEvidence, type Finding } from '../model/finding.js';
import { destinationOf, named, traceFinding } from './trace-words.js';
import type { Check, TraceContext } from './types.js';

const ID = 'traceroute-unreachable';

/** What each ending means and where to look, keyed by traceroute's mark. */
const MEANING: Record<string, { what: string; why: string; fix: string }> = {
  '!H': {
    what: 'host unreachable',
    why: 'the router cannot deliver to the host: no neighbour (ARP/ND) answer on its last link, or a route of type unreachable for it',
    fix: 'On that router: "ip route get DST" (an "unreachable" route?) and "ip neigh show DST" (FAILED?); is the destination up and on that link?',
  },
  '!N': {
    what: 'network unreachable',
    why: 'the router has no route for the destination network',
    fix: 'On that router: add the route for DST, or check why it is missing (a withdrawn BGP route, a deleted VPC route entry).',
  },
  '!P': {
    what: 'protocol unreachable',
    why: 'the answering host does not speak the probe protocol',
    fix: 'Trace with another probe kind (traceroute -I for ICMP, -T for TCP).',
  },
  '!X': {
    what: 'communication administratively prohibited',
    why: 'a firewall or a prohibit route rejects the packet (iptables REJECT --reject-with icmp-admin-prohibited, ip route prohibit, an ACL)',
    fix: 'On that router: look for a REJECT rule or a "prohibit" route/rule matching DST (iptables-save | grep -i reject; ip rule; ip route get DST).',
  },
  '!S': { what: 'source route failed', why: 'the router could not honour a source route', fix: 'Trace without source routing options.' },
  '!F': { what: 'fragmentation needed', why: 'the packet is larger than the next link\'s MTU and may not be fragmented', fix: 'Lower the MTU or MSS on the path, or let PMTU discovery through (ICMP type 3 code 4).' },
  '!V': { what: 'host precedence violation', why: 'the router rejects the packet\'s precedence', fix: 'Check QoS/precedence policy on that router.' },
  '!C': { what: 'precedence cutoff', why: 'the router cuts off packets of this precedence', fix: 'Check QoS/precedence policy on that router.' },
};

function meaningOf(mark: string): { what: string; why: string; fix: string } {
  const key = mark.startsWith('!F') ? '!F' : mark;
  return MEANING[key] ?? { what: `ICMP unreachable code ${mark.replace(/^!<?|>$/g, '') || '?'}`, why: 'the router rejected the packet with an ICMP Destination Unreachable', fix: 'Look at that router\'s routes and firewall for DST.' };
}

export const tracerouteUnreachable: Check = {
  id: ID,
  title: 'A router answers "destination unreachable" (!H, !N, !P, !X)',
  severity: 'error',
  explain: `traceroute marks a probe with !H (host unreachable), !N (network unreachable), !P
(protocol unreachable) or !X (communication administratively prohibited) — also !S, !F, !V, !C,
!<N> — when a router or the destination answers ICMP Destination Unreachable instead of Time
Exceeded: the path ends there on purpose. On Linux, a route of type unreachable gives !H, no
route at all !N, and a prohibit route or a REJECT rule !X. The summary names each mark, its
meaning and the router (named from the topology, bundles or fleet). Evidence: the marked hops.

Fix: on the router that answered, look at its route for the destination (missing, unreachable,
prohibit) and its firewall.`,
  families: { trace: unreachableInTrace },
};

/** Every ICMP unreachable ending of the path, with its meaning and where to look. */
function unreachableInTrace(ctx: TraceContext): Finding[] {
  const endings = ctx.path.hops.flatMap((h) => h.endings.map((e) => ({ ...e, hop: h })));
  if (endings.length === 0) return [];
  const dst = destinationOf(ctx);
  const marks = [...new Set(endings.map((e) => `${e.annotation}@${e.responder}`))].map((k) => {
    const at = k.indexOf('@');
    return { mark: k.slice(0, at), responder: k.slice(at + 1) };
  });
  const parts = marks.map((m) => `${m.mark} (${meaningOf(m.mark).what}) from ${named(ctx, m.responder)}`);
  return [traceFinding(ctx, ID, 'error', {
    summary: `The path ${ctx.path.source ? `from ${ctx.path.source} ` : ''}to ${dst} ends in ${parts.join(', ')} at hop ${endings[0].hop.hop}`,
    evidence: uniqueEvidence(endings.map((e) => e.hop.evidence)),
    why: [...new Set(marks.map((m) => `${m.mark} from ${m.responder}: ${meaningOf(m.mark).why}.`))].join(' '),
    fix: [...new Set(marks.map((m) => meaningOf(m.mark).fix.replaceAll('DST', dst).replace('On that router', `On ${m.responder}`)))],
  })];
}
