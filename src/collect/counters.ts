/**
 * Kernel counters as evidence: the drop counters of this network namespace (/proc/net/netstat,
 * snmp, snmp6, xfrm_stat, dev, stat/nf_conntrack) and the counters of netfilter rules and
 * policies that drop or reject (iptables-save -c, ip6tables-save -c, nft -j), read at two moments;
 * their differences are the evidence a finding's cause is biting now (docs/kernel.md).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseIptables } from '../../parsers/iptables-save.js';
import { parse as parseNft } from '../../parsers/nft.js';
import { parse as parseNftText } from '../../parsers/nft-text.js';
import { parse as parseCounters } from '../../parsers/proc-net-counters.js';
import { isDropCounter, netfilterRuleLabel, type CounterDelta, type NetfilterRuleRef } from '../model/kernel.js';
import type { IptablesTable } from '../model/netfilter.js';
import type { NftTable } from '../model/nft.js';
import { runCommandBatch } from './run-batch.js';
import { listNftText, nftJsonRefused } from './nft-text-fallback.js';

/** The files read, and what their absence means. */
const PROC_FILES: { file: string; absent: string }[] = [
  { file: 'netstat', absent: 'absent' },
  { file: 'snmp', absent: 'absent' },
  { file: 'snmp6', absent: 'absent (IPv6 disabled)' },
  { file: 'xfrm_stat', absent: 'absent (kernel without CONFIG_XFRM_STATISTICS)' },
  { file: 'dev', absent: 'absent' },
  { file: 'stat/nf_conntrack', absent: 'absent (nf_conntrack not loaded)' },
];

/** One netfilter counter that drops or rejects, with what finds it again. */
export interface RuleCount {
  ref: NetfilterRuleRef;
  packets: number;
}

/** Drop counters and rule counters at one moment. */
export interface CounterSample {
  /** Date.now() when read. */
  at: number;
  counters: Map<string, { value: number; device?: string }>;
  /** Keyed by tool, table, chain, rule text and occurrence (identical rules count apart). */
  rules: Map<string, RuleCount>;
  missing: string[];
}

/** The drop counters of this namespace from /proc/net (`procNet` for tests). */
export function readProcCounters(procNet = '/proc/net'): Pick<CounterSample, 'counters' | 'missing'> {
  const counters = new Map<string, { value: number; device?: string }>();
  const missing: string[] = [];
  for (const { file, absent } of PROC_FILES) {
    const path = join(procNet, file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      missing.push(`${path}: ${code === 'ENOENT' ? absent : code === 'EACCES' ? 'permission denied' : (err as Error).message}`);
      continue;
    }
    const { records, warnings } = parseCounters(text);
    if (warnings.length > 0) missing.push(`${path}: ${warnings.length} line(s) not read (line ${warnings[0].lineNumber}: ${warnings[0].reason})`);
    for (const r of records) if (isDropCounter(r.name)) counters.set(r.name, r.device !== undefined ? { value: r.value, device: r.device } : { value: r.value });
  }
  return { counters, missing };
}

const DROPPING = new Set(['DROP', 'REJECT']);

/** The rule text without iptables-save -c's `[packets:bytes]` prefix. */
function ruleText(text: string): string {
  return text.replace(/^\[\d+:\d+\]\s+/, '').trim();
}

/** Counters of rules and policies that drop or reject, from parsed iptables/ip6tables/nft dumps. */
export function ruleCounters(iptables: { v4: IptablesTable[]; v6: IptablesTable[] }, nft: NftTable[]): Map<string, RuleCount> {
  const out = new Map<string, RuleCount>();
  const add = (ref: NetfilterRuleRef, packets: number) => {
    let n = 0;
    // An nft rule's text holds its counter's values (`counter packets 3 bytes 252`): the key leaves them out, or a rule that counted would be a new rule.
    const base = `${ref.tool}|${ref.table}|${ref.chain}|${ref.handle ?? ''}|${(ref.rule ?? '').replace(/\bcounter packets \d+ bytes \d+/g, 'counter')}`;
    while (out.has(`${base}|${n}`)) n++;
    out.set(`${base}|${n}`, { ref, packets });
  };
  for (const [tool, tables] of [['iptables', iptables.v4], ['ip6tables', iptables.v6]] as const) {
    for (const t of tables) {
      for (const c of t.chains) if (c.policy && DROPPING.has(c.policy) && c.counters) add({ tool, table: t.name, chain: c.name }, c.counters.packets);
      for (const r of t.rules) if (r.target && DROPPING.has(r.target.name) && r.counters) add({ tool, table: t.name, chain: r.chain, rule: ruleText(r.origin.text) }, r.counters.packets);
    }
  }
  for (const t of nft) {
    if (t.managedBy !== 'native') continue;
    for (const c of t.chains) {
      for (const r of c.rules) {
        if (r.counters && /\b(drop|reject)\b/.test(r.text)) add({ tool: 'nft', table: `${t.family} ${t.name}`, chain: c.name, rule: r.text, handle: r.handle }, r.counters.packets);
      }
    }
  }
  return out;
}

/** A sample from /proc now and rule counters already read (the collection's own dumps). */
export function sampleWith(rules: Map<string, RuleCount>, procNet?: string): CounterSample {
  return { at: Date.now(), ...readProcCounters(procNet), rules };
}

/** A sample now: /proc, and iptables-save -c, ip6tables-save -c and nft -j (its text without JSON) run again. */
export async function sampleNow(opts: { procNet?: string; timeoutMs?: number } = {}): Promise<CounterSample> {
  const [v4, v6, nft] = await runCommandBatch(
    [['iptables-save', '-c'], ['ip6tables-save', '-c'], ['nft', '-j', 'list', 'ruleset']].map((argv) => ({ argv, options: {} })),
    opts.timeoutMs ?? 20_000,
  );
  const missing: string[] = [];
  const tables = (r: typeof v4, name: string): IptablesTable[] => {
    if (r.status !== 'collected') {
      if (r.status === 'failed') missing.push(`${name}: ${r.message ?? 'failed'}`);
      return [];
    }
    return parseIptables(r.stdout).records;
  };
  let nftTables = nft.status === 'collected' ? parseNft(nft.stdout).records : [];
  if (nftJsonRefused(nft)) {
    // An nft without JSON (the collection read its text too): the same records from its text.
    const text = await listNftText(opts.timeoutMs);
    if (text.status === 'collected') nftTables = parseNftText(text.stdout).records;
  }
  const rules = ruleCounters({ v4: tables(v4, 'iptables-save -c'), v6: tables(v6, 'ip6tables-save -c') }, nftTables);
  const sample = sampleWith(rules, opts.procNet);
  sample.missing.push(...missing);
  return sample;
}

/** What moved between two samples (increases only: a counter reset or a rule replaced is not a drop). */
export function counterDeltas(before: CounterSample, after: CounterSample): CounterDelta[] {
  const out: CounterDelta[] = [];
  for (const [name, a] of after.counters) {
    const b = before.counters.get(name);
    if (b === undefined || a.value <= b.value) continue;
    out.push(a.device !== undefined ? { name, delta: a.value - b.value, device: a.device } : { name, delta: a.value - b.value });
  }
  for (const [key, a] of after.rules) {
    const b = before.rules.get(key);
    if (b === undefined || a.packets <= b.packets) continue;
    out.push({ name: netfilterRuleLabel(a.ref), delta: a.packets - b.packets, rule: a.ref });
  }
  return out.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}
