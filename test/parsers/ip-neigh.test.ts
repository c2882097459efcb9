import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parser } from '../../parsers/ip-neigh.js';

describe('ip-neigh: examples', () => {
  it('reads resolved, unresolved and permanent entries of both families', () => {
    const r = parse('192.168.50.11 dev br0 lladdr F6:92:51:C0:43:72 REACHABLE \n172.17.0.64 dev docker0 FAILED \nfe80::1 dev eth0 lladdr 02:00:0a:46:00:01 router STALE \n');
    expect(r.warnings).toEqual([]);
    expect(r.records).toEqual([
      { family: 4, address: '192.168.50.11', dev: 'br0', lladdr: 'f6:92:51:c0:43:72', states: ['REACHABLE'], flags: [], origin: { lineNumber: 1, text: '192.168.50.11 dev br0 lladdr F6:92:51:C0:43:72 REACHABLE ' } },
      { family: 4, address: '172.17.0.64', dev: 'docker0', states: ['FAILED'], flags: [], origin: { lineNumber: 2, text: '172.17.0.64 dev docker0 FAILED ' } },
      { family: 6, address: 'fe80::1', dev: 'eth0', lladdr: '02:00:0a:46:00:01', states: ['STALE'], flags: ['router'], origin: { lineNumber: 3, text: 'fe80::1 dev eth0 lladdr 02:00:0a:46:00:01 router STALE ' } },
    ]);
  });

  it('reads ip -s neigh (ref, used with its glued probes count) and warns once per unreadable line', () => {
    const r = parse('192.168.50.99 dev br0  ref 1 used 1/61/1probes 4 INCOMPLETE \nnot-an-address dev br0 STALE\n10.0.0.8 dev eth0 lladdr 02:00:00:00:00:08\n');
    expect(r.records.map((x) => [x.address, x.states])).toEqual([['192.168.50.99', ['INCOMPLETE']]]);
    expect(r.warnings.map((w) => [w.lineNumber, w.reason])).toEqual([[2, "'not-an-address' is not an address"], [3, 'entry without a NUD state']]);
  });

  it('is registered under its file name', () => {
    expect(parser.name).toBe('ip-neigh');
  });
});

describe('ip-neigh: properties', () => {
  it('never throws on any string, and every warning has a line number within the input', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => {
      const r = parse(s);
      for (const w of r.warnings) expect(w.lineNumber).toBeGreaterThanOrEqual(1);
    }), { numRuns: 300 });
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => { parse(s); }), { numRuns: 200 });
  });
});
