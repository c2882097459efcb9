import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parser, renderStatement } from '../../parsers/nft.js';
import { repoRoot } from '../helpers/samples.js';

const doc = (...els: unknown[]): string => JSON.stringify({ nftables: [{ metainfo: { version: '1.0.6', release_name: 'x', json_schema_version: 1 } }, ...els] });
const table = (family: string, name: string) => ({ table: { family, name, handle: 1 } });
const base = (family: string, t: string, name: string, hook: string, prio: number | string) => ({ chain: { family, table: t, name, handle: 2, type: 'filter', hook, prio, policy: 'accept' } });
const rule = (family: string, t: string, chain: string, expr: unknown[]) => ({ rule: { family, table: t, chain, handle: 3, expr } });

describe('nft: examples', () => {
  it('reads tables, base and regular chains, rules with text and counters, sets', () => {
    const r = parse(doc(
      table('inet', 'fw'),
      base('inet', 'fw', 'input', 'input', 0),
      { chain: { family: 'inet', table: 'fw', name: 'common', handle: 3 } },
      { set: { family: 'inet', table: 'fw', name: 'ok', handle: 4, type: 'ipv4_addr', flags: ['interval'], elem: [{ prefix: { addr: '10.0.0.0', len: 8 } }] } },
      rule('inet', 'fw', 'input', [
        { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@ok' } },
        { counter: { packets: 3, bytes: 180 } },
        { jump: { target: 'common' } },
      ]),
    ));
    expect(r.warnings).toEqual([]);
    expect(r.metainfo).toEqual({ version: '1.0.6', releaseName: 'x', jsonSchemaVersion: 1 });
    const t = r.records[0];
    expect([t.family, t.name, t.managedBy]).toEqual(['inet', 'fw', 'native']);
    expect(t.origin.lineNumber).toBe(2);
    expect(t.chains.map((c) => [c.name, c.hook, c.priority, c.priorityName, c.policy])).toEqual([
      ['input', 'input', 0, 'filter', 'accept'], ['common', undefined, undefined, undefined, undefined],
    ]);
    const rr = t.chains[0].rules[0];
    expect(rr.text).toBe('ip saddr @ok counter packets 3 bytes 180 jump common');
    expect(rr.counters).toEqual({ packets: 3, bytes: 180 });
    expect(rr.origin).toEqual({ lineNumber: 6, text: JSON.stringify(rule('inet', 'fw', 'input', rr.expr)) });
    expect(t.sets[0]).toMatchObject({ kind: 'set', name: 'ok', type: 'ipv4_addr', flags: ['interval'] });
  });

  it('marks iptables-nft tables by xt statements or by capital hook-named chains', () => {
    const r = parse(doc(
      table('ip', 'filter'), base('ip', 'filter', 'INPUT', 'input', 0),
      table('ip', 'nat'), base('ip', 'nat', 'prerouting', 'prerouting', -100), rule('ip', 'nat', 'prerouting', [{ xt: { type: 'match', name: 'comment' } }]),
      table('ip', 'mangle'), base('ip', 'mangle', 'pre', 'prerouting', -150),
      table('inet', 'filter'), base('inet', 'filter', 'INPUT', 'input', 0),
      table('ip6', 'raw'),
    ));
    expect(r.records.map((t) => `${t.family} ${t.name} ${t.managedBy}`)).toEqual([
      'ip filter iptables-nft', 'ip nat iptables-nft', 'ip mangle native', 'inet filter native', 'ip6 raw native',
    ]);
  });

  it('renders common statements', () => {
    expect(renderStatement({ match: { op: '!=', left: { meta: { key: 'oifname' } }, right: 'docker0' } })).toBe('oifname != "docker0"');
    expect(renderStatement({ match: { op: 'in', left: { ct: { key: 'state' } }, right: ['established', 'related'] } })).toBe('ct state established,related');
    expect(renderStatement({ dnat: { addr: '10.0.0.5', port: 80 } })).toBe('dnat to 10.0.0.5:80');
    expect(renderStatement({ xt: { type: 'target', name: 'MASQUERADE' } })).toBe('xt target MASQUERADE');
    expect(renderStatement({ something: {} })).toBe('something');
    expect(renderStatement(42)).toBe('?');
  });

  it('warns per unreadable element and once for text that is not JSON', () => {
    const r = parse(doc(table('ip', 'x'), 'str', { chain: { family: 'ip', table: 'nope', name: 'c' } }, rule('ip', 'x', 'nochain', []), { a: {}, b: {} }));
    expect(r.warnings.map((w) => w.lineNumber)).toEqual([3, 4, 5, 6]);
    const bad = parse('{"nftables": [\n{"table": }\n]}');
    expect(bad.warnings).toHaveLength(1);
    // Node's message carries no position on every version: the line is the error's when it does, else 1.
    expect([1, 2]).toContain(bad.warnings[0].lineNumber);
    expect(parse('{"foo": 1}').warnings).toHaveLength(1);
    expect(parse('').warnings).toEqual([]);
  });

  it('reads the captured ruleset: iptables-nft tables and native ones side by side', () => {
    const text = readFileSync(join(repoRoot, 'fixtures/nft/captured-iptables-nft-and-native.in.json'), 'utf8');
    const r = parse(text);
    expect(r.warnings).toEqual([]);
    expect(r.records.map((t) => `${t.family} ${t.name} ${t.managedBy}`)).toEqual([
      'ip filter iptables-nft', 'ip nat iptables-nft', 'ip mangle iptables-nft', 'ip raw iptables-nft', 'ip6 filter iptables-nft',
      'inet hcfw native', 'ip hcnat native',
    ]);
  });

  it('exports the parser contract', () => {
    expect(parser.name).toBe('nft');
  });
});

describe('nft: properties', () => {
  it('every valid element becomes its table, chain or rule; every bad one exactly one warning', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/);
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(name, fc.constantFrom('ip', 'ip6', 'inet'), fc.array(name, { maxLength: 3 }), fc.nat(5)), { selector: (t) => `${t[1]} ${t[0]}`, maxLength: 4 }), fc.array(fc.tuple(fc.nat(20), fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant({ chain: { family: 'ip', table: '#none', name: 'x' } }))), { maxLength: 4 }), (tables, junk) => {
        const items: { el: unknown; bad: boolean }[] = [];
        for (const [t, family, chains, rules] of tables) {
          items.push({ el: table(family, t), bad: false });
          const unique = [...new Set(chains)];
          for (const c of unique) items.push({ el: { chain: { family, table: t, name: c, handle: 1 } }, bad: false });
          if (unique.length > 0) for (let k = 0; k < rules; k++) items.push({ el: rule(family, t, unique[0], [{ accept: null }]), bad: false });
        }
        for (const [at, j] of junk) items.splice(Math.min(at, items.length), 0, { el: j, bad: true });
        const r = parse(JSON.stringify({ nftables: items.map((x) => x.el) }));
        expect(r.warnings.map((w) => w.lineNumber)).toEqual(items.flatMap((x, i) => (x.bad ? [i + 1] : [])));
        expect(r.records.map((t) => t.name)).toEqual(tables.map((t) => t[0]));
        r.records.forEach((rec, i) => {
          const unique = [...new Set(tables[i][2])];
          expect(rec.chains.map((c) => c.name)).toEqual(unique);
          if (unique.length > 0) expect(rec.chains[0].rules.map((x) => x.text)).toEqual(Array(tables[i][3]).fill('accept'));
        });
      }),
      { numRuns: 200 },
    );
  });

  it('never throws on any string or JSON value', () => {
    fc.assert(fc.property(fc.string(), (s) => void parse(s)), { numRuns: 200 });
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => void parse(s)), { numRuns: 200 });
    fc.assert(fc.property(fc.jsonValue(), (v) => void parse(JSON.stringify({ nftables: [v, { rule: v }, { chain: v }, { table: v }] }))), { numRuns: 200 });
  });
});

describe('nft: element by element', () => {
  // The usual shape is read one element at a time; anything else goes through one JSON.parse.
  const whole = (text: string): string => text.replace(/^\s*\{/, '{"other": 0, ');
  it('gives what one JSON.parse of the document gives, for the fixtures and for generated documents', () => {
    for (const name of ['captured-iptables-nft-and-native', 'written-firewalld', 'written-errors']) {
      const text = readFileSync(join(repoRoot, 'fixtures', 'nft', `${name}.in.json`), 'utf8');
      expect(parse(text)).toEqual(parse(whole(text)));
    }
    const value = fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }));
    const el = fc.oneof(
      fc.constant(table('ip', 'filter')), fc.constant(base('ip', 'filter', 'INPUT', 'input', 0)),
      fc.record({ rule: fc.record({ family: fc.constant('ip'), table: fc.constant('filter'), chain: fc.constant('INPUT'), comment: fc.string(), expr: fc.array(fc.dictionary(fc.string({ maxLength: 4 }), value), { maxLength: 3 }) }) }),
      value,
    );
    fc.assert(fc.property(fc.array(el, { maxLength: 8 }), fc.constantFrom('', ' ', '\n  '), (els, space) => {
      const text = JSON.stringify({ nftables: els }, null, space.length > 1 ? 2 : undefined);
      expect(parse(text)).toEqual(parse(whole(text)));
    }), { numRuns: 300 });
  });
});
