/**
 * forward-blocked: this host routes for networks (or sits between peers) and drops what it should
 * forward — the FORWARD chain (Docker's DROP policy on a router), forwarding turned off on the
 * input device, rp_filter on the forwarding path, or no route — for new connections outward,
 * their replies, and port forwards.
 */
import { findingKey, uniqueEvidence, type Evidence, type Finding } from '../model/finding.js';
import type { HostSnapshot } from '../model/snapshot.js';
import { decisionPlace } from '../simulate/netfilter-hooks.js';
import type { Walk, WalkStage } from '../simulate/walk.js';
import { deleteRuleCommand, iptablesTool, stageEvidence } from './datapath/evidence.js';
import { blockedWalks, routerFlows, type RouterFlow } from './datapath/router.js';
import type { Check, HostContext } from './types.js';

const ID = 'forward-blocked';

/** The device a walk's packet arrived on and the one its route chose. */
function devices(w: Walk): { inDev: string; outDev: string | undefined } {
  const route = [...w.stages].reverse().find((s) => s.kind === 'route');
  return { inDev: w.packet.iif ?? '?', outDev: route?.kind === 'route' ? route.result.dev : undefined };
}

/**
 * True when Docker's chains are in the filter table (of the backend that decided, `legacy` for
 * iptables-legacy's): a FORWARD DROP policy is Docker's, DOCKER-USER is where exceptions go.
 */
export function dockerManaged(s: HostSnapshot, family: 4 | 6, backend?: 'legacy'): boolean {
  const filter = (family === 4 ? s.netfilter.v4 : s.netfilter.v6).find((t) => t.name === 'filter' && (t.backend === 'legacy') === (backend === 'legacy'));
  return filter?.chains.some((c) => c.name === 'DOCKER-USER') ?? false;
}

/** What stopped the packet, for the key and the text. */
function deciderOf(w: Walk): { id: string; text: string } | undefined {
  const st = w.decidedBy;
  if (st === undefined) return undefined;
  switch (st.kind) {
    case 'hook': {
      const d = st.decidedBy;
      if (d === undefined) return { id: st.hook, text: st.reason ?? st.hook };
      const where = decisionPlace(d);
      return { id: `${st.hook} ${where}`, text: `${where} ${st.verdict === 'reject' ? 'rejects' : 'drops'} it${d.policy ? ` (policy ${st.verdict === 'drop' ? 'DROP' : 'REJECT'})` : ''}` };
    }
    case 'forwarding':
      return { id: `forwarding ${st.dev}`, text: `forwarding is off on ${st.dev}` };
    case 'rp-filter':
      return { id: `rp_filter ${st.dev}`, text: `rp_filter=${st.mode} on ${st.dev} drops it (the route back to the source ${st.reverse.dev ? `leaves by ${st.reverse.dev}` : 'does not exist'})` };
    case 'route':
      return { id: `route ${st.result.type}`, text: `the route lookup answers ${st.result.type}` };
    default:
      return undefined;
  }
}

interface Blocked {
  flow: RouterFlow;
  walk: Walk;
  reply: boolean;
}

/** One finding's fix: DOCKER-USER lines on a Docker host, FORWARD lines elsewhere, settings for the others. */
function fixFor(ctx: HostContext, blocked: Blocked[]): string[] {
  const first = blocked[0];
  const family = first.walk.packet.family;
  const st = first.walk.decidedBy as WalkStage;
  const out: string[] = [];
  if (st.kind === 'hook') {
    const d = st.decidedBy;
    // An ACCEPT in one backend does not stop the other's DROP: the lines go to the backend that drops.
    const tool = iptablesTool(family, d?.backend);
    const docker = dockerManaged(ctx.snapshot, family, d?.backend) && d?.table === 'filter' && st.hook === 'FORWARD';
    const chain = docker ? 'DOCKER-USER' : 'FORWARD';
    const lines = new Set<string>();
    for (const b of blocked) {
      const req = b.reply ? b.flow.request : b.walk;
      const { inDev, outDev } = devices(req);
      if (outDev === undefined) continue;
      const src = b.flow.network && !b.reply && b.flow.kind === 'outward' ? ` -s ${b.flow.network.cidr}` : '';
      lines.add(`${tool} -I ${chain} -i ${inDev} -o ${outDev}${src} -j ACCEPT`);
      lines.add(`${tool} -I ${chain} -i ${outDev} -o ${inDev} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
    }
    if (st.hook !== 'FORWARD' || d?.table !== 'filter') lines.clear();
    out.push(...lines);
    if (d?.rule && !docker) out.push(`# or remove the rule: ${deleteRuleCommand(family, d.table, d.rule)}`);
    if (docker) out.push('# or "iptables": false in /etc/docker/daemon.json: Docker then leaves the firewall alone (its containers need your own MASQUERADE, and published ports stop working)');
    if (out.length === 0 && d?.rule) out.push(deleteRuleCommand(family, d.table, d.rule));
  } else if (st.kind === 'forwarding') {
    out.push(family === 4 ? `sysctl -w net.ipv4.conf.${st.dev}.forwarding=1` : 'sysctl -w net.ipv6.conf.all.forwarding=1', '# persist it in /etc/sysctl.d/');
  } else if (st.kind === 'rp-filter') {
    out.push(`sysctl -w net.ipv4.conf.${st.dev}.rp_filter=2`, `# loose mode on ${st.dev} (the effective value is the larger of all and ${st.dev}); persist it in /etc/sysctl.d/, or route the source back by ${st.dev}`);
  } else if (st.kind === 'route') {
    out.push(`# add a route for ${first.walk.final.dst}${st.result.table ? ` to table ${st.result.table}` : ''}, or remove the ${st.result.type} route or rule`);
  }
  return out;
}

function describeFlow(b: Blocked): string {
  const f = b.flow;
  const what = f.kind === 'outward' ? `${f.what} from ${f.network!.cidr} (${f.network!.dev}) to ${f.target}`
    : f.kind === 'inbound' ? `${f.what} from ${f.peer.name ?? f.peer.address} to ${f.target}`
      : f.kind === 'dnat' ? `the port forward ${f.target} (${f.what})`
        : `${f.what} from ${f.peer.name ? `${f.peer.name} ${f.peer.address}` : f.peer.address} to ${f.target}`;
  return b.reply ? `the replies to ${what}` : what;
}

/** The findings of forward-blocked for one host. */
export function forwardBlockedFindings(ctx: HostContext): Finding[] {
  const groups = new Map<string, Blocked[]>();
  for (const flow of routerFlows(ctx)) {
    for (const { walk, reply } of blockedWalks(flow)) {
      // A packet for this host itself is not forwarded: other checks judge it.
      if (walk.stages.some((s) => s.kind === 'route' && s.result.type === 'local')) continue;
      const decider = deciderOf(walk);
      if (decider === undefined) continue;
      const { inDev, outDev } = devices(walk);
      const origin = flow.network?.cidr ?? (flow.kind === 'dnat' ? `port forward ${flow.request.packet.dst}:${flow.request.packet.dport}` : flow.peer.address);
      const key = `${origin}|${inDev}>${outDev ?? '?'}|${decider.id}`;
      const list = groups.get(key) ?? [];
      list.push({ flow, walk, reply });
      groups.set(key, list);
    }
  }
  const out: Finding[] = [];
  for (const [key, blocked] of groups) {
    const first = blocked[0];
    const decider = deciderOf(first.walk)!;
    const { inDev, outDev } = devices(first.walk);
    const origin = key.split('|')[0];
    const subject = `${origin} ${inDev}>${outDev ?? '?'}${first.reply ? ' replies' : ''}`;
    const what = [...new Set(blocked.map(describeFlow))];
    const shown = what.slice(0, 4).join('; ') + (what.length > 4 ? `; and ${what.length - 4} more` : '');
    const family = first.walk.packet.family;
    const docker = dockerManaged(ctx.snapshot, family) && first.walk.decidedBy?.kind === 'hook' && first.walk.decidedBy.hook === 'FORWARD';
    const evidence: Evidence[] = uniqueEvidence([...stageEvidence(ctx.snapshot, first.walk.decidedBy!), ...(first.flow.network?.evidence ?? []), ...(first.flow.dnat ? [{ source: first.flow.dnat.origin.source ?? 'iptables-save', lineNumber: first.flow.dnat.origin.lineNumber, text: first.flow.dnat.origin.text }] : [])]);
    out.push({
      check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
      summary: `this host drops forwarded traffic: ${shown} — ${decider.text}`,
      evidence,
      why: `${first.flow.network ? `${ctx.host} routes for ${first.flow.network.cidr} (${first.flow.network.because}). ` : ''}A packet arriving on ${inDev} for ${first.walk.packet.dst}${outDev ? ` is routed out of ${outDev}` : ''}; ${decider.text}.${docker ? ' Docker sets the FORWARD policy to DROP and accepts only its own bridges\' traffic ("Docker on a router"): every other routed network loses its way out.' : ''}`,
      fix: fixFor(ctx, blocked),
      peers: [...new Set(blocked.map((b) => b.flow.peer.address).filter((a) => ctx.peers.some((p) => p.address === a)))],
    });
    if (out[out.length - 1].peers?.length === 0) delete out[out.length - 1].peers;
  }
  return out;
}

export const forwardBlocked: Check = {
  id: ID,
  title: 'This host drops traffic it routes (FORWARD, forwarding off, rp_filter on the forwarding path)',
  severity: 'error',
  explain: `A host with forwarding on and more than one network is a router, and what it routes crosses
the FORWARD chain. Docker sets FORWARD's policy to DROP and accepts only its own bridges: on a
NAT gateway or any router (ip_forward=1, a private subnet on eth1) installing Docker cuts the
routed networks off ("Docker on a router", moby#28257). Forwarding can also be off on the
device the packets arrive on (net.ipv4.conf.<dev>.forwarding; for IPv6 only
net.ipv6.conf.all.forwarding and a device's force_forwarding count, measured on 6.18), and
strict rp_filter drops a forwarded packet whose source routes back by another device.

The networks a host routes for are those it shows — a bridge with ports, a SNAT/MASQUERADE rule
for them, a FORWARD rule naming their device; Docker's, CNI and Kubernetes bridges aside, whose
owner writes their rules — and those
--route-for (config routeFor) names. The check walks (docs/walk.md) their clients' new
connections to the peers, the remote networks and the internet (stood for by 198.51.100.1 /
2001:db8:ffff::1), the replies through conntrack, peers on different sides of the router
(inbound from the uplink side only for --port), and every port forward (DNAT), and reports
where one is dropped, quoting the rule, the chain's policy or the setting. On a router the
routed networks' devices are not second NICs: asymmetric-return, multi-nic-routing and
rp-filter-drop leave them alone.

Fix: on a Docker host, rules in DOCKER-USER for the routed networks — the printed
iptables -I DOCKER-USER -i <in> -o <out> -s <network> -j ACCEPT and
iptables -I DOCKER-USER -i <out> -o <in> -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT —
or "iptables": false in /etc/docker/daemon.json (Docker then leaves the firewall alone: its
containers need your own MASQUERADE and published ports stop working); elsewhere the same rules
in FORWARD; sysctl -w net.ipv4.conf.<dev>.forwarding=1 or loose rp_filter on the device.`,
  families: { host: forwardBlockedFindings },
};
