/**
 * One host's simulator state, built once per snapshot: its FIB (tables and rules), the netfilter
 * rulesets per family, its local addresses and its settings by key. The route lookups of checks,
 * the path tracer and the packet walk all read this one copy.
 */
import { memo, memoKey } from '../model/memo.js';
import type { HostSnapshot } from '../model/snapshot.js';
import type { SysctlRecord } from '../model/sysctl.js';
import type { NetfilterRuleset } from './netfilter-types.js';
import type { Fib } from './route-lookup.js';
import { fibOf } from './snapshot-fib.js';
import { NftEvaluator } from './nft-eval.js';

export interface HostContext {
  snapshot: HostSnapshot;
  fib: Fib;
  /** The iptables/ip6tables tables, ipsets and nft tables of a family. */
  ruleset: Record<4 | 6, NetfilterRuleset>;
  /** Every address of the host with its device, per family (for addrtype, REDIRECT, martians). */
  localAddresses: Record<4 | 6, { cidr: string; dev: string }[]>;
  /** The last record of each sysctl key. */
  sysctls: Map<string, SysctlRecord>;
  /** The nft evaluator of this host (its `fib` expressions read this host's routes). */
  nft: NftEvaluator;
}

const CONTEXT = memoKey<HostSnapshot, HostContext>('host-context');

/** The host's simulator state (once per snapshot object; its FIB is the one every layer shares). */
export function hostContext(s: HostSnapshot): HostContext {
  return memo(s, CONTEXT, build);
}

function build(s: HostSnapshot): HostContext {
  const fib = fibOf(s);
  const locals = (family: 4 | 6): { cidr: string; dev: string }[] =>
    s.interfaces.flatMap((i) => i.addresses.filter((a) => a.family === family).map((a) => ({ cidr: a.cidr, dev: i.name })));
  const sysctls = new Map<string, SysctlRecord>();
  for (const r of s.sysctls) sysctls.set(r.key, r);
  return {
    snapshot: s,
    fib,
    ruleset: {
      4: { tables: s.netfilter.v4, ipsets: s.ipsets, nftTables: s.nft },
      6: { tables: s.netfilter.v6, ipsets: s.ipsets, nftTables: s.nft },
    },
    localAddresses: { 4: locals(4), 6: locals(6) },
    sysctls,
    nft: new NftEvaluator({ fib }),
  };
}

/** A sysctl's value as a number, or undefined when it was not collected or is not a number. */
export function sysctlNumber(ctx: HostContext, key: string): number | undefined {
  const r = ctx.sysctls.get(key);
  if (r === undefined) return undefined;
  const v = Number(r.value.trim());
  return Number.isInteger(v) ? v : undefined;
}
