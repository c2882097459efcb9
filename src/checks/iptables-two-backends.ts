/**
 * iptables-two-backends: rules in iptables-legacy's x_tables and in nf_tables (iptables-nft's
 * tables or native nft chains) on one host. The kernel runs both on every hook; each tool shows
 * only its own side. A drop by either side that hits a peer is firewall-blocks-peer's error; this
 * warning says the host is split, and which tool writes to which side where it can be told.
 */
import { evidenceOf, findingKey, uniqueEvidence, type Evidence, type Finding } from '../model/finding.js';
import type { IptablesTable } from '../model/netfilter.js';
import type { NftTable } from '../model/nft.js';
import type { HostSnapshot } from '../model/snapshot.js';
import type { Check } from './types.js';

const ID = 'iptables-two-backends';

/** Who writes a chain, from the names and comments those tools give their rules. */
const WRITERS: [RegExp, string][] = [
  [/^KUBE-/, 'kube-proxy'],
  [/^DOCKER(-|$)/, 'Docker'],
  [/^(IN|FWDI|FWDO|FWD|OUT|PRE|POST)_\w+|_direct$|_ZONES(_SOURCE)?$/, 'firewalld'],
  [/^cali-/, 'Calico'],
  [/^FLANNEL/, 'flannel'],
  [/^WEAVE/, 'Weave Net'],
  [/^CILIUM_/, 'Cilium'],
  [/^ufw6?-/, 'ufw'],
  [/^f2b-/, 'fail2ban'],
  [/^LIBVIRT_/, 'libvirt'],
];
/** Native nft tables named after the tool that made them. */
const NFT_WRITERS: Record<string, string> = { firewalld: 'firewalld', 'kube-proxy': 'kube-proxy', docker: 'Docker', libvirt_network: 'libvirt' };

/** Tables with something in them: a rule, or a built-in chain whose policy is not ACCEPT. */
function usedTables(tables: readonly IptablesTable[]): IptablesTable[] {
  return tables.filter((t) => t.rules.length > 0 || t.chains.some((c) => c.builtin && c.policy !== undefined && c.policy !== 'ACCEPT'));
}

function iptablesWriters(tables: readonly IptablesTable[]): string[] {
  const out = new Set<string>();
  for (const t of tables) {
    for (const c of t.chains) for (const [re, who] of WRITERS) if (re.test(c.name)) out.add(who);
    for (const r of t.rules) {
      const comment = r.matches.find((m) => m.module === 'comment')?.options.find((o) => o.name === 'comment')?.args.join(' ') ?? '';
      if (/^kubernetes |^[\w.-]+\/[\w.-]+(:[\w.-]+)? /.test(comment) || /kube/i.test(comment)) out.add('kube-proxy');
      else if (/docker/i.test(comment)) out.add('Docker');
    }
  }
  return [...out].sort();
}

interface Side {
  label: string;
  rules: number;
  writers: string[];
  evidence: Evidence[];
}

/** The first lines of a side, enough to find it: each used table's header and its first rule. */
function firstLines(tables: readonly IptablesTable[]): Evidence[] {
  return uniqueEvidence(tables.flatMap((t) => [...evidenceOf(t.origin), ...(t.rules[0] ? evidenceOf(t.rules[0].origin) : evidenceOf(t.chains.find((c) => c.builtin && c.policy !== 'ACCEPT')?.origin))])).slice(0, 6);
}

function legacySide(v4: IptablesTable[], v6: IptablesTable[]): Side | undefined {
  const used = [...usedTables(v4), ...usedTables(v6)].filter((t) => t.backend === 'legacy');
  if (used.length === 0) return undefined;
  return { label: 'iptables-legacy (x_tables)', rules: used.reduce((n, t) => n + t.rules.length, 0), writers: iptablesWriters(used), evidence: firstLines(used) };
}

function nftSide(v4: IptablesTable[], v6: IptablesTable[], nft: readonly NftTable[]): Side | undefined {
  const used = [...usedTables(v4), ...usedTables(v6)].filter((t) => t.backend === 'nf_tables');
  const native = nft.filter((t) => t.managedBy === 'native' && t.chains.some((c) => c.hook !== undefined && (c.rules.length > 0 || (c.policy ?? 'accept') !== 'accept')));
  if (used.length === 0 && native.length === 0) return undefined;
  const writers = new Set(iptablesWriters(used));
  for (const t of native) if (NFT_WRITERS[t.name]) writers.add(NFT_WRITERS[t.name]);
  const parts = [...(used.length ? ['iptables-nft'] : []), ...(native.length ? [`native nft (${native.map((t) => `${t.family} ${t.name}`).join(', ')})`] : [])];
  return {
    label: `nf_tables: ${parts.join(' and ')}`,
    rules: used.reduce((n, t) => n + t.rules.length, 0) + native.reduce((n, t) => n + t.chains.reduce((m, c) => m + c.rules.length, 0), 0),
    writers: [...writers].sort(),
    evidence: uniqueEvidence([...firstLines(used), ...native.flatMap((t) => evidenceOf(t.origin))]).slice(0, 6),
  };
}

const writtenBy = (s: Side): string => (s.writers.length ? `written by ${s.writers.join(', ')}` : 'no tool recognised by its chain names');

export const iptablesTwoBackends: Check = {
  id: ID,
  title: 'Firewall rules in both iptables backends (legacy and nf_tables)',
  severity: 'warning',
  explain: `iptables comes in two backends: iptables-legacy writes the kernel's x_tables, iptables-nft
(and nft itself) write nf_tables. When tools on one host use different ones (Docker or
kube-proxy built against one, the distribution's iptables the other), both sets of rules exist
and the kernel runs both at every hook, each at its table's priority — a packet must get past
both, and an ACCEPT on one side does not stop a DROP on the other. Each tool shows only its own
side: iptables -L (nft) shows nothing of the legacy rules (iptables-save prints only a
"# Warning: iptables-legacy tables present" comment), nft list ruleset neither. hostcheck reads
iptables-legacy-save beside iptables-save and nft, and the firewall verdicts (firewall-blocks-peer
and the datapath walks) evaluate the legacy tables too at their hooks: a legacy rule that drops a
peer is an error there that says "legacy" and quotes its line. This check is the warning for
rules in both backends that decide nothing for a peer: it names both sides, their rule counts,
their first lines, and which tool writes to which side where the chain names and comments tell
(kube-proxy: KUBE-*, Docker: DOCKER*, firewalld: IN_*/FWD*_*/*_direct, Calico, flannel, Weave,
Cilium, ufw, fail2ban, libvirt).

Fix: move every tool to one backend — the one the others already use (update-alternatives --set
iptables /usr/sbin/iptables-nft, and ip6tables; kube-proxy and Docker images pick theirs from the
host's rules) — then restart the tools that wrote the other side so they rewrite their rules, and
flush the side that is left empty (iptables-legacy -F, -X per table).`,
  families: {
    host(ctx) {
      const s: HostSnapshot = ctx.snapshot;
      const legacy = legacySide(s.netfilter.v4, s.netfilter.v6);
      const nft = nftSide(s.netfilter.v4, s.netfilter.v6, s.nft);
      if (legacy === undefined || nft === undefined) return [];
      const subject = 'iptables-legacy and nf_tables';
      const finding: Finding = {
        check: ID, severity: 'warning', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
        summary: `firewall rules in both backends: ${legacy.label} holds ${legacy.rules} rule${legacy.rules === 1 ? '' : 's'} (${writtenBy(legacy)}), ${nft.label} ${nft.rules} (${writtenBy(nft)}); the kernel runs both, each tool shows only its own`,
        evidence: [...legacy.evidence, ...nft.evidence],
        why: 'Every packet crosses both rulesets at each hook, in priority order; a DROP on either side drops it whatever the other accepts. People and tools that look with one backend\'s tool (iptables -L, nft list ruleset) do not see the other side, so a rule that breaks traffic can sit where nobody looks.',
        fix: [
          `# keep one backend: point iptables at the one ${nft.writers.length ? nft.writers.join(', ') : 'the nf_tables side'} uses: update-alternatives --set iptables /usr/sbin/iptables-nft; update-alternatives --set ip6tables /usr/sbin/ip6tables-nft`,
          `# restart what wrote the legacy side${legacy.writers.length ? ` (${legacy.writers.join(', ')})` : ''} so it writes its rules with iptables-nft, then empty the legacy tables: iptables-legacy -t TABLE -F; iptables-legacy -t TABLE -X`,
        ],
      };
      return [finding];
    },
  },
};
