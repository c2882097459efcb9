/**
 * ipsec-policy-blocks-peer: an IPsec (xfrm) policy with action block catches a peer's packets
 * to this host (`dir in`) or this host's packets to the peer (`dir out`): the kernel drops them
 * before any firewall rule or route matters, silently, and counts XfrmInPolBlock or
 * XfrmOutPolBlock (docs/kernel.md).
 */
import { evidenceOf, findingKey, type Finding } from '../model/finding.js';
import type { XfrmPolicyRecord } from '../model/xfrm.js';
import { kernelSignals } from '../simulate/kernel-signals.js';
import { policyFor } from '../simulate/path-selectors.js';
import { addressOn, primaryUplink } from './routing.js';
import type { Check } from './types.js';
import { peerLabel, peersAndRemotes } from './view.js';

const ID = 'ipsec-policy-blocks-peer';

/** `ip xfrm policy delete` for a policy, by its selector and direction. */
function deleteCommand(p: XfrmPolicyRecord): string {
  const sel = p.selector;
  const proto = sel.proto !== undefined ? ` proto ${sel.proto}${sel.sport !== undefined ? ` sport ${sel.sport}` : ''}${sel.dport !== undefined ? ` dport ${sel.dport}` : ''}` : '';
  return `ip${p.family === 6 ? ' -6' : ''} xfrm policy delete src ${sel.src} dst ${sel.dst}${proto}${sel.dev ? ` dev ${sel.dev}` : ''} dir ${p.dir}`;
}

export const ipsecPolicyBlocksPeer: Check = {
  id: ID,
  title: 'An IPsec policy with action block drops a peer’s traffic',
  severity: 'error',
  explain: `An IPsec (xfrm) policy decides before routing and the firewall: "ip xfrm policy ... dir out
action block" drops this host's packets whose addresses match its selector, "dir in action
block" drops a peer's packets on arrival. IKE daemons install such policies for "drop" or
"reject" connections (strongSwan's type=drop, a shunt policy), and scripts add them to fence
traffic off; they outlive the reason they were added. Nothing is logged, no ICMP is sent: the
kernel counts XfrmOutPolBlock or XfrmInPolBlock (nstat), which --watch shows moving.

It checks, for every peer and the first address of every remote network, the packet from the
host's primary address to it and back, against the global policies of that direction: the one
with the lowest priority value whose selector matches decides, as in the kernel.

Fix: delete the policy (the printed ip xfrm policy delete), and remove it from what installs it
(the IKE daemon's drop or shunt connection, a script), or it comes back.`,
  families: {
    host(ctx) {
      const s = ctx.snapshot;
      if (!s.xfrmPolicies.some((p) => p.action === 'block')) return [];
      const targets = peersAndRemotes(ctx.peers, ctx.remotes);
      const out: Finding[] = [];
      for (const t of targets) {
        const family = t.address.includes(':') ? 6 : 4;
        const local = addressOn(primaryUplink(s, family), family);
        if (!local) continue;
        for (const dir of ['in', 'out'] as const) {
          const pkt = dir === 'in' ? { src: t.address, dst: local } : { src: local, dst: t.address };
          const policy = policyFor(s.xfrmPolicies, dir, pkt);
          if (policy?.action !== 'block') continue;
          const subject = `${t.subject ?? t.address} ${dir}`;
          out.push({
            check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
            summary: `IPsec policy ${policy.selector.src} → ${policy.selector.dst} dir ${dir} action block drops ${dir === 'in' ? `packets from ${peerLabel(t)} to ${local}` : `packets from ${local} to ${peerLabel(t)}`}`,
            evidence: evidenceOf(policy.origin),
            why: `The kernel looks up the IPsec policies of direction ${dir} for every packet ${dir === 'in' ? 'it receives' : 'it sends'}; for ${pkt.src} → ${pkt.dst} the one that matches first (priority ${policy.priority}) blocks, so the packet is dropped before any route or firewall rule sees it${dir === 'out' ? ', replies included' : ''}. The kernel counts it in ${dir === 'in' ? 'XfrmInPolBlock' : 'XfrmOutPolBlock'} and tells no one.`,
            fix: [deleteCommand(policy), '# and remove it where it is installed (the IKE daemon\'s drop/shunt connection, a script), or it comes back'],
            peers: ctx.peers.some((p) => p.address === t.address) ? [t.address] : undefined,
            signals: kernelSignals({ cause: 'xfrm-block', dir }),
          });
        }
      }
      return out;
    },
  },
};
