/** Kernel evidence collection, the parts that need no kernel: pairing route answers, counter deltas, the capped drop tally. */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseIptables } from '../../parsers/iptables-save.js';
import { parse as parseNftText } from '../../parsers/nft-text.js';
import { counterDeltas, readProcCounters, ruleCounters, type CounterSample } from '../../src/collect/counters.js';
import { DropTally } from '../../src/collect/drop-reasons.js';
import { answersOf } from '../../src/collect/route-ask.js';
import type { NftTable } from '../../src/model/nft.js';
import { repoRoot } from '../helpers/samples.js';

describe('answersOf: ip -o -force -batch output paired with the questions', () => {
  const qs = [{ dst: '10.0.0.1' }, { dst: '10.0.0.2', src: '10.1.0.1', iif: 'eth1' }, { dst: '10.0.0.3' }];
  it('a failed line gets its error, the others the next answer line', () => {
    const r = answersOf(qs, '10.0.0.1 via 10.9.0.1 dev eth0 uid 0 \\    cache \nlocal 10.0.0.3 dev lo \\    cache <local> \n', 'RTNETLINK answers: Invalid argument\nCommand failed -:2\n', 1);
    expect(r.status).toBe('asked');
    expect(r.answers.map((a) => [a.query.dst, a.answer?.kind, a.text])).toEqual([
      ['10.0.0.1', 'route', '10.0.0.1 via 10.9.0.1 dev eth0 uid 0 cache'],
      ['10.0.0.2', 'error', 'Invalid argument'],
      ['10.0.0.3', 'route', 'local 10.0.0.3 dev lo cache <local>'],
    ]);
  });
  it('counts that do not add up fail instead of guessing', () => {
    const r = answersOf(qs, '10.0.0.1 dev eth0\n', '', 0);
    expect(r).toEqual({ status: 'failed', answers: [], message: 'ip printed 1 answers and 0 errors for 3 questions' });
  });
  it('an answer line it cannot read stays that question\'s, unread', () => {
    const r = answersOf(qs.slice(0, 2), 'garbage\n10.0.0.2 dev eth1\n', '', 0);
    expect(r.answers.map((a) => [a.answer === undefined, a.text])).toEqual([[true, 'garbage'], [false, '10.0.0.2 dev eth1']]);
  });
});

describe('counters', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hc-procnet-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the drop counters of /proc/net files (kernel captures) and names what is missing', () => {
    const fx = join(repoRoot, 'fixtures', 'proc-net-counters');
    for (const [file, fixture] of [['netstat', 'kernel-netstat'], ['snmp', 'kernel-snmp'], ['dev', 'kernel-dev']]) writeFileSync(join(dir, file), readFileSync(join(fx, `${fixture}.txt`)));
    mkdirSync(join(dir, 'stat'));
    writeFileSync(join(dir, 'stat', 'nf_conntrack'), readFileSync(join(fx, 'kernel-nf-conntrack.txt')));
    const { counters, missing } = readProcCounters(dir);
    expect(counters.get('TcpExtIPReversePathFilter')?.value).toBe(3);
    expect(counters.has('IpInReceives')).toBe(false); // not a drop counter
    expect(counters.get('eth1 rx_dropped')).toEqual({ value: 0, device: 'eth1' });
    expect(counters.has('nf_conntrack drop')).toBe(true);
    expect(missing).toEqual([`${dir}/snmp6: absent (IPv6 disabled)`, `${dir}/xfrm_stat: absent (kernel without CONFIG_XFRM_STATISTICS)`]);
  });

  it('rule counters of DROP/REJECT rules and DROP policies; deltas only of what rose', () => {
    const dump = (a: number, b: number, c: number) => `*filter\n:INPUT DROP [${a}:0]\n:OUTPUT ACCEPT [9:9]\n[${b}:0] -A INPUT -s 10.0.0.1/32 -j DROP\n[${c}:0] -A INPUT -s 10.0.0.1/32 -j DROP\n[5:5] -A INPUT -j ACCEPT\nCOMMIT\n`;
    const sample = (text: string, drops: number): CounterSample => ({ at: 0, counters: new Map([['IpOutNoRoutes', { value: drops }]]), rules: ruleCounters({ v4: parseIptables(text).records, v6: [] }, []), missing: [] });
    const before = sample(dump(1, 2, 3), 10);
    expect([...before.rules.values()].map((r) => [r.ref.rule ?? 'policy', r.packets])).toEqual([['policy', 1], ['-A INPUT -s 10.0.0.1/32 -j DROP', 2], ['-A INPUT -s 10.0.0.1/32 -j DROP', 3]]);
    const deltas = counterDeltas(before, sample(dump(1, 2, 7), 12));
    expect(deltas.map((d) => [d.name, d.delta])).toEqual([['IpOutNoRoutes', 2], ['iptables -t filter -A INPUT -s 10.0.0.1/32 -j DROP', 4]]);
    expect(counterDeltas(sample(dump(5, 5, 5), 12), sample(dump(0, 0, 0), 3))).toEqual([]);
  });

  it('a native nft drop rule that counted is the same rule at both ends (its text holds the counter values)', () => {
    const listing = (packets: number) => `table inet filter { # handle 3\n\tchain input { # handle 1\n\t\ttype filter hook input priority filter; policy accept;\n\t\tip saddr 172.18.0.0/16 counter packets ${packets} bytes ${packets * 84} drop # handle 4\n\t}\n}\n`;
    const sample = (tables: NftTable[]): CounterSample => ({ at: 0, counters: new Map(), rules: ruleCounters({ v4: [], v6: [] }, tables), missing: [] });
    const deltas = counterDeltas(sample(parseNftText(listing(0)).records), sample(parseNftText(listing(3)).records));
    expect(deltas.map((d) => [d.name, d.delta, d.rule?.handle])).toEqual([['nft inet filter input handle 4: ip saddr 172.18.0.0/16 counter packets 3 bytes 252 drop', 3, 4]]);
  });
});

describe('DropTally: counting with a cap per second', () => {
  const line = (reason: string, location = 'ip_rcv_finish_core') => `  ping-1 [001] ..s1. 1.0: kfree_skb: skbaddr=0 rx_sk=0 protocol=2048 location=${location}+0x1/0x2 reason: ${reason}\n`;
  it('counts by reason and location; ip route get\'s own test skb is not a packet', () => {
    const t = new DropTally(100);
    t.add(line('IP_RPFILTER') + line('IP_RPFILTER') + line('NOT_SPECIFIED', 'inet_rtm_getroute') + 'CPU:1 [LOST 3 EVENTS]\n' + line('NETFILTER_DROP', 'nft_do_chain'), 1000);
    expect(t.take()).toEqual({ drops: [{ reason: 'IP_RPFILTER', location: 'ip_rcv_finish_core', count: 2 }, { reason: 'NETFILTER_DROP', location: 'nft_do_chain', count: 1 }] });
    expect(t.take()).toEqual({ drops: [] });
  });
  it('past the cap the rest of the second is not counted, the next second counts again, and the result says it sampled', () => {
    const t = new DropTally(3);
    expect(t.add(line('A').repeat(5), 1500)).toBe(2000);
    expect(t.add(line('A').repeat(5), 1900)).toBe(2000);
    expect(t.add(line('A').repeat(2), 2100)).toBeUndefined();
    expect(t.take()).toEqual({ drops: [{ reason: 'A', location: 'ip_rcv_finish_core', count: 5 }], sampled: { capPerSecond: 3, secondsCapped: 1, eventsRead: 5 } });
  });
});
