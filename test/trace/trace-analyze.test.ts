/** The trace checks over hand-written traceroute text: loops, ECMP repeats, !-endings, silence. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from '../../parsers/traceroute.js';
import { topologyFromText } from '../../src/collect/topology-file.js';
import { analyzeTrace } from '../../src/checks/analyze-trace.js';
import { findLoop } from '../../src/trace/loop.js';
import { addressNamer } from '../../src/trace/names.js';
import { pathFromTraceroute } from '../../src/trace/path.js';
import { traceFromPings } from '../../src/collect/ping-ttl.js';
import { repoRoot } from '../helpers/samples.js';

const incidentTrace = readFileSync(join(repoRoot, 'fixtures', 'traceroute', 'written-vpn-loop.txt'), 'utf8');
const incidentTopology = topologyFromText(readFileSync(join(repoRoot, 'fixtures', 'topology', 'second-incident.yaml'), 'utf8'));

function analyze(text: string, opts: { source?: string; withTopology?: boolean } = {}) {
  const path = pathFromTraceroute(parse(text), opts.source ? { source: opts.source } : {});
  const topology = opts.withTopology ? incidentTopology : undefined;
  return analyzeTrace(path, { names: addressNamer({ topology }), topology });
}

const hops = (lines: string[]) => lines.map((l, i) => ` ${i + 1}  ${l}`).join('\n');
const header = (dst: string, max = 30) => `traceroute to ${dst} (${dst}), ${max} hops max, 60 byte packets\n`;

describe('traceroute-loop', () => {
  it('the second incident: 10.100.1.18 named as the VPN gateway, fix widens the local subnets', () => {
    const a = analyze(incidentTrace, { source: '10.64.3.22', withTopology: true });
    const loop = a.findings.find((f) => f.check === 'traceroute-loop')!;
    expect(loop.severity).toBe('error');
    expect(loop.host).toBe('10.64.3.22');
    expect(loop.subject).toBe('10.200.1.15');
    expect(loop.summary).toBe('Packets from 10.64.3.22 to 10.200.1.15 loop: 10.100.1.18 (the private address of VPN gateway vpn-bp1gw000000000000001 (to-other-cloud)) answers hops 2 to 6');
    expect(loop.evidence.map((e) => [e.source, e.lineNumber])).toEqual([['traceroute', 3], ['traceroute', 4], ['traceroute', 5], ['traceroute', 7]]);
    expect(loop.why).toContain('10.64.3.22 is outside the local subnets of IPsec connection vco-bp1conn0000000000001');
    expect(loop.why).toContain('route table vtb-bp1system0000000001 of vpc-bp1transit0000000001: 10.200.0.0/20 → vpn-bp1gw000000000000001');
    expect(loop.fix[0]).toBe("Add 10.64.0.0/16 to the local subnets of IPsec connection vco-bp1conn0000000000001 (other-cloud-10-200) on VPN gateway vpn-bp1gw000000000000001 (to-other-cloud) (now 10.16.0.0/16), or set them to 0.0.0.0/0 as the incident's author suggests: every source the VPC routes to the gateway is then encrypted.");
    // vpn-selector-gap's fix, written once: the same CLI line the fleet finding prints.
    expect(loop.fix[1]).toBe('Alibaba Cloud CLI: aliyun vpc ModifyVpnConnectionAttribute --RegionId <region> --VpnConnectionId vco-bp1conn0000000000001 --LocalSubnet 10.16.0.0/16,10.64.0.0/16');
    expect(a.exitCode).toBe(1);
  });

  it('without a topology or source: host "local", a generic explanation', () => {
    const a = analyze(incidentTrace);
    const loop = a.findings.find((f) => f.check === 'traceroute-loop')!;
    expect(loop.host).toBe('local');
    expect(loop.summary).toBe('Packets to 10.200.1.15 loop: 10.100.1.18 answers hops 2 to 6');
    expect(loop.fix.join(' ')).toContain('add the source\'s CIDR to the IPsec connection\'s local subnets');
  });

  it('a loop between two routers repeating to hop 30, named from a bundle-like namer', () => {
    const lines = ['10.9.0.1  0.2 ms', ...Array.from({ length: 29 }, (_, i) => (i % 2 === 0 ? '10.0.12.2  0.5 ms' : '10.0.12.1  0.6 ms'))];
    const path = pathFromTraceroute(parse(header('10.200.0.9') + hops(lines)));
    const loop = findLoop(path)!;
    expect(loop).toMatchObject({ period: 2, addresses: ['10.0.12.2', '10.0.12.1'], firstHop: 2, lastHop: 30 });
    const a = analyzeTrace(path, { names: (ip) => (ip === '10.0.12.2' ? 'an address of host r2 (eth1)' : undefined) });
    expect(a.findings.map((f) => f.check)).toEqual(['traceroute-loop']);
    expect(a.findings[0].summary).toContain('between 10.0.12.2 (an address of host r2 (eth1)) and 10.0.12.1 from hop 2 to 30');
    expect(a.findings[0].why).toContain('forward packets for 10.200.0.9 to each other');
    expect(a.findings[0].evidence).toHaveLength(5);
  });

  it('ECMP: one router answering two consecutive hops on unequal-length paths is a note, not a loop', () => {
    const text = header('10.50.0.9') + [
      ' 1  10.1.0.1  0.3 ms  0.2 ms  0.2 ms',
      ' 2  10.2.0.1  0.5 ms  10.2.0.2  0.6 ms  10.2.0.1  0.5 ms',
      ' 3  10.3.0.1  0.9 ms  10.3.0.1  0.8 ms  10.2.0.2  0.7 ms',
      ' 4  10.3.0.1  1.1 ms  10.4.0.1  1.2 ms  10.4.0.1  1.0 ms',
      ' 5  10.50.0.9  1.4 ms  1.3 ms  1.3 ms',
    ].join('\n');
    const a = analyze(text);
    expect(a.findings).toEqual([]);
    expect(a.exitCode).toBe(0);
    expect(a.notes).toEqual([
      expect.stringContaining('10.2.0.2 answers hops 2 and 3'),
      expect.stringContaining('10.3.0.1 answers hops 3 and 4'),
    ]);
  });

  it('ECMP repeat at the end of a path that goes silent: a stop, not a loop', () => {
    const a = analyze(header('10.50.0.9') + hops(['10.1.0.1  0.3 ms', '10.3.0.1  0.5 ms', '10.3.0.1  0.6 ms', '10.4.0.1  0.7 ms', '*', '*', '*']));
    expect(a.findings.map((f) => f.check)).toEqual(['traceroute-stops']);
    expect(a.notes[0]).toContain('10.3.0.1 answers hops 2 and 3');
  });

  it('tracert (Windows) output is read too', () => {
    const text = [
      'Tracing route to 10.200.1.15 over a maximum of 30 hops',
      '',
      '  1    <1 ms    <1 ms    <1 ms  10.64.3.1',
      ...Array.from({ length: 5 }, (_, i) => `  ${i + 2}     1 ms     1 ms     1 ms  10.100.1.18`),
    ].join('\n');
    const a = analyze(text, { withTopology: true });
    expect(a.findings[0].summary).toContain('10.100.1.18 (the private address of VPN gateway');
  });
});

describe('traceroute-unreachable and traceroute-stops', () => {
  it('a path that reaches its destination: no findings', () => {
    const a = analyze(header('10.50.0.9') + hops(['10.1.0.1  0.3 ms', '10.2.0.1  0.5 ms', '10.50.0.9  0.7 ms']));
    expect(a.findings).toEqual([]);
    expect(a.path.reached).toBe(true);
  });

  it('!N and !X name the router and the meaning', () => {
    const n = analyze(header('10.99.0.1') + hops(['10.1.0.1  0.3 ms', '10.2.0.1  0.5 ms !N']), { source: '10.1.0.10' });
    expect(n.findings.map((f) => f.check)).toEqual(['traceroute-unreachable']);
    expect(n.findings[0].summary).toBe('The path from 10.1.0.10 to 10.99.0.1 ends in !N (network unreachable) from 10.2.0.1 at hop 2');
    expect(n.findings[0].fix[0]).toContain('On 10.2.0.1: add the route for 10.99.0.1');
    expect(n.findings[0].evidence).toEqual([{ source: 'traceroute', lineNumber: 3, text: ' 2  10.2.0.1  0.5 ms !N' }]);
    const x = analyze(header('10.99.0.1') + hops(['10.1.0.1  0.3 ms !X']));
    expect(x.findings[0].summary).toContain('!X (communication administratively prohibited) from 10.1.0.1');
    expect(x.exitCode).toBe(1);
  });

  it('silence after a hop is a warning naming the last router; exit code 0', () => {
    const a = analyze(header('10.99.0.1') + hops(['10.1.0.1  0.3 ms', '10.2.0.1  0.5 ms', '*', '*']), { withTopology: false });
    expect(a.findings).toHaveLength(1);
    expect(a.findings[0]).toMatchObject({ check: 'traceroute-stops', severity: 'warning' });
    expect(a.findings[0].summary).toBe('The path to 10.99.0.1 stops answering after hop 2 (10.2.0.1); hops 3–4 are silent');
    expect(a.exitCode).toBe(0);
  });

  it('nothing answered at all', () => {
    const a = analyze(header('10.99.0.1') + hops(['*', '*', '*']));
    expect(a.findings[0].summary).toBe('No hop answered on the path to 10.99.0.1 (3 hops tried)');
  });
});

describe('ping with rising TTL (the fallback)', () => {
  const run = (ttl: number, body: string) => ({ ttl, argv: ['ping', '-n', '-c1', '-W1', '-t', String(ttl), '10.200.1.15'], stdout: `PING 10.200.1.15 (10.200.1.15) 56(84) bytes of data.\n${body}\n` });

  it('Time to live exceeded lines become hops, with transcript line numbers as evidence', () => {
    const runs = [run(1, 'From 10.64.3.1 icmp_seq=1 Time to live exceeded'), ...[2, 3, 4, 5].map((t) => run(t, 'From 10.100.1.18 icmp_seq=1 Time to live exceeded')), run(6, '')];
    const trace = traceFromPings(runs, '10.200.1.15');
    expect(trace.hops.map((h) => h.probes[0].address)).toEqual(['10.64.3.1', '10.100.1.18', '10.100.1.18', '10.100.1.18', '10.100.1.18', undefined]);
    const lines = trace.transcript.split('\n');
    expect(lines[trace.hops[1].origin.lineNumber - 1]).toBe('From 10.100.1.18 icmp_seq=1 Time to live exceeded');
    const path = pathFromTraceroute({ records: trace.hops }, { destination: '10.200.1.15', source: '10.64.3.22' });
    const a = analyzeTrace(path, { names: addressNamer({ topology: incidentTopology }), topology: incidentTopology });
    expect(a.findings[0].check).toBe('traceroute-loop');
    expect(a.findings[0].evidence[0].source).toBe('ping');
  });

  it('a reply ends the trace as reached; Destination Host Unreachable is !H', () => {
    const ok = traceFromPings([run(1, 'From 10.1.0.1 icmp_seq=1 Time to live exceeded'), run(2, '64 bytes from 10.200.1.15: icmp_seq=1 ttl=63 time=0.081 ms')], '10.200.1.15');
    expect(ok.reached).toBe(true);
    const bad = traceFromPings([run(1, 'From 10.1.0.1 icmp_seq=1 Destination Host Unreachable'), run(2, 'never read')], '10.200.1.15');
    expect(bad.hops).toHaveLength(1);
    expect(bad.hops[0].probes[0].annotation).toBe('!H');
  });
});
