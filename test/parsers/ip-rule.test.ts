import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parser, type IpRuleRecord } from '../../parsers/ip-rule.js';
import { describeSamples } from '../helpers/samples.js';

function strip(r: IpRuleRecord): Omit<IpRuleRecord, 'origin'> {
  const { origin: _origin, ...rest } = r;
  return JSON.parse(JSON.stringify(rest));
}

function one(line: string, family?: 4 | 6): IpRuleRecord {
  const result = parse(line, { family });
  expect(result.warnings).toEqual([]);
  expect(result.records).toHaveLength(1);
  return result.records[0];
}

/** `ip rule` in a namespace (iproute2 6.1) after adding rules with every selector. */
const CAPTURED_V4_TEXT = "0:\tfrom all lookup local\n100:\tfrom 10.0.0.0/8 lookup 100\n100:\tfrom all fwmark 0x7 lookup 100\n200:\tnot from 10.1.0.0/16 to 10.2.0.0/16 tos 0x10 fwmark 0x1/0xff iif d0 oif d1 lookup 200\n201:\tfrom all iif nosuch [detached] lookup 200\n300:\tfrom all uidrange 1000-2000 ipproto tcp sport 1000-2000 dport 80 lookup main suppress_prefixlength 0\n301:\tfrom all goto 32766\n302:\tfrom all nop\n303:\tfrom all blackhole\n304:\tfrom 10.9.9.9 unreachable\n305:\tfrom all lookup main suppress_ifgroup 5 prohibit\n306:\tfrom all fwmark 0x5 lookup 100 realms 2/3\n308:\tfrom all goto 400 [unresolved]\n500:\tfrom all lookup 12345 proto static\n501:\tfrom all to 10.3.0.0/16 oif nosuch2 [detached] lookup 5\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n";
const CAPTURED_V4_JSON = "[{\"priority\":0,\"src\":\"all\",\"table\":\"local\"},{\"priority\":100,\"src\":\"10.0.0.0\",\"srclen\":8,\"table\":\"100\"},{\"priority\":100,\"src\":\"all\",\"fwmark\":\"0x7\",\"table\":\"100\"},{\"priority\":200,\"not\":null,\"src\":\"10.1.0.0\",\"srclen\":16,\"dst\":\"10.2.0.0\",\"dstlen\":16,\"tos\":\"0x10\",\"fwmark\":\"0x1\",\"fwmask\":\"0xff\",\"iif\":\"d0\",\"oif\":\"d1\",\"table\":\"200\"},{\"priority\":201,\"src\":\"all\",\"iif\":\"nosuch\",\"iif_detached\":null,\"table\":\"200\"},{\"priority\":300,\"src\":\"all\",\"uid_start\":1000,\"uid_end\":2000,\"ipproto\":\"tcp\",\"sport_start\":1000,\"sport_end\":2000,\"dport\":80,\"table\":\"main\",\"suppress_prefixlen\":0},{\"priority\":301,\"src\":\"all\",\"goto\":32766},{\"priority\":302,\"src\":\"all\",\"nop\":null},{\"priority\":303,\"src\":\"all\",\"action\":\"blackhole\"},{\"priority\":304,\"src\":\"10.9.9.9\",\"action\":\"unreachable\"},{\"priority\":305,\"src\":\"all\",\"table\":\"main\",\"suppress_ifgroup\":\"5\",\"action\":\"prohibit\"},{\"priority\":306,\"src\":\"all\",\"fwmark\":\"0x5\",\"table\":\"100\",\"flow_from\":\"2\",\"flow_to\":\"3\"},{\"priority\":308,\"src\":\"all\",\"goto\":400,\"unresolved\":null},{\"priority\":500,\"src\":\"all\",\"table\":\"12345\",\"protocol\":\"static\"},{\"priority\":501,\"src\":\"all\",\"dst\":\"10.3.0.0\",\"dstlen\":16,\"oif\":\"nosuch2\",\"oif_detached\":null,\"table\":\"5\"},{\"priority\":32766,\"src\":\"all\",\"table\":\"main\"},{\"priority\":32767,\"src\":\"all\",\"table\":\"default\"}]";
const CAPTURED_V6_TEXT = "0:\tfrom all lookup local\n100:\tfrom 2001:db8::/32 lookup 100\n101:\tfrom all to 2001:db8:1::5 ipproto udp dport 443 lookup 100\n32766:\tfrom all lookup main\n";
const CAPTURED_V6_JSON = "[{\"priority\":0,\"src\":\"all\",\"table\":\"local\"},{\"priority\":100,\"src\":\"2001:db8::\",\"srclen\":32,\"table\":\"100\"},{\"priority\":101,\"src\":\"all\",\"dst\":\"2001:db8:1::5\",\"ipproto\":\"udp\",\"dport\":443,\"table\":\"100\"},{\"priority\":32766,\"src\":\"all\",\"table\":\"main\"}]";

describe('ip-rule text: examples', () => {
  it('reads the default rules and turns from all into 0.0.0.0/0', () => {
    const { records, warnings, form } = parse('0:\tfrom all lookup local\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n');
    expect(form).toBe('text');
    expect(warnings).toEqual([]);
    expect(records.map(strip)).toEqual([
      { family: 4, priority: 0, not: false, from: '0.0.0.0/0', action: 'lookup', table: 'local', flags: [] },
      { family: 4, priority: 32766, not: false, from: '0.0.0.0/0', action: 'lookup', table: 'main', flags: [] },
      { family: 4, priority: 32767, not: false, from: '0.0.0.0/0', action: 'lookup', table: 'default', flags: [] },
    ]);
    expect(records[0].origin).toEqual({ lineNumber: 1, text: '0:\tfrom all lookup local' });
  });

  it('reads every selector', () => {
    const r = one('200:\tnot from 10.1.0.0/16 to 10.2.0.0/16 tos 0x10 fwmark 0x1/0xff iif d0 [detached] oif d1 [detached] uidrange 1000-2000 ipproto tcp sport 1000-2000 dport 80 lookup 200 suppress_prefixlength 0 suppress_ifgroup 5 realms 2/3 proto static');
    expect(strip(r)).toEqual({
      family: 4, priority: 200, not: true, from: '10.1.0.0/16', to: '10.2.0.0/16', tos: '0x10', fwmark: 1, fwmask: 0xff,
      iif: 'd0', oif: 'd1', uidrange: { start: 1000, end: 2000 }, ipproto: 'tcp', sport: { start: 1000, end: 2000 },
      dport: { start: 80, end: 80 }, action: 'lookup', table: '200', suppressPrefixlength: 0, suppressIfgroup: '5',
      flags: ['detached'], extra: { realms: '2/3', proto: 'static' },
    });
  });

  it('gives a fwmark without a mask the full mask', () => {
    expect(one('100:\tfrom all fwmark 0x7 lookup 100')).toMatchObject({ fwmark: 7, fwmask: 0xffffffff });
  });

  it('reads every action', () => {
    expect(one('301:\tfrom all goto 32766')).toMatchObject({ action: 'goto', goto: 32766 });
    expect(one('308:\tfrom all goto 400 [unresolved]')).toMatchObject({ action: 'goto', goto: 400, flags: ['unresolved'] });
    expect(one('302:\tfrom all nop').action).toBe('nop');
    expect(one('303:\tfrom all blackhole').action).toBe('blackhole');
    expect(one('304:\tfrom 10.9.9.9 unreachable')).toMatchObject({ action: 'unreachable', from: '10.9.9.9/32' });
    expect(one('305:\tfrom all lookup main suppress_ifgroup 5 prohibit')).toMatchObject({ action: 'prohibit', table: 'main' });
    expect(one('10:\tfrom all lookup 100 l3mdev').flags).toEqual(['l3mdev']);
  });

  it('keeps old NAT rules (map-to) with their lookup', () => {
    expect(one('320:\tfrom 10.0.0.0/8 lookup main map-to 192.168.0.1')).toMatchObject({ action: 'lookup', extra: { 'map-to': '192.168.0.1' } });
  });

  it('takes the family from addresses, the hint, or the other rules of the input', () => {
    expect(one('0:\tfrom all lookup local').family).toBe(4);
    expect(one('0:\tfrom all lookup local', 6)).toMatchObject({ family: 6, from: '::/0' });
    const v6 = parse('0:\tfrom all lookup local\n100:\tfrom 2001:db8::/32 lookup 100\n101:\tfrom all to 2001:db8:1::5 lookup 5\n');
    expect(v6.records.map((r) => [r.family, r.from, r.to])).toEqual([[6, '::/0', undefined], [6, '2001:db8::/32', undefined], [6, '::/0', '2001:db8:1::5/128']]);
    expect(one('9:\tfrom 0/8 lookup 5').from).toBe('0.0.0.0/8');
  });

  it('allows repeated priorities and any spacing after the colon', () => {
    const { records } = parse('110:\tfrom 192.168.96.185 to 192.168.0.0/16 lookup 3\n110:    from 192.168.24.154 lookup 20 \n');
    expect(records.map((r) => r.priority)).toEqual([110, 110]);
  });

  it('warns once per unreadable line and goes on', () => {
    const text = 'garbage\n0:\tfrom all lookup local\nx:\tfrom all lookup main\n5:\tfrom 10.0.0.0/33 lookup 1\n6:\tfrom all\n7:\tfrom all frobnicate 3 lookup 1\n8:\tfrom all fwmark zz lookup 1\n9:\tfrom 10.0.0.1 to 2001:db8::1 lookup 1\n10:\tlookup 5\n';
    const { records, warnings } = parse(text);
    expect(records.map((r) => r.origin.lineNumber)).toEqual([2]);
    expect(warnings.map((w) => w.lineNumber)).toEqual([1, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('registers as a parser', () => {
    expect(parser.name).toBe('ip-rule');
    expect(parser.parse('0:\tfrom all lookup local').records).toHaveLength(1);
  });
});

describe('ip-rule JSON', () => {
  it('gives the same records as the text form (captured in a namespace)', () => {
    for (const [text, json] of [[CAPTURED_V4_TEXT, CAPTURED_V4_JSON], [CAPTURED_V6_TEXT, CAPTURED_V6_JSON]]) {
      const t = parse(text);
      const j = parse(json);
      expect(t.warnings).toEqual([]);
      expect(j.warnings).toEqual([]);
      expect(j.form).toBe('json');
      expect(j.records.map(strip)).toEqual(t.records.map(strip));
      expect(t.records.length).toBe(text.trim().split('\n').length);
    }
    expect(parse(CAPTURED_V6_TEXT).records.every((r) => r.family === 6)).toBe(true);
  });

  it('warns per bad element with its index+1', () => {
    const { records, warnings } = parse('[{"priority":0,"src":"all","table":"local"}, 7, {"src":"all"}, {"priority":1,"src":"nonsense","table":"x"}, {"priority":2,"src":"all"}, {"priority":3,"src":"all","action":"weird"}]');
    expect(records).toHaveLength(1);
    expect(warnings.map((w) => w.lineNumber)).toEqual([2, 3, 4, 5, 6]);
    expect(parse('[{').warnings).toHaveLength(1);
  });
});

// ---- property tests ------------------------------------------------------------------------------

const octet = fc.integer({ min: 0, max: 255 });
const v4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
const v6 = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(':'));
const word = fc.stringMatching(/^[a-z][a-z0-9._-]{0,10}$/);

function selector(fam: 4 | 6): fc.Arbitrary<{ text: string; canon: string }> {
  const addr = fam === 4 ? v4 : v6;
  const max = fam === 4 ? 32 : 128;
  return fc.oneof(
    fc.constant({ text: 'all', canon: fam === 4 ? '0.0.0.0/0' : '::/0' }),
    addr.map((a) => ({ text: a, canon: `${a}/${max}` })),
    fc.tuple(addr, fc.integer({ min: 0, max: max - 1 })).map(([a, l]) => ({ text: `${a}/${l}`, canon: `${a}/${l}` })),
  );
}

const range = fc.tuple(fc.nat(65535), fc.nat(65535)).map(([a, b]) => ({ start: Math.min(a, b), end: Math.max(a, b) }));

const ruleLine = fc.constantFrom<4 | 6>(4, 6).chain((fam) =>
  fc.record({
    priority: fc.nat(32767),
    not: fc.boolean(),
    from: selector(fam),
    to: fc.option(selector(fam), { nil: undefined }),
    fwmark: fc.option(fc.tuple(fc.nat(0xffff), fc.option(fc.nat(0xffff), { nil: undefined })), { nil: undefined }),
    iif: fc.option(word, { nil: undefined }),
    oif: fc.option(word, { nil: undefined }),
    uidrange: fc.option(range, { nil: undefined }),
    dport: fc.option(range, { nil: undefined }),
    action: fc.oneof(
      word.map((t) => ({ kw: `lookup ${t}`, action: 'lookup' as const, table: t })),
      fc.nat(32767).map((g) => ({ kw: `goto ${g}`, action: 'goto' as const, goto: g })),
      fc.constantFrom('nop', 'blackhole', 'unreachable', 'prohibit').map((a) => ({ kw: a, action: a })),
    ),
    sep: fc.constantFrom('\t', '    '),
  }).map((m) => {
    // An address names the family; rules without one get the hint.
    const parts: string[] = [];
    if (m.not) parts.push('not');
    parts.push(`from ${m.from.text}`);
    if (m.to) parts.push(`to ${m.to.text}`);
    if (m.fwmark) parts.push(`fwmark 0x${m.fwmark[0].toString(16)}${m.fwmark[1] !== undefined ? `/0x${m.fwmark[1].toString(16)}` : ''}`);
    if (m.iif) parts.push(`iif ${m.iif}`);
    if (m.oif) parts.push(`oif ${m.oif}`);
    if (m.uidrange) parts.push(`uidrange ${m.uidrange.start}-${m.uidrange.end}`);
    if (m.dport) parts.push(`dport ${m.dport.start === m.dport.end ? m.dport.start : `${m.dport.start}-${m.dport.end}`}`);
    parts.push(m.action.kw);
    const expected: Partial<IpRuleRecord> = {
      family: fam, priority: m.priority, not: m.not, from: m.from.canon, to: m.to?.canon,
      fwmark: m.fwmark?.[0], fwmask: m.fwmark ? (m.fwmark[1] ?? 0xffffffff) : undefined,
      iif: m.iif, oif: m.oif, uidrange: m.uidrange, dport: m.dport, action: m.action.action,
      table: 'table' in m.action ? m.action.table : undefined, goto: 'goto' in m.action ? m.action.goto : undefined,
    };
    return { line: `${m.priority}:${m.sep}${parts.join(' ')}`, expected, fam };
  }),
);

const garbageLine = fc.oneof(
  fc.stringMatching(/^[A-Za-z!%#@=][ -~]{0,30}$/),
  fc.constantFrom('0:', '1: from', '2: from all', '3: from all lookup', 'x: from all lookup main', '4: from 1.2.3 lookup 1',
    '5: from all fwmark 0xZZ lookup 1', '6: from all uidrange a-b lookup 1', '7: from all goto x', 'Error: argument is wrong'),
);

describe('ip-rule properties', () => {
  it('reads every valid line into its record and warns exactly once per garbage line', () => {
    fc.assert(
      fc.property(fc.constantFrom<4 | 6>(4, 6), fc.array(fc.oneof(ruleLine.map((v) => ({ valid: v })), garbageLine.map((g) => ({ garbage: g }))), { maxLength: 30 }), (fam, raw) => {
        // One `ip rule` output is one family.
        const items = raw.filter((x) => !('valid' in x) || x.valid.fam === fam);
        const text = items.map((x) => ('valid' in x ? x.valid.line : x.garbage)).join('\n');
        const { records, warnings } = parse(text, { family: fam });
        const validLines = items.flatMap((x, i) => ('valid' in x ? [{ n: i + 1, m: x.valid }] : []));
        expect(records.map((r) => r.origin.lineNumber)).toEqual(validLines.map((v) => v.n));
        expect(warnings.map((w) => w.lineNumber)).toEqual(items.flatMap((x, i) => ('garbage' in x ? [i + 1] : [])));
        records.forEach((r, k) => {
          for (const [key, v] of Object.entries(validLines[k].m.expected)) expect((r as unknown as Record<string, unknown>)[key], key).toEqual(v);
          expect(r.origin.text).toBe(validLines[k].m.line);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('never throws on any string', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => { parse(s); parse(`[${s}]`); }), { numRuns: 200 });
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (s) => { parse(s); }), { numRuns: 200 });
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => { parse(s, { family: 6 }); }), { numRuns: 200 });
  });

  it('never throws on mutations of valid input', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(2000), fc.nat(5), fc.string({ maxLength: 4 })), { maxLength: 8 }), (edits) => {
        for (const base of [CAPTURED_V4_TEXT, CAPTURED_V4_JSON]) {
          let s = base;
          for (const [at, del, ins] of edits) s = s.slice(0, at % s.length) + ins + s.slice((at % s.length) + del);
          parse(s);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describeSamples('ip-rule', parse);
