/**
 * vpn-selector-gap, host family: an IPsec `dir out` policy protects a remote network, but only
 * for some sources. Packets from the others are not encrypted and are routed like any packet:
 * when that route leads back out of the interface they came in on, they loop between this
 * gateway and the router that sent them until the TTL runs out. The second incident: local
 * subnet 10.16.0.0/16 === 10.200.0.0/20, client 10.64.3.22 gets "Time to live exceeded" from
 * the gateway's private address. Also: swanctl.conf/ipsec.conf selectors that differ from the
 * kernel's policies. The fleet family asks the same questions of a fleet host (gatewayGaps).
 */
import type { IpsecConnectionRecord } from '../../model/ipsec.js';
import { evidenceOf, findingKey, uniqueEvidence, type Evidence, type Finding } from '../../model/finding.js';
import type { RouteRecord } from '../../model/records.js';
import type { HostSnapshot } from '../../model/snapshot.js';
import type { XfrmPolicyRecord } from '../../model/xfrm.js';
import { parsePrefix, prefixCovers, prefixesOverlap, type Prefix } from '../../net/address.js';
import { mergeSiblings, outermost } from '../../net/prefix-set.js';
import { masked, outPolicies, representative, subtractPrefixes } from '../../simulate/path-selectors.js';
import type { RouteQuestion } from '../../model/kernel.js';
import { kernelSignals } from '../../simulate/kernel-signals.js';
import { routeQuestion } from '../../simulate/route-get.js';
import { routeFor } from '../routing.js';
import type { HostContext } from '../types.js';
import { sysctls } from '../view.js';
import { clearSummary, ID, kernelClearWhy, kernelFix, kernelLoopWhy, LIST_MAX, loopSummary, PEERS_MAX, text, type ConfiguredConnection, type GapWords, type KernelFixInput } from './text.js';

/** One remote network with the sources the kernel (or, without kernel policies, the config) encrypts. */
interface ProtectedRemote {
  remote: Prefix;
  policies: XfrmPolicyRecord[];
  covered: Prefix[];
  fromConfig?: IpsecConnectionRecord;
}

/** A network whose packets may arrive here for the remote: a route's destination, a --remote, a peer. */
interface SourceCandidate {
  prefix: Prefix;
  route?: RouteRecord;
  how: string;
}

function prefixOf(s: string): Prefix | null {
  const p = parsePrefix(s, s.includes(':') ? 6 : 4, true);
  return p ? masked(p) : null;
}

/** Config connections with local/remote as this host sees them (ipsec.conf sides are a convention). */
export function orientedConnections(s: HostSnapshot): IpsecConnectionRecord[] {
  const own = new Set(s.interfaces.flatMap((i) => i.addresses.map((a) => a.cidr.split('/')[0])));
  return (s.ipsecConnections ?? []).map((c) => {
    const swap = c.sidesByConvention && c.remoteAddrs.some((a) => own.has(a)) && !c.localAddrs.some((a) => own.has(a));
    return swap ? { ...c, localAddrs: c.remoteAddrs, remoteAddrs: c.localAddrs, localTs: c.remoteTs, remoteTs: c.localTs, localTsOrigin: c.remoteTsOrigin, remoteTsOrigin: c.localTsOrigin } : c;
  });
}

/** Concrete CIDRs of a selector list; `dynamic` is the connection's own local address. */
export function selectorPrefixes(ts: string[], localAddrs: string[]): Prefix[] {
  const out: Prefix[] = [];
  for (const t of ts) {
    if (t === 'dynamic') {
      for (const a of localAddrs) { const p = prefixOf(a); if (p) out.push(p); }
    } else if (!t.includes('[') && !t.includes('-')) {
      const p = prefixOf(t);
      if (p) out.push(p);
    }
  }
  return out;
}

/** Remote networks with the sources their out policies cover; policies with ports cover nothing whole. */
function protectedRemotes(s: HostSnapshot, conns: IpsecConnectionRecord[]): ProtectedRemote[] {
  const byDst = new Map<string, ProtectedRemote>();
  for (const p of outPolicies(s.xfrmPolicies)) {
    if (p.action !== 'allow' || !p.templates.some((t) => t.mode === 'tunnel')) continue;
    const dst = prefixOf(p.selector.dst);
    const src = prefixOf(p.selector.src);
    if (!dst || !src || dst.len === 0) continue;
    let r = byDst.get(text(dst));
    if (!r) byDst.set(text(dst), (r = { remote: dst, policies: [], covered: [] }));
    r.policies.push(p);
    if (p.selector.proto === undefined) r.covered.push(src);
  }
  // A configured connection the kernel has no policy for still says what would be encrypted.
  for (const c of conns) {
    for (const rp of selectorPrefixes(c.remoteTs, c.remoteAddrs)) {
      if (rp.len === 0 || [...byDst.values()].some((r) => prefixesOverlap(r.remote, rp))) continue;
      byDst.set(text(rp), { remote: rp, policies: [], covered: selectorPrefixes(c.localTs, c.localAddrs), fromConfig: c });
    }
  }
  return [...byDst.values()];
}

function routeDevs(r: RouteRecord): string[] {
  return [r.dev, ...r.nexthops.map((n) => n.dev)].filter((d): d is string => !!d);
}

/** Networks that reach this host and could be sent to `remote`: routes, connected subnets, --remote, peers. */
function sourceCandidates(ctx: HostContext, remote: Prefix): SourceCandidate[] {
  const s = ctx.snapshot;
  const all: (SourceCandidate & { routeIndex?: number })[] = [];
  const tunnelDevs = new Set(s.interfaces.filter((i) => i.owner?.type === 'vpn' || ['tun', 'wireguard', 'gre', 'ipip'].includes(i.kind)).map((i) => i.name));
  // The side the encrypted packets leave by (towards the tunnel's far end) sends no inner traffic.
  for (const p of outPolicies(s.xfrmPolicies)) {
    for (const t of p.templates) {
      if (t.mode !== 'tunnel' || prefixOf(t.dst) === null) continue;
      const r = routeFor(s, { dst: t.dst });
      if (r.type === 'unicast' && r.dev && r.route && prefixOf(r.route.dst)?.len !== 0) tunnelDevs.add(r.dev);
    }
  }
  // A gateway with a full table has a million of these: read them by column, make records only for those kept.
  const routes = s.routes;
  const linkLocal = remote.family === 4 ? prefixOf('169.254.0.0/16')! : prefixOf('fe80::/10')!;
  for (let i = 0; i < routes.length; i++) {
    if (routes.family(i) !== remote.family || routes.type(i) !== 'unicast' || routes.table(i) === 'local') continue;
    const p = routes.isPlain(i) ? routes.prefix(i) : prefixOf(routes.dst(i));
    if (!p || p.len === 0 || prefixesOverlap(p, remote)) continue;
    if (prefixCovers(linkLocal, p)) continue;
    const dev = routes.dev(i);
    const devs = routes.hasNexthops(i) ? routeDevs(routes.get(i)) : dev ? [dev] : [];
    if (devs.length === 0 || devs.some((d) => d === 'lo' || tunnelDevs.has(d))) continue;
    all.push({ prefix: masked(p), routeIndex: i, how: `${routes.via(i) ? 'routed' : 'connected'} via ${devs[0]}` });
  }
  for (const rem of ctx.remotes) {
    const p = prefixOf(rem);
    if (p && p.family === remote.family && !prefixesOverlap(p, remote)) all.push({ prefix: p, how: '--remote' });
  }
  for (const peer of ctx.peers) {
    const p = prefixOf(peer.address);
    if (p && p.family === remote.family && !prefixesOverlap(p, remote)) all.push({ prefix: p, how: `peer${peer.name ? ` ${peer.name}` : ''}` });
  }
  // Without any specific network, everything the default route reaches may send to the remote.
  if (all.length === 0) {
    const def = s.routes.find((r) => r.family === remote.family && r.type === 'unicast' && r.table === 'main' && prefixOf(r.dst)?.len === 0);
    if (def) all.push({ prefix: prefixOf(def.dst)!, route: def, how: `any source behind the default route (no --remote given)` });
  }
  // The widest first; a network inside one already listed adds nothing. Sibling networks that
  // reach the host the same way count as their parent (a full table's thousands of /24s
  // become a few blocks), then nothing listed may sit inside a merged block.
  const merged = mergeSiblings(outermost(all), (c) => (c.routeIndex !== undefined ? c.how : undefined), (c, parent) => ({ ...c, prefix: parent }));
  return outermost(merged).map(({ routeIndex, ...c }) => (routeIndex !== undefined ? { ...c, route: routes.get(routeIndex) } : c));
}

interface GapResult {
  loops: { uncovered: Prefix[]; candidate: SourceCandidate; dev: string; via?: string; route?: RouteRecord; rule?: RouteRecordRule; queries: RouteQuestion[] }[];
  clear: { uncovered: Prefix[]; candidate: SourceCandidate; dev: string; route?: RouteRecord }[];
}
type RouteRecordRule = NonNullable<ReturnType<typeof routeFor>['rule']>;

/** Where a packet from each uncovered source to the remote goes: back where it came from (a loop), or out in clear. */
function followGaps(s: HostSnapshot, pr: ProtectedRemote, candidates: SourceCandidate[]): GapResult {
  const out: GapResult = { loops: [], clear: [] };
  const dst = representative(pr.remote);
  for (const c of candidates) {
    const uncovered = subtractPrefixes(c.prefix, pr.covered);
    if (uncovered.length === 0) continue;
    const witness = representative(uncovered[0]);
    const back = routeFor(s, { dst: witness });
    if (back.type !== 'unicast' || !back.dev) continue;
    const fwd = routeFor(s, { dst, src: witness, iif: back.dev });
    if (fwd.type !== 'unicast' || !fwd.dev) continue;
    // The route back to the source and the forwarded packet's route: the loop the kernel can confirm.
    const queries = [routeQuestion({ dst: witness }, back), routeQuestion({ dst, src: witness, iif: back.dev }, fwd)];
    if (fwd.dev === back.dev) out.loops.push({ uncovered, candidate: c, dev: fwd.dev, via: fwd.via, route: fwd.route, rule: fwd.rule, queries });
    else out.clear.push({ uncovered, candidate: c, dev: fwd.dev, route: fwd.route });
  }
  return out;
}

/** What the fix needs: the policy to copy, the rule covered sources use, the configured connection. */
function fixInput(s: HostSnapshot, pr: ProtectedRemote, missing: Prefix[], conns: IpsecConnectionRecord[]): KernelFixInput {
  const x: KernelFixInput = { remote: pr.remote, covered: pr.covered, missing };
  const model = pr.policies.find((p) => p.selector.proto === undefined) ?? pr.policies[0];
  const tmpl = model?.templates.find((t) => t.mode === 'tunnel');
  if (model && tmpl) {
    x.template = { priority: model.priority, src: tmpl.src, dst: tmpl.dst, proto: tmpl.proto, reqid: tmpl.reqid };
    // Covered sources may reach the tunnel through a policy-routing rule: the new sources need the same rule.
    const coveredSrc = pr.covered[0];
    if (coveredSrc) {
      const viaRule = routeFor(s, { dst: representative(pr.remote), src: representative(coveredSrc), iif: routeFor(s, { dst: representative(coveredSrc) }).dev ?? 'lo' }).rule;
      const from = viaRule ? prefixOf(viaRule.from) : null;
      if (viaRule && viaRule.action === 'lookup' && from && from.len > 0 && viaRule.table) x.rule = { to: viaRule.to, table: viaRule.table, priority: viaRule.priority, coveredSource: coveredSrc };
    }
  }
  const conn = pr.fromConfig ?? conns.find((c) => selectorPrefixes(c.remoteTs, c.remoteAddrs).some((p) => prefixesOverlap(p, pr.remote)));
  if (conn) x.conn = configured(conn);
  return x;
}

/** The connection as the fix names it. */
function configured(c: IpsecConnectionRecord): ConfiguredConnection {
  return { format: c.format, connection: c.connection, child: c.child, localTs: c.localTs, rightIsLocal: c.sidesByConvention === true && c.localTsOrigin?.text.includes('right') === true };
}

function policyEvidence(pr: ProtectedRemote): Evidence[] {
  if (pr.policies.length > 0) return pr.policies.flatMap((p) => evidenceOf(p.origin));
  const c = pr.fromConfig;
  return c ? [...evidenceOf(c.localTsOrigin ?? c.origin), ...evidenceOf(c.remoteTsOrigin)] : [];
}

/** Config connections whose local_ts differ from what the kernel's out policies encrypt. */
function configDisagreements(ctx: HostContext, remotes: ProtectedRemote[], conns: IpsecConnectionRecord[]): Finding[] {
  const out: Finding[] = [];
  for (const c of conns) {
    for (const rp of selectorPrefixes(c.remoteTs, c.remoteAddrs)) {
      const kernel = remotes.find((r) => r.policies.length > 0 && text(r.remote) === text(rp));
      const configured = selectorPrefixes(c.localTs, c.localAddrs).map(text).sort();
      const name = `${c.connection}${c.child ? `/${c.child}` : ''}`;
      const subject = `${name} ${text(rp)} config`;
      const ev = uniqueEvidence([...evidenceOf(c.localTsOrigin ?? c.origin), ...evidenceOf(c.remoteTsOrigin)]);
      if (!kernel) {
        if (c.start === 'ignore') continue;
        out.push({
          check: ID, severity: 'warning', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
          summary: `IPsec connection ${name} is configured for ${configured.join(', ') || 'dynamic'} === ${text(rp)}, but the kernel has no out policy for ${text(rp)}`,
          evidence: ev,
          why: 'Without a kernel policy nothing is encrypted for that remote network: the connection is not up, or the daemon did not load this configuration. Packets to it follow the routing table in clear.',
          fix: [c.format === 'swanctl-conf' ? `swanctl --load-conns && swanctl --initiate --child ${c.child ?? c.connection}` : `ipsec up ${c.connection}`, '# then check: ip xfrm policy show dir out'],
        });
        continue;
      }
      const installed = [...new Set(kernel.covered.map(text))].sort();
      if (configured.length === 0 || installed.join() === configured.join()) continue;
      out.push({
        check: ID, severity: 'warning', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
        summary: `config and kernel disagree for ${text(rp)}: ${name} says local ${configured.join(', ')}, the kernel's out policies encrypt ${installed.join(', ') || 'nothing whole'}`,
        evidence: uniqueEvidence([...ev, ...policyEvidence(kernel)]),
        why: 'The kernel applies its installed policies, not the file: the configuration was changed and not reloaded, or the policies come from elsewhere (another daemon, a script). What the file promises is not what happens.',
        fix: [c.format === 'swanctl-conf' ? 'swanctl --load-conns   # then re-initiate the child so the new selectors are negotiated' : `ipsec update   # or: ipsec down ${c.connection}; ipsec up ${c.connection}`],
      });
    }
  }
  return out;
}

/** Whether the host forwards the family (unknown counts as yes: a gateway is what this check is about). */
function forwards(s: HostSnapshot, family: 4 | 6): boolean {
  const key = family === 4 ? 'net.ipv4.ip_forward' : 'net.ipv6.conf.all.forwarding';
  const rec = sysctls(s).find((x) => x.key === key);
  return rec === undefined || rec.value.trim() !== '0';
}

/** One loop or clear finding of a gateway, with the remote and the sources it leaves out (for the fleet family). */
export interface GatewayGap {
  finding: Finding;
  remote: Prefix;
  missing: Prefix[];
}

/** The loops and clear leaks of a gateway host: for each remote a tunnel policy protects, the sources it leaves out. */
export function gatewayGaps(ctx: HostContext, conns = orientedConnections(ctx.snapshot), remotes = protectedRemotes(ctx.snapshot, conns)): GatewayGap[] {
  const s = ctx.snapshot;
  const out: GatewayGap[] = [];
  for (const pr of remotes) {
    // A host that does not forward only sends its own packets: nothing arrives to loop back.
    if (!forwards(s, pr.remote.family)) continue;
    const r = text(pr.remote);
    const gaps = followGaps(s, pr, sourceCandidates(ctx, pr.remote));
    const words = (missing: Prefix[]): GapWords => ({
      selector: `IPsec policy for ${r}`, remote: pr.remote, covered: pr.covered, missing,
      ...(pr.fromConfig && { note: ` (from ${pr.fromConfig.format === 'swanctl-conf' ? 'swanctl.conf' : 'ipsec.conf'}: the kernel has no policy for it)` }),
    });
    if (gaps.loops.length > 0) {
      const missing = gaps.loops.flatMap((g) => g.uncovered);
      const first = gaps.loops[0];
      const subject = r;
      out.push({
        remote: pr.remote, missing,
        finding: {
          check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
          summary: loopSummary(words(missing), `goes back out ${first.dev}${first.via ? ` via ${first.via}` : ''}`),
          evidence: uniqueEvidence([
            ...policyEvidence(pr),
            ...(first.rule && first.rule.origin.lineNumber > 0 && !(first.rule.priority === 32766 && first.rule.table === 'main') ? evidenceOf(first.rule.origin) : []),
            ...evidenceOf(first.route?.origin),
            ...gaps.loops.slice(0, LIST_MAX).flatMap((g) => evidenceOf(g.candidate.route?.origin)),
          ]),
          why: kernelLoopWhy(words(missing), { dev: first.dev, via: first.via, route: first.route?.dst }, gaps.loops.map((g) => g.candidate)),
          fix: kernelFix(fixInput(s, pr, missing, conns)),
          peers: [r, ...missing.slice(0, PEERS_MAX).map(text)],
          queries: first.queries,
          signals: kernelSignals({ cause: 'routing-loop' }),
        },
      });
    }
    if (gaps.clear.length > 0) {
      const missing = gaps.clear.flatMap((g) => g.uncovered);
      const subject = `${r} clear`;
      out.push({
        remote: pr.remote, missing,
        finding: {
          check: ID, severity: 'warning', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
          summary: clearSummary(words(missing), gaps.clear[0].dev),
          evidence: uniqueEvidence([...policyEvidence(pr), ...evidenceOf(gaps.clear[0].route?.origin)]),
          why: kernelClearWhy(pr.remote),
          fix: kernelFix(fixInput(s, pr, missing, conns)),
          peers: [r, ...missing.slice(0, PEERS_MAX).map(text)],
        },
      });
    }
  }
  return out;
}

/** The host family: the gateway's gaps, and its IPsec configuration where it disagrees with the kernel. */
export function gapsOnHost(ctx: HostContext): Finding[] {
  const conns = orientedConnections(ctx.snapshot);
  const remotes = protectedRemotes(ctx.snapshot, conns);
  return [...gatewayGaps(ctx, conns, remotes).map((g) => g.finding), ...configDisagreements(ctx, remotes, conns)];
}

/** The remote networks a host's tunnel policies (or, without them, its IPsec config) protect: none for a host that is no gateway. */
export function protectedNetworks(s: HostSnapshot): Prefix[] {
  // Most hosts have neither: no need to look at their addresses.
  if (s.xfrmPolicies.length === 0 && !s.ipsecConnections?.length) return [];
  return protectedRemotes(s, orientedConnections(s)).map((r) => r.remote);
}
