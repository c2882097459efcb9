import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalSelector, parse, parser } from '../../parsers/swanctl-conf.js';

describe('swanctl-conf: examples', () => {
  it('reads a child\'s selectors with the lines that set them, and never keeps secrets', () => {
    const text = [
      'connections {',
      '  gw {',
      '    local_addrs = 10.100.1.18',
      '    remote_addrs = 198.51.100.2',
      '    children {',
      '      net {',
      '        local_ts = 10.16.0.0/16',
      '        remote_ts = 10.200.0.0/20',
      '      }',
      '    }',
      '  }',
      '}',
      'secrets { ike { secret = "s3cret" } }',
    ].join('\n');
    const r = parse(text);
    expect(r.warnings).toEqual([]);
    expect(r.records).toEqual([{
      format: 'swanctl-conf', connection: 'gw', child: 'net', localAddrs: ['10.100.1.18'], remoteAddrs: ['198.51.100.2'],
      localTs: ['10.16.0.0/16'], remoteTs: ['10.200.0.0/20'],
      localTsOrigin: { lineNumber: 7, text: '        local_ts = 10.16.0.0/16' },
      remoteTsOrigin: { lineNumber: 8, text: '        remote_ts = 10.200.0.0/20' },
      sidesByConvention: false, origin: { lineNumber: 6, text: '      net {' },
    }]);
    expect(JSON.stringify(r)).not.toContain('s3cret');
  });

  it('defaults selectors to dynamic and reads lists, ranges, ports and host addresses', () => {
    const r = parse('connections { c { children { x { local_ts = 10.0.0.5, 10.1.0.0/16[tcp/443] 10.2.0.1-10.2.0.9 } } } }');
    expect(r.warnings).toEqual([]);
    expect(r.records[0].localTs).toEqual(['10.0.0.5/32', '10.1.0.0/16[tcp/443]', '10.2.0.1-10.2.0.9']);
    expect(r.records[0].remoteTs).toEqual(['dynamic']);
  });

  it('canonicalises selectors as strongSwan does', () => {
    expect(canonicalSelector('10.16.3.4/16')).toBe('10.16.0.0/16');
    expect(canonicalSelector('fd00::1/64')).toBe('fd00::/64');
    expect(canonicalSelector('10.300.0.0/16')).toBeNull();
    expect(canonicalSelector('%dynamic')).toBe('dynamic');
  });

  it('warns once per unreadable line and on unclosed sections and includes', () => {
    const r = parse('connections {\n  c {\n    what is this\n    children { x { remote_ts = 10.999.0.0/8 } }\ninclude more.conf\n');
    expect(r.warnings.map((w) => [w.lineNumber, w.reason])).toEqual([
      [2, 'section "c" is never closed'],
      [3, 'expected key = value, "name {" or "}"'],
      [4, 'unreadable traffic selector 10.999.0.0/8'],
      [5, 'include not followed (more.conf): its connections are not read'],
    ]);
  });

  it('is registered under its file name', () => {
    expect(parser.name).toBe('swanctl-conf');
  });
});

// ---- property tests: a model of connections, rendered in several layouts, mixed with garbage ----

const octet = fc.integer({ min: 0, max: 255 });
const cidr = fc.tuple(octet, octet, fc.integer({ min: 8, max: 32 })).map(([a, b, len]) => {
  const n = ((10 << 24) | (a << 16) | (b << 8)) >>> 0;
  const masked = (n & (0xffffffff << (32 - len))) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (masked >>> s) & 255).join('.')}/${len}`;
});
const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
const childModel = fc.record({ name, local: fc.array(cidr, { minLength: 1, maxLength: 3 }), remote: fc.array(cidr, { minLength: 1, maxLength: 2 }) });
const connModel = fc.record({ name, addr: octet.map((o) => `192.0.2.${o}`), children: fc.uniqueArray(childModel, { minLength: 1, maxLength: 3, selector: (c) => c.name }) });
type Conn = typeof connModel extends fc.Arbitrary<infer T> ? T : never;

function render(conns: Conn[], braceOnNextLine: boolean, garbageAfter: Set<number>): { lines: string[]; garbage: number[] } {
  const lines: string[] = [];
  const garbage: number[] = [];
  const openLine = (n: string, indent: string): void => {
    if (braceOnNextLine) lines.push(`${indent}${n}`, `${indent}{`);
    else lines.push(`${indent}${n} {`);
  };
  openLine('connections', '');
  conns.forEach((c, i) => {
    openLine(c.name, '  ');
    lines.push(`    local_addrs = ${c.addr}   # the gateway`);
    openLine('children', '    ');
    for (const ch of c.children) {
      openLine(ch.name, '      ');
      lines.push(`        local_ts = ${ch.local.join(', ')}`, `        remote_ts = ${ch.remote.join(',')}`, '        esp_proposals = aes128-sha256');
      lines.push('      }');
    }
    lines.push('    }', '  }');
    if (garbageAfter.has(i)) {
      lines.push('  %% not swanctl %%');
      garbage.push(lines.length);
    }
  });
  lines.push('}');
  return { lines, garbage };
}

describe('swanctl-conf: properties', () => {
  it('every rendered child becomes its record; every garbage line one warning', () => {
    fc.assert(
      fc.property(fc.uniqueArray(connModel, { minLength: 1, maxLength: 4, selector: (c) => c.name }), fc.boolean(), fc.array(fc.nat(3)), (conns, nextLine, g) => {
        const { lines, garbage } = render(conns, nextLine, new Set(g));
        const r = parse(lines.join('\n'));
        expect(r.warnings.map((w) => w.lineNumber)).toEqual(garbage);
        const expected = conns.flatMap((c) => c.children.map((ch) => ({ connection: c.name, child: ch.name, localAddrs: [c.addr], localTs: ch.local, remoteTs: ch.remote })));
        expect(r.records.map((x) => ({ connection: x.connection, child: x.child, localAddrs: x.localAddrs, localTs: x.localTs, remoteTs: x.remoteTs }))).toEqual(expected);
        for (const rec of r.records) expect(lines[rec.localTsOrigin!.lineNumber - 1]).toBe(rec.localTsOrigin!.text);
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
    fc.assert(fc.property(fc.array(fc.constantFrom('{', '}', 'a', ' = ', 'connections', 'children', '\n', '#', '"', 'local_ts', '10.0.0.0/8', ':')), (parts) => {
      parse(parts.join(''));
    }), { numRuns: 300 });
  });
});
