import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TracerouteProbe } from '../../src/model/traceroute.js';
import { parse, parser } from '../../parsers/traceroute.js';
import { pathFromTraceroute } from '../../src/trace/path.js';
import { describeSamples } from '../helpers/samples.js';

describe('traceroute: examples', () => {
  it('reads the header and -n hop lines (the VPN loop)', () => {
    const text = [
      'traceroute to 10.200.1.15 (10.200.1.15), 30 hops max, 60 byte packets',
      ' 1  10.100.1.18  0.412 ms  0.380 ms  0.371 ms',
      ' 2  10.100.1.18  0.512 ms  *  0.471 ms',
    ].join('\n');
    const r = parse(text);
    expect(r.warnings).toEqual([]);
    expect(r.header).toEqual({ destination: '10.200.1.15', address: '10.200.1.15', maxHops: 30, packetSize: 60, origin: { lineNumber: 1, text: text.split('\n')[0] } });
    expect(r.records[0]).toEqual({
      hop: 1,
      probes: [{ address: '10.100.1.18', rttMs: 0.412 }, { address: '10.100.1.18', rttMs: 0.38 }, { address: '10.100.1.18', rttMs: 0.371 }],
      origin: { lineNumber: 2, text: ' 1  10.100.1.18  0.412 ms  0.380 ms  0.371 ms' },
    });
    expect(r.records[1].probes).toEqual([{ address: '10.100.1.18', rttMs: 0.512 }, {}, { address: '10.100.1.18', rttMs: 0.471 }]);
  });

  it('reads names, several responders on a line, annotations and -A AS numbers', () => {
    const r = parse(' 1  gw (192.168.1.1) [AS64512]  0.4 ms !H  0.5 ms core (203.0.113.2) [*]  0.6 ms !<10>\n 2  10.0.0.1  1 ms !F-1400 * 2 ms !\n');
    expect(r.warnings).toEqual([]);
    expect(r.records[0].probes).toEqual([
      { address: '192.168.1.1', name: 'gw', asn: 'AS64512', rttMs: 0.4, annotation: '!H' },
      { address: '192.168.1.1', name: 'gw', asn: 'AS64512', rttMs: 0.5 },
      { address: '203.0.113.2', name: 'core', rttMs: 0.6, annotation: '!<10>' },
    ]);
    expect(r.records[1].probes.map((p) => p.annotation)).toEqual(['!F-1400', undefined, '!']);
  });

  it('reads BSD continuation lines, [AS] prefixes, MPLS label lines and Linux <MPLS:...>', () => {
    const text = [
      'traceroute to x.example (10.200.1.15), 64 hops max, 52 byte packets',
      ' 1  [AS64500] pe1.example.net (203.0.113.1)  5.120 ms  5.010 ms',
      '    [AS64500] pe2.example.net (203.0.113.2)  5.300 ms',
      '     MPLS Label=100 CoS=0 TTL=1 S=0',
      '     MPLS Label=200 CoS=5 TTL=1 S=1',
      ' 2  10.0.0.1  1.000 ms <MPLS:L=24015,E=0,S=1,T=1>  1.100 ms',
    ].join('\n');
    const r = parse(text);
    expect(r.warnings).toEqual([]);
    expect(r.records[0].probes.map((p) => [p.address, p.asn])).toEqual([['203.0.113.1', 'AS64500'], ['203.0.113.1', 'AS64500'], ['203.0.113.2', 'AS64500']]);
    expect(r.records[0].mpls).toEqual([{ label: 100, cos: 0, ttl: 1, s: 0 }, { label: 200, cos: 5, ttl: 1, s: 1 }]);
    expect(r.records[1].mpls).toEqual([{ label: 24015, cos: 0, s: 1, ttl: 1 }]);
  });

  it('reads traceroute6 headers with a source, tool messages and a missing header', () => {
    const r = parse('traceroute6: Warning: x has multiple addresses; using 2a04::1\ntraceroute6 to x (2a04::1) from 2600::5, 64 hops max, 20 byte packets\n 1  * * *\n');
    expect(r.header).toMatchObject({ destination: 'x', address: '2a04::1', source: '2600::5', maxHops: 64, packetSize: 20 });
    expect(r.messages).toEqual(['traceroute6: Warning: x has multiple addresses; using 2a04::1']);
    expect(r.records[0].probes).toEqual([{}, {}, {}]);
    const bare = parse(' 1  dsldevice (192.168.1.254)  11.415 ms\n');
    expect(bare.header).toBeUndefined();
    expect(bare.records).toHaveLength(1);
  });

  it('reads Windows tracert', () => {
    const r = parse('Tracing route to db [10.200.1.15]\nover a maximum of 30 hops:\n\n  1    <1 ms    <1 ms     2 ms  192.168.1.1\n  2     *        *        *     Request timed out.\n  3     5 ms     4 ms     4 ms  db [10.200.1.15]\n\nTrace complete.\n');
    expect(r.warnings).toEqual([]);
    expect(r.header).toMatchObject({ destination: 'db', address: '10.200.1.15', maxHops: 30 });
    expect(r.records[0].probes[0]).toEqual({ address: '192.168.1.1', rttMs: 1, annotation: '<1 ms' });
    expect(r.records[1].probes).toEqual([{}, {}, {}]);
    expect(r.records[2].probes[0]).toEqual({ address: '10.200.1.15', name: 'db', rttMs: 5 });
  });

  it('reads tracepath hops and warns about its pmtu and summary lines', () => {
    const r = parse(' 1?: [LOCALHOST]   pmtu 1500\n 1:  gw (192.168.1.1)   0.412ms \n 1:  gw (192.168.1.1)   0.380ms \n 2:  10.0.0.1   1.2ms asymm  3 \n 3:  no reply\n     Resume: pmtu 1500 hops 3 back 3 \n');
    expect(r.form).toBe('tracepath');
    expect(r.records.map((h) => [h.hop, h.probes.length])).toEqual([[1, 2], [2, 1], [3, 1]]);
    expect(r.records[1].probes[0]).toEqual({ address: '10.0.0.1', rttMs: 1.2, annotation: 'asymm 3' });
    expect(r.warnings.map((w) => w.lineNumber)).toEqual([1, 6]);
  });

  it('reads tracepath asymm N on timed and guessed (N?:) hops, with pmtu, reached and !H after it', () => {
    const r = parse([
      ' 1?: [LOCALHOST]                      pmtu 1500',
      ' 2:  10.0.4.2      0.802ms asymm  3 ',
      ' 3?: 10.0.5.1      asymm  4 ',
      ' 4:  gw (192.0.2.9)   1.104ms (This broken router returned corrupted payload) asymm  5 ',
      ' 5:  10.0.6.1      1.300ms pmtu 1400',
      ' 6:  10.0.7.2      1.522ms asymm  7 reached',
      ' 7:  10.0.7.3      1.6ms !N',
      ' 8:  send failed',
      ' 9?: reply received 8)',
      '10:  10.0.7.4      1.6ms asymm',
      '11:  10.0.7.5      1.6ms asymm 3 pmtu',
      '12:  10.0.7.6      1.6ms sideways',
      '13:  10.0.7.7 ',
    ].join('\n'));
    expect(r.records.map((h) => [h.hop, h.probes[0]])).toEqual([
      [2, { address: '10.0.4.2', rttMs: 0.802, annotation: 'asymm 3' }],
      [3, { address: '10.0.5.1', annotation: 'asymm 4' }],
      [4, { name: 'gw', address: '192.0.2.9', rttMs: 1.104, annotation: 'asymm 5' }],
      [5, { address: '10.0.6.1', rttMs: 1.3, annotation: 'pmtu 1400' }],
      [6, { address: '10.0.7.2', rttMs: 1.522, annotation: 'asymm 7 reached' }],
      [7, { address: '10.0.7.3', rttMs: 1.6, annotation: '!N' }],
    ]);
    expect(r.warnings.map((w) => [w.lineNumber, w.reason])).toEqual([
      [1, 'tracepath path-MTU line, not a hop'],
      [8, 'tracepath could not send the probe (send failed)'],
      [9, 'tracepath got a reply to its probe, not a hop'],
      [10, "tracepath 'asymm' without a hop count"],
      [11, "tracepath 'pmtu' without a size"],
      [12, 'unknown tracepath note sideways'],
      [13, 'tracepath line without a time'],
    ]);
  });

  it('a tracepath that ends with asymm N reached counts as reached; asymm N !H as an unreachable ending', () => {
    const reached = pathFromTraceroute(parse(' 1:  10.0.1.1   0.1ms \n 2:  10.0.7.2   1.5ms asymm  3 reached\n'));
    expect(reached.reached).toBe(true);
    const unreachable = pathFromTraceroute(parse(' 1:  10.0.1.1   0.1ms \n 2:  10.0.4.2   0.9ms asymm  3 !H\n'));
    expect(unreachable.reached).toBe(false);
    expect(unreachable.hops[1].endings).toEqual([{ responder: '10.0.4.2', annotation: '!H' }]);
  });

  it('warns on unreadable lines: one warning each', () => {
    const r = parse(' 1  10.0.0.1  1 ms\n 2  oops ms\n    continuation without time\n 3  host (1.2.3.4)\nnonsense\n');
    expect(r.records.map((h) => h.hop)).toEqual([1]);
    expect(r.warnings.map((w) => w.lineNumber)).toEqual([2, 3, 4, 5]);
  });

  it('is registered under its file name', () => {
    expect(parser.name).toBe('traceroute');
  });
});

// ---- properties ----

interface ResponderModel { address: string; name?: string; asn?: number }
type ProbeModel = { star: true } | { star: false; responder: number; rtt: number; annotation?: string };
interface HopModel { responders: ResponderModel[]; probes: ProbeModel[] }

const octet = fc.integer({ min: 0, max: 255 });
const v4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
const responder: fc.Arbitrary<ResponderModel> = fc.record(
  { address: v4, name: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}(\.[a-z]{2,4})?$/), asn: fc.integer({ min: 0, max: 4_000_000 }) },
  { requiredKeys: ['address'] },
);
const hopModel: fc.Arbitrary<HopModel> = fc.array(responder, { minLength: 1, maxLength: 3 }).chain((responders) =>
  fc.record({
    responders: fc.constant(responders),
    probes: fc.array(
      fc.oneof(
        fc.constant({ star: true as const }),
        fc.record(
          {
            star: fc.constant(false as const),
            responder: fc.nat(responders.length - 1),
            rtt: fc.integer({ min: 0, max: 999_999 }).map((n) => n / 1000),
            annotation: fc.constantFrom('!H', '!N', '!P', '!X', '!S', '!F-1400', '!<13>', '!'),
          },
          { requiredKeys: ['star', 'responder', 'rtt'] },
        ),
      ),
      { minLength: 1, maxLength: 5 },
    ),
  }),
);

/** Linux layout: a responder is printed when it differs from the previous reply's. */
function renderHop(n: number, h: HopModel): { text: string; expected: TracerouteProbe[] } {
  let text = `${String(n).padStart(2)} `;
  let prev = -1;
  const expected: TracerouteProbe[] = [];
  for (const p of h.probes) {
    if (p.star) {
      text += ' *';
      expected.push({});
      continue;
    }
    const r = h.responders[p.responder];
    if (p.responder !== prev) {
      text += r.name ? ` ${r.name} (${r.address})` : ` ${r.address}`;
      if (r.asn !== undefined) text += ` [AS${r.asn}]`;
      prev = p.responder;
    }
    text += `  ${p.rtt.toFixed(3)} ms`;
    if (p.annotation) text += ` ${p.annotation}`;
    const e: TracerouteProbe = { address: r.address };
    if (r.name) e.name = r.name;
    if (r.asn !== undefined) e.asn = `AS${r.asn}`;
    e.rttMs = Number(p.rtt.toFixed(3));
    if (p.annotation) e.annotation = p.annotation;
    expected.push(e);
  }
  return { text, expected };
}

const garbageLine = fc
  .tuple(fc.constantFrom('garbage', 'Hop', 'send failed', 'x'), fc.stringMatching(/^[a-z0-9 .]{0,15}$/))
  .map(([a, b]) => `${a} ${b}`);

describe('traceroute: properties', () => {
  it('every rendered hop becomes its record; every garbage line one warning', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(fc.oneof(hopModel, garbageLine), { maxLength: 12 }), (withHeader, items) => {
        const lines: string[] = withHeader ? ['traceroute to 10.200.1.15 (10.200.1.15), 30 hops max, 60 byte packets'] : [];
        const expected: { line: number; hop: number; probes: TracerouteProbe[] }[] = [];
        const garbage: number[] = [];
        let n = 0;
        for (const it of items) {
          if (typeof it === 'string') {
            garbage.push(lines.length + 1);
            lines.push(it);
          } else {
            n++;
            const { text, expected: probes } = renderHop(n, it);
            expected.push({ line: lines.length + 1, hop: n, probes });
            lines.push(text);
          }
        }
        const r = parse(lines.join('\n'));
        expect(r.warnings.map((w) => w.lineNumber)).toEqual(garbage);
        expect(r.header?.maxHops).toBe(withHeader ? 30 : undefined);
        expect(r.records.map((h) => ({ line: h.origin.lineNumber, hop: h.hop, probes: h.probes }))).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  it('never throws on any string', () => {
    fc.assert(fc.property(fc.string(), (s) => { parse(s); }), { numRuns: 200 });
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => { parse(s); }), { numRuns: 200 });
  });

  it('never throws on mutated valid input', () => {
    fc.assert(
      fc.property(fc.array(hopModel, { minLength: 1, maxLength: 5 }), fc.array(fc.tuple(fc.nat(), fc.string({ maxLength: 3 })), { maxLength: 6 }), (hops, edits) => {
        let text = hops.map((h, i) => renderHop(i + 1, h).text).join('\n');
        for (const [pos, ins] of edits) {
          const at = pos % (text.length + 1);
          text = text.slice(0, at) + ins + text.slice(at + 1);
        }
        const r = parse(text);
        for (const w of r.warnings) expect(w.lineNumber).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 200 },
    );
  });
});

describeSamples('traceroute', parse);
