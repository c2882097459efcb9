/**
 * iptables-nft prints what it can of each rule of its tables; a match it has no iptables form
 * for, a native set lookup (`ip saddr @blocked drop`, added with `nft`), it leaves out without
 * saying so: iptables-save shows `-A INPUT -j DROP`. When both `iptables-save` and `nft -j` were
 * collected, each rule of an iptables-nft table's chain is paired with nft's rule at the same
 * position; one whose nft form looks a set, map or verdict map up is marked (`nftHidden`), and
 * the netfilter evaluator then answers "undecided" for it instead of trusting the printed rule.
 */
import type { IptablesNotice, IptablesTable } from '../model/netfilter.js';
import { setLookupOf } from '../../parsers/nft.js';
import type { NftLookupRule, NftRule, NftRuleSummary, NftTable } from '../model/nft.js';
import type { Origin } from '../model/records.js';

function hiddenReason(table: string, chain: string, position: number, rule: NftLookupRule): string {
  return `nft shows ${table}/${chain} rule ${position} as "${rule.text}": its lookup of ${rule.set} is missing from iptables-save (iptables-nft does not print native nft matches)`;
}

/** What nft's view of iptables-nft's chains says, by "family table" and chain: rule count and, by position (0-based), a lookup iptables-save cannot print. */
export type NftLookups = Map<string, Map<string, { count: number; hidden: Map<number, { reason: string; origin: Origin }> }>>;

/** An iptables-nft chain's rules as the parser summarizes them (parsers/nft.ts, summarizeIptablesNft). */
export function ruleSummaryOf(rules: readonly NftRule[]): NftRuleSummary {
  const lookups = new Map<number, NftLookupRule>();
  rules.forEach((r, k) => {
    const set = setLookupOf(r.expr);
    if (set !== undefined) lookups.set(k, { set, text: r.text, origin: r.origin });
  });
  return { count: rules.length, lookups };
}

/**
 * The lookups of iptables-nft's tables: from the parser's summaries of their rules
 * (`summaries`, src/collect/snapshot.ts: the snapshot never holds nft's copy of every iptables
 * rule), else from the tables' rule records.
 */
export function nftLookups(nft: readonly NftTable[], summaries?: ReadonlyMap<string, ReadonlyMap<string, NftRuleSummary>>): NftLookups {
  const out: NftLookups = new Map();
  for (const nt of nft) {
    if (nt.managedBy !== 'iptables-nft') continue;
    const summary = summaries?.get(`${nt.family} ${nt.name}`);
    const chains = new Map<string, { count: number; hidden: Map<number, { reason: string; origin: Origin }> }>();
    for (const chain of nt.chains) {
      const { count, lookups } = summary?.get(chain.name) ?? ruleSummaryOf(chain.rules);
      const hidden = new Map<number, { reason: string; origin: Origin }>();
      for (const [k, rule] of lookups) hidden.set(k, { reason: hiddenReason(nt.name, chain.name, k + 1, rule), origin: rule.origin });
      chains.set(chain.name, { count, hidden });
    }
    out.set(`${nt.family} ${nt.name}`, chains);
  }
  return out;
}

/**
 * The lookups of iptables-nft's tables read from `nft list ruleset` text, which prints
 * iptables-nft's own matches translated where nft can (`-m multiport --dports 53,67` as
 * `udp dport { 53, 67 }`, `-m set --match-set foo src` as `ip saddr @foo` with an nft built
 * against libxtables): only a lookup of a set or map the table itself holds, or a verdict map, is
 * taken as one iptables-save cannot print. (A native rule with an anonymous set added to an
 * iptables-nft chain is then not told: nft -j would tell it.)
 */
export function nftTextLookups(nft: readonly NftTable[]): NftLookups {
  const summaries = new Map<string, Map<string, NftRuleSummary>>();
  for (const t of nft) {
    if (t.managedBy !== 'iptables-nft') continue;
    const own = new Set(t.sets.map((x) => `@${x.name}`));
    const chains = new Map<string, NftRuleSummary>();
    for (const c of t.chains) {
      const { count, lookups } = ruleSummaryOf(c.rules);
      for (const [k, l] of lookups) if (l.set === 'an anonymous set' || (l.set.startsWith('@') && !own.has(l.set))) lookups.delete(k);
      chains.set(c.name, { count, lookups });
    }
    summaries.set(`${t.family} ${t.name}`, chains);
  }
  return nftLookups(nft, summaries);
}

/**
 * Mark the rules of `tables` (one family's iptables-save tables) that nft shows with a set
 * lookup; returns a notice per marked rule. In a chain whose rule count differs between the two
 * (they cannot be paired) every rule is marked.
 */
export function markNftHiddenMatches(tables: IptablesTable[], nft: readonly NftTable[] | NftLookups, family: 4 | 6): IptablesNotice[] {
  const lookups = nft instanceof Map ? nft : nftLookups(nft);
  const nftFamily = family === 4 ? 'ip' : 'ip6';
  const notices: IptablesNotice[] = [];
  for (const t of tables) {
    const chains = lookups.get(`${nftFamily} ${t.name}`);
    if (!chains) continue;
    const byChain = new Map<string, IptablesTable['rules']>();
    for (const r of t.rules) {
      let list = byChain.get(r.chain);
      if (!list) byChain.set(r.chain, (list = []));
      list.push(r);
    }
    for (const [chainName, chain] of chains) {
      const rules = byChain.get(chainName) ?? [];
      const first = chain.hidden.values().next().value;
      if (!first) continue;
      if (rules.length !== chain.count) {
        // Which printed rule lacks the lookup cannot be told: none of the chain's rules is trusted.
        const reason = `nft shows a set lookup in ${t.name}/${chainName} that iptables-save does not print, and the two list ${chain.count} and ${rules.length} rules, so the rule that lacks it cannot be told`;
        for (const r of rules) r.nftHidden = { reason, origin: first.origin };
        notices.push({ kind: 'nft-hidden-match', lineNumber: t.origin.lineNumber, text: reason });
        continue;
      }
      for (const [k, h] of chain.hidden) {
        rules[k].nftHidden = { reason: h.reason, origin: h.origin };
        notices.push({ kind: 'nft-hidden-match', lineNumber: rules[k].origin.lineNumber, text: rules[k].origin.text });
      }
    }
  }
  return notices;
}

/**
 * nft tables as a snapshot keeps them: of iptables-nft's tables only the base chains, without
 * rules (iptables-save has those rules and chains; nft's copy only gave the nftHidden marks, and
 * a kube-proxy host's copy is ~1 KB of JSON a rule), unless no iptables dump holds the table
 * (`rulesFromNft`: nft's listing is all there is of its rules).
 */
export function withoutIptablesNftRules(tables: readonly NftTable[]): NftTable[] {
  return tables.map((t) => (t.managedBy === 'iptables-nft' && t.rulesFromNft !== true ? { ...t, chains: t.chains.filter((c) => c.hook !== undefined).map((c) => ({ ...c, rules: [] })) } : t));
}
