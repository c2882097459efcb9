/**
 * snat-missing: a router forwards packets of a private network (RFC 1918, CGNAT, ULA, or a
 * --route-for network) out of an uplink to a public destination without translating their
 * source: the upstream network cannot route the replies back (or drops the packets outright).
 */
import { findingKey, uniqueEvidence, type Finding } from '../model/finding.js';
import { parseAddress, parsePrefix, prefixContains } from '../net/address.js';
import { routeEvidence } from './datapath/evidence.js';
import { isPrivate, routerFlows, routerView, type RouterFlow } from './datapath/router.js';
import type { Check, HostContext } from './types.js';
import { interfaceByName } from './view.js';

const ID = 'snat-missing';

/** True when `ip` is inside one of the remote networks (they are reached privately, no NAT needed). */
function inRemotes(ip: string, remotes: readonly string[]): boolean {
  const a = parseAddress(ip);
  if (a === null) return false;
  return remotes.some((r) => {
    const p = parsePrefix(r, r.includes(':') ? 6 : 4);
    return p !== null && prefixContains(p, a);
  });
}

/** Forwarded flows of private sources that leave an uplink for a public destination untranslated. */
export function untranslatedFlows(ctx: HostContext): RouterFlow[] {
  const view = routerView(ctx);
  const out: RouterFlow[] = [];
  for (const f of routerFlows(ctx)) {
    if (f.kind !== 'outward' && f.kind !== 'between-peers') continue;
    const w = f.request;
    if (w.outcome !== 'forwarded' || w.outDev === undefined) continue;
    const uplink = view.uplinks.has(w.outDev) || interfaceByName(ctx.snapshot, w.outDev)?.uplink === true;
    if (!uplink) continue;
    if (w.final.srcUncertain || w.final.src !== w.packet.src) continue;
    if (!isPrivate(w.final.src, view.routed)) continue;
    if (isPrivate(w.final.dst, view.routed) || inRemotes(w.final.dst, ctx.remotes)) continue;
    out.push(f);
  }
  return out;
}

/** The findings of snat-missing for one host. */
export function snatMissingFindings(ctx: HostContext): Finding[] {
  const groups = new Map<string, RouterFlow[]>();
  for (const f of untranslatedFlows(ctx)) {
    const source = f.network?.cidr ?? f.packet.src!;
    const key = `${source}|${f.request.outDev}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  const out: Finding[] = [];
  for (const [key, flows] of groups) {
    const [source, outDev] = key.split('|');
    const first = flows[0];
    const family = first.request.packet.family;
    const tool = family === 6 ? 'ip6tables' : 'iptables';
    const targets = [...new Set(flows.map((f) => f.target))];
    const route = [...first.request.stages].reverse().find((s) => s.kind === 'route');
    const subject = `${source} via ${outDev}`;
    const sourceSpec = source.includes('/') ? source : `${source}/${family === 6 ? 128 : 32}`;
    out.push({
      check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
      summary: `packets from ${source} leave ${outDev} for ${targets.slice(0, 3).join(', ')}${targets.length > 3 ? ` and ${targets.length - 3} more` : ''} with their private source ${first.request.final.src}: no SNAT or MASQUERADE translates them`,
      evidence: uniqueEvidence([...(first.network?.evidence ?? []), ...(route?.kind === 'route' ? routeEvidence(route.result) : [])]),
      why: `${ctx.host} forwards ${first.what} from ${first.request.packet.src} to ${first.request.final.dst} out of ${outDev}, an uplink, without translating the source (no nat POSTROUTING rule matches it). A private address is not routed on the internet: the upstream router or the cloud's internet gateway drops the packet or has no way back, so the client sees a timeout.`,
      fix: [
        `${tool} -t nat -A POSTROUTING -s ${sourceSpec} -o ${outDev} -j MASQUERADE`,
        `# or SNAT to a fixed address of ${outDev}; if the upstream routes ${source} back to this host, name the destination with --remote instead`,
      ],
    });
  }
  return out;
}

export const snatMissing: Check = {
  id: ID,
  title: 'A routed private network leaves by an uplink without address translation',
  severity: 'error',
  explain: `A router that forwards a private network (RFC 1918, 100.64.0.0/10, IPv6 ULA, or a network named
with --route-for; an IPv6 global prefix is routed, not translated) out of its uplink to a public destination must translate the source
(MASQUERADE or SNAT), or the replies have no way back: nothing on the internet routes
10.30.0.0/24 to this host, and a cloud's internet gateway only translates the instance's own
address. Documentation ranges count as public; --remote networks are reached privately and
need no translation.

The check walks the routed networks' new connections (nat POSTROUTING in the kernel's order,
with the device the route chose) and reports those that leave an uplink for a public
destination with their private source.

Fix: iptables -t nat -A POSTROUTING -s <network> -o <uplink> -j MASQUERADE (ip6tables for a
ULA network), or SNAT to a fixed address; name destinations the upstream routes back with
--remote.`,
  families: { host: snatMissingFindings },
};
