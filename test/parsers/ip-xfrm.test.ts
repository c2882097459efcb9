import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parseState, parser } from '../../parsers/ip-xfrm.js';
import { describeSamples } from '../helpers/samples.js';

const T = '\t';

describe('ip-xfrm: examples', () => {
  it('reads a tunnel policy with its template', () => {
    const text = [
      'src 10.16.0.0/16 dst 10.200.0.0/20 ',
      `${T}dir out priority 375423 ptype main `,
      `${T}tmpl src 10.100.1.18 dst 47.100.2.3`,
      `${T}${T}proto esp spi 0x0000abcd reqid 1 mode tunnel`,
    ].join('\n');
    const r = parse(text);
    expect(r.warnings).toEqual([]);
    expect(r.records).toEqual([
      {
        family: 4,
        selector: { src: '10.16.0.0/16', dst: '10.200.0.0/20' },
        dir: 'out',
        action: 'allow',
        priority: 375423,
        ptype: 'main',
        flags: [],
        templates: [{ src: '10.100.1.18', dst: '47.100.2.3', proto: 'esp', spi: '0x0000abcd', reqid: 1, mode: 'tunnel' }],
        origin: { lineNumber: 1, text: 'src 10.16.0.0/16 dst 10.200.0.0/20 ' },
      },
    ]);
  });

  it('reads selector ports, dev, mark, if_id, action block and flags', () => {
    const text = [
      'src 10.64.0.0/16 dst 10.200.0.0/20 proto tcp sport 22 dport 443 dev eth0 ',
      `${T}dir fwd action block priority 10 ptype main flag localok icmp`,
      `${T}mark 0x1/0xff`,
      `${T}if_id 0x5`,
      `${T}security context system_u:object_r:ipsec_spd_t:s0`,
    ].join('\n');
    const [rec] = parse(text).records;
    expect(rec.selector).toEqual({ src: '10.64.0.0/16', dst: '10.200.0.0/20', proto: 'tcp', sport: 22, dport: 443, dev: 'eth0' });
    expect(rec.action).toBe('block');
    expect(rec.flags).toEqual(['localok', 'icmp']);
    expect(rec.mark).toEqual({ value: 1, mask: 255 });
    expect(rec.ifId).toBe(5);
    expect(rec.securityContext).toBe('system_u:object_r:ipsec_spd_t:s0');
  });

  it('reads ICMP type/code selectors and IPv6 prefixes', () => {
    const r = parse(`src fd00::/64 dst fd01::/64 proto ipv6-icmp type 128 code 0 \n${T}dir in priority 100 ptype main \n`);
    expect(r.records[0].family).toBe(6);
    expect(r.records[0].selector).toEqual({ src: 'fd00::/64', dst: 'fd01::/64', proto: 'ipv6-icmp', icmpType: 128, icmpCode: 0 });
  });

  it('tells socket policies from global ones', () => {
    const r = parse(`src 0.0.0.0/0 dst 0.0.0.0/0 \n        socket out priority 0 \nsrc 0.0.0.0/0 dst 0.0.0.0/0 \n${T}dir in priority 1 \n`);
    expect(r.records.map((p) => [p.socket, p.dir])).toEqual([['out', undefined], [undefined, 'in']]);
  });

  it('reads the one-line form with and without backslashes', () => {
    const text = [
      `src 10.16.0.0/16 dst 10.200.0.0/20 \\${T}dir out priority 5 ptype main \\${T}tmpl src 1.1.1.1 dst 2.2.2.2\\${T}${T}proto esp reqid 1 mode tunnel\\`,
      'src 10.1.0.0/16 dst 10.1.0.0/16 dir fwd priority 2608',
    ].join('\n');
    const r = parse(text);
    expect(r.warnings).toEqual([]);
    expect(r.records.map((p) => [p.dir, p.priority, p.templates.length])).toEqual([['out', 5, 1], ['fwd', 2608, 0]]);
    expect(r.records[0].templates[0]).toEqual({ src: '1.1.1.1', dst: '2.2.2.2', proto: 'esp', reqid: 1, mode: 'tunnel' });
  });

  it('reads `ip -s` output: index, share, lifetimes, echoed numbers, level and masks', () => {
    const text = [
      'src 10.16.0.0/16 dst 10.200.0.0/20 uid 0',
      `${T}dir out action allow index 8 priority 9 ptype main share any flag  (0x00000000)`,
      `${T}lifetime config:`,
      `${T}  limit: soft (INF)(bytes), hard (INF)(bytes)`,
      `${T}lifetime current:`,
      `${T}  0(bytes), 0(packets)`,
      `${T}  add 2024-05-01 10:00:00 use -`,
      `${T}tmpl src 1.1.1.1 dst 2.2.2.2`,
      `${T}${T}proto esp spi 0x00000000(0) reqid 1(0x00000001) mode tunnel`,
      `${T}${T}level use share any `,
      `${T}${T}enc-mask ffffffff auth-mask ffffffff comp-mask ffffffff`,
    ].join('\n');
    const r = parse(text);
    expect(r.warnings).toEqual([]);
    expect(r.records[0]).toMatchObject({ index: 8, share: 'any', priority: 9, flags: [] });
    expect(r.records[0].templates[0]).toEqual({ src: '1.1.1.1', dst: '2.2.2.2', proto: 'esp', spi: '0x00000000', reqid: 1, mode: 'tunnel', level: 'use', share: 'any' });
  });

  it('warns once per unreadable line and keeps the policy when only a later line is bad', () => {
    const text = ['src 10.3.0.0/16 dst 10.4.0.0/16 ', `${T}dir in priority 7 `, `${T}frobnicate 12`, 'Error: nope'].join('\n');
    const r = parse(text);
    expect(r.records).toHaveLength(1);
    expect(r.warnings.map((w) => [w.lineNumber, w.reason])).toEqual([[3, 'unknown keyword frobnicate'], [4, 'not a policy line (expected src ... dst ...)']]);
  });

  it('warns on a policy without a direction and on bad selectors', () => {
    const r = parse(`src 10.1.0.0/16 dst 10.2.0.0/16 \nsrc 10.300.0.0/16 dst 10.0.0.0/8 \n${T}dir out priority 5 \n`);
    expect(r.records).toEqual([]);
    expect(r.warnings.map((w) => w.lineNumber)).toEqual([1, 2, 3]);
  });

  it('a template whose mode could not be read is warned about, not recorded as if complete', () => {
    const policy = (net: string, tmplTail: string[]): string[] => [`src ${net} dst 10.200.0.0/20 `, `${T}dir out priority 1 ptype main `, `${T}tmpl src 10.100.1.19 dst 198.51.100.7`, ...tmplTail];
    const r = parse([
      ...policy('10.16.0.0/16', [`${T}${T}proto esp reqid 1 mode transport`]),
      ...policy('10.17.0.0/16', []),
      ...policy('10.18.0.0/16', [`${T}${T}proto esp reqid 3 mode`]),
      ...policy('10.19.0.0/16', [`${T}${T}proto esp reqid 4 mode 7`]),
    ].join('\n'));
    expect(r.records.map((x) => [x.selector.src, x.templates[0].mode])).toEqual([['10.16.0.0/16', 'transport']]);
    expect(r.warnings.map((w) => [w.lineNumber, w.reason])).toEqual([
      [5, 'tmpl src 10.100.1.19 dst 198.51.100.7 without a mode (tunnel or transport could not be read)'],
      [8, 'tmpl src 10.100.1.19 dst 198.51.100.7 without a mode (tunnel or transport could not be read)'],
      [11, 'mode without a value'],
      [12, 'tmpl src 10.100.1.19 dst 198.51.100.7 has mode 7, which is not tunnel, transport, ro, in_trigger or beet'],
    ]);
  });

  it('parses `ip xfrm state` without keeping key material', () => {
    const text = [
      'src 192.168.1.2 dst 192.168.2.2',
      `${T}proto esp spi 0xc0b1a2b3 reqid 16385 mode tunnel`,
      `${T}replay-window 32 flag af-unspec`,
      `${T}auth-trunc hmac(sha256) 0x0102030405060708 128`,
      `${T}enc cbc(aes) 0x0a0b0c0d`,
      `${T}encap type espinudp sport 4500 dport 4500 addr 0.0.0.0`,
      `${T}sel src 10.16.0.0/16 dst 10.200.0.0/20 `,
    ].join('\n');
    const r = parseState(text);
    expect(r.warnings).toEqual([]);
    expect(r.records[0]).toMatchObject({
      src: '192.168.1.2', dst: '192.168.2.2', proto: 'esp', spi: '0xc0b1a2b3', reqid: 16385, mode: 'tunnel', replayWindow: 32,
      flags: ['af-unspec'], algorithms: { 'auth-trunc': 'hmac(sha256)', enc: 'cbc(aes)' },
      encap: { type: 'espinudp', sport: 4500, dport: 4500, addr: '0.0.0.0' },
      selector: { src: '10.16.0.0/16', dst: '10.200.0.0/20' },
    });
    expect(JSON.stringify(r)).not.toContain('0x0102030405060708');
  });

  it('is registered under its file name', () => {
    expect(parser.name).toBe('ip-xfrm');
  });
});

// ---- property tests: a model of the grammar, rendered, mixed with garbage ----

interface PolicyModel {
  src: string;
  dst: string;
  proto?: { name: string; dport: number };
  socket: boolean;
  dir: 'in' | 'out' | 'fwd';
  priority: number;
  ptype: boolean;
  tmpls: { src: string; dst: string; reqid: number; mode: 'tunnel' | 'transport' }[];
}

const octet = fc.integer({ min: 0, max: 255 });
const v4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
const v4prefix = fc.tuple(v4, fc.integer({ min: 0, max: 32 })).map(([a, len]) => {
  const n = a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const masked = len === 0 ? 0 : (n & (0xffffffff << (32 - len))) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (masked >>> s) & 255).join('.')}/${len}`;
});
const policyModel: fc.Arbitrary<PolicyModel> = fc.record({
  src: v4prefix,
  dst: v4prefix,
  proto: fc.option(fc.record({ name: fc.constantFrom('tcp', 'udp'), dport: fc.integer({ min: 1, max: 65535 }) }), { nil: undefined }),
  socket: fc.boolean(),
  dir: fc.constantFrom('in' as const, 'out' as const, 'fwd' as const),
  priority: fc.integer({ min: 0, max: 4_000_000 }),
  ptype: fc.boolean(),
  tmpls: fc.array(fc.record({ src: v4, dst: v4, reqid: fc.integer({ min: 0, max: 99999 }), mode: fc.constantFrom('tunnel' as const, 'transport' as const) }), { maxLength: 2 }),
});

function render(p: PolicyModel, oneLine: boolean): string[] {
  const dir = p.socket ? `socket ${p.dir === 'fwd' ? 'in' : p.dir}` : `dir ${p.dir}`;
  const sel = `src ${p.src} dst ${p.dst} ${p.proto ? `proto ${p.proto.name} dport ${p.proto.dport} ` : ''}`;
  const lines = [sel, `${T}${dir} priority ${p.priority} ${p.ptype ? 'ptype main ' : ''}`];
  for (const t of p.tmpls) lines.push(`${T}tmpl src ${t.src} dst ${t.dst}`, `${T}${T}proto esp reqid ${t.reqid} mode ${t.mode}`);
  return oneLine ? [lines.join('\\') + '\\'] : lines;
}

const garbageLine = fc
  .tuple(fc.constantFrom('garbage', 'Error:', 'xfrm', '#', 'SRC'), fc.stringMatching(/^[a-z0-9 ./]{0,20}$/))
  .map(([a, b]) => `${a} ${b}`);

describe('ip-xfrm: properties', () => {
  it('every rendered policy becomes its record; every garbage line one warning', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.tuple(policyModel, fc.boolean()), garbageLine), { maxLength: 12 }), (items) => {
        const lines: string[] = [];
        const expected: { line: number; model: PolicyModel }[] = [];
        const garbage: number[] = [];
        for (const item of items) {
          if (typeof item === 'string') {
            garbage.push(lines.length + 1);
            lines.push(item);
          } else {
            expected.push({ line: lines.length + 1, model: item[0] });
            lines.push(...render(item[0], item[1]));
          }
        }
        const r = parse(lines.join('\n'));
        expect(r.warnings.map((w) => w.lineNumber)).toEqual(garbage);
        expect(r.records).toHaveLength(expected.length);
        r.records.forEach((rec, i) => {
          const { line, model } = expected[i];
          expect(rec.origin.lineNumber).toBe(line);
          expect(rec.origin.text).toBe(lines[line - 1]);
          expect(rec.selector.src).toBe(model.src);
          expect(rec.selector.dst).toBe(model.dst);
          expect(rec.selector.proto).toBe(model.proto?.name);
          expect(rec.selector.dport).toBe(model.proto?.dport);
          if (model.socket) expect(rec.socket).toBe(model.dir === 'fwd' ? 'in' : model.dir);
          else expect(rec.dir).toBe(model.dir);
          expect(rec.priority).toBe(model.priority);
          expect(rec.ptype).toBe(model.ptype ? 'main' : undefined);
          expect(rec.templates).toEqual(model.tmpls.map((t) => ({ src: t.src, dst: t.dst, proto: 'esp', reqid: t.reqid, mode: t.mode })));
        });
      }),
      { numRuns: 200 },
    );
  });

  it('never throws on any string', () => {
    fc.assert(fc.property(fc.string(), (s) => { parse(s); parseState(s); }), { numRuns: 200 });
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => { parse(s); parseState(s); }), { numRuns: 200 });
  });

  it('never throws on mutated valid input, and warnings point at real lines', () => {
    fc.assert(
      fc.property(fc.array(policyModel, { minLength: 1, maxLength: 4 }), fc.array(fc.tuple(fc.nat(), fc.string({ maxLength: 3 })), { maxLength: 6 }), (models, edits) => {
        let text = models.flatMap((m) => render(m, false)).join('\n');
        for (const [pos, ins] of edits) {
          const at = pos % (text.length + 1);
          text = text.slice(0, at) + ins + text.slice(at + 1);
        }
        const r = parse(text);
        const n = text.split('\n').length;
        for (const w of r.warnings) expect(w.lineNumber >= 1 && w.lineNumber <= n).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describeSamples('ip-xfrm', parse);
