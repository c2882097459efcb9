/**
 * Types of the netfilter evaluator: the packet and ruleset it takes, the result it gives, and the
 * mutable per-packet state that compiled matches and targets read.
 */
import type { IpsetSet } from '../model/ipset.js';
import type { IptablesRule, IptablesTable } from '../model/netfilter.js';
import type { NftChain, NftTable } from '../model/nft.js';

/**
 * How a NAT target rewrites the address it translates (the destination for DNAT/REDIRECT, the
 * source for SNAT/MASQUERADE; NETMAP either by hook): one address/port, or a range (uncertain).
 */
export interface NatRewrite {
  addr4?: number;
  addr6?: bigint;
  port?: number;
  /** The new address is one of several, or not known. */
  uncertain: boolean;
  /** NETMAP: keep the host bits, replace the prefix. */
  netmap?: { value: number; mask: number };
  /** REDIRECT: the input device's address (loopback on OUTPUT). */
  redirect?: boolean;
  /** MASQUERADE: the output device's address toward the nexthop. */
  masquerade?: boolean;
  /** The address is known but the port is one of a range (`a:p-q`). */
  portUncertain?: boolean;
}

/** A NAT target or statement: what it translates to. */
export interface NatAction {
  kind: 'nat';
  target: string;
  to?: string;
  rewrite?: NatRewrite;
}

export type Hook = 'PREROUTING' | 'INPUT' | 'FORWARD' | 'OUTPUT' | 'POSTROUTING';

/**
 * input: PREROUTING → INPUT; output: OUTPUT → POSTROUTING; forward: PREROUTING → FORWARD →
 * POSTROUTING; bridge: the same hooks for a bridged packet (bridge-nf-call-iptables=1), where
 * `-i`/`-o` name the bridge and `-m physdev` its ports.
 */
export type PacketPath = 'input' | 'output' | 'forward' | 'bridge';

export type CtState = 'NEW' | 'ESTABLISHED' | 'RELATED' | 'INVALID' | 'UNTRACKED';

/** Bridge ports of a bridged packet (`-m physdev`). */
export interface PhysdevInfo {
  in?: string;
  out?: string;
}

export interface NetfilterPacket {
  family: 4 | 6;
  src: string;
  dst: string;
  /** Name or IP protocol number. */
  proto: 'icmp' | 'icmpv6' | 'tcp' | 'udp' | number;
  sport?: number;
  dport?: number;
  icmpType?: number;
  icmpCode?: number;
  /** TCP flag bits (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32); default SYN. */
  tcpFlags?: number;
  inIf?: string;
  outIf?: string;
  /** The state conntrack gives the packet (default NEW); raw-table rules see it before conntrack runs. */
  ctstate?: CtState;
  /** skb mark on entry (default 0). */
  mark?: number;
  /** Connection mark on entry (default 0). */
  ctmark?: number;
  /** A second or further fragment (`-f`); default false. */
  fragment?: boolean;
  /** Bridge ports; `null` = not bridged; absent = unknown (physdev matches undecided). */
  physdev?: PhysdevInfo | null;
  /** The packet goes in its connection's reply direction (`--ctdir REPLY`); default false. */
  ctReply?: boolean;
  /** The connection's original tuple when the packet is not its first (a reply the walk followed). */
  ctOrig?: { src: string; dst: string; sport?: number; dport?: number };
  /** The state depends on history hostcheck cannot see: state, ctdir and connmark matches are undecided with this reason. */
  ctUnknown?: string;
  /**
   * Conntrack's NAT mapping for a packet of a translated connection that is not its first: the
   * destination it rewrites at the destination-NAT priority (PREROUTING, OUTPUT) and the source
   * at the source-NAT one (POSTROUTING, INPUT). nat chains never see such a packet.
   */
  ctNat?: { dst?: { addr: string; port?: number }; src?: { addr: string; port?: number } };
}

export interface NetfilterRuleset {
  /** iptables-save / ip6tables-save tables; a table without a family counts as IPv4. */
  tables: IptablesTable[];
  ipsets?: IpsetSet[];
  nftTables?: NftTable[];
}

/** A local address for `-m addrtype`: "10.0.0.5/24", optionally with its device. */
export type LocalAddress = string | { cidr: string; dev?: string };

export interface EvaluateOptions {
  path: PacketPath;
  /**
   * The host's addresses (with prefix lengths) for `-m addrtype`: LOCAL, BROADCAST (the
   * prefix's last address for prefixes shorter than /31, and 255.255.255.255), MULTICAST,
   * else UNICAST; 127.0.0.1/8 on lo is added. Without it (and without `addressType`)
   * addrtype matches are undecided.
   */
  localAddresses?: LocalAddress[];
  /** Overrides the address type lookup: the RTN type name for `addr` (seen on `dev` when limited). */
  addressType?: (addr: string, family: 4 | 6, dev?: string) => string | undefined;
  /** Skip native nft chains on the packet's hooks instead of evaluating them. */
  ignoreNativeNft?: boolean;
  /**
   * `-m limit`: 'match' (default) treats it as matching, as the kernel does for a first packet
   * under any limit; 'undecided' asks, as for a flow whose later packets may be over the rate.
   */
  rateLimits?: 'match' | 'undecided';
  /** Most trace entries kept (default 1000); `traceTruncated` says when more were dropped. */
  traceLimit?: number;
  /**
   * The address MASQUERADE gives a packet leaving by `dev` toward `nexthop` (the route's gateway
   * or the destination); without it the new source is not known.
   */
  masqueradeSource?: (dev: string, nexthop: string, family: 4 | 6) => string | undefined;
  /** The gateway of the packet's route (MASQUERADE picks its address by it). */
  nexthop?: string;
  /** The address REDIRECT sends a packet arriving on `dev` to (its first address); OUTPUT uses loopback. */
  redirectAddress?: (dev: string, family: 4 | 6) => string | undefined;
  /** The evaluator for native nft base chains; default nft-eval.ts's without routes (`fib` undecided). */
  nftEvaluator?: ChainEvaluator;
}

/** What one ruleset decided on a hook. */
export interface ChainOutcome {
  verdict: Verdict;
  chain: string;
  rule?: IptablesRule;
  policy?: boolean;
  reason?: string;
  rejectWith?: string;
  /** Undecided because a match of `rule` could not be told (not its target): the fork can try both answers. */
  undecidedMatch?: boolean;
}

/**
 * An evaluator for a native nft base chain, the hook model's plug-in point (nft-eval.ts is the
 * one hostcheck has).
 */
export interface ChainEvaluator {
  run(table: NftTable, chain: NftChain, state: PacketState, hook: Hook, ctx?: ChainContext): ChainOutcome;
}

/** What the run gives a chain evaluator: its trace, the fork's assumptions, NAT and change records. */
export interface ChainContext {
  /** The assumption the fork made about an undecidable match of `rule` (true: it matches). */
  assumed(rule: IptablesRule): boolean | undefined;
  /** Keeps a trace entry (`important`: a match or a policy). */
  record(entry: TraceEntry, important: boolean): void;
  /** Applies and records a NAT statement; a reason when it cannot be followed. */
  nat(action: NatAction, rule: IptablesRule): string | undefined;
  /** A rule changed the mark or the connection mark. */
  changed(rule: IptablesRule, what: string): void;
}

export type Verdict = 'accept' | 'drop' | 'reject' | 'undecided';

export interface TraceEntry {
  hook: Hook;
  table: string;
  chain: string;
  /** The rule's 1-based position in its chain; absent for a policy entry. */
  rule?: number;
  /** Set when the built-in chain's policy applied. */
  policy?: string;
  matched: boolean | 'undecided';
}

/** What one table's base chain decided for the packet on one hook. */
export interface Decision {
  hook: Hook;
  table: string;
  chain: string;
  verdict: Verdict;
  rule?: IptablesRule;
  policy?: boolean;
  /** Set for a native nft chain. */
  nft?: boolean;
  /** Which iptables backend's table decided, when known. */
  backend?: 'legacy' | 'nf_tables';
}

export interface NatRecord {
  hook: Hook;
  table: string;
  chain: string;
  rule: IptablesRule;
  target: string;
  /** --to-destination / --to-source / --to-ports as written. */
  to?: string;
}

export interface NetfilterResult {
  verdict: Verdict;
  /** `backend: 'legacy'` when an iptables-legacy (x_tables) table decided: a table iptables-nft does not show. */
  decidedBy?: { hook: Hook; table: string; chain: string; rule?: IptablesRule; policy?: boolean; nft?: boolean; backend?: 'legacy' };
  /** Every base chain's decision in the order crossed. */
  decisions: Decision[];
  trace: TraceEntry[];
  traceTruncated?: boolean;
  nat?: NatRecord[];
  /** The packet mark at the end. */
  mark: number;
  rejectWith?: string;
  /** Why the verdict is undecided. */
  reason?: string;
  /**
   * For a verdict left undecided by a match (not by a target or a native nft chain): what
   * happens if the rule matches and if it does not. A match whose answer would not change the
   * verdict leaves it decided instead (and says so in `notes`).
   */
  branches?: { ifMatches: NetfilterBranch; ifNot: NetfilterBranch };
  /** Things assumed on the way (limit treated as matching, DNAT changing the route ...). */
  notes?: string[];
  /** Addresses and ports after NAT. */
  final: { src: string; dst: string; sport?: number; dport?: number };
  /** The connection mark at the end. */
  ctmark: number;
  /** The source after NAT is one of several (SNAT to a range) or not known (MASQUERADE without a route). */
  srcUncertain?: boolean;
  /** The destination after NAT is one of several (DNAT to a range) or not known. */
  dstUncertain?: boolean;
}

/** The outcome of one assumption about an undecidable match. */
export type NetfilterBranch = Pick<NetfilterResult, 'verdict' | 'decidedBy' | 'rejectWith' | 'reason'>;

/** 0 no, 1 yes, 2 cannot tell. */
export type Tri = 0 | 1 | 2;
export const NO: Tri = 0;
export const YES: Tri = 1;
export const UNKNOWN: Tri = 2;

/** A compiled match: reads the packet state, sets `why` before answering UNKNOWN. */
export type MatchFn = (p: PacketState) => Tri;

/** A compiled ipset: whether the packet's addresses/ports (by flags) are in it. */
export type SetTest = (p: PacketState, flags: boolean[]) => Tri;

/** Mutable per-packet state while walking hooks, tables and chains. */
export interface PacketState {
  family: 4 | 6;
  /** IPv4 addresses as unsigned numbers (family 4). */
  src4: number;
  dst4: number;
  /** IPv6 addresses (family 6). */
  src6: bigint;
  dst6: bigint;
  proto: number;
  /** -1 when not known. */
  sport: number;
  dport: number;
  icmpType: number;
  icmpCode: number;
  tcpFlags: number;
  fragment: boolean;
  /** Device names as the current hook sees them: '' where the hook has none, undefined when unknown. */
  inDev: string | undefined;
  outDev: string | undefined;
  /** The CT_STATES bit the conntrack match sees now. */
  ctBit: number;
  /** SNAT/DNAT state bits after a translation. */
  natBits: number;
  /** The conntrack state given for the packet (after raw-table notrack). */
  ctGiven: number;
  notrack: boolean;
  mark: number;
  ctmark: number;
  physdev: PhysdevInfo | null | undefined;
  hook: Hook;
  table: string;
  /** A translation to a range happened: destination matches cannot tell. */
  dstUncertain: boolean;
  /** A source translation to a range (or MASQUERADE without a known address) happened. */
  srcUncertain: boolean;
  /** The packet goes in the connection's reply direction. */
  ctReply: boolean;
  /** The conntrack entry's original tuple (orig* fields) is known: a first packet, or a reply the walk followed. */
  ctOrigKnown: boolean;
  /** Set when the connection's state depends on history hostcheck cannot see: state matches answer undecided with this reason. */
  ctUnknown: string | undefined;
  /** The tuple conntrack recorded (before NAT). */
  origSrc4: number;
  origDst4: number;
  origSrc6: bigint;
  origDst6: bigint;
  origSport: number;
  origDport: number;
  why: string;
  notes: Set<string>;
  /** EvaluateOptions.rateLimits. */
  rateLimits: 'match' | 'undecided';
  sets: Map<string, SetTest>;
  /** RTN type of the current source (dst false) or destination address, seen on `dev` when given. */
  addressType: (p: PacketState, dst: boolean, dev: string | undefined) => number | undefined;
}

export type { IptablesRule, IptablesTable, IpsetSet, NftTable };
