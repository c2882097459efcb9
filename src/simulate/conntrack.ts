/**
 * Connection tracking as the packet walk needs it: the state conntrack gives a packet, and the
 * connection a walked packet leaves behind (its tuples, NAT mapping and mark), from which the
 * reply and ICMP errors about it are made. The states of packets without an entry are the ones
 * this kernel was seen to give (test/kernel/netfilter-diff.test.ts sends each kind and counts):
 * a TCP SYN, a bare ACK and PSH+ACK start a connection (NEW, nf_conntrack_tcp_loose=1), other
 * TCP flag sets are INVALID; ICMP echo and timestamp requests are NEW, ICMP replies and errors
 * about no known connection INVALID; neighbour discovery and MLD UNTRACKED; UDP and other
 * protocols NEW.
 */
import type { CtState } from './netfilter-types.js';

/** A connection's addresses and ports in one direction. */
export interface Tuple {
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
}

/** What the walk leaves in the conntrack table for a connection it followed. */
export interface ConnectionEntry {
  /** The first packet's tuple as it arrived (or was sent). */
  orig: Tuple;
  /** The tuple a reply carries on the wire (the translated first packet, turned around). */
  reply: Tuple;
  /** The connection mark at the end of the first packet's walk. */
  ctmark: number;
  /** The source was translated (SNAT, MASQUERADE) / the destination (DNAT, REDIRECT). */
  snat: boolean;
  dnat: boolean;
  /** The reply tuple is not fully known (MASQUERADE without an address, a NAT range). */
  uncertain?: string;
}

/** How the walk is told what conntrack knows about a packet. */
export interface ConntrackContext {
  state: CtState;
  /** The packet travels in the reply direction of its connection. */
  reply?: boolean;
  /** The connection this packet belongs to (a reply or an error about a walked packet). */
  entry?: ConnectionEntry;
  /** Set when the state depends on history hostcheck cannot see; state matches are then undecided. */
  unknown?: string;
}

const ICMP_NEW_V4 = new Set([8, 13, 15, 17]);
const ICMP_NEW_V6 = new Set([128, 139]);
/** Neighbour discovery and MLD: conntrack leaves them untracked (nf_conntrack_proto_icmpv6's noct_valid_new; measured: an NS matches --ctstate UNTRACKED). */
const ICMP_UNTRACKED_V6 = new Set([130, 131, 132, 133, 134, 135, 136, 143]);

/** The state of a packet that belongs to no connection conntrack knows. */
export function stateWithoutEntry(p: { family: 4 | 6; proto: string | number; tcpFlags?: number; icmpType?: number }): CtState {
  const proto = typeof p.proto === 'number' ? p.proto : p.proto === 'tcp' ? 6 : p.proto === 'udp' ? 17 : p.proto === 'icmp' ? 1 : p.proto === 'icmpv6' ? 58 : -1;
  if (proto === 6) {
    const flags = (p.tcpFlags ?? 0x02) & 0x3f;
    return flags === 0x02 || flags === 0x10 || flags === 0x18 ? 'NEW' : 'INVALID';
  }
  if (proto === 1) return p.icmpType !== undefined && ICMP_NEW_V4.has(p.icmpType) ? 'NEW' : 'INVALID';
  if (proto === 58) {
    if (p.icmpType !== undefined && ICMP_UNTRACKED_V6.has(p.icmpType)) return 'UNTRACKED';
    return p.icmpType !== undefined && ICMP_NEW_V6.has(p.icmpType) ? 'NEW' : 'INVALID';
  }
  return 'NEW';
}

/** The reply's ICMP type for a request type, or undefined when the type gets no reply. */
export function icmpReplyType(family: 4 | 6, type: number | undefined): number | undefined {
  const pairs: Record<number, number> = family === 4 ? { 8: 0, 13: 14, 15: 16, 17: 18 } : { 128: 129, 139: 140 };
  return type === undefined ? undefined : pairs[type];
}
