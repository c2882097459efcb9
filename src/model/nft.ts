/** `nft -j list ruleset` tables, chains, rules, sets and objects (parsers/nft.ts makes them). */
import type { Origin } from './records.js';

export interface NftRule {
  handle?: number;
  /** The rule's expressions as nft printed them. */
  expr: unknown[];
  /** A short nft-like rendering of `expr`, for people and evidence lines. */
  text: string;
  comment?: string;
  /** Sum of the rule's `counter` statements, when it has one. */
  counters?: { packets: number; bytes: number };
  origin: Origin;
}

export interface NftChain {
  name: string;
  handle?: number;
  /** Base chains only: filter, nat, route. */
  type?: string;
  hook?: string;
  /** Base chains only: the number, or the name nft printed. */
  priority?: number | string;
  /** The standard name of a numeric priority (raw, mangle, dstnat, filter, security, srcnat). */
  priorityName?: string;
  policy?: string;
  device?: string;
  rules: NftRule[];
  origin: Origin;
}

export interface NftSet {
  kind: 'set' | 'map';
  name: string;
  handle?: number;
  /** Element type ("ipv4_addr", or a concatenation joined with " . "). */
  type?: string;
  /** For maps: the type of the values. */
  map?: string;
  flags: string[];
  /** Elements as JSON (strings, numbers, {prefix}, {range}, [key, value] for maps ...). */
  elements: unknown[];
  origin: Origin;
}

/** Other named objects of a table (counter, quota, ct helper, limit, flowtable ...), kept as JSON. */
export interface NftObject {
  kind: string;
  name?: string;
  json: unknown;
  origin: Origin;
}

export interface NftTable {
  family: string;
  name: string;
  handle?: number;
  managedBy: 'iptables-nft' | 'native';
  /**
   * An iptables-nft table no iptables dump of the snapshot holds (a sosreport lists only the filter
   * table on an iptables-nft host): its rules are nft's text listing of them, kept and evaluated by
   * the nft evaluator like a native table's (src/collect/snapshot.ts sets it).
   */
  rulesFromNft?: true;
  chains: NftChain[];
  sets: NftSet[];
  objects: NftObject[];
  origin: Origin;
}

/** A rule of an iptables-nft chain that looks a set or map up (parsers/nft.ts's `setLookupOf`). */
export interface NftLookupRule {
  /** `@name`, "an anonymous set", "a map" or "a verdict map". */
  set: string;
  /** The rule as nft renders it (NftRule.text). */
  text: string;
  origin: Origin;
}

/**
 * What is kept of an iptables-nft chain's rules when their records are not (iptables-save has
 * them): how many nft lists, and by position (0-based) those that look a set up.
 */
export interface NftRuleSummary {
  count: number;
  lookups: Map<number, NftLookupRule>;
}

/** Whether the nft evaluator runs the table's base chains: native tables, and iptables-nft's that only nft listed. */
export function evaluatedAsNft(t: NftTable): boolean {
  return t.managedBy === 'native' || t.rulesFromNft === true;
}
