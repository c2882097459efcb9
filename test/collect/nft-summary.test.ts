/**
 * The nft parser's summary of iptables-nft's tables (parsers/nft.ts, `summarizeIptablesNft`):
 * their rules are never made records, only counted and, where one looks a set up, kept for the
 * nftHidden mark; a native table's rules are records as without it, also a native table that
 * carries an iptables name (`ip nat` made with nft), whose rules are read again once the whole
 * ruleset says it is not iptables-nft's. The snapshot built this way marks the same rules.
 */
import { describe, expect, it } from 'vitest';
import { parse as parseNft } from '../../parsers/nft.js';
import { nftLookups, ruleSummaryOf } from '../../src/collect/nft-hidden.js';
import { buildSnapshot } from '../../src/collect/snapshot.js';
import type { NftTable } from '../../src/model/nft.js';
import { bigBundle } from '../helpers/big-host.js';

const saddr = (right: unknown) => ({ match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right } });
const rule = (family: string, table: string, chain: string, handle: number, expr: unknown[]) => ({ rule: { family, table, chain, handle, expr } });

/** iptables-nft's filter (an xt match, a set lookup at position 3), a native inet table, a native `ip nat`, and elements the parser warns about. */
const ELEMENTS: unknown[] = [
  { metainfo: { version: '1.0.6', json_schema_version: 1 } },
  { table: { family: 'ip', name: 'filter', handle: 1 } },
  { chain: { family: 'ip', table: 'filter', name: 'INPUT', handle: 1, type: 'filter', hook: 'input', prio: 0, policy: 'accept' } },
  { chain: { family: 'ip', table: 'filter', name: 'KUBE-SERVICES', handle: 2 } },
  rule('ip', 'filter', 'INPUT', 10, [saddr({ prefix: { addr: '10.1.0.0', len: 16 } }), { xt: { type: 'match', name: 'comment' } }, { accept: null }]),
  rule('ip', 'filter', 'INPUT', 11, [{ counter: { packets: 5, bytes: 300 } }, { jump: { target: 'KUBE-SERVICES' } }]),
  rule('ip', 'filter', 'INPUT', 12, [saddr('@blocked'), { drop: null }]),
  rule('ip', 'filter', 'KUBE-SERVICES', 13, [{ return: null }]),
  rule('ip', 'filter', 'NOPE', 14, [{ drop: null }]),
  { table: { family: 'inet', name: 'fw', handle: 2 } },
  { chain: { family: 'inet', table: 'fw', name: 'in', handle: 1, type: 'filter', hook: 'input', prio: 10, policy: 'drop' } },
  rule('inet', 'fw', 'in', 20, [saddr('@allowed'), { counter: { packets: 1, bytes: 60 } }, { accept: null }]),
  42,
  { table: { family: 'ip', name: 'nat', handle: 3 } },
  { chain: { family: 'ip', table: 'nat', name: 'prerouting', handle: 1, type: 'nat', hook: 'prerouting', prio: -100, policy: 'accept' } },
  rule('ip', 'nat', 'prerouting', 30, [{ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 8080 } }, { redirect: { port: 80 } }]),
  rule('ip', 'nat', 'prerouting', 31, [saddr({ set: ['10.9.9.9'] }), { dnat: { addr: '10.0.0.5' } }]),
];

/** The records a full parse gives, with iptables-nft's rules left out: what the summary parse must give. */
function withoutIptablesRules(tables: NftTable[]): NftTable[] {
  return tables.map((t) => (t.managedBy === 'iptables-nft' ? { ...t, chains: t.chains.map((c) => ({ ...c, rules: [] })) } : t));
}

describe('nft parse, iptables-nft summarized', () => {
  for (const [form, text] of [
    ['element by element', JSON.stringify({ nftables: ELEMENTS })],
    ['the whole document (another key first)', JSON.stringify({ note: 1, nftables: ELEMENTS })],
  ] as const) {
    it(`keeps no records of iptables-nft's rules, the native tables' all (${form})`, () => {
      const full = parseNft(text);
      const summary = parseNft(text, { summarizeIptablesNft: true });
      expect(full.records.map((t) => [t.family, t.name, t.managedBy])).toEqual([['ip', 'filter', 'iptables-nft'], ['inet', 'fw', 'native'], ['ip', 'nat', 'native']]);
      expect(full.iptablesNftRules).toBeUndefined();
      // The same tables, chains and warnings; the rules of iptables-nft's filter are not there.
      expect(summary.warnings).toEqual(full.warnings);
      expect(summary.warnings.map((w) => [w.lineNumber, w.reason])).toEqual([[9, 'rule of an unknown chain'], [13, 'element is not an object']]);
      expect(summary.records).toEqual(withoutIptablesRules(full.records));
      expect(summary.records[0].chains.map((c) => c.rules.length)).toEqual([0, 0]);
      // A native `ip nat` (lowercase hook names, no xt) is read again: its records as a full parse makes them.
      expect(summary.records[2].chains[0].rules).toEqual(full.records[2].chains[0].rules);
      expect(summary.records[2].chains[0].rules.map((r) => r.origin.lineNumber)).toEqual([16, 17]);
      expect(summary.records[1].chains[0].rules[0].counters).toEqual({ packets: 1, bytes: 60 });

      const filter = summary.iptablesNftRules!.get('ip filter')!;
      expect([...summary.iptablesNftRules!.keys()]).toEqual(['ip filter']);
      expect(filter.get('INPUT')).toEqual(ruleSummaryOf(full.records[0].chains[0].rules));
      expect(filter.get('KUBE-SERVICES')).toEqual({ count: 1, lookups: new Map() });
      const input = filter.get('INPUT')!;
      expect(input.count).toBe(3);
      expect([...input.lookups.keys()]).toEqual([2]);
      expect(input.lookups.get(2)).toEqual({ set: '@blocked', text: 'ip saddr @blocked drop', origin: { lineNumber: 7, text: JSON.stringify(ELEMENTS[6]) } });
      // What the snapshot derives from it is what it derived from the full records.
      expect(nftLookups(summary.records, summary.iptablesNftRules)).toEqual(nftLookups(full.records));
    });
  }

  it('says the same about input that is not a ruleset', () => {
    for (const text of ['', '{"nftables": [', '[1, 2]', '{"nftables": [{"rule": {"family": "ip"}}, {"table": 7}]}', '{"nftables": [{"table": {"family": "ip", "name": "filter"}}, {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "expr": "x"}}]}']) {
      const summary = parseNft(text, { summarizeIptablesNft: true });
      expect(summary.warnings, text).toEqual(parseNft(text).warnings);
    }
  });
});

describe('the snapshot of a host whose nft -j lists iptables-nft rules', () => {
  it('marks the rule nft shows with a set lookup, quoting nft, and holds no nft copy of the iptables rules', async () => {
    const bundle = await bigBundle({ counters: 3 });
    const snapshot = buildSnapshot(bundle);
    const hidden = snapshot.netfilter.v4.flatMap((t) => t.rules).filter((r) => r.nftHidden);
    expect(hidden.map((r) => r.origin.text)).toEqual(['[3:0] -A INPUT -j DROP']);
    expect(hidden[0].nftHidden!.reason).toBe('nft shows filter/INPUT rule 2 as "ip saddr @blocked drop": its lookup of @blocked is missing from iptables-save (iptables-nft does not print native nft matches)');
    expect(hidden[0].nftHidden!.origin).toEqual({ lineNumber: 5, text: JSON.stringify({ rule: { family: 'ip', table: 'filter', chain: 'INPUT', handle: 11, expr: [saddr('@blocked'), { drop: null }] } }), source: 'nft' });
    const filter = snapshot.nft.find((t) => t.name === 'filter')!;
    expect(filter.managedBy).toBe('iptables-nft');
    expect(filter.chains.map((c) => [c.name, c.rules.length])).toEqual([['INPUT', 0]]);
    const fw = snapshot.nft.find((t) => t.name === 'fw')!;
    expect(fw.chains[0].rules).toHaveLength(300);
    expect(fw.chains[0].rules[0].origin.source).toBe('nft');
  });
});
