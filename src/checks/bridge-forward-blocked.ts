/**
 * bridge-forward-blocked: with bridge-nf-call-iptables (ip6tables) = 1, traffic between the ports
 * of a bridge (VMs on a KVM bridge, a bridge to the LAN) crosses FORWARD; Docker's DROP policy
 * or a rule there cuts the bridge's members off from each other.
 */
import { findingKey, uniqueEvidence, type Finding } from '../model/finding.js';
import type { InterfaceModel } from '../model/snapshot.js';
import { formatIPv4, formatIPv6, parsePrefix, type Prefix } from '../net/address.js';
import { decisionPlace } from '../simulate/netfilter-hooks.js';
import { walkPacket, type Walk } from '../simulate/walk.js';
import { replyTo } from '../simulate/walk-reply.js';
import { deleteRuleCommand, iptablesTool, stageEvidence } from './datapath/evidence.js';
import { services } from './datapath/flows.js';
import { dockerManaged } from './forward-blocked.js';
import type { Check, HostContext } from './types.js';
import { networkOf } from './view.js';

const ID = 'bridge-forward-blocked';

/** Stand-in addresses for a bridge without an address of the family (documentation ranges). */
const STAND_IN: Record<4 | 6, string> = { 4: '192.0.2.0/24', 6: '2001:db8:b::/64' };

interface PairWalk {
  from: string;
  to: string;
  what: string;
  walk: Walk;
  reply: boolean;
}

function usable(i: InterfaceModel): boolean {
  return !i.noCarrier && i.state !== 'DOWN';
}

/** Two addresses of the bridge's network that are not its own, for the members on two ports. */
export function bridgeMembers(bridge: InterfaceModel, family: 4 | 6): [string, string] | undefined {
  const own = bridge.addresses.find((a) => a.family === family && (a.scope === undefined || a.scope === 'global'));
  const p: Prefix | null = own ? networkOf(own) : parsePrefix(STAND_IN[family], family);
  if (p === null) return undefined;
  const taken = new Set(bridge.addresses.map((a) => a.cidr.split('/')[0]));
  const out: string[] = [];
  for (let k = 10; out.length < 2 && k < 200; k++) {
    const text = family === 4 ? formatIPv4(((p.value as number) + k) >>> 0) : formatIPv6((p.value as bigint) + BigInt(k));
    if (!taken.has(text)) out.push(text);
  }
  return out.length === 2 ? [out[0], out[1]] : undefined;
}

/** The walks between each pair of a bridge's ports that do not get through. */
export function blockedBridgePairs(ctx: HostContext): Map<string, PairWalk[]> {
  const s = ctx.snapshot;
  const out = new Map<string, PairWalk[]>();
  for (const bridge of s.interfaces) {
    if (bridge.kind !== 'bridge' || !usable(bridge)) continue;
    // Docker's, CNI's and Kubernetes' bridges follow their owner's own isolation policy.
    if (bridge.owner !== undefined && bridge.owner.type !== 'libvirt' && bridge.owner.type !== 'unknown') continue;
    const ports = s.interfaces.filter((i) => i.master === bridge.name && usable(i)).map((i) => i.name).sort();
    if (ports.length < 2) continue;
    for (const family of [4, 6] as const) {
      const addrs = bridgeMembers(bridge, family);
      if (addrs === undefined) continue;
      for (const [i, inPort] of ports.entries()) {
        for (const [j, outPort] of ports.entries()) {
          if (i === j) continue;
          const [src, dst] = i < j ? addrs : [addrs[1], addrs[0]];
          for (const svc of services(ctx.ports, family)) {
            const request = walkPacket(s, { src, dst, ...svc.packet, bridged: { bridge: bridge.name, inPort, outPort } });
            const key = `${bridge.name}|${family}`;
            const list = out.get(key) ?? [];
            const bad = (w: Walk): boolean => w.outcome === 'dropped' || w.outcome === 'rejected';
            if (bad(request)) list.push({ from: inPort, to: outPort, what: svc.what, walk: request, reply: false });
            else if (request.outcome === 'bridged') {
              const next = replyTo(request);
              const reply = 'packet' in next ? walkPacket(s, next.packet) : undefined;
              if (reply !== undefined && bad(reply)) list.push({ from: inPort, to: outPort, what: svc.what, walk: reply, reply: true });
            }
            if (list.length > 0) out.set(key, list);
          }
        }
      }
    }
  }
  return out;
}

/** The findings of bridge-forward-blocked for one host. */
export function bridgeForwardBlockedFindings(ctx: HostContext): Finding[] {
  const out: Finding[] = [];
  for (const [key, pairs] of blockedBridgePairs(ctx)) {
    const [bridge, fam] = key.split('|');
    const family = Number(fam) as 4 | 6;
    const first = pairs[0];
    const st = first.walk.decidedBy;
    if (st?.kind !== 'hook') continue;
    const d = st.decidedBy;
    const tool = iptablesTool(family, d?.backend);
    const docker = dockerManaged(ctx.snapshot, family, d?.backend) && d?.table === 'filter' && st.hook === 'FORWARD';
    const where = d ? decisionPlace(d) : st.hook;
    const shown = [...new Set(pairs.map((p) => `${p.reply ? 'replies to ' : ''}${p.what} ${p.from} → ${p.to}`))];
    const subject = `${bridge} IPv${family}`;
    const nf = family === 4 ? 'bridge-nf-call-iptables' : 'bridge-nf-call-ip6tables';
    const nfStage = first.walk.stages.find((x) => x.kind === 'bridge-nf');
    const fix: string[] = [];
    if (d?.table === 'filter' && st.hook === 'FORWARD') fix.push(`${tool} -I ${docker ? 'DOCKER-USER' : 'FORWARD'} -i ${bridge} -o ${bridge} -j ACCEPT`);
    else if (d?.rule) fix.push(deleteRuleCommand(family, d.table, d.rule));
    if (d?.rule && fix[0] !== undefined && !fix[0].includes(' -D ') && !fix[0].startsWith('nft delete ')) fix.push(`# or remove the rule: ${deleteRuleCommand(family, d.table, d.rule)}`);
    fix.push(`# or sysctl -w net.bridge.${nf}=0: bridged packets then skip ${tool} entirely (also rules meant for them)`);
    out.push({
      check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
      summary: `bridged IPv${family} traffic between the ports of ${bridge} is dropped in FORWARD: ${shown.slice(0, 4).join('; ')}${shown.length > 4 ? `; and ${shown.length - 4} more` : ''} — ${where}${d?.policy ? ` (policy ${st.verdict === 'drop' ? 'DROP' : 'REJECT'})` : ''}`,
      evidence: uniqueEvidence([...(nfStage ? stageEvidence(ctx.snapshot, nfStage) : []), ...stageEvidence(ctx.snapshot, st)]),
      why: `With net.bridge.${nf} = 1 a frame the bridge forwards from one port to another crosses ${tool}'s PREROUTING, FORWARD and POSTROUTING as if routed (-i/-o ${bridge}, -m physdev for the ports), whatever ip_forward says. ${where} ${st.verdict === 'reject' ? 'rejects' : 'drops'} it, so the machines on ${bridge} (VMs, a LAN behind it) cannot reach each other.${docker ? ' Docker set FORWARD to DROP and accepts only its own bridges.' : ''}`,
      fix,
    });
  }
  return out;
}

export const bridgeForwardBlocked: Check = {
  id: ID,
  title: 'Bridged traffic between a bridge’s ports is dropped in FORWARD (bridge-nf-call-iptables)',
  severity: 'error',
  explain: `With br_netfilter loaded and net.bridge.bridge-nf-call-iptables (-ip6tables) = 1 — the
default once the module is loaded — every frame a Linux bridge forwards between two of its
ports crosses iptables' FORWARD chain, whatever ip_forward says. On a KVM host whose VMs share
br0, installing Docker (FORWARD policy DROP) cuts the VMs off from each other and from the LAN
behind the bridge.

For every bridge with two or more ports (Docker's, CNI and Kubernetes bridges aside: their owner
sets their isolation), the check walks an ICMP echo and every --port between each pair of
ports, and the replies, through PREROUTING, FORWARD and POSTROUTING with the bridge as -i/-o
and the ports as -m physdev (docs/walk.md), and reports the rule or policy that drops them,
with the bridge-nf-call-* line. A bridge without an address of a family is walked with
documentation addresses (192.0.2.0/24, 2001:db8:b::/64) standing for its members.

Fix: accept the bridge's own traffic before the drop — on a Docker host
iptables -I DOCKER-USER -i br0 -o br0 -j ACCEPT (and ip6tables), elsewhere the same in
FORWARD — or sysctl -w net.bridge.bridge-nf-call-iptables=0 if no rule is meant to filter
bridged traffic.`,
  families: { host: bridgeForwardBlockedFindings },
};
