import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parseIptablesList, parser } from '../../parsers/iptables-list.js';
import { parseIptables } from '../../parsers/iptables-save.js';
import type { IptablesRule } from '../../src/model/netfilter.js';
import { evaluatePacket } from '../../src/simulate/netfilter.js';
import { repoRoot } from '../helpers/samples.js';

const fixture = (name: string) => readFileSync(join(repoRoot, 'fixtures', 'iptables-list', name), 'utf8');

/** A rule without what only one of the two forms has: where it came from, counters, the listing's marks. */
const bare = ({ origin: _o, counters: _c, readBackAs: _r, approximate: _a, ...rest }: IptablesRule) => rest;

describe('iptables-list: the same records as iptables-save', () => {
  // Both captured at once from one namespace (iptables v1.8.9, nf_tables): `iptables -t T -nvL` for
  // filter, nat, mangle and raw, and iptables-save.
  const listed = parseIptablesList(fixture('captured-every-table-nvL.txt'));
  const saved = parseIptables(readFileSync(join(repoRoot, 'test', 'parsers', 'iptables-list-same-ruleset.save.txt'), 'utf8'));

  it('every table, chain (policy, builtin) and rule, position by position', () => {
    expect(listed.records.map((t) => t.name).sort()).toEqual(saved.records.map((t) => t.name).sort());
    const differ: string[] = [];
    for (const s of saved.records) {
      const l = listed.records.find((t) => t.name === s.name)!;
      expect(l.form).toBe('listing');
      expect(l.chains.map((c) => [c.name, c.policy, c.builtin])).toEqual(s.chains.map((c) => [c.name, c.policy, c.builtin]));
      expect(l.rules).toHaveLength(s.rules.length);
      s.rules.forEach((r, i) => {
        if (JSON.stringify(bare(l.rules[i])) !== JSON.stringify(bare(r))) differ.push(`${s.name} ${r.chain} ${r.position}: ${l.rules[i].approximate ? 'approximate' : r.origin.text}`);
      });
    }
    // What differs: the same marks written otherwise (the listing's `MARK or 0x10` is save's
    // --set-xmark 0x10/0x10), iptables-nft's NOTRACK listed as CT, LOG's prefix (LOG only logs),
    // and the two rules the listing cannot print whole.
    expect(differ).toEqual([
      'mangle PREROUTING 1: -A PREROUTING -j MARK --set-xmark 0x10/0x10',
      'mangle OUTPUT 1: -A OUTPUT -j MARK --set-xmark 0x0/0xffffff0f',
      'mangle OUTPUT 4: -A OUTPUT -j MARK --set-xmark 0x5/0x0',
      'raw PREROUTING 2: -A PREROUTING -j NOTRACK',
      'filter INPUT 29: approximate',
      'filter INPUT 38: -A INPUT -j LOG --log-prefix "x y "',
      'filter INPUT 46: approximate',
    ]);
  });

  it('keeps the listing\'s line as the origin and the save line it was read back as', () => {
    const rule = listed.records.find((t) => t.name === 'nat')!.rules.find((r) => r.target?.name === 'DNAT')!;
    expect(rule.origin.text).toMatch(/^\s+0\s+0 DNAT\s+6\s+--.*tcp dpt:8080 to:172\.17\.0\.2:80$/);
    expect(fixture('captured-every-table-nvL.txt').split('\n')[rule.origin.lineNumber - 1]).toBe(rule.origin.text);
    expect(rule.readBackAs).toBe('[0:0] -A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80');
  });

  it('warns, with the line, for each rule read approximately', () => {
    expect(listed.approximate.map((w) => w.reason)).toEqual([
      expect.stringMatching(/printed "recent: CHECK seconds: 60 name: ssh side: source mask: 255.255.255.255", which hostcheck does not read back: whether the rule matches is not known$/),
      expect.stringMatching(/printed "statistic mode random probability 0.50000000000"/),
    ]);
    expect(listed.warnings).toEqual(listed.approximate);
  });
});

describe('iptables-list: what the evaluator makes of it', () => {
  it('a rule whose match was lost is undecided; one whose every match was read is decided', () => {
    const text = [
      'Chain INPUT (policy ACCEPT 0 packets, 0 bytes)',
      '    pkts      bytes target     prot opt in     out     source               destination',
      '       0        0 DROP       0    --  *      *       10.0.0.1             0.0.0.0/0            length 2000:3000',
      '       0        0 DROP       6    --  *      *       10.0.0.2             0.0.0.0/0            tcp dpt:22',
    ].join('\n');
    const { records } = parse(text);
    const verdict = (src: string) => evaluatePacket({ tables: records }, { family: 4, src, dst: '10.9.0.1', proto: 'tcp', sport: 40000, dport: 22, inIf: 'eth0' }, { path: 'input' });
    const one = verdict('10.0.0.1');
    expect(one.verdict).toBe('undecided');
    expect(JSON.stringify(one)).toMatch(/length 2000:3000/);
    expect(verdict('10.0.0.2').verdict).toBe('drop');
    expect(verdict('10.0.0.3').verdict).toBe('accept');
  });

  it('names the table from a "# iptables -t NAME -nvL" line; "filter" without one', () => {
    const chain = 'Chain POSTROUTING (policy ACCEPT 0 packets, 0 bytes)\n pkts bytes target     prot opt in     out     source               destination\n    0     0 MASQUERADE  0    --  *      eth0    10.1.0.0/16          0.0.0.0/0\n';
    expect(parse(`# iptables -t nat -nvL\n${chain}`).records.map((t) => [t.name, t.rules[0].target?.name])).toEqual([['nat', 'MASQUERADE']]);
    expect(parse(chain).records.map((t) => t.name)).toEqual(['filter']);
  });

  it('is registered under its file name', () => {
    expect(parser.name).toBe('iptables-list');
  });
});

describe('iptables-list: properties', () => {
  it('never throws on any string, and every warning has a line number within the input', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => {
      const r = parse(s);
      const lines = s.split('\n').length;
      for (const w of r.warnings) expect(w.lineNumber).toBeLessThanOrEqual(lines);
    }));
    const line = fc.constantFrom('Chain INPUT (policy ACCEPT 0 packets, 0 bytes)', ' pkts bytes target prot opt in out source destination', '    0 0 ACCEPT 6 -- * * 0.0.0.0/0 0.0.0.0/0 tcp dpt:!', '    0 0 DROP 0 -- * * ! ! /* x', '    1K 2M  0 -- eth0 * 1.2.3.4 5.6.7.8 multiport', '# iptables -t', '    0 0 X 0 -f * * ::/0 ::/0 MARK set', '');
    fc.assert(fc.property(fc.array(line, { maxLength: 12 }), (ls) => {
      const r = parse(ls.join('\n'));
      expect(Array.isArray(r.records)).toBe(true);
    }));
  });
});
