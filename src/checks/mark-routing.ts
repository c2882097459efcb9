/**
 * mark-routing: a packet mark set by the firewall (MARK, CONNMARK --restore-mark) makes a
 * fwmark rule send a peer's traffic, or the replies to it, into a table that drops it
 * (blackhole, unreachable, prohibit, no route) while the same packet without the mark is routed.
 */
import type { Peer } from '../model/config.js';
import { evidenceOf, findingKey, uniqueEvidence, type Finding } from '../model/finding.js';
import type { RuleRecord } from '../model/records.js';
import { hostContext } from '../simulate/host-context.js';
import { lookup, type RouteLookupResult } from '../simulate/route-lookup.js';
import type { Walk, WalkStage } from '../simulate/walk.js';
import { deleteRuleCommand, markRules, routeEvidence, ruleName } from './datapath/evidence.js';
import { flowLabel, passed, peerFlows, type Flow } from './datapath/flows.js';
import type { Check, HostContext } from './types.js';
import { peerLabel } from './view.js';

const ID = 'mark-routing';

const DELIVERABLE = new Set(['unicast', 'local', 'broadcast', 'multicast', 'anycast']);

const WHAT: Record<string, string> = {
  blackhole: 'drops it silently (blackhole)',
  unreachable: 'rejects it (unreachable)',
  prohibit: 'rejects it (prohibit)',
  none: 'has no route for it',
};

/** A walk that died at a route lookup the mark decided: the lookup, and the same one without the mark. */
interface MarkedDeath {
  flow: Flow;
  reply: boolean;
  walk: Walk;
  stage: Extract<WalkStage, { kind: 'route' }>;
  unmarked: RouteLookupResult;
}

/** Walks of `ctx` that a mark sent into a dead end. */
export function markedDeaths(ctx: HostContext): MarkedDeath[] {
  const fib = hostContext(ctx.snapshot).fib;
  const out: MarkedDeath[] = [];
  for (const flow of peerFlows(ctx)) {
    for (const [walk, reply] of [[flow.request, false], [flow.reply, true]] as const) {
      if (walk === undefined || passed(walk)) continue;
      const st = walk.decidedBy;
      if (st?.kind !== 'route' || !st.query.mark) continue;
      const unmarked = lookup(fib, { ...st.query, mark: 0 }, { trace: true });
      if (!DELIVERABLE.has(unmarked.type)) continue;
      out.push({ flow, reply, walk, stage: st, unmarked });
    }
  }
  return out;
}

/** The ip rule command that routes the peer by the unmarked table ahead of the rule the mark matched. */
function exceptionRule(rule: RuleRecord | undefined, peer: string, family: 4 | 6, table: string | undefined): string | undefined {
  if (rule === undefined || rule.priority < 2 || table === undefined) return undefined;
  return `ip${family === 6 ? ' -6' : ''} rule add to ${peer}/${family === 6 ? 128 : 32} lookup ${table} priority ${rule.priority - 1}`;
}

/** The findings of mark-routing for one host. */
export function markRoutingFindings(ctx: HostContext): Finding[] {
  const groups = new Map<string, MarkedDeath[]>();
  for (const d of markedDeaths(ctx)) {
    const rule = d.stage.result.rule;
    const key = `${d.flow.peer.address}|${rule?.priority ?? ''}|${d.stage.result.route?.origin.lineNumber ?? ''}`;
    const list = groups.get(key) ?? [];
    list.push(d);
    groups.set(key, list);
  }
  const out: Finding[] = [];
  for (const deaths of groups.values()) out.push(finding(ctx, deaths));
  return out;
}

function finding(ctx: HostContext, deaths: MarkedDeath[]): Finding {
  const first = deaths[0];
  const peer: Peer = first.flow.peer;
  const family = first.walk.packet.family;
  const r = first.stage.result;
  const mark = first.stage.query.mark ?? 0;
  const marks = [...new Set(deaths.flatMap((d) => markRules(d.walk)))];
  const rule = r.rule;
  const table = r.table ?? rule?.table;
  const where = r.route ? `${r.route.type} ${r.route.dst === '0.0.0.0/0' || r.route.dst === '::/0' ? 'default' : r.route.dst} in table ${r.route.table}` : rule && rule.action !== 'lookup' ? `rule ${rule.priority} (${rule.action})` : `table ${table ?? '?'}`;
  const which = [...new Set(deaths.map((d) => flowLabel(d.flow, d.reply)))];
  const subject = `${peer.address} mark 0x${mark.toString(16)}`;
  const unmarkedTable = first.unmarked.table ?? first.unmarked.rule?.table;
  const exception = exceptionRule(rule, peer.address, family, unmarkedTable);
  const fix: string[] = [];
  if (exception) fix.push(`${exception}   # route ${peer.address} by table ${unmarkedTable} before the fwmark rule`);
  for (const m of marks) fix.push(`${exception ? '# or stop marking it: ' : ''}${deleteRuleCommand(family, m.table, m)}`);
  if (r.route && r.route.type !== 'unicast') fix.push(`# or give table ${r.route.table} a route for it: ip${family === 6 ? ' -6' : ''} route add ${peer.address} via <gateway> table ${r.route.table}`);
  if (fix.length === 0) fix.push(`# add a route for ${peer.address} to table ${table ?? '?'}, or narrow the fwmark rule`);
  const setBy = marks.length > 0 ? marks.map((m) => ruleName(m)).join(', ') : 'the firewall';
  return {
    check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
    summary: `${which.join(' and ')} ${which.length > 1 ? 'are' : 'is'} marked 0x${mark.toString(16)} by ${setBy}; ${rule ? `rule ${rule.priority} (fwmark ${rule.fwmark !== undefined ? `0x${rule.fwmark.toString(16)}${rule.fwmask !== undefined && rule.fwmask !== 0xffffffff ? `/0x${rule.fwmask.toString(16)}` : ''}` : ''}) sends ${which.length > 1 ? 'them' : 'it'} to ${where}` : `the marked lookup ends in ${where}`}`,
    evidence: uniqueEvidence([...marks.flatMap((m) => evidenceOf(m.origin)), ...routeEvidence(r)]),
    why: `The mark is set on the way out (${setBy}), and the kernel routes a marked packet again (ip route get ${peer.address}${first.stage.query.src ? ` from ${String(first.stage.query.src)}` : ''} mark 0x${mark.toString(16)}): ${r.type === 'none' ? 'no rule finds a route' : `the lookup ${WHAT[r.type] ?? `answers ${r.type}`}`}. Without the mark the packet leaves by ${first.unmarked.dev ?? '?'}${first.unmarked.via ? ` via ${first.unmarked.via}` : ''}. ${peerLabel(peer)} sees a timeout${first.walk.outcome === 'rejected' ? ' or an ICMP error' : ''}; no firewall counter shows a drop.`,
    fix,
    peers: ctx.peers.some((p) => p.address === peer.address) ? [peer.address] : undefined,
  };
}

export const markRouting: Check = {
  id: ID,
  title: 'A packet mark sends a peer’s traffic into a route that drops it',
  severity: 'error',
  explain: `Firewall rules that set packet marks (iptables -t mangle -j MARK, CONNMARK --restore-mark)
feed policy routing: "ip rule add fwmark 0x66 lookup 102" sends every marked packet to table
102. When that table drops the packet (blackhole or unreachable route, a prohibit rule, no
route at all) traffic to the peer dies, although "ip route get" without the mark shows a
working route and no firewall rule drops anything. The mark is often added by a VPN client, a
kill switch or a multi-WAN script for other traffic, and catches a peer's by a wide match.

The check walks each peer's traffic (ICMP echo and every --port, both directions, and the
replies) through the firewall and the route lookups in the kernel's order (docs/walk.md):
mangle OUTPUT marks the packet, then the kernel routes it again with the mark. It reports a
packet that a mark sends into a dead end while the unmarked lookup works, quoting the rule that
set the mark, the fwmark rule and the route. IPv4 and IPv6 alike.

Fix: route the peer by the working table ahead of the fwmark rule
(ip rule add to PEER/32 lookup main priority N, N below the fwmark rule's), stop marking the
peer's traffic (the printed iptables -t mangle -D ...), or give the marked table a route for it.`,
  families: { host: markRoutingFindings },
};
