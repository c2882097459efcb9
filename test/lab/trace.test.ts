/**
 * `hostcheck trace` against real forwarding: client → r1 → r2 (→ server). r1 plays the cloud's
 * VPC router (forwards, sends no Time Exceeded); r2 plays the VPN gateway whose route for
 * 10.200.0.0/20 points back at r1, so packets loop until their TTL runs out — the second
 * incident's "10.100.1.18 repeats to hop 30". r2 also has an unreachable route (→ !H) and no
 * route at all for 10.80.0.0/16 (→ !N).
 */
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { parse } from '../../parsers/traceroute.js';
import { topologyFromText } from '../../src/collect/topology-file.js';
import { analyzeTrace } from '../../src/checks/analyze-trace.js';
import { addressNamer } from '../../src/trace/names.js';
import { pathFromTraceroute } from '../../src/trace/path.js';
import { repoRoot, type Topology } from './lab.js';
import { describeLab, useLab } from './suite.js';

const topologyFile = join(repoRoot, 'fixtures', 'topology', 'lab-trace.yaml');
const cloud = topologyFromText(readFileSync(topologyFile, 'utf8'));

const lab: Topology = {
  hosts: {
    client: { routes: ['default via 10.9.0.1'] },
    r1: {
      router: true,
      routes: ['10.200.0.0/20 via 10.0.12.2', '10.50.0.0/24 via 10.0.12.2', '10.60.0.0/24 via 10.0.12.2', '10.80.0.0/16 via 10.0.12.2'],
      // A VPC router does not answer traceroute: it forwards, it sends no Time Exceeded.
      iptables: '*filter\n-A OUTPUT -p icmp --icmp-type time-exceeded -j DROP\nCOMMIT\n',
    },
    r2: { router: true, routes: ['10.9.0.0/24 via 10.0.12.1', '10.200.0.0/20 via 10.0.12.1', 'unreachable 10.60.0.0/24'] },
    server: { routes: ['default via 10.50.0.1'] },
  },
  links: [
    { a: { host: 'client', iface: 'eth0', addresses: ['10.9.0.10/24'] }, b: { host: 'r1', iface: 'eth0', addresses: ['10.9.0.1/24'] } },
    { a: { host: 'r1', iface: 'eth1', addresses: ['10.0.12.1/30'] }, b: { host: 'r2', iface: 'eth0', addresses: ['10.0.12.2/30'] } },
    { a: { host: 'r2', iface: 'eth1', addresses: ['10.50.0.1/24'] }, b: { host: 'server', iface: 'eth0', addresses: ['10.50.0.9/24'] } },
  ],
};

async function traceroute(l: ReturnType<ReturnType<typeof useLab>>, dst: string) {
  const r = await l.exec('client', ['traceroute', '-n', '-q', '1', '-w', '1', '-m', '30', dst], { check: true, timeoutMs: 30_000 });
  const path = pathFromTraceroute(parse(r.stdout), { source: '10.9.0.10' });
  return { output: r.stdout, analysis: analyzeTrace(path, { names: addressNamer({ topology: cloud }), topology: cloud }) };
}

describeLab('hostcheck trace: loops, unreachable endings and a clean path, with real packets', () => {
  const l = useLab(lab);
  const noTraceroute = mkdtempSync(join(tmpdir(), 'hc-notr-'));
  for (const tool of ['node', 'ping', 'ip']) symlinkSync(`/usr/bin/${tool}`, join(noTraceroute, tool));
  afterAll(() => rmSync(noTraceroute, { recursive: true, force: true }));

  it('the loop: 10.0.12.2 (r2, the "VPN gateway") answers every other hop to 30; named and fixed from the topology', async () => {
    const { output, analysis } = await traceroute(l(), '10.200.1.15');
    expect(output).toMatch(/^30 {2}10\.0\.12\.2 /m);
    const loop = analysis.findings.find((f) => f.check === 'traceroute-loop');
    expect(loop, output).toBeDefined();
    expect(analysis.loop).toMatchObject({ addresses: ['10.0.12.2'], lastHop: 30 });
    expect(loop!.summary).toContain('10.0.12.2 (the private address of VPN gateway vpn-lab-r2 (r2))');
    expect(loop!.why).toContain('10.9.0.10 is outside the local subnets of IPsec connection vco-lab');
    expect(loop!.fix[0]).toContain('Add 10.9.0.0/24 to the local subnets of IPsec connection vco-lab');
  });

  it('a path that reaches its destination: no error', async () => {
    const { output, analysis } = await traceroute(l(), '10.50.0.9');
    expect(analysis.path.reached, output).toBe(true);
    expect(analysis.findings).toEqual([]);
  });

  it('an unreachable route on r2 gives !H, no route gives !N: traceroute-unreachable', async () => {
    const h = await traceroute(l(), '10.60.0.7');
    expect(h.analysis.findings.map((f) => f.check), h.output).toEqual(['traceroute-unreachable']);
    expect(h.analysis.findings[0].summary).toContain('!H (host unreachable) from 10.0.12.2');
    const n = await traceroute(l(), '10.80.0.7');
    expect(n.analysis.findings[0].summary, n.output).toContain('!N (network unreachable) from 10.0.12.2');
  });

  it('hostcheck trace DST runs traceroute itself: exit 1, the gateway named; --json', async () => {
    const r = await l().hostcheck('client', ['trace', '10.200.1.15', '--topology', topologyFile], { timeoutMs: 30_000 });
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stdout).toContain('ERROR Packets from 10.9.0.10 to 10.200.1.15 loop: 10.0.12.2 (the private address of VPN gateway vpn-lab-r2 (r2))');
    const ok = await l().hostcheck('client', ['trace', '10.50.0.9', '--json'], { timeoutMs: 30_000 });
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ tool: 'traceroute', reached: true, findings: [], source: '10.9.0.10' });
  });

  it('without traceroute on PATH it falls back to ping with rising TTL and finds the same loop', async () => {
    const r = await l().hostcheck('client', ['trace', '10.200.1.15', '--topology', topologyFile, '--json'], { timeoutMs: 60_000, env: { PATH: noTraceroute } });
    expect(r.exitCode, r.stderr).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.tool).toBe('ping');
    expect(out.notes[0]).toContain('traceroute is not installed');
    expect(out.findings[0].check).toBe('traceroute-loop');
    expect(out.findings[0].evidence[0]).toMatchObject({ source: 'ping', text: 'From 10.0.12.2 icmp_seq=1 Time to live exceeded' });
  });
});
