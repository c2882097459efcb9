/**
 * datapath-unseen: tc filters, XDP programs or IPVS virtual services stand on a peer's way; they
 * can drop or redirect what the firewall and the routes let through, and hostcheck does not
 * evaluate them, so it names them instead of a verdict.
 */
import { findingKey, uniqueEvidence, type Finding } from '../model/finding.js';
import type { WalkStage } from '../simulate/walk.js';
import { stageEvidence } from './datapath/evidence.js';
import { flowLabel, peerFlows } from './datapath/flows.js';
import { routerFlows } from './datapath/router.js';
import type { Check, HostContext } from './types.js';

const ID = 'datapath-unseen';

type Unseen = Extract<WalkStage, { kind: 'unseen' }>;

/** The commands that take a detected program or filter away (for when it is left over). */
function removal(ctx: HostContext, st: Unseen): string[] {
  const s = ctx.snapshot;
  const out: string[] = [];
  for (const o of st.origins) {
    const link = s.interfaces.find((i) => i.xdp?.origin === o);
    if (link !== undefined) {
      out.push(`ip link set dev ${link.name} ${link.xdp!.mode === 'xdpgeneric' ? 'xdpgeneric' : link.xdp!.mode === 'xdpoffload' ? 'xdpoffload' : 'xdp'} off   # only if no one should filter here (a CNI or tool that was removed)`);
      continue;
    }
    const f = (s.tcFilters ?? []).find((x) => x.origin === o);
    if (f !== undefined) {
      out.push(`tc filter del dev ${f.dev} ${f.direction}${f.pref !== undefined ? ` pref ${f.pref}` : ''}   # only if no one should filter here (a CNI or tool that was removed)`);
    }
  }
  return [...new Set(out)];
}

/** The findings of datapath-unseen for one host. */
export function datapathUnseenFindings(ctx: HostContext): Finding[] {
  const groups = new Map<string, { stage: Unseen; flows: string[]; peers: Set<string> }>();
  for (const f of [...peerFlows(ctx), ...routerFlows(ctx)]) {
    for (const [walk, reply] of [[f.request, false], [f.reply, true]] as const) {
      if (walk === undefined || walk.outcome !== 'undecided' || walk.outcomeWithoutUnseen === undefined) continue;
      for (const st of walk.stages) {
        if (st.kind !== 'unseen') continue;
        const key = `${st.where}|${st.what.join(';')}`;
        const g = groups.get(key) ?? { stage: st, flows: [], peers: new Set<string>() };
        g.flows.push(`${flowLabel(f, reply)} (${walk.outcomeWithoutUnseen} by the rulesets)`);
        if (ctx.peers.some((p) => p.address === f.peer.address)) g.peers.add(f.peer.address);
        groups.set(key, g);
      }
    }
  }
  const out: Finding[] = [];
  for (const { stage, flows, peers } of groups.values()) {
    // Program ids change when a program is reloaded: the subject (and key) leaves them out.
    const subject = `${stage.where}: ${stage.what.join('; ')}`.replace(/ \(id \d+\)/g, '');
    const shown = [...new Set(flows)];
    const finding: Finding = {
      check: ID, severity: 'warning', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
      summary: `${stage.what.join('; ')} can change what happens to ${shown.slice(0, 3).join('; ')}${shown.length > 3 ? `; and ${shown.length - 3} more` : ''}: hostcheck cannot decide whether it gets through`,
      evidence: uniqueEvidence(stageEvidence(ctx.snapshot, stage)),
      why: `${stage.where === 'IPVS' ? 'IPVS takes packets to its virtual services at LOCAL_IN and LOCAL_OUT and forwards them to its real servers' : `A ${stage.where.startsWith('ingress') ? 'program on the ingress runs before PREROUTING (XDP even before the stack)' : 'filter on the egress runs after POSTROUTING'} and can drop, redirect or rewrite the packet`}, whatever the firewall and the routes say. hostcheck does not evaluate tc, XDP or IPVS, so these packets' verdicts are undecided; the walk shows what the rulesets alone would do (hostcheck route get ... --walk).`,
      fix: [
        `# check what it does: ${stage.where === 'IPVS' ? 'ipvsadm -Ln' : 'bpftool prog show; tc -s filter show dev <dev> ingress|egress; ip -d link show'}`,
        ...removal(ctx, stage),
      ],
    };
    if (peers.size > 0) finding.peers = [...peers];
    out.push(finding);
  }
  return out;
}

export const datapathUnseen: Check = {
  id: ID,
  title: 'tc, XDP or IPVS on a peer’s way can change what the firewall lets through',
  severity: 'warning',
  explain: `Some of what decides a packet's fate is outside netfilter and the routing tables: XDP programs
on a device (before the stack), tc filters on its ingress or egress (BPF programs of Cilium or
Calico eBPF, u32 or flower filters that drop or redirect), and IPVS virtual services (kube-proxy
in ipvs mode) that take packets to their addresses and forward them. hostcheck collects them
(ip -d link/ip -d addr for XDP, tc filter show dev DEV ingress|egress, /proc/net/ip_vs)
but does not evaluate them: a packet walk that crosses one is undecided (docs/walk.md), and this
check names the program, filter or service and the peers' packets it stands in front of, with
what the rulesets alone would do. A tc filter whose every action is pass is left out.

Fix: nothing when they belong to a running CNI or load balancer; check what they do (bpftool,
tc -s filter show, ipvsadm -Ln). A program or filter left behind by a removed tool is taken
away with the printed tc filter del ... or ip link set dev DEV xdpgeneric off.`,
  families: { host: datapathUnseenFindings },
};
