/**
 * route-kills-traffic: a prohibit/blackhole/unreachable rule or route, or a rule that sends
 * traffic into a table with no route for it, takes a peer's or remote network's traffic.
 */
import { evidenceOf, findingKey, uniqueEvidence, type Evidence, type Finding } from '../model/finding.js';
import { kernelSignals } from '../simulate/kernel-signals.js';
import { routeQuestion } from '../simulate/route-get.js';
import type { RouteLookupResult } from '../simulate/route-lookup.js';
import { addressOn, primaryUplink, routeFor } from './routing.js';
import type { Check } from './types.js';
import { peerLabel, peersAndRemotes } from './view.js';

const ID = 'route-kills-traffic';

const KILLS = new Set(['blackhole', 'unreachable', 'prohibit', 'none']);

const WHAT: Record<string, string> = {
  blackhole: 'silently dropped (blackhole)',
  unreachable: 'rejected with "No route to host" (unreachable)',
  prohibit: 'rejected with "Permission denied" / ICMP administratively prohibited (prohibit)',
  none: 'not routable: "Network is unreachable" — every rule fell through',
};

function evidenceFor(r: RouteLookupResult): Evidence[] {
  if (r.route) return uniqueEvidence([...(r.rule && r.rule.priority !== 32766 && r.rule.origin.lineNumber > 0 ? evidenceOf(r.rule.origin) : []), ...evidenceOf(r.route.origin)]);
  if (r.rule && r.type !== 'none') return evidenceOf(r.rule.origin);
  // Fell through: the rules that matched and whose tables had nothing.
  return uniqueEvidence((r.trace ?? []).filter((t) => t.rule.table !== 'local').filter((t) => t.outcome === 'no-route' || t.outcome === 'no-table' || t.outcome === 'throw' || t.outcome === 'suppressed').flatMap((t) => [...(t.rule.origin.lineNumber > 0 ? evidenceOf(t.rule.origin) : []), ...evidenceOf(t.route?.origin)]));
}

function fixFor(r: RouteLookupResult, target: string): string[] {
  if (r.route && r.route.type !== 'unicast') {
    return [`ip route del ${r.route.type} ${r.route.dst}${r.route.table && r.route.table !== 'main' ? ` table ${r.route.table}` : ''}   # if ${target} must be reachable`];
  }
  if (r.rule && r.type !== 'none') {
    const rr = r.rule;
    return [`ip${rr.family === 6 ? ' -6' : ''} rule del priority ${rr.priority}   # the rule that ${r.type}s ${target}`];
  }
  const tables = [...new Set((r.trace ?? []).filter((t) => t.outcome === 'no-route').map((t) => t.rule.table))];
  return [`# add a route for ${target} to table ${tables.join(' or ') || 'main'}, e.g. ip route add ${target} via <gateway> dev <uplink>${tables[0] && tables[0] !== 'main' ? ` table ${tables[0]}` : ''}`];
}

export const routeKillsTraffic: Check = {
  id: ID,
  title: 'A rule or route drops or rejects traffic to a peer or remote network',
  severity: 'error',
  explain: `Policy routing can end a packet before it leaves: an "ip rule ... prohibit", "blackhole"
or "unreachable" action, a route of those types in the table that decides, or a rule that
sends traffic into a table with no route for it (the lookup falls through every rule and the
kernel answers "Network is unreachable"). It checks the reply route to every peer and remote
network, from the host's primary address, as the kernel would.

Fix: remove or narrow the rule or route, or add the missing route to the table the rule uses.`,
  families: {
    host(ctx) {
      const s = ctx.snapshot;
    const targets = peersAndRemotes(ctx.peers, ctx.remotes);
      const out: Finding[] = [];
      for (const t of targets) {
        const family = t.address.includes(':') ? 6 : 4;
        const src = addressOn(primaryUplink(s, family), family);
        const r = routeFor(s, { dst: t.address, src });
        if (!KILLS.has(r.type)) continue;
        const subject = t.subject ?? t.address;
        const emptyTables = [...new Set((r.trace ?? []).filter((x) => x.outcome === 'no-route' || x.outcome === 'no-table').map((x) => x.rule.table).filter((x) => x !== 'local'))];
        const decidedBy = r.route ? `decided by route ${r.route.type} ${r.route.dst} in table ${r.route.table}` : r.rule && r.type !== 'none' ? `decided by rule ${r.rule.priority} (${r.rule.action})` : `no route in table ${emptyTables.join(', ') || 'main'}`;
        out.push({
          check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
          summary: `traffic to ${peerLabel(t)} is ${r.type === 'none' ? 'unroutable' : r.type}: ${decidedBy}`,
          evidence: evidenceFor(r),
          why: `ip route get ${t.address}${src ? ` from ${src}` : ''}: packets are ${WHAT[r.type]}. Replies to the peer never leave this host.`,
          fix: fixFor(r, t.address),
          peers: ctx.peers.some((p) => p.address === t.address) ? [t.address] : undefined,
        queries: [routeQuestion({ dst: t.address, src }, r)],
        signals: kernelSignals({ cause: 'reply-route-rejected' }),
        });
      }
      return out;
    },
  },
};
