/**
 * markNftHiddenMatches: pairing iptables-save's rules with nft -j's by table, chain and position
 * (the texts are what iptables-nft 1.8.9 and nft 1.0.6 printed for a lab chain with a native set rule).
 */
import { describe, expect, it } from 'vitest';
import { parse as parseIptables } from '../../parsers/iptables-save.js';
import { parse as parseNft } from '../../parsers/nft.js';
import { parse as parseNftText } from '../../parsers/nft-text.js';
import { markNftHiddenMatches, nftTextLookups } from '../../src/collect/nft-hidden.js';

const SAVE = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]',
  '-A INPUT -s 10.1.0.0/16 -j ACCEPT', '-A INPUT -j DROP', '-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT', 'COMMIT', ''].join('\n');

const saddr = (right: unknown) => ({ match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right } });
function nftJson(rules: unknown[][]): string {
  return JSON.stringify({ nftables: [
    { metainfo: { version: '1.0.6', json_schema_version: 1 } },
    { table: { family: 'ip', name: 'filter', handle: 1 } },
    { chain: { family: 'ip', table: 'filter', name: 'INPUT', handle: 1, type: 'filter', hook: 'input', prio: 0, policy: 'accept' } },
    ...rules.map((expr, k) => ({ rule: { family: 'ip', table: 'filter', chain: 'INPUT', handle: 10 + k, expr } })),
  ] });
}
const accept1 = [saddr({ prefix: { addr: '10.1.0.0', len: 16 } }), { accept: null }];
const tcp22 = [{ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 22 } }, { accept: null }];

function run(nftRules: unknown[][], save = SAVE) {
  const tables = parseIptables(save).records;
  const nft = parseNft(nftJson(nftRules)).records;
  expect(nft[0].managedBy).toBe('iptables-nft');
  const notices = markNftHiddenMatches(tables, nft, 4);
  return { rules: tables[0].rules, notices };
}

describe('markNftHiddenMatches', () => {
  it('marks the rule whose nft form looks a named set up, and only it', () => {
    const { rules, notices } = run([accept1, [saddr('@blocked'), { drop: null }], tcp22]);
    expect(rules.map((r) => Boolean(r.nftHidden))).toEqual([false, true, false]);
    expect(rules[1].nftHidden!.reason).toMatch(/filter\/INPUT rule 2 as ".*@blocked.*": its lookup of @blocked is missing from iptables-save/);
    expect(notices).toEqual([{ kind: 'nft-hidden-match', lineNumber: 6, text: '-A INPUT -j DROP' }]);
  });

  it('an anonymous set or a verdict map counts too', () => {
    const anon = run([accept1, [saddr({ set: ['10.9.9.9', '10.9.9.10'] }), { drop: null }], tcp22]);
    expect(anon.rules[1].nftHidden?.reason).toContain('an anonymous set');
    const vmap = run([accept1, [{ vmap: { key: { payload: { protocol: 'ip', field: 'saddr' } }, data: { set: [['10.9.9.9', { drop: null }]] } } }], tcp22]);
    expect(vmap.rules[1].nftHidden?.reason).toContain('a verdict map');
  });

  it('a log prefix starting with @ or a set statement is not a lookup', () => {
    const log = run([accept1, [{ log: { prefix: '@blocked ' } }, { drop: null }], tcp22]);
    expect(log.rules.some((r) => r.nftHidden)).toBe(false);
    const update = run([accept1, [{ set: { op: 'add', elem: { payload: { protocol: 'ip', field: 'saddr' } }, set: '@seen' } }, { drop: null }], tcp22]);
    expect(update.rules.some((r) => r.nftHidden)).toBe(false);
  });

  it("leaves iptables' own xt matches and plain rules alone", () => {
    const { rules, notices } = run([accept1, [{ xt: { type: 'match', name: 'set' } }, { drop: null }], tcp22]);
    expect(rules.some((r) => r.nftHidden)).toBe(false);
    expect(notices).toEqual([]);
  });

  it('when the counts differ the rules cannot be paired: every rule of the chain is marked', () => {
    const { rules, notices } = run([accept1, [saddr('@blocked'), { drop: null }]]);
    expect(rules.every((r) => r.nftHidden?.reason.includes('list 2 and 3 rules'))).toBe(true);
    expect(notices).toHaveLength(1);
  });

  it('ignores native tables and the other family', () => {
    const tables = parseIptables(SAVE).records;
    const nft = parseNft(nftJson([accept1, [saddr('@blocked'), { drop: null }], tcp22])).records;
    expect(markNftHiddenMatches(tables, nft, 6)).toEqual([]);
    nft[0].managedBy = 'native';
    expect(markNftHiddenMatches(tables, nft, 4)).toEqual([]);
    expect(tables[0].rules.some((r) => r.nftHidden)).toBe(false);
  });
});

describe('nftTextLookups: iptables-nft chains read from nft list ruleset text', () => {
  it("marks a lookup of the table's own set; not the anonymous set or ipset nft translated from iptables' own matches", () => {
    const save = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]',
      '-A INPUT -p udp -m multiport --dports 53,67 -j ACCEPT', '-A INPUT -m set --match-set foo src -j DROP', '-A INPUT -j DROP', 'COMMIT', ''].join('\n');
    // nft 1.0.6's text of that chain (multiport translated to an anonymous set; -m set as an nft built against libxtables prints it), plus a set added with nft.
    const text = ['table ip filter {', '\tset blocked {', '\t\ttype ipv4_addr', '\t\telements = { 10.9.9.9 }', '\t}', '',
      '\tchain INPUT {', '\t\ttype filter hook input priority filter; policy accept;',
      '\t\tmeta l4proto udp udp dport { 53, 67 } counter packets 0 bytes 0 accept', '\t\tip saddr @foo counter packets 0 bytes 0 drop',
      '\t\tip saddr @blocked counter packets 0 bytes 0 drop', '\t}', '}', ''].join('\n');
    const nft = parseNftText(text).records;
    expect(nft[0].managedBy).toBe('iptables-nft');
    const tables = parseIptables(save).records;
    const notices = markNftHiddenMatches(tables, nftTextLookups(nft), 4);
    expect(tables[0].rules.map((r) => Boolean(r.nftHidden))).toEqual([false, false, true]);
    expect(notices.map((n) => n.text)).toEqual(['-A INPUT -j DROP']);
  });
});
