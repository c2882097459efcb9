import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parser } from '../../parsers/ipsec-conf.js';

describe('ipsec-conf: examples', () => {
  it('reads a conn with %default and also= applied', () => {
    const text = [
      'config setup',
      '    uniqueids=no',
      'conn %default',
      '    auto=start',
      'conn base',
      '    left=10.100.1.18',
      '    right=198.51.100.2',
      'conn vpc-to-cloud',
      '    also=base',
      '    leftsubnet=10.16.0.0/16',
      '    rightsubnet=10.200.0.0/20',
    ].join('\n');
    const r = parse(text);
    expect(r.warnings).toEqual([]);
    const rec = r.records.find((x) => x.connection === 'vpc-to-cloud')!;
    expect(rec).toEqual({
      format: 'ipsec-conf', connection: 'vpc-to-cloud', localAddrs: ['10.100.1.18'], remoteAddrs: ['198.51.100.2'],
      localTs: ['10.16.0.0/16'], remoteTs: ['10.200.0.0/20'],
      localTsOrigin: { lineNumber: 10, text: '    leftsubnet=10.16.0.0/16' },
      remoteTsOrigin: { lineNumber: 11, text: '    rightsubnet=10.200.0.0/20' },
      start: 'start', sidesByConvention: true, origin: { lineNumber: 8, text: 'conn vpc-to-cloud' },
    });
    expect(r.records.find((x) => x.connection === 'base')?.localTs).toEqual(['10.100.1.18/32']);
  });

  it('reads comma lists and libreswan leftsubnets={...}; without a subnet the side is its address or dynamic', () => {
    const r = parse('conn a\n\tleft=%defaultroute\n\tright=203.0.113.9\n\tleftsubnets={10.16.0.0/16 10.64.0.0/16}\n\trightsubnet=10.200.0.0/20,10.201.0.0/24\n');
    expect(r.records[0].localTs).toEqual(['10.16.0.0/16', '10.64.0.0/16']);
    expect(r.records[0].remoteTs).toEqual(['10.200.0.0/20', '10.201.0.0/24']);
    expect(parse('conn b\n  left=%any\n').records[0].localTs).toEqual(['dynamic']);
  });

  it('warns on includes, unknown also=, bad subnets and stray lines; once per line', () => {
    const r = parse('conn a\n  also=x\n  leftsubnet=10.999.0.0/8\n badline\ninclude /etc/ipsec.d/*.conf\nfoo bar\nconn b\n  also=a\n');
    expect(r.warnings.map((w) => w.lineNumber)).toEqual([2, 3, 4, 5, 6]);
  });

  it('is registered under its file name', () => {
    expect(parser.name).toBe('ipsec-conf');
  });
});

const octet = fc.integer({ min: 0, max: 255 });
const cidr = fc.tuple(octet, fc.integer({ min: 16, max: 32 })).map(([a, len]) => {
  const n = ((10 << 24) | (a << 16)) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (((n & (0xffffffff << (32 - len))) >>> 0) >>> s) & 255).join('.')}/${len}`;
});
const connModel = fc.record({
  name: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/),
  left: octet.map((o) => `192.0.2.${o}`),
  right: octet.map((o) => `198.51.100.${o}`),
  leftsubnet: fc.option(fc.array(cidr, { minLength: 1, maxLength: 3 }), { nil: undefined }),
  rightsubnet: fc.array(cidr, { minLength: 1, maxLength: 2 }),
  tab: fc.boolean(),
});

describe('ipsec-conf: properties', () => {
  it('every rendered conn becomes its record; every garbage line one warning', () => {
    fc.assert(
      fc.property(fc.uniqueArray(connModel, { minLength: 1, maxLength: 5, selector: (c) => c.name }), fc.array(fc.nat(4)), (conns, g) => {
        const lines: string[] = ['config setup', '  charondebug="ike 1"'];
        const garbage: number[] = [];
        const after = new Set(g);
        conns.forEach((c, i) => {
          const ind = c.tab ? '\t' : '    ';
          lines.push('', `conn ${c.name}`, `${ind}left=${c.left}`, `${ind}right=${c.right}   # peer`);
          if (c.leftsubnet) lines.push(`${ind}leftsubnet=${c.leftsubnet.join(',')}`);
          lines.push(`${ind}rightsubnet=${c.rightsubnet.join(', ')}`, `${ind}auto=start`);
          if (after.has(i)) { lines.push('%%garbage%%'); garbage.push(lines.length); }
        });
        const r = parse(lines.join('\n'));
        expect(r.warnings.map((w) => w.lineNumber)).toEqual(garbage);
        expect(r.records.map((x) => [x.connection, x.localAddrs, x.localTs, x.remoteTs])).toEqual(
          conns.map((c) => [c.name, [c.left], c.leftsubnet ?? [`${c.left}/32`], c.rightsubnet]),
        );
      }),
      { numRuns: 150 },
    );
  });

  it('never throws on any string, and warnings point at real lines', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
      const r = parse(s);
      const n = s.split('\n').length;
      for (const w of r.warnings) expect(w.lineNumber >= 1 && w.lineNumber <= n).toBe(true);
    }), { numRuns: 300 });
    fc.assert(fc.property(fc.array(fc.constantFrom('conn ', 'a', 'also=', 'a\n', '\n', '  ', 'leftsubnet=', '10.0.0.0/8', '%default', '{', '}', '#')), (parts) => {
      parse(parts.join(''));
    }), { numRuns: 300 });
  });
});
