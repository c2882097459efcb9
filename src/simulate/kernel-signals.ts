/**
 * Which kernel counters and skb:kfree_skb drop reasons move when a cause bites, as measured on
 * kernel 6.18 in lab namespaces (docs/kernel.md has the table and test/lab/kernel-evidence.test.ts
 * measures it again). Causes that move nothing on the host say so with an empty list.
 */
import { netfilterRuleLabel, type KernelSignal, type NetfilterRuleRef } from '../model/kernel.js';

export type KernelCause =
  /** rp_filter drops a peer's packet on input (strict or loose). */
  | { cause: 'rp-filter' }
  /** A blackhole, prohibit or unreachable route or rule, or no route, for this host's own replies. */
  | { cause: 'reply-route-rejected' }
  /** A netfilter rule or chain policy drops or rejects on a hook. */
  | { cause: 'netfilter-drop'; hook: 'input' | 'output' | 'forward'; rule?: NetfilterRuleRef }
  /** An IPsec (xfrm) policy with action block. */
  | { cause: 'xfrm-block'; dir: 'in' | 'out' | 'fwd' }
  /** Packets routed into a device that does not deliver them (a bridge without a carrier). */
  | { cause: 'device-capture'; device: string }
  /** Forwarded packets that come back until their TTL runs out (on whichever host it reaches 1). */
  | { cause: 'routing-loop' }
  /** The conntrack table was full: new connections' packets dropped, unreplied entries evicted. */
  | { cause: 'conntrack-full' }
  /** Two packets of one new flow raced to insert one conntrack entry; the loser was dropped. */
  | { cause: 'conntrack-insert-race' }
  /** Nothing on this host drops: the packet leaves and is dropped elsewhere (a cloud's source check). */
  | { cause: 'dropped-elsewhere' }
  /** A bridge (with br_netfilter) drops a frame with DF set that is larger than the port it leaves by. */
  | { cause: 'bridge-frame-too-big' };

/** The signals of a cause (an empty list: nothing on this host moves for it). */
export function kernelSignals(c: KernelCause): KernelSignal[] {
  switch (c.cause) {
    case 'rp-filter':
      return [{ kind: 'counter', name: 'TcpExtIPReversePathFilter' }, { kind: 'reason', reason: 'IP_RPFILTER', locations: ['ip_rcv_finish_core'] }];
    case 'reply-route-rejected':
      // An ICMP echo reply is never built (nothing moves); a TCP SYN-ACK or a local sendmsg counts.
      return [{ kind: 'counter', name: 'IpOutNoRoutes' }];
    case 'netfilter-drop': {
      const out: KernelSignal[] = [];
      if (c.rule) out.push({ kind: 'rule', rule: c.rule });
      if (c.hook === 'output') out.push({ kind: 'counter', name: 'IpOutDiscards' });
      out.push({ kind: 'reason', reason: 'NETFILTER_DROP' });
      return out;
    }
    case 'xfrm-block':
      // A block on output is decided before the packet is built: no drop reason then.
      if (c.dir === 'out') return [{ kind: 'counter', name: 'XfrmOutPolBlock' }];
      // dir fwd counts as input too (XfrmInPolBlock), dropped in ip_forward.
      return [{ kind: 'counter', name: 'XfrmInPolBlock' }, { kind: 'reason', reason: 'XFRM_POLICY' }];
    case 'device-capture':
      return [{ kind: 'device', device: c.device, counter: 'tx_dropped' }, { kind: 'reason', reason: 'QDISC_DROP', locations: ['__dev_queue_xmit'] }];
    case 'routing-loop':
      // Only where the TTL reaches 1: this host or the router across the loop, by the TTL's parity.
      return [{ kind: 'counter', name: 'IpInHdrErrors' }, { kind: 'reason', reason: 'IP_INHDR', locations: ['ip_forward'] }];
    case 'conntrack-full':
      return [{ kind: 'counter', name: 'nf_conntrack drop' }, { kind: 'counter', name: 'nf_conntrack early_drop' }];
    case 'conntrack-insert-race':
      return [{ kind: 'counter', name: 'nf_conntrack insert_failed' }];
    case 'dropped-elsewhere':
      return [];
    case 'bridge-frame-too-big':
      // br_netfilter tries to fragment it, cannot (DF), and frees it.
      return [{ kind: 'counter', name: 'IpFragFails' }, { kind: 'reason', reason: 'NOT_SPECIFIED', locations: ['br_nf_dev_queue_xmit'] }];
  }
}

/** A signal in a few words, for evidence lines and `hostcheck drops`. */
export function signalLabel(s: KernelSignal): string {
  switch (s.kind) {
    case 'counter':
      return s.name;
    case 'device':
      return `${s.device} ${s.counter}`;
    case 'rule':
      return netfilterRuleLabel(s.rule);
    case 'reason':
      return `drop reason ${s.reason}${s.locations ? ` at ${s.locations.join(' or ')}` : ''}`;
  }
}

/** Same rule or policy: tool, table, chain, and the rule's text (or handle for nft). */
export function sameRule(a: NetfilterRuleRef, b: NetfilterRuleRef): boolean {
  if (a.tool !== b.tool || a.table !== b.table || a.chain !== b.chain) return false;
  if (a.tool === 'nft' && a.handle !== undefined && b.handle !== undefined) return a.handle === b.handle;
  return a.rule === b.rule;
}
