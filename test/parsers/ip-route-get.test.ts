import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parseAnswerLine, parseBatchErrors, parser } from '../../parsers/ip-route-get.js';

describe('ip-route-get: examples', () => {
  it('reads the -o answers the kernel gave in the lab (rp_filter host)', () => {
    const r = parse('10.9.0.5 from 10.2.0.10 via 10.1.0.1 dev eth0 uid 0 \\    cache \nlocal 10.1.0.10 from 10.9.0.5 dev lo \\    cache <local> iif eth0 \n');
    expect(r.warnings).toEqual([]);
    expect(r.records.map((x) => [x.dst, x.answer])).toEqual([
      ['10.9.0.5', { kind: 'route', type: 'unicast', nexthops: [{ via: '10.1.0.1', dev: 'eth0' }] }],
      ['10.1.0.10', { kind: 'route', type: 'local', nexthops: [{ dev: 'lo' }] }],
    ]);
    expect(r.records[0].origin).toEqual({ lineNumber: 1, text: '10.9.0.5 from 10.2.0.10 via 10.1.0.1 dev eth0 uid 0 cache' });
  });

  it('reads a gateway of the other family and a reject route printed as a route', () => {
    expect(parseAnswerLine('10.5.0.1 via inet6 fe80::1 dev eth0 src 10.0.0.1 uid 0')).toEqual({ dst: '10.5.0.1', answer: { kind: 'route', type: 'unicast', nexthops: [{ via: 'fe80::1', dev: 'eth0' }] } });
    expect(parseAnswerLine('unreachable 2001:db8:2::1 dev lo error -113')).toEqual({ dst: '2001:db8:2::1', answer: { kind: 'error', error: 'No route to host' } });
  });

  it('reads the errors of ip -force -batch by batch line', () => {
    const errors = parseBatchErrors('RTNETLINK answers: Permission denied\nCommand failed -:1\nRTNETLINK answers: Network is unreachable\nCommand failed -:4\nError: inet prefix is expected rather than "x".\nCommand failed -:6\n');
    expect([...errors]).toEqual([[1, 'Permission denied'], [4, 'Network is unreachable'], [6, 'inet prefix is expected rather than "x"']]);
    expect(parseBatchErrors('')).toEqual(new Map());
  });

  it('warns once per unreadable line and exports the contract', () => {
    const r = parse('local\nRTNETLINK answers: x\n\n10.0.0.1 dev eth0\n');
    expect(r.warnings.map((w) => w.lineNumber)).toEqual([1, 2]);
    expect(r.records.map((x) => x.origin.lineNumber)).toEqual([4]);
    expect(parser.name).toBe('ip-route-get');
    expect(parser.parse('')).toEqual({ records: [], warnings: [] });
  });
});

describe('ip-route-get: properties', () => {
  it('never throws; every rendered answer is read, every garbage line warned once', () => {
    const answer = fc.record({ type: fc.constantFrom('', 'local ', 'broadcast '), dst: fc.ipV4(), via: fc.option(fc.ipV4(), { nil: undefined }), dev: fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/) });
    fc.assert(fc.property(fc.array(fc.oneof(answer.map((a) => ({ a })), fc.stringMatching(/^[%xyz][^\n\r]{0,20}$/).map((g) => ({ g })))), (items) => {
      const text = items.map((x) => ('a' in x ? `${x.a.type}${x.a.dst}${x.a.via ? ` via ${x.a.via}` : ''} dev ${x.a.dev} uid 0 \\    cache` : x.g)).join('\n');
      const r = parse(text);
      expect(r.records.length).toBe(items.filter((x) => 'a' in x).length);
      expect(r.warnings.length).toBe(items.filter((x) => 'g' in x && x.g.trim() !== '').length);
    }));
    fc.assert(fc.property(fc.string(), (s) => {
      parse(s);
      parseBatchErrors(s);
    }));
  });
});
