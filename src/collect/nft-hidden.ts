/**
 * iptables-nft prints what it can of each rule of its tables; a match it has no iptables form
 * for, a native set lookup (`ip saddr @blocked drop`, added with `nft`), it leaves out without
 * saying so: iptables-save shows `-A INPUT -j DROP`. When both `iptables-save` and `nft -j` were
 * collected, each rule of an iptables-nft table's chain is paired with nft's rule at the same
 * position; one whose nft form looks a set, map or verdict map up is marked (`nftHidden`), and
 * the netfilter evaluator then answers "undecided" for it instead of trusting the printed rule.
 */
import type { IptablesNotice, IptablesTable } from '../model/netfilter.js';
import type { NftRule, NftTable } from '../model/nft.js';
import type { Origin } from '../model/records.js';

/**
 * The set or map a rule's match looks up (JSON of its expressions), which iptables-save cannot
 * print: `@name` or an anonymous set on a match's right side, a map or a verdict map. An `xt`
 * expression is iptables' own. A string that merely starts with "@" elsewhere (a log prefix) is
 * not a lookup, nor is a set statement (`add @s { ... }`), which does not decide the verdict.
 */
function looksUpSet(expr: unknown, depth = 0): string | undefined {
  if (depth > 12 || expr === null || typeof expr !== 'object') return undefined;
  if (Array.isArray(expr)) {
    for (const e of expr) {
      const found = looksUpSet(e, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  const o = expr as Record<string, unknown>;
  if ('xt' in o) return undefined;
  if ('vmap' in o) return 'a verdict map';
  if ('map' in o) return 'a map';
  const match = o.match as { right?: unknown } | undefined;
  if (match && typeof match === 'object') {
    const right = match.right;
    if (typeof right === 'string' && right.startsWith('@')) return right;
    if (right && typeof right === 'object' && 'set' in right) return 'an anonymous set';
  }
  for (const key in o) {
    if (key === 'set') continue;
    const found = looksUpSet(o[key], depth + 1);
    if (found) return found;
  }
  return undefined;
}

function hiddenReason(rule: NftRule, table: string, chain: string, position: number): string | undefined {
  const set = looksUpSet(rule.expr);
  if (!set) return undefined;
  return `nft shows ${table}/${chain} rule ${position} as "${rule.text}": its lookup of ${set} is missing from iptables-save (iptables-nft does not print native nft matches)`;
}

/** What nft's view of iptables-nft's chains says, by "family table" and chain: rule count and, per position, a lookup iptables-save cannot print. */
export type NftLookups = Map<string, Map<string, { count: number; hidden: ({ reason: string; origin: Origin } | undefined)[] }>>;

/**
 * The lookups of iptables-nft's tables, read from nft's records once; the snapshot keeps these
 * instead of nft's copy of every iptables rule (src/collect/snapshot.ts).
 */
export function nftLookups(nft: readonly NftTable[]): NftLookups {
  const out: NftLookups = new Map();
  for (const nt of nft) {
    if (nt.managedBy !== 'iptables-nft') continue;
    const chains = new Map<string, { count: number; hidden: ({ reason: string; origin: Origin } | undefined)[] }>();
    for (const chain of nt.chains) {
      const hidden = chain.rules.map((r, k) => {
        const reason = hiddenReason(r, nt.name, chain.name, k + 1);
        return reason === undefined ? undefined : { reason, origin: r.origin };
      });
      chains.set(chain.name, { count: chain.rules.length, hidden });
    }
    out.set(`${nt.family} ${nt.name}`, chains);
  }
  return out;
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
      const first = chain.hidden.find(Boolean);
      if (!first) continue;
      if (rules.length !== chain.count) {
        // Which printed rule lacks the lookup cannot be told: none of the chain's rules is trusted.
        const reason = `nft shows a set lookup in ${t.name}/${chainName} that iptables-save does not print, and the two list ${chain.count} and ${rules.length} rules, so the rule that lacks it cannot be told`;
        for (const r of rules) r.nftHidden = { reason, origin: first.origin };
        notices.push({ kind: 'nft-hidden-match', lineNumber: t.origin.lineNumber, text: reason });
        continue;
      }
      for (let k = 0; k < rules.length; k++) {
        const h = chain.hidden[k];
        if (!h) continue;
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
 * a kube-proxy host's copy is ~1 KB of JSON a rule).
 */
export function withoutIptablesNftRules(tables: readonly NftTable[]): NftTable[] {
  return tables.map((t) => (t.managedBy === 'iptables-nft' ? { ...t, chains: t.chains.filter((c) => c.hook !== undefined).map((c) => ({ ...c, rules: [] })) } : t));
}
