import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parser } from '../../parsers/proc-net-counters.js';

const value = (text: string, name: string) => parse(text).records.find((r) => r.name === name)?.value;

describe('proc-net-counters: examples', () => {
  it('names netstat/snmp pairs as nstat does, negative values included', () => {
    const t = 'TcpExt: SyncookiesSent IPReversePathFilter\nTcpExt: 0 3\nIp: Forwarding OutNoRoutes\nIp: 2 7\nTcp: MaxConn\nTcp: -1\n';
    expect(value(t, 'TcpExtIPReversePathFilter')).toBe(3);
    expect(value(t, 'IpOutNoRoutes')).toBe(7);
    expect(value(t, 'TcpMaxConn')).toBe(-1);
    expect(parse(t).warnings).toEqual([]);
  });

  it('reads snmp6 and xfrm_stat pairs, /proc/net/dev rows and summed nf_conntrack rows in one text', () => {
    const t = [
      'Ip6InNoRoutes                   \t2', 'XfrmOutPolBlock         \t3',
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      'docker0:       0       0    0    0    0     0          0         0      292       4    0    3    0     0       0          0',
      'entries  clashres found new invalid drop',
      '00000002  00000000 00000000 00000004 00000001 0000000a',
      '00000002  00000000 00000000 00000001 00000000 00000005',
    ].join('\n');
    const r = parse(t);
    expect(r.warnings).toEqual([]);
    expect(value(t, 'Ip6InNoRoutes')).toBe(2);
    expect(value(t, 'XfrmOutPolBlock')).toBe(3);
    expect(r.records.find((x) => x.name === 'docker0 tx_dropped')).toMatchObject({ value: 3, device: 'docker0' });
    expect(value(t, 'nf_conntrack drop')).toBe(15);
    expect(value(t, 'nf_conntrack entries')).toBe(2);
  });

  it('warns at the line: a names line without values, a count mismatch, anything else', () => {
    const r = parse('Udp: InDatagrams NoPorts\nIpExt: InNoRoutes InTruncatedPkts\nIpExt: 3\nhello world\n');
    expect(r.warnings.map((w) => w.lineNumber)).toEqual([1, 3, 4]);
    expect(parser.parse('')).toEqual({ records: [], warnings: [] });
  });
});

describe('proc-net-counters: properties', () => {
  it('never throws; every generated pair section is read whole', () => {
    const section = fc.record({ prefix: fc.constantFrom('TcpExt', 'IpExt', 'Ip', 'Udp'), fields: fc.uniqueArray(fc.stringMatching(/^[A-Z][A-Za-z]{0,9}$/), { minLength: 1, maxLength: 6 }), values: fc.array(fc.nat(), { minLength: 6, maxLength: 6 }) });
    fc.assert(fc.property(fc.array(section, { maxLength: 4 }), (sections) => {
      const text = sections.map((s) => `${s.prefix}: ${s.fields.join(' ')}\n${s.prefix}: ${s.fields.map((_, i) => s.values[i]).join(' ')}`).join('\n');
      const r = parse(text);
      expect(r.warnings).toEqual([]);
      expect(r.records.length).toBe(sections.reduce((n, s) => n + s.fields.length, 0));
    }));
    fc.assert(fc.property(fc.string(), (s) => void parse(s)));
  });
});
