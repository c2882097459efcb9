/** The packet walk's question (a packet and where it starts) and answer (the stages it crossed). */
import type { Origin } from '../model/records.js';
import type { SysctlRecord } from '../model/sysctl.js';
import type { ConnectionEntry, ConntrackContext } from './conntrack.js';
import type { Decision, Hook, NatRecord, NetfilterResult, PacketChange, PacketView, TraceEntry, Verdict } from './netfilter.js';
import type { RouteLookupResult, RouteQuery } from './route-lookup.js';

/** A packet at the point it enters the host (arriving on `iif`, bridged, or sent by a local socket). */
export interface WalkPacket {
  /** Source address; for a locally generated packet without one, the route picks it. */
  src?: string;
  dst: string;
  proto: 'tcp' | 'udp' | 'icmp' | 'icmpv6' | number;
  sport?: number;
  dport?: number;
  icmpType?: number;
  icmpCode?: number;
  /** TCP flag bits; default SYN. */
  tcpFlags?: number;
  /** The interface it arrives on; absent for a locally generated packet. */
  iif?: string;
  /** A bridged packet: the bridge and its ports (`outPort` where the bridge sends it). */
  bridged?: { bridge: string; inPort: string; outPort?: string };
  /** The socket's mark (SO_MARK) for a local packet; the skb mark an arriving packet already has. */
  mark?: number;
  /** The socket's bound device (SO_BINDTODEVICE) for a local packet. */
  oif?: string;
  uid?: number;
  tos?: number;
  /** TTL as it arrives (default 64). */
  ttl?: number;
  /** What conntrack knows; default: the state of a packet with no entry (conntrack.ts). */
  conntrack?: ConntrackContext;
}

export type WalkPath = 'output' | 'input' | 'forward' | 'bridge';

export type WalkOutcome =
  /** Delivered to a local socket. */
  | 'delivered'
  /** Sent (locally generated) or forwarded out of `outDev`, or bridged to `outPort`. */
  | 'sent' | 'forwarded' | 'bridged'
  /** Dropped silently (firewall, blackhole, rp_filter, forwarding off, a failed reroute). */
  | 'dropped'
  /** Refused with an ICMP error or a TCP reset (REJECT, unreachable and prohibit routes, no route). */
  | 'rejected'
  /** A locally generated packet the socket's route lookup refuses (the application gets an error). */
  | 'unroutable'
  | 'undecided';

/** One stage the packet crossed; `decides` marks those that chose its fate or changed it. */
export type WalkStage = { decides: boolean } & (
  | { kind: 'conntrack'; state: string; why: string }
  | { kind: 'hook'; hook: Hook; verdict: Verdict; decisions: Decision[]; changes: PacketChange[]; before: PacketView; after: PacketView; nat: NatRecord[]; decidedBy?: NetfilterResult['decidedBy']; reason?: string; rejectWith?: string }
  | { kind: 'route'; why: 'socket' | 'input' | 'reroute'; query: RouteQuery; result: RouteLookupResult }
  | { kind: 'rp-filter'; dev: string; mode: number; pass: boolean; reverse: RouteLookupResult; evidence: SysctlRecord[] }
  | { kind: 'martian'; what: string }
  | { kind: 'forwarding'; dev: string; on: boolean; evidence: SysctlRecord[] }
  | { kind: 'ttl'; ttl: number }
  | { kind: 'bridge-nf'; on: boolean; evidence: SysctlRecord[] }
  /** Something hostcheck cannot evaluate could change the packet here (tc, XDP, IPVS): the lines that show it. */
  | { kind: 'unseen'; where: string; what: string[]; origins: Origin[] }
);

export interface Walk {
  path: WalkPath;
  outcome: WalkOutcome;
  stages: WalkStage[];
  /** The stage that ended the packet (for dropped, rejected, unroutable, undecided). */
  decidedBy?: WalkStage;
  /**
   * When tc, XDP or IPVS stand on the packet's way, the walk is undecided; this is what the
   * rulesets and routes alone would do.
   */
  outcomeWithoutUnseen?: WalkOutcome;
  /** One line: why it ended there, or what could not be decided. */
  reason?: string;
  /** The packet as it left the walk: addresses after NAT, marks. */
  final: PacketView;
  /** sent/forwarded: the device and gateway it leaves by. */
  outDev?: string;
  via?: string;
  /** Things that may make the answer differ (marks not known, a native nft chain ignored ...). */
  notes: string[];
  /** The connection the packet belongs to, as conntrack holds it after the walk. */
  connection?: ConnectionEntry;
  /** Every rule tried and policy applied, in order (the netfilter evaluator's trace). */
  trace: TraceEntry[];
  /** The packet the walk started with (source filled in for local packets). */
  packet: WalkPacket & { src: string; family: 4 | 6 };
}
