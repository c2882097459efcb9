import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { locationName, parse, parseEventFormat, parser } from '../../parsers/kfree-skb.js';

describe('kfree-skb: examples', () => {
  it('reads reason, location and protocol of trace_pipe lines; a lost-events line is a warning', () => {
    const r = parse([
      '            ping-28418   [001] ..s1.  2252.224922: kfree_skb: skbaddr=000000006bbd14b0 rx_sk=0000000000000000 protocol=2048 location=ip_rcv_finish_core+0x260/0x470 reason: IP_RPFILTER',
      'CPU:1 [LOST 23 EVENTS]',
      '          <idle>-0       [000] ..s1.  1.000000: kfree_skb: skbaddr=0000000012 protocol=34525 location=0xffffffffc0123456 reason: NOT_SPECIFIED',
    ].join('\n'));
    expect(r.records.map((x) => [x.reason, x.location, x.protocol])).toEqual([['IP_RPFILTER', 'ip_rcv_finish_core', 2048], ['NOT_SPECIFIED', '0xffffffffc0123456', 34525]]);
    expect(r.warnings).toEqual([{ lineNumber: 2, text: 'CPU:1 [LOST 23 EVENTS]', reason: 'the trace buffer lost 23 events here' }]);
    expect(locationName('nft_do_chain+0x46f/0x690')).toBe('nft_do_chain');
    expect(parser.parse('# tracer: nop\n')).toEqual({ records: [], warnings: [] });
  });

  it("reads the kernel's own reason names from the format file (kernel 6.18, captured)", () => {
    const f = parseEventFormat(readFileSync(join(import.meta.dirname, 'kfree-skb-format-6.18.txt'), 'utf8'));
    expect(f.fields).toEqual(expect.arrayContaining(['skbaddr', 'location', 'protocol', 'reason', 'common_pid']));
    expect(f.reasons.get(2)).toBe('NOT_SPECIFIED');
    expect(f.reasons.get(16)).toBe('IP_RPFILTER');
    expect([...f.reasons.values()]).toEqual(expect.arrayContaining(['NETFILTER_DROP', 'XFRM_POLICY', 'IP_OUTNOROUTES', 'NEIGH_FAILED', 'PKT_TOO_BIG']));
    expect(f.reasons.size).toBe(129);
  });

  it('a format without reasons (before 5.17) has no reason field and no names', () => {
    const f = parseEventFormat('name: kfree_skb\nformat:\n\tfield:void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:void * location;\toffset:16;\tsize:8;\tsigned:0;\n\nprint fmt: "skbaddr=%p location=%p", REC->skbaddr, REC->location\n');
    expect(f.fields).toEqual(['skbaddr', 'location']);
    expect(f.reasons.size).toBe(0);
  });
});

describe('kfree-skb: properties', () => {
  it('never throws', () => {
    fc.assert(fc.property(fc.string(), (s) => {
      parse(s);
      parseEventFormat(s);
    }));
  });
});
