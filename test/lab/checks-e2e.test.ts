/**
 * Every check the kernel can show, end to end: real packets prove the symptom, hostcheck inside the
 * affected host names the cause with its evidence, the fix it printed is applied literally, and
 * real packets then flow and hostcheck exits 0.
 */
import { expect, it } from 'vitest';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/report/json.js';
import { applyPrintedFix, errorsOf, hostcheckReport } from './e2e-helpers.js';
import { TWO_NIC, meshWithEcs3, twoNic } from './check-topologies.js';
import { describeLab, useLab } from './suite.js';
import { FIRST_INCIDENT as fi, firstIncident } from './topologies.js';

const hostcheck = hostcheckReport;
const errors = errorsOf;

describeLab('e2e: route-captures-peer (the first incident)', () => {
  const lab = useLab(firstIncident());
  const peers = ['--peer', `${fi.ecs1}=ecs1`, '--peer', `${fi.ecs2}=ecs2`];

  it('symptom, diagnosis, printed fix, recovery', async () => {
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(false);
    expect((await lab().ping('ecs2', fi.ecs3)).ok).toBe(true);

    const { report, exitCode } = await hostcheck(lab(), 'ecs3', peers);
    expect(exitCode).toBe(1);
    const errs = errors(report);
    expect(errs).toHaveLength(1);
    const f = errs[0];
    expect(f.check).toBe('route-captures-peer');
    expect(f.summary).toContain('docker0');
    expect(f.summary).toContain('172.17.0.0/16');
    expect(f.summary).toContain(fi.ecs1);
    expect(f.peers).toEqual([fi.ecs1]);
    expect(f.evidence.map((e) => e.text.trim())).toContain('172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1 linkdown');
    expect(f.evidence.find((e) => e.source === 'ip-route-v4')?.lineNumber).toBeGreaterThan(0);
    expect(errs.some((e) => e.summary.includes(fi.ecs2))).toBe(false);

    const applied = await applyPrintedFix(lab(), 'ecs3', f);
    expect(applied[0]).toMatch(/^ip route add 172\.17\.0\.64\/32 via 172\.31\.15\.253 dev eth0/);
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(true);
    const after = await hostcheck(lab(), 'ecs3', peers);
    expect(errors(after.report)).toEqual([]);
    expect(after.exitCode).toBe(0);
  });

  it('without the bridge hostcheck exits 0', async () => {
    await lab().applyFix('ecs3', 'ip link del docker0');
    const { report, exitCode } = await hostcheck(lab(), 'ecs3', peers);
    expect(errors(report)).toEqual([]);
    expect(exitCode).toBe(0);
  });
});

describeLab('e2e: route-captures-peer when docker0 has a container (carrier), beside a peer that lives on it', () => {
  const topology = firstIncident();
  topology.hosts.ctr = { routes: ['default via 172.17.0.1 dev eth0'] };
  topology.links!.push({ a: { host: 'ecs3', iface: 'veth0c1d2e3', bridge: 'docker0' }, b: { host: 'ctr', iface: 'eth0', addresses: ['172.17.0.2/16'] } });
  const lab = useLab(topology);
  it('ecs1 is still captured (it never answers ARP on docker0); the container is not', async () => {
    expect((await lab().ping('ecs3', '172.17.0.2')).ok).toBe(true);
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(false);
    const neigh = await lab().exec('ecs3', ['ip', 'neigh', 'show', 'dev', 'docker0']);
    expect(neigh.stdout).toMatch(/^172\.17\.0\.2 lladdr \S+ (REACHABLE|STALE|DELAY)/m);
    const { report, exitCode } = await hostcheck(lab(), 'ecs3', ['--peer', `${fi.ecs1}=ecs1`, '--peer', '172.17.0.2=ctr']);
    expect(exitCode).toBe(1);
    expect(errors(report).map((f) => f.subject)).toEqual([`docker0 172.17.0.0/16 captures ${fi.ecs1}`]);
    const info = report.findings.find((f) => f.check === 'route-captures-peer' && f.severity === 'info');
    expect(info?.summary).toBeUndefined(); // the range is captured for ecs1: an error, not an info
    await applyPrintedFix(lab(), 'ecs3', errors(report)[0]);
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(true);
    const after = await hostcheck(lab(), 'ecs3', ['--peer', `${fi.ecs1}=ecs1`, '--peer', '172.17.0.2=ctr']);
    expect(errors(after.report)).toEqual([]);
    expect(after.report.findings.find((f) => f.check === 'route-captures-peer')?.summary).toMatch(/ecs1 172\.17\.0\.64 is reached through eth0 .*ctr 172\.17\.0\.2 lives on docker0/);
  });
});

describeLab('e2e: the same findings live and from a bundle', () => {
  const lab = useLab(firstIncident());
  it('capture inside ECS3, then --bundle: identical findings', async () => {
    const dir = `/tmp/hc-e2e-bundle-${process.pid}`;
    await lab().hostcheck('ecs3', ['capture', '--out', dir, '--name', 'ecs3']);
    try {
      const live = await hostcheck(lab(), 'ecs3', ['--peer', fi.ecs1]);
      const offline = await lab().hostcheck('ecs3', ['--json', '--bundle', dir, '--peer', fi.ecs1]);
      // Identical but for what the kernel said: the live run asked it (confirmed), the bundle could not.
      const findings = (JSON.parse(offline.stdout) as Report).findings;
      expect(findings.map((f) => f.kernel?.status)).toEqual(findings.map(() => 'unavailable'));
      expect(live.report.findings.find((f) => f.check === 'route-captures-peer')?.kernel?.status).toBe('confirmed');
      const withoutKernel = (fs: Finding[]) => fs.map(({ kernel: _kernel, ...f }) => f);
      expect(withoutKernel(findings)).toEqual(withoutKernel(live.report.findings));
    } finally {
      await lab().exec('ecs3', ['rm', '-rf', dir]);
    }
  });
});

describeLab('e2e: rp-filter-drop (second NIC under strict rp_filter)', () => {
  const lab = useLab(twoNic({ ecs4RpFilter: 1 }));
  it('symptom, diagnosis, printed fix, recovery', async () => {
    expect((await lab().ping('client', TWO_NIC.ecs4eth1)).ok).toBe(false);
    expect((await lab().ping('client', TWO_NIC.ecs4eth0)).ok).toBe(true);
    const { report, exitCode } = await hostcheck(lab(), 'ecs4', ['--peer', `${TWO_NIC.client}=client`]);
    expect(exitCode).toBe(1);
    const f = report.findings.find((x) => x.check === 'rp-filter-drop');
    expect(f, JSON.stringify(report.findings, null, 2)).toBeDefined();
    expect(f!.severity).toBe('error');
    expect(f!.summary).toContain('eth1');
    expect(f!.summary).toContain(TWO_NIC.client);
    expect(f!.evidence.map((e) => e.text)).toContain('net.ipv4.conf.eth1.rp_filter = 1');
    await applyPrintedFix(lab(), 'ecs4', f!);
    expect((await lab().ping('client', TWO_NIC.ecs4eth1)).ok).toBe(true);
    const after = await hostcheck(lab(), 'ecs4', ['--peer', `${TWO_NIC.client}=client`]);
    expect(errors(after.report)).toEqual([]);
    expect(after.exitCode).toBe(0);
  });
});

describeLab('e2e: asymmetric-return (second NIC, source-checked network)', () => {
  const lab = useLab(twoNic({ routerRpFilter: 1 }));
  it('symptom, diagnosis, printed fix, recovery', async () => {
    expect((await lab().ping('client', TWO_NIC.ecs4eth1)).ok).toBe(false);
    const { report, exitCode } = await hostcheck(lab(), 'ecs4', ['--peer', `${TWO_NIC.client}=client`]);
    expect(exitCode).toBe(1);
    const f = report.findings.find((x) => x.check === 'asymmetric-return');
    expect(f, JSON.stringify(report.findings, null, 2)).toBeDefined();
    expect(f!.summary).toContain(`replies from ${TWO_NIC.ecs4eth1} (eth1)`);
    expect(f!.summary).toContain('leave through eth0');
    expect(f!.evidence.some((e) => e.text.startsWith('default via 10.1.0.1 dev eth0'))).toBe(true);
    await applyPrintedFix(lab(), 'ecs4', f!);
    expect((await lab().ping('client', TWO_NIC.ecs4eth1)).ok).toBe(true);
    const after = await hostcheck(lab(), 'ecs4', ['--peer', `${TWO_NIC.client}=client`]);
    expect(errors(after.report)).toEqual([]);
    expect(after.exitCode).toBe(0);
  });
});

describeLab('e2e: route-kills-traffic (prohibit rule, blackhole route)', () => {
  const lab = useLab(meshWithEcs3({ rules: [`to ${fi.ecs1} prohibit pref 100`], routes: ['blackhole 172.18.1.0/24'] }));
  it('symptoms, diagnoses, printed fixes, recovery', async () => {
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(false);
    expect((await lab().ping('ecs2', fi.ecs3)).ok).toBe(false);
    const args = ['--peer', `${fi.ecs1}=ecs1`, '--peer', `${fi.ecs2}=ecs2`];
    const { report, exitCode } = await hostcheck(lab(), 'ecs3', args);
    expect(exitCode).toBe(1);
    const kills = report.findings.filter((x) => x.check === 'route-kills-traffic');
    const prohibit = kills.find((k) => k.subject === fi.ecs1);
    const blackhole = kills.find((k) => k.subject === fi.ecs2);
    expect(prohibit?.summary).toContain('prohibit');
    expect(prohibit?.evidence.map((e) => e.text)).toContain(`100:\tfrom all to ${fi.ecs1} prohibit`);
    expect(blackhole?.summary).toContain('blackhole 172.18.1.0/24');
    await applyPrintedFix(lab(), 'ecs3', prohibit!);
    await applyPrintedFix(lab(), 'ecs3', blackhole!);
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(true);
    expect((await lab().ping('ecs2', fi.ecs3)).ok).toBe(true);
    const after = await hostcheck(lab(), 'ecs3', args);
    expect(errors(after.report)).toEqual([]);
    expect(after.exitCode).toBe(0);
  });
});

describeLab('e2e: a healthy host reports no error', () => {
  const lab = useLab(meshWithEcs3({
    bridges: [{ name: 'docker0', addresses: ['10.250.0.1/24'] }],
    iptables: ['*filter', ':INPUT DROP [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]', '-A INPUT -i lo -j ACCEPT', '-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', `-A INPUT -s ${fi.ecs1}/32 -p icmp -j ACCEPT`, `-A INPUT -s ${fi.ecs2}/32 -p icmp -j ACCEPT`, 'COMMIT', ''].join('\n'),
  }));
  it('non-conflicting bridge, a firewall that allows the peers: traffic flows, exit 0', async () => {
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(true);
    expect((await lab().ping('ecs2', fi.ecs3)).ok).toBe(true);
    const { report, exitCode } = await hostcheck(lab(), 'ecs3', ['--peer', `${fi.ecs1}=ecs1`, '--peer', `${fi.ecs2}=ecs2`]);
    expect(errors(report)).toEqual([]);
    expect(report.complete, JSON.stringify(report.sources)).toBe(true);
    expect(exitCode).toBe(0);
  });
});

describeLab('e2e: firewall-blocks-peer (iptables DROP and REJECT for peers)', () => {
  const lab = useLab(meshWithEcs3({
    iptables: ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':PEERS - [0:0]',
      '-A INPUT -p icmp -j PEERS',
      `-A PEERS -s ${fi.ecs1}/32 -m comment --comment "old monitoring block" -j DROP`,
      `-A PEERS -s ${fi.ecs2}/32 -p icmp -m icmp --icmp-type 8 -j REJECT --reject-with icmp-host-prohibited`,
      'COMMIT', ''].join('\n'),
  }));
  it('symptoms, diagnoses, printed fixes, recovery', async () => {
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(false);
    const rejected = await lab().ping('ecs2', fi.ecs3);
    expect(rejected.ok).toBe(false);
    expect(rejected.output).toMatch(/Destination Host Prohibited/);
    const args = ['--peer', `${fi.ecs1}=ecs1`, '--peer', `${fi.ecs2}=ecs2`];
    const { report, exitCode } = await hostcheck(lab(), 'ecs3', args);
    expect(exitCode).toBe(1);
    const fw = report.findings.filter((x) => x.check === 'firewall-blocks-peer');
    const drop = fw.find((f) => f.subject === `${fi.ecs1} icmp-in`);
    const reject = fw.find((f) => f.subject === `${fi.ecs2} icmp-in`);
    expect(drop?.summary).toContain('drops ICMP echo from ecs1');
    expect(drop?.summary).toContain('filter/PEERS rule 1');
    expect(drop?.evidence.map((e) => e.text.replace(/^\[\d+:\d+\] /, ''))).toEqual(['-A INPUT -p icmp -j PEERS', `-A PEERS -s ${fi.ecs1}/32 -m comment --comment "old monitoring block" -j DROP`]);
    expect(reject?.summary).toContain('rejects ICMP echo from ecs2');
    await applyPrintedFix(lab(), 'ecs3', drop!);
    await applyPrintedFix(lab(), 'ecs3', reject!);
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(true);
    expect((await lab().ping('ecs2', fi.ecs3)).ok).toBe(true);
    const after = await hostcheck(lab(), 'ecs3', args);
    expect(errors(after.report)).toEqual([]);
    expect(after.exitCode).toBe(0);
  });
});

describeLab('e2e: a native nft set lookup iptables-save does not print (iptables-nft)', () => {
  // ECS3 accepts ecs2 by iptables; then nft adds `ip saddr @blocked drop` (blocked = ecs1) to the
  // same iptables-nft chain. iptables-save prints that rule as `-A INPUT -j DROP`.
  const lab = useLab(meshWithEcs3({
    iptables: ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', `-A INPUT -s ${fi.ecs2}/32 -j ACCEPT`, 'COMMIT', ''].join('\n'),
  }));
  it('the kernel drops only the set; hostcheck does not claim the printed DROP, it says it cannot decide', async () => {
    for (const argv of [
      ['nft', 'add', 'set', 'ip', 'filter', 'blocked', '{ type ipv4_addr; }'],
      ['nft', 'add', 'element', 'ip', 'filter', 'blocked', `{ ${fi.ecs1} }`],
      ['nft', 'add', 'rule', 'ip', 'filter', 'INPUT', 'ip', 'saddr', '@blocked', 'drop'],
    ]) expect((await lab().exec('ecs3', argv)).exitCode, argv.join(' ')).toBe(0);
    const saved = await lab().exec('ecs3', ['iptables-save']);
    expect(saved.stdout).toMatch(/^-A INPUT -j DROP$/m);
    // The kernel: ecs1 (in the set) is dropped, ecs2 accepted before the set rule.
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(false);
    expect((await lab().ping('ecs2', fi.ecs3)).ok).toBe(true);
    const { report } = await hostcheck(lab(), 'ecs3', ['--peer', `${fi.ecs1}=ecs1`, '--peer', `${fi.ecs2}=ecs2`]);
    const fw = report.findings.filter((f) => f.check === 'firewall-blocks-peer');
    // No error from the printed `-j DROP`; ecs1 is undecided at that rule, ecs2 is accepted before it.
    expect(fw.filter((f) => f.severity === 'error')).toEqual([]);
    const ecs1 = fw.find((f) => f.subject === `${fi.ecs1} icmp-in`);
    expect(ecs1?.severity).toBe('warning');
    expect(ecs1?.summary).toMatch(/cannot decide .*ip saddr @blocked drop.*missing from iptables-save/);
    expect(ecs1?.evidence.map((e) => e.source)).toEqual(['iptables-save', 'nft']);
    expect(fw.some((f) => f.subject.startsWith(`${fi.ecs2} `))).toBe(false);
  });
});
