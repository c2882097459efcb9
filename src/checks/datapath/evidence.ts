/** The lines that prove what a walk's stages decided: rules, routes, policy rules and settings. */
import { evidenceOf, uniqueEvidence, type Evidence } from '../../model/finding.js';
import type { IptablesRule } from '../../model/netfilter.js';
import { evaluatedAsNft } from '../../model/nft.js';
import type { HostSnapshot } from '../../model/snapshot.js';
import type { RouteLookupResult } from '../../simulate/route-lookup.js';
import type { Walk, WalkStage } from '../../simulate/walk.js';
import { nftChainText, nftDeleteCommand } from '../../simulate/nft-eval.js';

/** The rule (unless it is the default `lookup main`) and the route that decided a lookup. */
export function routeEvidence(r: RouteLookupResult): Evidence[] {
  const rule = r.rule && r.rule.origin.lineNumber > 0 && !(r.rule.priority === 32766 && r.rule.table === 'main') && !(r.rule.priority === 0 && r.rule.table === 'local') ? evidenceOf(r.rule.origin) : [];
  return uniqueEvidence([...rule, ...evidenceOf(r.route?.origin)]);
}

/** The lines behind one stage. */
export function stageEvidence(s: HostSnapshot, stage: WalkStage): Evidence[] {
  switch (stage.kind) {
    case 'route':
      return routeEvidence(stage.result);
    case 'hook': {
      const lines: Evidence[] = stage.changes.flatMap((c) => evidenceOf(c.rule.origin));
      const d = stage.decidedBy;
      if (d?.rule) lines.push(...evidenceOf(d.rule.origin), ...evidenceOf(d.rule.nftHidden?.origin));
      else if (d?.policy) lines.push(...policyEvidence(s, d.table, d.chain, stage.hook, stage.before.dst.includes(':') ? 6 : 4, d.backend));
      return uniqueEvidence(lines);
    }
    case 'rp-filter':
      return uniqueEvidence([...stage.evidence.flatMap((r) => evidenceOf(r.origin)), ...routeEvidence(stage.reverse)]);
    case 'forwarding':
    case 'bridge-nf':
      return stage.evidence.flatMap((r) => evidenceOf(r.origin));
    case 'unseen':
      return uniqueEvidence(stage.origins.flatMap((o) => evidenceOf(o)));
    default:
      return [];
  }
}

/**
 * The table header and the chain's policy line of an iptables chain (of the packet's family, when
 * given: both dumps have filter/INPUT; of iptables-legacy's table for `backend: 'legacy'`), or the
 * native nft base chain ("inet filter").
 */
export function policyEvidence(s: HostSnapshot, table: string, chain: string, hook: string, ipFamily?: 4 | 6, backend?: 'legacy'): Evidence[] {
  const nt = s.nft.find((t) => evaluatedAsNft(t) && `${t.family} ${t.name}` === table);
  const nc = nt?.chains.find((c) => c.name === chain);
  if (nt !== undefined && nc !== undefined) return [{ source: nc.origin.source ?? 'nft', lineNumber: nc.origin.lineNumber, text: nftChainText(nt, nc) }];
  const family = ipFamily !== undefined ? (ipFamily === 4 ? s.netfilter.v4 : s.netfilter.v6) : s.netfilter.v4.some((t) => t.name === table && t.chains.some((c) => c.name === chain)) ? s.netfilter.v4 : s.netfilter.v6;
  const t = family.find((x) => x.name === table && (x.backend === 'legacy') === (backend === 'legacy'));
  const c = t?.chains.find((x) => x.name === chain);
  void hook;
  return uniqueEvidence([...evidenceOf(c?.origin)]);
}

/** The rules that set the packet's mark on its way (MARK, CONNMARK --restore-mark, ...). */
export function markRules(w: Walk): IptablesRule[] {
  const out: IptablesRule[] = [];
  for (const st of w.stages) {
    if (st.kind !== 'hook') continue;
    for (const c of st.changes) if (c.what.startsWith('mark ') && !out.includes(c.rule)) out.push(c.rule);
  }
  return out;
}

/** The tool that writes a rule's table: iptables-legacy for a line of iptables-legacy-save, else iptables (ip6tables for IPv6). */
export function iptablesTool(family: 4 | 6, source?: string): string {
  return `${family === 6 ? 'ip6tables' : 'iptables'}${source?.includes('legacy') ? '-legacy' : ''}`;
}

/**
 * The iptables command that deletes a rule, from its iptables-save line (a rule read from an -nvL
 * listing: the line it was read back as; by position when the listing did not print it whole);
 * for a native nft rule, `nft delete rule ... handle N`; iptables-legacy for a rule of iptables-legacy-save.
 */
export function deleteRuleCommand(family: 4 | 6, table: string, rule: IptablesRule): string {
  // A native nft rule: `nft delete rule inet filter input handle 4`.
  const nft = nftDeleteCommand(rule);
  if (nft !== undefined) return nft;
  const tool = iptablesTool(family, rule.origin.source);
  if (rule.approximate !== undefined) return `${tool} -t ${table} -D ${rule.chain} ${rule.position}`;
  const spec = (rule.readBackAs ?? rule.origin.text).replace(/^\[\d+:\d+\]\s+/, '').replace(/^-A\s+/, '-D ');
  return `${tool} -t ${table} ${spec}`;
}

/** "mangle/OUTPUT rule 1" for a rule; "inet filter/input handle 4" for a native nft one. */
export function ruleName(r: IptablesRule): string {
  return r.nft?.handle !== undefined ? `${r.table}/${r.chain} handle ${r.nft.handle}` : `${r.table}/${r.chain} rule ${r.position}`;
}
