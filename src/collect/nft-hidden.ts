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

/**
 * Mark the rules of `tables` (one family's iptables-save tables) that nft shows with a set
 * lookup; returns a notice per marked rule. In a chain whose rule count differs between the two
 * (they cannot be paired) every rule is marked.
 */
export function markNftHiddenMatches(tables: IptablesTable[], nft: NftTable[], family: 4 | 6): IptablesNotice[] {
  const nftFamily = family === 4 ? 'ip' : 'ip6';
  const notices: IptablesNotice[] = [];
  for (const t of tables) {
    const nt = nft.find((x) => x.family === nftFamily && x.name === t.name && x.managedBy === 'iptables-nft');
    if (!nt) continue;
    const byChain = new Map<string, IptablesTable['rules']>();
    for (const r of t.rules) {
      let list = byChain.get(r.chain);
      if (!list) byChain.set(r.chain, (list = []));
      list.push(r);
    }
    for (const chain of nt.chains) {
      const rules = byChain.get(chain.name) ?? [];
      const hidden = chain.rules.map((r, k) => hiddenReason(r, t.name, chain.name, k + 1));
      if (!hidden.some(Boolean)) continue;
      if (rules.length !== chain.rules.length) {
        // Which printed rule lacks the lookup cannot be told: none of the chain's rules is trusted.
        const reason = `nft shows a set lookup in ${t.name}/${chain.name} that iptables-save does not print, and the two list ${chain.rules.length} and ${rules.length} rules, so the rule that lacks it cannot be told`;
        const origin = chain.rules[hidden.findIndex(Boolean)].origin;
        for (const r of rules) r.nftHidden = { reason, origin };
        notices.push({ kind: 'nft-hidden-match', lineNumber: t.origin.lineNumber, text: reason });
        continue;
      }
      for (let k = 0; k < rules.length; k++) {
        const reason = hidden[k];
        if (!reason) continue;
        rules[k].nftHidden = { reason, origin: chain.rules[k].origin };
        notices.push({ kind: 'nft-hidden-match', lineNumber: rules[k].origin.lineNumber, text: rules[k].origin.text });
      }
    }
  }
  return notices;
}
