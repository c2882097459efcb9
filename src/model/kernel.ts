/**
 * What a live kernel says beside hostcheck's simulation (docs/kernel.md): the route decisions a
 * finding rests on, asked again with `ip route get`; the counters and drop reasons its cause
 * moves; and the verdict joined to each finding. Types only: collection lives in src/collect,
 * the join in src/checks.
 */
import type { Origin } from './records.js';

/** One `ip route get` question: DST [from SRC] [iif DEV] [mark M]. */
export interface RouteQuery {
  dst: string;
  src?: string;
  /** Asks as for a packet arriving on this device (input path: rp_filter, forwarding). */
  iif?: string;
  mark?: number;
}

/**
 * An answer to `ip route get`, the simulator's or the kernel's: a route (its type and the
 * nexthops it may use; several for multipath, any of which the kernel may pick) or the error
 * `ip` prints after "RTNETLINK answers:".
 */
export type RouteAnswer =
  | { kind: 'route'; type: string; nexthops: { dev?: string; via?: string }[] }
  | { kind: 'error'; error: string };

/** A route decision a finding rests on: the question and what the simulator answered. */
export interface RouteQuestion {
  query: RouteQuery;
  expect: RouteAnswer;
}

/**
 * A kernel signal tied to a finding's cause: a counter that moves when the cause bites (nstat
 * names: TcpExtIPReversePathFilter, IpOutNoRoutes, XfrmOutPolBlock), an interface's drop counter,
 * the counter of the netfilter rule or policy the finding quotes, or a drop reason of
 * skb:kfree_skb (IP_RPFILTER) with the kernel functions that drop for it.
 */
export type KernelSignal =
  | { kind: 'counter'; name: string }
  | { kind: 'device'; device: string; counter: 'rx_dropped' | 'tx_dropped' }
  | { kind: 'rule'; rule: NetfilterRuleRef }
  | { kind: 'reason'; reason: string; locations?: string[] };

/** A netfilter rule or chain policy, as a counter can be found again in a later dump. */
export interface NetfilterRuleRef {
  /** iptables, ip6tables or nft (a native nftables rule with a counter statement). */
  tool: 'iptables' | 'ip6tables' | 'nft';
  table: string;
  chain: string;
  /** The rule's text without its counters (`-A INPUT -s 10.0.0.1/32 -j DROP`); absent for the chain's policy. */
  rule?: string;
  /** nft: the rule's handle. */
  handle?: number;
}

export type KernelStatus = 'confirmed' | 'not-seen' | 'contradicted' | 'unavailable';

/** What the live kernel said about one finding (every finding in a report has one). */
export interface FindingKernel {
  status: KernelStatus;
  /** One line each: `ip route get ...: Invalid argument`, `TcpExtIPReversePathFilter +37 in 5 s`. */
  evidence: string[];
}

/** The kernel's answer to one question of the batch, as `ip` printed it. */
export interface KernelRouteAnswer {
  query: RouteQuery;
  /** Undefined when ip printed nothing this answer could be read from. */
  answer?: RouteAnswer;
  /** The line ip printed (the route, or the error). */
  text: string;
}

/** How asking the kernel went, as a whole. */
export interface RouteAsk {
  status: 'asked' | 'failed';
  answers: KernelRouteAnswer[];
  /** Why it failed, or what it could not read. */
  message?: string;
}

/** One counter's change over a window. */
export interface CounterDelta {
  /** nstat name (IpOutNoRoutes), `DEV rx_dropped`, `nf_conntrack drop`, or a rule counter's label. */
  name: string;
  delta: number;
  /** For device counters. */
  device?: string;
  /** For netfilter rule and policy counters. */
  rule?: NetfilterRuleRef;
}

/** Drops of one reason at one kernel function over a window (skb:kfree_skb). */
export interface DropCount {
  reason: string;
  location: string;
  count: number;
}

/** Drop reasons read during a window, or why not. */
export interface DropReasons {
  status: 'read' | 'unavailable';
  /** What is missing (tracefs not mounted, no skb:kfree_skb, no reason field, no permission). */
  message?: string;
  drops: DropCount[];
  /** Set when the cap on events per second was reached: the event was off for part of the window. */
  sampled?: { capPerSecond: number; secondsCapped: number; eventsRead: number };
  /** tracefs has no network namespaces: drops of every namespace on the machine are counted. */
  systemWide: true;
  /**
   * Network namespaces on the machine besides this one (processes', and /run/netns). With any,
   * a drop reason cannot be attributed to this host: it is evidence beside the counters, never a
   * confirmation alone.
   */
  otherNamespaces?: number;
}

/** Counters (and optionally drop reasons) read at the start and end of a window. */
export interface KernelWindow {
  seconds: number;
  /** Counters that moved. */
  counters: CounterDelta[];
  /** Sources that could not be read, in words ("/proc/net/snmp6: absent (IPv6 disabled)"). */
  missing: string[];
  drops?: DropReasons;
}

/** Everything the live kernel told hostcheck; absent for a bundle. */
export interface KernelEvidence {
  routes?: RouteAsk;
  window?: KernelWindow;
}

/** `ip route get` words for a query: `10.0.0.1 from 10.0.0.2 iif eth0 mark 0x7`. */
export function routeQueryText(q: RouteQuery): string {
  return `${q.dst}${q.src ? ` from ${q.src}` : ''}${q.iif ? ` iif ${q.iif}` : ''}${q.mark !== undefined ? ` mark 0x${q.mark.toString(16)}` : ''}`;
}

/** A netfilter counter's name: `iptables -t filter -A INPUT -s 10.0.0.1/32 -j DROP`, `iptables -t filter INPUT policy`. */
export function netfilterRuleLabel(r: NetfilterRuleRef): string {
  if (r.rule === undefined) return `${r.tool} -t ${r.table} ${r.chain} policy`;
  return r.tool === 'nft' ? `nft ${r.table} ${r.chain} handle ${r.handle ?? '?'}: ${r.rule}` : `${r.tool} -t ${r.table} ${r.rule}`;
}

/** An answer in a few words: `unicast dev docker0`, `local dev lo`, `Invalid argument`. */
export function routeAnswerText(a: RouteAnswer): string {
  if (a.kind === 'error') return a.error;
  const hops = a.nexthops.map((n) => `${n.via ? `via ${n.via} ` : ''}${n.dev ? `dev ${n.dev}` : ''}`.trim()).filter((t) => t.length > 0);
  return [a.type, hops.join(' or ')].filter((t) => t.length > 0).join(' ');
}

/**
 * Counters that count packets the kernel dropped or could not route (nstat names). Everything
 * else (octets, packets in and out, ICMP types) moves with any traffic and says nothing alone.
 */
const DROP_COUNTERS = new Set([
  'TcpExtIPReversePathFilter', 'TcpExtListenDrops', 'TcpExtListenOverflows', 'TcpExtPFMemallocDrop', 'TcpExtTCPMinTTLDrop',
  'IpInHdrErrors', 'IpInAddrErrors', 'IpInUnknownProtos', 'IpInDiscards', 'IpOutDiscards', 'IpOutNoRoutes',
  'IpReasmFails', 'IpFragFails', 'IpExtInNoRoutes', 'IpExtInTruncatedPkts', 'IpExtInCsumErrors',
  'Ip6InHdrErrors', 'Ip6InTooBigErrors', 'Ip6InNoRoutes', 'Ip6InAddrErrors', 'Ip6InUnknownProtos', 'Ip6InTruncatedPkts',
  'Ip6InDiscards', 'Ip6OutDiscards', 'Ip6OutNoRoutes', 'Ip6ReasmFails', 'Ip6FragFails',
  'UdpNoPorts', 'UdpInErrors', 'UdpRcvbufErrors', 'UdpSndbufErrors', 'UdpInCsumErrors',
  'Udp6NoPorts', 'Udp6InErrors', 'Udp6RcvbufErrors', 'Udp6SndbufErrors',
  'nf_conntrack drop', 'nf_conntrack early_drop', 'nf_conntrack insert_failed', 'nf_conntrack invalid', 'nf_conntrack icmp_error',
]);

/** True for a counter that counts drops: the list above, /proc/net/xfrm_stat (all error counters), device drop counters. */
export function isDropCounter(name: string): boolean {
  if (DROP_COUNTERS.has(name)) return true;
  if (name.startsWith('Xfrm')) return true;
  return name.endsWith(' rx_dropped') || name.endsWith(' tx_dropped');
}

/** One answer line of `ip -o route get` (parsers/ip-route-get.ts). */
export interface RouteGetRecord {
  answer: RouteAnswer;
  /** The destination the line names. */
  dst: string;
  origin: Origin;
}

/** One kernel counter as read from /proc/net (parsers/proc-net-counters.ts). */
export interface CounterRecord {
  /** nstat name (TcpExtIPReversePathFilter, Ip6InNoRoutes, XfrmOutPolBlock), `DEV rx_dropped`, `nf_conntrack drop`. */
  name: string;
  value: number;
  /** For /proc/net/dev counters. */
  device?: string;
  origin: Origin;
}

/** One skb:kfree_skb event as the trace buffer prints it (parsers/kfree-skb.ts). */
export interface DropEventRecord {
  reason: string;
  /** The kernel function that dropped it (`ip_rcv_finish_core`; offset removed). */
  location: string;
  /** Ethertype (2048 IPv4, 34525 IPv6, 2054 ARP). */
  protocol?: number;
  origin: Origin;
}

/** One row of `hostcheck drops`: a drop reason at a location, or a drop counter, and what explains it. */
export interface DropRow {
  kind: 'reason' | 'counter';
  /** `IP_RPFILTER at ip_rcv_finish_core`, `TcpExtIPReversePathFilter`, a rule's label. */
  what: string;
  reason?: string;
  location?: string;
  count: number;
  /** Keys of the findings whose cause moves this; empty: unexplained. */
  explainedBy: string[];
}
