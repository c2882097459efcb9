/**
 * The hook model: every ruleset the kernel runs on one netfilter hook, in priority order. One
 * list per hook holds the iptables tables of each backend (x_tables of iptables-legacy and the
 * nf_tables tables iptables-nft made, which register at the same priorities) and the native nft
 * base chains at theirs. The evaluator and the packet walk both read it, so an evaluator for
 * native nft chains plugs in here (`ChainEvaluator`) instead of a second pipeline.
 */
import type { IptablesTable } from '../model/netfilter.js';
import { evaluatedAsNft, type NftChain, type NftTable } from '../model/nft.js';
import type { Hook, NetfilterRuleset, PacketPath, PhysdevInfo } from './netfilter-types.js';

export type { ChainEvaluator, ChainOutcome } from './netfilter-types.js';

/** The hooks a packet crosses on each path, in order. `bridge`: bridged with bridge-nf-call-ip(6)tables=1. */
export const PATH_HOOKS: Record<PacketPath, Hook[]> = {
  input: ['PREROUTING', 'INPUT'],
  output: ['OUTPUT', 'POSTROUTING'],
  forward: ['PREROUTING', 'FORWARD', 'POSTROUTING'],
  bridge: ['PREROUTING', 'FORWARD', 'POSTROUTING'],
};

/** Each iptables table's priority on the hooks it registers (nat differs per hook). */
export const TABLE_PRIORITIES: Record<string, Partial<Record<Hook, number>>> = {
  raw: { PREROUTING: -300, OUTPUT: -300 },
  mangle: { PREROUTING: -150, INPUT: -150, FORWARD: -150, OUTPUT: -150, POSTROUTING: -150 },
  nat: { PREROUTING: -100, OUTPUT: -100, INPUT: 100, POSTROUTING: 100 },
  filter: { INPUT: 0, FORWARD: 0, OUTPUT: 0 },
  security: { INPUT: 50, FORWARD: 50, OUTPUT: 50 },
};

/** Connection tracking runs at this priority on PREROUTING and OUTPUT (and confirms last). */
export const CONNTRACK_PRIORITY = -200;
/** Destination NAT runs here (PREROUTING, OUTPUT), source NAT at +100 (POSTROUTING, INPUT). */
export const NAT_DST_PRIORITY = -100;
export const NAT_SRC_PRIORITY = 100;

/** One ruleset on a hook. */
export type HookEntry =
  | { kind: 'iptables'; priority: number; name: string; table: IptablesTable; backend: 'legacy' | 'nf_tables' | 'unknown' }
  | { kind: 'nft'; priority: number; table: NftTable; chain: NftChain };

/** The devices a hook sees (and, for a bridged packet, the bridge ports `-m physdev` sees there). */
export interface HookDevices {
  inIf?: string;
  outIf?: string;
  physdev?: PhysdevInfo | null;
}

const NFT_PRIORITY_NAMES: Record<string, number> = { raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100 };

/** A base chain's priority as a number: `-150`, `mangle`, `dstnat - 5`, `filter + 10`. */
export function nftPriority(priority: number | string | undefined): number {
  if (typeof priority === 'number') return priority;
  if (priority === undefined) return 0;
  const m = /^\s*([a-z]+|-?\d+)\s*(?:([+-])\s*(\d+))?\s*$/.exec(priority);
  if (m === null) return 0;
  const base = NFT_PRIORITY_NAMES[m[1]] ?? Number(m[1]);
  const offset = m[3] === undefined ? 0 : Number(m[3]) * (m[2] === '-' ? -1 : 1);
  return (Number.isFinite(base) ? base : 0) + offset;
}

/**
 * The iptables tables of one family, one per name and backend: iptables-nft's and the legacy
 * x_tables both run when both hold a table of that name.
 */
export function iptablesTablesOf(tables: readonly IptablesTable[], family: 4 | 6): IptablesTable[] {
  const seen = new Set<string>();
  const out: IptablesTable[] = [];
  for (const t of tables) {
    if ((t.family ?? 4) !== family) continue;
    const key = `${t.backend ?? 'unknown'} ${t.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(t);
  }
  return out;
}

/**
 * Every ruleset on `hook` for a packet of `family` on `path`, in the kernel's order: by priority,
 * a native nft chain before an iptables table of the same priority (registered earlier on a
 * booted host), iptables-nft before legacy x_tables. Measured on 6.18: at one priority the table
 * registered last runs first, and no dump says which that was; a DROP on either side drops the
 * packet in any order, so verdicts do not depend on it (a mark one side sets for the other does).
 */
export function hookEntries(
  ruleset: NetfilterRuleset, hook: Hook, family: 4 | 6, path: PacketPath, devices: HookDevices, opts: { ignoreNativeNft?: boolean } = {},
): HookEntry[] {
  const entries: HookEntry[] = [];
  const nftFamily = family === 4 ? 'ip' : 'ip6';
  for (const table of iptablesTablesOf(ruleset.tables, family)) {
    // A table iptables-nft could not list is a native nft table of that name: its chains run below.
    if (table.incompatible && (ruleset.nftTables ?? []).some((t) => t.managedBy === 'native' && t.family === nftFamily && t.name === table.name)) continue;
    const priority = TABLE_PRIORITIES[table.name]?.[hook];
    if (priority !== undefined) entries.push({ kind: 'iptables', priority, name: table.name, table, backend: table.backend ?? 'unknown' });
  }
  if (!opts.ignoreNativeNft) for (const e of nativeEntries(hook, family, path, ruleset.nftTables, devices)) entries.push(e);
  const rank = (e: HookEntry): number => (e.kind === 'nft' ? 0 : e.backend === 'legacy' ? 2 : 1);
  return entries.sort((a, b) => a.priority - b.priority || rank(a) - rank(b));
}

function nativeEntries(hook: Hook, family: 4 | 6, path: PacketPath, nft: readonly NftTable[] | undefined, devices: HookDevices): HookEntry[] {
  const entries: HookEntry[] = [];
  const hooks = PATH_HOOKS[path];
  for (const table of nft ?? []) {
    if (!evaluatedAsNft(table)) continue;
    const fam = table.family;
    // Bridged packets meet the bridge family's chains, not ip/ip6/inet ones (br_netfilter calls the inet hooks with PF_INET).
    const sameFamily = fam === 'inet' || (fam === 'ip' && family === 4) || (fam === 'ip6' && family === 6);
    for (const chain of table.chains) {
      if (chain.hook === undefined) continue;
      if (chain.rules.length === 0 && (chain.policy ?? 'accept') === 'accept') continue;
      let onHook = false;
      let priority = nftPriority(chain.priority);
      if (fam === 'netdev') {
        // ingress runs before PREROUTING on the input device, egress after POSTROUTING.
        const first = hooks[0];
        const last = hooks[hooks.length - 1];
        onHook = (chain.hook === 'ingress' && hook === first && first === 'PREROUTING') || (chain.hook === 'egress' && hook === last && last === 'POSTROUTING');
        const dev = chain.hook === 'ingress' ? devices.inIf : devices.outIf;
        if (chain.device !== undefined && dev !== undefined && chain.device !== dev) onHook = false;
        priority = chain.hook === 'ingress' ? -1_000_000 : 1_000_000;
      } else if (sameFamily) onHook = chain.hook.toUpperCase() === hook;
      if (onHook) entries.push({ kind: 'nft', priority, table, chain });
    }
  }
  return entries;
}

/** Where a decision was made: "filter/INPUT rule 3", "filter/INPUT policy", "filter/INPUT rule 1 of iptables-legacy". */
export function decisionPlace(d: { table: string; chain: string; rule?: { position: number }; policy?: boolean; backend?: 'legacy' | 'nf_tables' }): string {
  return `${d.table}/${d.chain}${d.rule ? ` rule ${d.rule.position}` : d.policy ? ' policy' : ''}${d.backend === 'legacy' ? ' of iptables-legacy' : ''}`;
}

/** How a decision names an entry: the iptables table (`filter`) or the nft table (`inet firewalld`). */
export function entryName(e: HookEntry): string {
  return e.kind === 'nft' ? `${e.table.family} ${e.table.name}` : e.name;
}
