/**
 * firewall-blocks-peer: the host's firewall (iptables/ip6tables, and native nft tables it cannot
 * see through) drops or rejects a peer's ICMP echo or a named TCP/UDP port, or the reply to it;
 * also a DROP policy that nothing accepts.
 */
import type { IptablesTable } from '../model/netfilter.js';
import { evaluatedAsNft, type NftRule, type NftTable } from '../model/nft.js';
import { evidenceOf, findingKey, uniqueEvidence, type Evidence, type Finding } from '../model/finding.js';
import type { Peer } from '../model/config.js';
import type { HostSnapshot } from '../model/snapshot.js';
import type { KernelSignal } from '../model/kernel.js';
import { kernelSignals } from '../simulate/kernel-signals.js';
import { evaluatePacket } from '../simulate/netfilter.js';
import type { NetfilterBranch, NetfilterPacket, NetfilterResult, PacketPath } from '../simulate/netfilter-types.js';
import { deleteRuleCommand, iptablesTool, policyEvidence, ruleName } from './datapath/evidence.js';
import { decisionPlace } from '../simulate/netfilter-hooks.js';
import { hostContext } from '../simulate/host-context.js';
import { nftRuleText } from '../simulate/nft-eval.js';
import { addressOn, primaryUplink, routeFor } from './routing.js';
import type { Check, HostContext } from './types.js';
import { peerLabel } from './view.js';

const ID = 'firewall-blocks-peer';

interface Probe {
  label: string;
  subject: string;
  packet: NetfilterPacket;
  path: PacketPath;
  allow: string;
  /** The nft rule (after `nft insert rule TABLE CHAIN`) that lets the packet through a native chain. */
  allowNft: string;
}

function tables(s: HostSnapshot, family: 4 | 6): IptablesTable[] {
  return family === 4 ? s.netfilter.v4 : s.netfilter.v6;
}

function probesFor(ctx: HostContext, peer: Peer): Probe[] {
  const s = ctx.snapshot;
  const family: 4 | 6 = peer.address.includes(':') ? 6 : 4;
  const up = primaryUplink(s, family);
  const local = addressOn(up, family);
  if (!local || !up) return [];
  const reply = routeFor(s, { dst: peer.address, src: local });
  const inIf = up.name;
  const outIf = reply.dev ?? up.name;
  const icmp = family === 4 ? 'icmp' : 'icmpv6';
  const tool = family === 6 ? 'ip6tables' : 'iptables';
  const ipk = family === 6 ? 'ip6' : 'ip';
  const l4icmp = family === 6 ? 'ipv6-icmp' : 'icmp';
  const probes: Probe[] = [
    {
      label: `ICMP echo from ${peerLabel(peer)}`, subject: `${peer.address} icmp-in`, path: 'input',
      packet: { family, src: peer.address, dst: local, proto: icmp, icmpType: family === 4 ? 8 : 128, icmpCode: 0, inIf, ctstate: 'NEW' },
      allow: `${tool} -t filter -I INPUT 1 -s ${peer.address} -p ${icmp} -j ACCEPT`,
      allowNft: `${ipk} saddr ${peer.address} meta l4proto ${l4icmp} accept`,
    },
    {
      label: `the echo reply to ${peerLabel(peer)}`, subject: `${peer.address} icmp-reply`, path: 'output',
      packet: { family, src: local, dst: peer.address, proto: icmp, icmpType: family === 4 ? 0 : 129, icmpCode: 0, outIf, ctstate: 'ESTABLISHED' },
      allow: `${tool} -t filter -I OUTPUT 1 -d ${peer.address} -p ${icmp} -j ACCEPT`,
      allowNft: `${ipk} daddr ${peer.address} meta l4proto ${l4icmp} accept`,
    },
  ];
  for (const port of ctx.ports) {
    const [proto, n] = port.split('/');
    const dport = Number(n);
    probes.push({
      label: `${proto.toUpperCase()} ${dport} from ${peerLabel(peer)}`, subject: `${peer.address} ${port}`, path: 'input',
      packet: { family, src: peer.address, dst: local, proto: proto as 'tcp' | 'udp', sport: 40000, dport, tcpFlags: 2, inIf, ctstate: 'NEW' },
      allow: `${tool} -t filter -I INPUT 1 -s ${peer.address} -p ${proto} --dport ${dport} -j ACCEPT`,
      allowNft: `${ipk} saddr ${peer.address} ${proto} dport ${dport} accept`,
    });
  }
  return probes;
}

/** The table of that name the decision came from: iptables-legacy's or the other backend's. */
function tableOf(s: HostSnapshot, family: 4 | 6, name: string, backend: 'legacy' | undefined): IptablesTable | undefined {
  return tables(s, family).find((x) => x.name === name && (x.backend === 'legacy') === (backend === 'legacy'));
}

function evidenceOfDecision(s: HostSnapshot, family: 4 | 6, r: NetfilterResult): Evidence[] {
  const d = r.decidedBy;
  if (!d) return [];
  if (d.nft) {
    if (!d.rule) return policyEvidence(s, d.table, d.chain, d.hook);
    // The jumps, gotos and verdict maps that led there (walked back from the deciding chain), then the rule, as nft lists them.
    const table = s.nft.find((t) => evaluatedAsNft(t) && `${t.family} ${t.name}` === d.table);
    const path: Evidence[] = [];
    let current = d.chain;
    for (let i = r.trace.length - 1; i >= 0 && table; i--) {
      const t = r.trace[i];
      if (t.matched !== true || t.rule === undefined || t.table !== d.table || t.hook !== d.hook || t.chain === current) continue;
      const chain = table.chains.find((c) => c.name === t.chain);
      const rule = chain?.rules[t.rule - 1];
      if (!chain || !rule || !leadsTo(table, rule, current)) continue;
      path.unshift({ source: rule.origin.source ?? 'nft', lineNumber: rule.origin.lineNumber, text: nftRuleText(table, chain, rule) });
      current = t.chain;
    }
    return uniqueEvidence([...path, ...evidenceOf(d.rule.origin)]);
  }
  if (d.rule) {
    // The jumps that led there (INPUT -j APP ...), then the deciding rule.
    const path = r.trace
      .filter((t) => t.matched === true && t.rule !== undefined && t.table === d.table)
      .map((t) => tableOf(s, family, t.table, d.backend)?.rules.find((x) => x.chain === t.chain && x.position === t.rule))
      .filter((x) => x && x !== d.rule && x.target && !['ACCEPT', 'DROP', 'REJECT', 'RETURN', 'LOG', 'MARK'].includes(x.target.name));
    return uniqueEvidence([...path.flatMap((x) => evidenceOf(x!.origin)), ...evidenceOf(d.rule.origin), ...evidenceOf(d.rule.nftHidden?.origin)]);
  }
  const table = tableOf(s, family, d.table, d.backend);
  const chain = table?.chains.find((c) => c.name === d.chain);
  return uniqueEvidence([...evidenceOf(table?.origin), ...evidenceOf(chain?.origin)]);
}

/** Whether an nft rule jumps or goes to `chain`, itself or through a verdict map. */
function leadsTo(table: NftTable, rule: NftRule, chain: string): boolean {
  const target = new RegExp(`\\b(jump|goto) ${chain.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s|$|,| })`);
  if (target.test(rule.text)) return true;
  const m = /vmap @(\S+)/.exec(rule.text);
  const map = m ? table.sets.find((x) => x.name === m[1]) : undefined;
  return map !== undefined && JSON.stringify(map.elements).includes(`"target":${JSON.stringify(chain)}`);
}

/** The counters that show the decision biting: the deciding rule's (or policy's), the hook's, NETFILTER_DROP. */
function firewallSignals(family: 4 | 6, d: NetfilterResult['decidedBy'], path: PacketPath): KernelSignal[] {
  const tool = family === 6 ? 'ip6tables' : 'iptables';
  const hook = path === 'output' ? 'output' : path === 'forward' ? 'forward' : 'input';
  if (d?.nft) {
    // counters.ts reads the counters of nft rules with a counter statement, by handle.
    const n = d.rule?.nft;
    if (n === undefined || !/\bcounter\b/.test(n.text)) return kernelSignals({ cause: 'netfilter-drop', hook });
    return kernelSignals({ cause: 'netfilter-drop', hook, rule: { tool: 'nft', table: d.table, chain: d.chain, rule: n.text, ...(n.handle !== undefined && { handle: n.handle }) } });
  }
  // A legacy table's counters are iptables-legacy's, which the kernel join does not read.
  if (!d || d.backend === 'legacy') return kernelSignals({ cause: 'netfilter-drop', hook });
  const rule = d.rule ? d.rule.origin.text.replace(/^\[\d+:\d+\]\s+/, '').trim() : undefined;
  return kernelSignals({ cause: 'netfilter-drop', hook, rule: { tool, table: d.table, chain: d.chain, ...(rule !== undefined ? { rule } : {}) } });
}

/** What made an nft table the evaluator ran: "native nft", or iptables-nft's table no iptables dump held (`rulesFromNft`). */
function nftKind(nft: readonly NftTable[], table: string): string {
  return nft.some((t) => t.rulesFromNft === true && `${t.family} ${t.name}` === table) ? 'iptables-nft, as nft lists it' : 'native nft';
}

/** Where a decision was made: "filter/INPUT rule 3", "filter/INPUT policy", "inet firewalld/filter_INPUT (native nft)". */
function placeOf(d: NetfilterResult['decidedBy'], nft: readonly NftTable[]): string {
  if (!d) return 'the firewall';
  return d.nft ? `${d.rule ? ruleName(d.rule) : `${d.table}/${d.chain}${d.policy ? ' policy' : ''}`} (${nftKind(nft, d.table)})` : decisionPlace(d);
}

/** One branch of an undecidable match in words: "filter/INPUT rule 4 drops it". */
function branchText(b: NetfilterBranch, nft: readonly NftTable[]): string {
  if (b.verdict === 'accept') return 'it is accepted';
  if (b.verdict === 'undecided') return `still undecided at ${placeOf(b.decidedBy, nft)}`;
  return `${placeOf(b.decidedBy, nft)} ${b.verdict === 'drop' ? 'drops' : 'rejects'} it`;
}

/**
 * The undecided finding's summary: the rule that cannot be decided, why (its reason names the
 * kind: a rate, a set missing from the listing, traffic seen before), and what each answer
 * would mean for this peer's packet.
 */
function undecidedSummary(label: string, r: NetfilterResult, nft: readonly NftTable[]): string {
  const b = r.branches;
  const outcomes = b ? `: if it matches, ${branchText(b.ifMatches, nft)}; if not, ${branchText(b.ifNot, nft)}` : '';
  return `cannot decide whether the firewall lets ${label} through: ${placeOf(r.decidedBy, nft)}${r.reason ? ` (${r.reason})` : ''}${outcomes}`;
}

/** The lines of the rules (or policy) that would drop or reject the packet in a branch, after the undecidable rule's own. */
function branchEvidence(s: HostSnapshot, family: 4 | 6, r: NetfilterResult): Evidence[] {
  if (!r.branches) return [];
  return [r.branches.ifMatches, r.branches.ifNot]
    .filter((b) => b.verdict === 'drop' || b.verdict === 'reject')
    .flatMap((b) => (b.decidedBy?.rule ? evidenceOf(b.decidedBy.rule.origin) : evidenceOfDecision(s, family, { ...r, decidedBy: b.decidedBy })));
}

/** Delete the rule, or let the peer in before it (in the chain that decided, for native nft). */
function fixFor(family: 4 | 6, d: NetfilterResult['decidedBy'], probe: Probe): string[] {
  // An ACCEPT in one backend does not stop the other's DROP: the ACCEPT goes to the backend that drops.
  const allow = d?.nft ? `nft insert rule ${d.table} ${d.chain} ${probe.allowNft}` : d?.backend === 'legacy' ? probe.allow.replace(/^(ip6?tables)/, '$1-legacy') : probe.allow;
  if (d?.rule) return [deleteRuleCommand(family, d.table, d.rule), `# or let the peer in before it: ${allow}`];
  return [allow];
}

export const firewallBlocksPeer: Check = {
  id: ID,
  title: "The host's firewall drops or rejects a peer's traffic",
  severity: 'error',
  explain: `Security groups may allow everything while the host's own firewall does not. This check
runs a peer's ICMP echo, the echo reply, and each --port (tcp/N, udp/N) through the host's
iptables/ip6tables rules (raw, mangle, nat, filter; jumps, goto, RETURN, policies; conntrack,
multiport, icmp-type, addrtype, mark, set, ... matches) and its native nftables base chains
(firewalld, nftables.conf, Docker's nft backend: sets, maps, verdict maps, ct state, fib; every
table's chains on a hook in priority order) as the kernel would, and names the table, chain and
rule line that drops or rejects it — a native nft rule as "nft -a list ruleset" prints it, with
its handle where the listing had one — or the chain policy it falls through to. A match it cannot decide makes the answer
"undecided" (a warning naming the rule); it never guesses. A peer the rules never match is
decided.

Undecided is scoped and explained: only a peer whose packet reaches the rule (every other
match of the rule holds for it) and whose verdict depends on that rule's answer is undecided;
the warning quotes the rule (table/chain and rule number, and its line), says why it cannot be
told (a rate: -m limit, -m hashlimit, nft limit; a byte or connection count: -m quota, nft quota, -m connlimit; what
the host saw before: -m recent; a set missing from the ipset listing; chance: -m statistic),
and what happens to the peer's packet if it matches and if it does not. A rule whose answer
does not change the verdict (an ACCEPT for a set that is missing, followed by an ACCEPT for the
peer anyway) leaves the verdict decided. A rate limit counts as a question here, since a peer
sends more than one packet: accepted under the rate, dropped above it.

Without peers it still reports a built-in chain whose policy is DROP while no rule accepts
anything.

Fix: delete or narrow the rule (the printed iptables -D or nft delete rule command), or insert
an ACCEPT for the peer before it; persist the change where the firewall is managed
(iptables-persistent, nftables.conf, firewalld, cloud-init).`,
  families: {
    host(ctx) {
      const s = ctx.snapshot;
      const out: Finding[] = [];
      const ipsets = s.ipsets;
      const nftTables = s.nft;
      for (const peer of ctx.peers) {
        const family: 4 | 6 = peer.address.includes(':') ? 6 : 4;
        const ruleset = { tables: tables(s, family), ipsets, nftTables };
        if (ruleset.tables.length === 0 && !nftTables.some(evaluatedAsNft)) continue;
        const localAddresses = s.interfaces.flatMap((i) => i.addresses.filter((a) => a.family === family).map((a) => ({ cidr: a.cidr, dev: i.name })));
        for (const probe of probesFor(ctx, peer)) {
          // A peer sends more than one packet: a rate limit may let the first through and not the rest.
          const r = evaluatePacket(ruleset, probe.packet, { path: probe.path, localAddresses, rateLimits: 'undecided', nftEvaluator: hostContext(s).nft });
          if (r.verdict === 'accept') continue;
          const d = r.decidedBy;
          const where = placeOf(d, nftTables);
          const subject = probe.subject;
          if (r.verdict === 'undecided') {
            out.push({
              check: ID, severity: 'warning', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
              summary: undecidedSummary(probe.label, r, nftTables),
              evidence: uniqueEvidence([...evidenceOfDecision(s, family, r), ...branchEvidence(s, family, r)]),
              why: r.branches
                ? `${probe.label} (${probe.packet.src} → ${probe.packet.dst}) reaches ${where}, and the verdict depends on whether that rule matches, which the host's state does not say; other peers whose packets never reach it are decided.`
                : 'A match or target hostcheck cannot evaluate from the host state (or a native nftables chain on the same hook) stands in the way; it does not guess.',
              fix: [`# check by hand: ${family === 6 ? 'ip6tables' : 'iptables'}-save -c and nft list ruleset; counters show what matched`],
              peers: [peer.address],
            });
            continue;
          }
          const rule = d?.rule;
          out.push({
            check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
            summary: `${d?.backend === 'legacy' ? 'the legacy iptables (x_tables) firewall, which iptables-nft does not show,' : 'the firewall'} ${r.verdict === 'reject' ? 'rejects' : 'drops'} ${probe.label}: ${where}${rule?.nft ? `: ${rule.nft.text}` : rule?.target ? ` -j ${rule.target.name}` : d?.policy ? ` ${r.verdict === 'drop' ? 'DROP' : 'REJECT'}` : ''}`,
            evidence: evidenceOfDecision(s, family, r),
            why: `${probe.label} (${probe.packet.src} → ${probe.packet.dst}${probe.packet.dport ? ` port ${probe.packet.dport}` : ''}, ${probe.packet.ctstate}) ${d?.policy ? `reaches the end of ${d.chain} in table ${d.table} without ${d.nft ? 'an accept' : 'an ACCEPT'}, and the policy drops it` : rule?.nft ? `matches "${rule.nft.text}" in chain ${d?.chain} of table ${d?.table} (${nftKind(nftTables, d?.table ?? '')}), which ${r.verdict}s it` : `matches rule ${rule?.position} of ${d?.chain} in table ${d?.table}, which ${r.verdict}s it`}${r.rejectWith ? ` (${r.rejectWith})` : ''}.${d?.backend === 'legacy' ? ' The rule is in an iptables-legacy table: the kernel runs it beside the nf_tables rules at the same hook, but iptables (nft), iptables-save and nft list ruleset do not show it; only iptables-legacy-save does.' : ''}`,
            fix: fixFor(family, d, probe),
            peers: [peer.address],
          signals: firewallSignals(family, d, probe.path),
          });
        }
      }
      // A DROP policy nothing accepts: all inbound traffic dies, whoever the peers are.
      for (const family of [4, 6] as const) {
        for (const t of tables(s, family)) {
          if (t.name !== 'filter') continue;
          const input = t.chains.find((c) => c.name === 'INPUT');
          if (!input || (input.policy !== 'DROP' && input.policy !== 'REJECT')) continue;
          if (t.rules.some((r) => r.target && r.target.name !== 'DROP' && r.target.name !== 'REJECT' && r.target.name !== 'LOG')) continue;
          const tool = iptablesTool(family, t.backend === 'legacy' ? 'legacy' : undefined);
          const subject = `${tool} filter INPUT policy`;
          out.push({
            check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
            summary: `${tool} filter INPUT policy is ${input.policy} and no rule accepts anything: all inbound IPv${family} traffic is dropped`,
            evidence: uniqueEvidence([...evidenceOf(t.origin), ...evidenceOf(input.origin)]),
            why: `Every packet to this host, replies to its own connections included, reaches the policy.${t.backend === 'legacy' ? ' The table is iptables-legacy\'s: iptables (nft) does not show it.' : ''}`,
            fix: [`${tool} -t filter -I INPUT 1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`, '# then accept what peers need (ICMP, the service ports) before the policy'],
            signals: kernelSignals({ cause: 'netfilter-drop', hook: 'input', ...(t.backend !== 'legacy' && { rule: { tool: family === 6 ? 'ip6tables' : 'iptables', table: 'filter', chain: 'INPUT' } }) }),
          });
        }
      }
      return out;
    },
  },
};
