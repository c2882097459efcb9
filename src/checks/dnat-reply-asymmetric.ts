/**
 * dnat-reply-asymmetric: a port forward (DNAT) on one uplink whose replies leave by another —
 * dual WAN without CONNMARK routing: the replies carry the first uplink's address out of the
 * second, where the provider drops them (source filtering) or the client ignores them.
 */
import { evidenceOf, findingKey, uniqueEvidence, type Finding } from '../model/finding.js';
import type { Walk } from '../simulate/walk.js';
import { routeEvidence } from './datapath/evidence.js';
import { routerFlows, routerView, type RouterFlow } from './datapath/router.js';
import type { Check, HostContext } from './types.js';
import type { InterfaceModel } from '../model/snapshot.js';
import { formatPrefix } from '../net/address.js';
import { firstHost, guessedGateway, interfaceByName, networkOf } from './view.js';

const ID = 'dnat-reply-asymmetric';

/** Port forwards whose request arrives on one device and whose reply leaves by another uplink. */
export function asymmetricForwards(ctx: HostContext): { flow: RouterFlow; reply: Walk }[] {
  const view = routerView(ctx);
  const out: { flow: RouterFlow; reply: Walk }[] = [];
  for (const f of routerFlows(ctx)) {
    if (f.kind !== 'dnat' || f.request.outcome !== 'forwarded' || f.reply?.outcome !== 'forwarded') continue;
    const inDev = f.request.packet.iif;
    const back = f.reply.outDev;
    if (inDev === undefined || back === undefined || back === inDev) continue;
    if (!view.uplinks.has(back) && interfaceByName(ctx.snapshot, back)?.uplink !== true) continue;
    out.push({ flow: f, reply: f.reply });
  }
  return out;
}

/**
 * The gateway behind `iface` for `family`: a route of that family through it names one, else an
 * IPv6 neighbour there that advertises itself as a router, else (a guess) the first address of
 * its subnet.
 */
function gatewayOn(ctx: HostContext, iface: InterfaceModel, family: 4 | 6): { address?: string; guessed: boolean } {
  const s = ctx.snapshot;
  for (const r of s.routes) {
    if (r.family !== family) continue;
    if (r.dev === iface.name && r.via !== undefined) return { address: r.via, guessed: false };
    for (const n of r.nexthops) if (n.dev === iface.name && n.via !== undefined) return { address: n.via, guessed: false };
  }
  const router = family === 6 ? (s.neighbours ?? []).find((n) => n.family === 6 && n.dev === iface.name && n.flags.includes('router')) : undefined;
  if (router !== undefined) return { address: router.address, guessed: false };
  if (family === 4) return { address: guessedGateway(iface), guessed: true };
  const a = iface.addresses.find((x) => x.family === 6 && (x.scope === undefined || x.scope === 'global'));
  const net = a ? networkOf(a) : null;
  return { address: net ? firstHost(formatPrefix(net)) : undefined, guessed: true };
}

/** A mark no rule or iptables rule of the host uses yet (0x100 + the device's index). */
function freeMark(ctx: HostContext, dev: string): number {
  const used = new Set<number>();
  for (const r of ctx.snapshot.rules) if (r.fwmark !== undefined) used.add(r.fwmark);
  let mark = 0x100 + (interfaceByName(ctx.snapshot, dev)?.ifindex ?? 2);
  while (used.has(mark)) mark++;
  return mark;
}

/** The findings of dnat-reply-asymmetric for one host. */
export function dnatReplyAsymmetricFindings(ctx: HostContext): Finding[] {
  const out: Finding[] = [];
  const seen = new Set<string>();
  for (const { flow, reply } of asymmetricForwards(ctx)) {
    const inDev = flow.request.packet.iif!;
    const back = reply.outDev!;
    const subject = `${flow.target} replies by ${back}`;
    if (seen.has(subject)) continue;
    seen.add(subject);
    const family = flow.request.packet.family;
    const tool = family === 6 ? 'ip6tables' : 'iptables';
    const ip = family === 6 ? 'ip -6' : 'ip';
    const iface = interfaceByName(ctx.snapshot, inDev);
    const gateway = iface ? gatewayOn(ctx, iface, family) : { guessed: false };
    const gw = gateway.address;
    const mark = freeMark(ctx, inDev);
    const hex = `0x${mark.toString(16)}`;
    const table = 100 + (iface?.ifindex ?? 0);
    const lanDev = reply.packet.iif ?? '<lan>';
    const route = [...reply.stages].reverse().find((s) => s.kind === 'route');
    out.push({
      check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
      summary: `the port forward ${flow.target} (${flow.what}) arrives on ${inDev}, but its replies leave by ${back} with ${inDev}'s address ${reply.final.src}`,
      evidence: uniqueEvidence([...evidenceOf(flow.dnat?.origin), ...(route?.kind === 'route' ? routeEvidence(route.result) : [])]),
      why: `A connection to ${flow.request.packet.dst}:${flow.request.packet.dport} from outside comes in on ${inDev} and is forwarded to ${flow.request.final.dst}:${flow.request.final.dport}. Its replies are routed by destination (ip route get ${reply.final.dst} from ${reply.packet.src} iif ${lanDev}): out of ${back}, the other uplink, translated back to ${reply.final.src}. ${back}'s provider drops packets with a source that is not its own (BCP 38), and the client waits for a reply from the path it used.`,
      fix: [
        `${tool} -t mangle -A PREROUTING -i ${inDev} -m conntrack --ctstate NEW -j CONNMARK --set-mark ${hex}`,
        `${tool} -t mangle -A PREROUTING -i ${lanDev} -m conntrack --ctstate ESTABLISHED,RELATED -j CONNMARK --restore-mark`,
        `${ip} route add default ${gw ? `via ${gw} ` : ''}dev ${inDev} table ${table}`,
        `${ip} rule add fwmark ${hex} lookup ${table} priority 1000`,
        ...(gateway.guessed && gw ? [`# ${gw} is a guess (first address of ${inDev}'s subnet): use the provider's real gateway`] : []),
        `# connections that came in on ${inDev} are marked, their replies get the mark back and leave by ${inDev}`,
      ],
    });
  }
  return out;
}

export const dnatReplyAsymmetric: Check = {
  id: ID,
  title: 'A port forward on one uplink answers out of another (dual WAN without CONNMARK routing)',
  severity: 'error',
  explain: `On a router with two uplinks, a port forward (iptables -t nat ... -j DNAT) on the second uplink
receives connections there, but the server's replies are routed by destination: out of the main
table's default route, the first uplink, with the second uplink's address as their source after
conntrack translates them back. The first provider drops them (source filtering, BCP 38), and
the client sees a timeout.

The check walks every DNAT rule's connection from outside (docs/walk.md) and its reply through
conntrack, and reports a reply that leaves by another uplink than the request arrived on,
quoting the DNAT rule and the route the reply takes; IPv6 alike (a NAT66 port forward). Strict rp_filter on that uplink drops the
request before (forward-blocked says so first, with loose mode as the fix).

Fix: connection-mark routing — the printed lines mark new connections arriving on the uplink
(CONNMARK --set-mark), restore the mark on the replies from the LAN (CONNMARK --restore-mark),
and route that mark by the uplink (ip rule add fwmark ... lookup <table> with a default route
through the uplink's gateway in that table).`,
  families: { host: dnatReplyAsymmetricFindings },
};
