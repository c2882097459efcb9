/**
 * traceroute-stops: the path stops answering before the destination — after some hop nothing
 * answers, or the trace ran out of hops — with no loop and no unreachable answer to explain it.
 */
import type { Finding } from '../model/finding.js';
import { lastAnsweredIndex } from '../trace/path.js';
import { destinationOf, named, traceFinding } from './trace-words.js';
import type { Check, TraceContext } from './types.js';

const ID = 'traceroute-stops';

export const tracerouteStops: Check = {
  id: ID,
  title: 'The path stops answering before the destination',
  severity: 'warning',
  explain: `Hops answer up to some router and then only "*" follows (or the trace runs out of hops)
without reaching the destination, and no loop or "unreachable" answer explains it. Reported only
when the destination is known (or silence follows the last answer). The packet is dropped at or
after the last router that answered: a firewall or security group that drops the probes (UDP
33434+ for traceroute, ICMP for ping), a router that sends no Time Exceeded, a missing route back
to the source, or rp_filter. A warning, not an error: some networks silence traceroute while
passing real traffic.

Fix: trace with another probe kind (traceroute -I, traceroute -T -p PORT), and check the next
router's route to the destination and its route back to the source.`,
  families: { trace: silenceInTrace },
};

/** Where the path stops answering without a loop or an unreachable answer to explain it. */
function silenceInTrace(ctx: TraceContext): Finding[] {
  const path = ctx.path;
  if (path.reached || ctx.loop || path.hops.some((h) => h.endings.length > 0)) return [];
  const last = lastAnsweredIndex(path);
  const silentTail = path.hops.length - 1 - last;
  // Without a destination we cannot tell "ran out of hops" from "arrived": only silence counts.
  if (path.destination === undefined && silentTail === 0) return [];
  if (path.hops.length === 0) return [];
  const dst = destinationOf(ctx);
  const from = path.source ? `from ${path.source} ` : '';
  const lastHop = last >= 0 ? path.hops[last] : undefined;
  const summary = !lastHop
    ? `No hop answered on the path ${from}to ${dst} (${path.hops.length} hops tried)`
    : silentTail > 0
      ? `The path ${from}to ${dst} stops answering after hop ${lastHop.hop} (${lastHop.responders.map((r) => named(ctx, r)).join(', ')}); hops ${path.hops[last + 1].hop}–${path.hops[path.hops.length - 1].hop} are silent`
      : `The path ${from}to ${dst} did not reach it within ${lastHop.hop} hops; the last answer came from ${lastHop.responders.map((r) => named(ctx, r)).join(', ')}`;
  const evidence = [...(lastHop ? [lastHop.evidence] : []), ...(silentTail > 0 ? [path.hops[last + 1].evidence] : [])];
  return [traceFinding(ctx, ID, 'warning', {
    summary,
    evidence,
    why: lastHop
      ? `Probes get past ${lastHop.responders.join(', ')} but nothing beyond answers: the next router drops them or sends no Time Exceeded (a firewall, a security group, a missing route, or no route back to ${path.source ?? 'the source'}).`
      : `Not even the first hop answered: the source's own firewall, its default gateway, or the first router drops the probes or sends no Time Exceeded.`,
    fix: [
      `Trace with another probe kind: traceroute -I ${dst} (ICMP) or traceroute -T -p <port> ${dst} (TCP); a firewall may pass one and drop another.`,
      lastHop
        ? `Check the router after ${lastHop.responders[0]}: its route to ${dst}, its route back to ${path.source ?? 'the source'}, and its firewall/security group.`
        : `Check this host's default route and firewall, and the first router's.`,
    ],
  })];
}
