/**
 * Compiles an iptables table once into chains of closures (cached per table record in a
 * WeakMap), so evaluating a packet against 240,000 rules is one pass of cheap calls.
 */
import type { IptablesMatch, IptablesRule, IptablesTable } from '../model/netfilter.js';
import { memo, memoKey } from '../model/memo.js';
import { compileAddress, compileFragment, compileInterface, compileProtocol, unknownMatch } from './netfilter-core.js';
import { compileModule } from './netfilter-matches.js';
import { compileTarget, type Action } from './netfilter-targets.js';
import { NO, UNKNOWN, YES, type MatchFn, type Tri } from './netfilter-types.js';

export interface CompiledRule {
  rule: IptablesRule;
  /** Absent when the rule has no match (it matches every packet). */
  test?: MatchFn;
  action: Action;
}

export interface CompiledChain {
  name: string;
  builtin: boolean;
  policy?: string;
  /** The chain's rules in order; compiled on first use (see `rulesOf`). */
  source: IptablesRule[];
  compiled?: CompiledRule[];
}

export interface CompiledTable {
  table: IptablesTable;
  chains: Map<string, CompiledChain>;
}

const COMPILED_TABLE = memoKey<IptablesTable, CompiledTable>('netfilter: compiled table');

/** The chains of `table` (indexed on first use; each chain's rules compile when first reached). */
export function compileTable(table: IptablesTable): CompiledTable {
  return memo(table, COMPILED_TABLE, index);
}

/** The compiled rules of `chain`: a packet of a 240,000-rule ruleset compiles only the chains it reaches. */
export function rulesOf(table: CompiledTable, chain: CompiledChain): CompiledRule[] {
  if (chain.compiled !== undefined) return chain.compiled;
  const hasChain = (name: string): boolean => {
    const c = table.chains.get(name);
    return c !== undefined && !c.builtin;
  };
  const family = table.table.family ?? 4;
  const out: CompiledRule[] = [];
  for (const r of chain.source) {
    const compiled: CompiledRule = { rule: r, action: compileTarget(r.target, hasChain) };
    const test = compileRuleTest(r, family);
    if (test !== undefined) compiled.test = test;
    out.push(compiled);
  }
  chain.compiled = out;
  return out;
}

function index(table: IptablesTable): CompiledTable {
  const chains = new Map<string, CompiledChain>();
  for (const c of table.chains) {
    if (!chains.has(c.name)) chains.set(c.name, { name: c.name, builtin: c.builtin, policy: c.policy, source: [] });
  }
  let last: CompiledChain | undefined;
  for (const r of table.rules) {
    // Rules of one chain usually come together: skip the map lookup while the chain stays the same.
    if (last === undefined || last.name !== r.chain) {
      last = chains.get(r.chain);
      if (last === undefined) {
        last = { name: r.chain, builtin: false, source: [] };
        chains.set(r.chain, last);
      }
    }
    last.source.push(r);
  }
  return { table, chains };
}

const IMPLICIT_NAMES: Record<string, string> = { '6': 'tcp', '17': 'udp', '1': 'icmp', '58': 'icmp6', 'ipv6-icmp': 'icmp6', icmpv6: 'icmp6' };

/** All of a rule's matches as one test; core matches first, modules in rule order. */
export function compileRuleTest(r: IptablesRule, family: 4 | 6): MatchFn | undefined {
  const fns: MatchFn[] = [];
  // A match only nft shows: whether the rule matches cannot be told from what iptables-save printed.
  if (r.nftHidden !== undefined) fns.push(unknownMatch(r.nftHidden.reason));
  // Read from an -nvL listing that did not print the whole rule in a form read back.
  if (r.approximate !== undefined) fns.push(unknownMatch(r.approximate));
  if (r.protocol !== undefined) fns.push(compileProtocol(r.protocol));
  if (r.source !== undefined) fns.push(compileAddress(r.source, false));
  if (r.destination !== undefined) fns.push(compileAddress(r.destination, true));
  if (r.inInterface !== undefined) fns.push(compileInterface(r.inInterface, false));
  if (r.outInterface !== undefined) fns.push(compileInterface(r.outInterface, true));
  if (r.fragment !== undefined) fns.push(compileFragment(r.fragment.negated));
  for (const m of r.matches) {
    const match: IptablesMatch = m.implicit && IMPLICIT_NAMES[m.module] !== undefined ? { ...m, module: IMPLICIT_NAMES[m.module] } : m;
    for (const f of compileModule(match, family)) fns.push(f);
  }
  return combine(fns);
}

function combine(fns: MatchFn[]): MatchFn | undefined {
  if (fns.length === 0) return undefined;
  if (fns.length === 1) return fns[0];
  if (fns.length === 2) {
    const [a, b] = fns;
    return (p) => {
      const x = a(p);
      if (x === NO) return NO;
      const why = p.why;
      const y = b(p);
      if (y === NO) return NO;
      if (x === UNKNOWN) p.why = why;
      return x === UNKNOWN || y === UNKNOWN ? UNKNOWN : YES;
    };
  }
  return (p) => {
    let result: Tri = YES;
    let why = '';
    for (let i = 0; i < fns.length; i++) {
      const r = fns[i](p);
      if (r === NO) return NO;
      if (r === UNKNOWN && result === YES) {
        result = UNKNOWN;
        why = p.why;
      }
    }
    if (result === UNKNOWN) p.why = why;
    return result;
  };
}
