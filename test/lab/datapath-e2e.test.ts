/**
 * The datapath checks end to end (issue 15): real packets show the fault, hostcheck inside the
 * host names it with the lines that decide, the printed fix is applied literally, and packets
 * then flow and hostcheck reports no error; a healthy variant of each stays silent.
 */
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { writeBpfObject } from './bpf-object.js';
import { FIRST_INCIDENT as fi } from './topologies.js';
import { DUALWAN, KVM, MESH6, NATGW, dualWan, ipv6Link, kvmHost, markIntoBlackhole, meshWithDropProgram, natGateway } from './datapath-topologies.js';
import type { Lab } from './lab.js';
import { applyPrintedFix, errorsOf, hostcheckReport } from './e2e-helpers.js';
import { describeLab, useLab } from './suite.js';

const peers = ['--peer', `${fi.ecs1}=ecs1`, '--peer', `${fi.ecs2}=ecs2`, '--peer', `${MESH6.ecs1}=ecs1`, '--peer', `${MESH6.ecs2}=ecs2`];

describeLab('e2e: mark-routing (marks into policy routing, IPv4 and IPv6)', () => {
  const lab = useLab(markIntoBlackhole());

  it('symptom, diagnosis, printed fix, recovery', async () => {
    for (const [from, to] of [['ecs3', fi.ecs2], ['ecs2', fi.ecs3], ['ecs3', MESH6.ecs2], ['ecs2', MESH6.ecs3]]) {
      expect((await lab().ping(from, to)).ok, `${from} → ${to}`).toBe(false);
    }
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(true);
    expect((await lab().ping('ecs1', MESH6.ecs3)).ok).toBe(true);

    const { report, exitCode } = await hostcheckReport(lab(), 'ecs3', peers);
    expect(exitCode).toBe(1);
    const found = report.findings.filter((f) => f.check === 'mark-routing');
    expect(found.map((f) => f.subject).sort()).toEqual([`${fi.ecs2} mark 0x66`, `${MESH6.ecs2} mark 0x66`].sort());
    for (const f of found) expect(f.severity).toBe('error');
    const v4 = found.find((f) => f.subject.startsWith(fi.ecs2))!;
    expect(v4.summary).toContain('marked 0x66 by mangle/OUTPUT rule 1');
    expect(v4.summary).toContain('blackhole default in table 102');
    expect(v4.summary).toContain(`ICMP echo to ecs2 ${fi.ecs2}`);
    expect(v4.summary).toContain(`the reply to ICMP echo from ecs2 ${fi.ecs2}`);
    expect(v4.evidence.map((e) => e.text.replace(/^\[\d+:\d+\] /, '').trim())).toEqual([
      '-A OUTPUT -d 172.18.0.0/16 -j MARK --set-xmark 0x66/0xffffffff',
      '100:\tfrom all fwmark 0x66 lookup 102',
      'blackhole default table 102',
    ]);
    // No other check claims it: the unmarked route and the firewall are fine.
    expect(errorsOf(report).filter((f) => f.check !== 'mark-routing')).toEqual([]);

    for (const f of found) {
      const steps = await applyPrintedFix(lab(), 'ecs3', f);
      expect(steps[0]).toMatch(/^ip (-6 )?rule add to \S+ lookup main priority 99$/);
    }
    for (const [from, to] of [['ecs3', fi.ecs2], ['ecs2', fi.ecs3], ['ecs3', MESH6.ecs2], ['ecs2', MESH6.ecs3]]) {
      expect((await lab().ping(from, to)).ok, `${from} → ${to} after the fix`).toBe(true);
    }
    const after = await hostcheckReport(lab(), 'ecs3', peers);
    expect(errorsOf(after.report)).toEqual([]);
    expect(after.exitCode).toBe(0);
  });
});

describeLab('e2e: mark-routing stays silent when the marked table routes', () => {
  const lab = useLab(markIntoBlackhole({ healthy: true }));
  it('marks and the fwmark rule, table 102 with a default route: traffic flows, no finding', async () => {
    for (const [from, to] of [['ecs3', fi.ecs2], ['ecs2', fi.ecs3], ['ecs3', MESH6.ecs2], ['ecs2', MESH6.ecs3]]) {
      expect((await lab().ping(from, to)).ok, `${from} → ${to}`).toBe(true);
    }
    const { report, exitCode } = await hostcheckReport(lab(), 'ecs3', peers);
    expect(report.findings.filter((f) => f.check === 'mark-routing')).toEqual([]);
    expect(errorsOf(report)).toEqual([]);
    expect(exitCode).toBe(0);
  });
});

const natArgs = ['--peer', `${NATGW.inet}=inet`, '--peer', `${NATGW.inet6}=inet`, '--route-for', NATGW.lan6];
/** The first IPv6 packet may wait for neighbour discovery: three tries. */
const reach = async (lab: Lab, from: string, to: string): Promise<boolean> => (await lab.ping(from, to, { count: 3, timeoutS: 2 })).ok;
const clientReaches = async (lab: Lab, v6 = NATGW.inet6): Promise<boolean[]> => [await reach(lab, 'client', NATGW.inet), await reach(lab, 'client', v6)];

describeLab('e2e: forward-blocked (Docker on a router, IPv4 and IPv6)', () => {
  const lab = useLab(natGateway({ docker: true }));

  it('symptom, diagnosis, the printed DOCKER-USER lines, recovery', async () => {
    expect(await clientReaches(lab())).toEqual([false, false]);
    const { report, exitCode } = await hostcheckReport(lab(), 'gw', natArgs);
    expect(exitCode).toBe(1);
    const found = report.findings.filter((f) => f.check === 'forward-blocked');
    expect(found.map((f) => f.subject).sort()).toEqual([`${NATGW.lan} eth1>eth0`, `${NATGW.lan6} eth1>eth0`]);
    const v4 = found.find((f) => f.subject.startsWith(NATGW.lan))!;
    expect(v4.severity).toBe('error');
    expect(v4.summary).toContain('filter/FORWARD policy drops it (policy DROP)');
    expect(v4.summary).toContain(`ICMP echo from ${NATGW.lan} (eth1) to inet ${NATGW.inet}`);
    expect(v4.summary).toContain('to the internet');
    expect(v4.evidence.some((e) => /^:FORWARD DROP \[\d+:\d+\]$/.test(e.text.trim()))).toBe(true);
    expect(v4.evidence.some((e) => e.text.includes(`-A POSTROUTING -s ${NATGW.lan} -o eth0 -j MASQUERADE`))).toBe(true);
    expect(v4.why).toContain('Docker on a router');
    expect(v4.fix.slice(0, 2)).toEqual([
      `iptables -I DOCKER-USER -i eth1 -o eth0 -s ${NATGW.lan} -j ACCEPT`,
      'iptables -I DOCKER-USER -i eth0 -o eth1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    ]);
    for (const f of found) await applyPrintedFix(lab(), 'gw', f);
    expect(await clientReaches(lab())).toEqual([true, true]);
    const after = await hostcheckReport(lab(), 'gw', natArgs);
    expect(errorsOf(after.report)).toEqual([]);
    expect(after.exitCode).toBe(0);
  });
});

describeLab('e2e: forward-blocked stays silent on a router that forwards', () => {
  const user = { 4: [`-i eth1 -o eth0 -s ${NATGW.lan} -j ACCEPT`, '-i eth0 -o eth1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'], 6: [`-i eth1 -o eth0 -s ${NATGW.lan6} -j ACCEPT`, '-i eth0 -o eth1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'] };
  const lab = useLab(natGateway({ docker: true, dockerUser: user }));
  it('Docker with DOCKER-USER rules for the routed networks: traffic flows, no error', async () => {
    expect(await clientReaches(lab())).toEqual([true, true]);
    const { report, exitCode } = await hostcheckReport(lab(), 'gw', natArgs);
    expect(report.findings.filter((f) => f.check === 'forward-blocked')).toEqual([]);
    expect(errorsOf(report)).toEqual([]);
    expect(exitCode).toBe(0);
  });
});

describeLab('e2e: forward-blocked (forwarding off on the routed network\'s device)', () => {
  const lab = useLab(natGateway({ eth1Forwarding: 0 }));
  it('symptom, diagnosis, printed sysctl, recovery', async () => {
    const [v4] = await clientReaches(lab());
    expect(v4).toBe(false);
    const { report, exitCode } = await hostcheckReport(lab(), 'gw', natArgs);
    expect(exitCode).toBe(1);
    const f = report.findings.find((x) => x.check === 'forward-blocked' && x.subject.startsWith(NATGW.lan));
    expect(f, JSON.stringify(report.findings, null, 2)).toBeDefined();
    expect(f!.summary).toContain('forwarding is off on eth1');
    expect(f!.evidence.map((e) => e.text)).toContain('net.ipv4.conf.eth1.forwarding = 0');
    expect(f!.fix[0]).toBe('sysctl -w net.ipv4.conf.eth1.forwarding=1');
    await applyPrintedFix(lab(), 'gw', f!);
    expect((await clientReaches(lab()))[0]).toBe(true);
    const after = await hostcheckReport(lab(), 'gw', natArgs);
    expect(errorsOf(after.report)).toEqual([]);
    expect(after.exitCode).toBe(0);
  });
});

const vmsReach = async (lab: Lab): Promise<boolean[]> => [(await lab.ping('vm1', KVM.vm2)).ok, (await lab.ping('vm1', KVM.vm26)).ok];

describeLab('e2e: bridge-forward-blocked (VMs on a KVM bridge after Docker set FORWARD to DROP)', () => {
  const lab = useLab(kvmHost({ docker: true }));
  it('symptom, diagnosis, printed DOCKER-USER line, recovery', async () => {
    expect(await vmsReach(lab())).toEqual([false, false]);
    const { report, exitCode } = await hostcheckReport(lab(), 'kvm', []);
    expect(exitCode).toBe(1);
    const found = report.findings.filter((f) => f.check === 'bridge-forward-blocked');
    expect(found.map((f) => f.subject).sort()).toEqual(['br0 IPv4', 'br0 IPv6']);
    const v4 = found.find((f) => f.subject === 'br0 IPv4')!;
    expect(v4.summary).toContain('ICMP echo vnet0 → vnet1');
    expect(v4.summary).toContain('ICMP echo vnet1 → vnet0');
    expect(v4.summary).toContain('filter/FORWARD policy (policy DROP)');
    expect(v4.evidence.map((e) => e.text.trim())).toContain('net.bridge.bridge-nf-call-iptables = 1');
    expect(v4.fix[0]).toBe('iptables -I DOCKER-USER -i br0 -o br0 -j ACCEPT');
    expect(found.find((f) => f.subject === 'br0 IPv6')!.fix[0]).toBe('ip6tables -I DOCKER-USER -i br0 -o br0 -j ACCEPT');
    for (const f of found) await applyPrintedFix(lab(), 'kvm', f);
    expect(await vmsReach(lab())).toEqual([true, true]);
    const after = await hostcheckReport(lab(), 'kvm', []);
    expect(errorsOf(after.report)).toEqual([]);
    expect(after.exitCode).toBe(0);
  });
});

describeLab('e2e: bridge-forward-blocked stays silent when the bridge is let through', () => {
  const lab = useLab(kvmHost({ docker: true, dockerUser: ['-i br0 -o br0 -j ACCEPT'] }));
  it('DOCKER-USER accepts br0: the VMs reach each other, no error', async () => {
    expect(await vmsReach(lab())).toEqual([true, true]);
    const { report, exitCode } = await hostcheckReport(lab(), 'kvm', []);
    expect(errorsOf(report)).toEqual([]);
    expect(exitCode).toBe(0);
  });
});

describeLab('e2e: snat-missing (a NAT gateway without MASQUERADE, IPv4 and a ULA IPv6 LAN)', () => {
  const lab = useLab(natGateway({ masquerade: false, ula: true }));
  const args = ['--route-for', NATGW.lan, '--route-for', NATGW.ulaLan];
  it('symptom, diagnosis, printed MASQUERADE lines, recovery', async () => {
    expect(await clientReaches(lab())).toEqual([false, false]);
    const { report, exitCode } = await hostcheckReport(lab(), 'gw', args);
    expect(exitCode).toBe(1);
    const found = report.findings.filter((f) => f.check === 'snat-missing');
    expect(found.map((f) => f.subject).sort()).toEqual([`${NATGW.lan} via eth0`, `${NATGW.ulaLan} via eth0`]);
    const v4 = found.find((f) => f.subject.startsWith(NATGW.lan))!;
    expect(v4.summary).toContain('with their private source 10.30.0.2');
    expect(v4.fix[0]).toBe(`iptables -t nat -A POSTROUTING -s ${NATGW.lan} -o eth0 -j MASQUERADE`);
    expect(found.find((f) => f.subject.startsWith(NATGW.ulaLan))!.fix[0]).toBe(`ip6tables -t nat -A POSTROUTING -s ${NATGW.ulaLan} -o eth0 -j MASQUERADE`);
    expect(errorsOf(report).filter((f) => f.check !== 'snat-missing')).toEqual([]);
    for (const f of found) await applyPrintedFix(lab(), 'gw', f);
    expect(await clientReaches(lab())).toEqual([true, true]);
    const after = await hostcheckReport(lab(), 'gw', args);
    expect(errorsOf(after.report)).toEqual([]);
    expect(after.exitCode).toBe(0);
  });
});

describeLab('e2e: snat-missing stays silent when the gateway translates', () => {
  const lab = useLab(natGateway({ ula: true }));
  it('MASQUERADE for both LANs: traffic flows, no error', async () => {
    expect(await clientReaches(lab())).toEqual([true, true]);
    const { report, exitCode } = await hostcheckReport(lab(), 'gw', ['--route-for', NATGW.lan, '--route-for', NATGW.ulaLan]);
    expect(errorsOf(report)).toEqual([]);
    expect(exitCode).toBe(0);
  });
});

/** A TCP connection from the client's public address to the port forward on wan2: true when the server answered. */
async function portForwardWorks(lab: Lab, v6 = false): Promise<boolean> {
  const [to, from] = v6 ? [DUALWAN.wan2v6, DUALWAN.client6] : [DUALWAN.wan2, DUALWAN.client];
  const code = `import socket\ns=socket.create_connection(('${to}',${DUALWAN.port}),timeout=2,source_address=('${from}',0))\nprint(s.recv(2).decode())`;
  const r = await lab.exec('cli', ['python3', '-c', code], { timeoutMs: 5000 });
  return r.exitCode === 0 && r.stdout.trim() === 'ok';
}

describeLab('e2e: dual WAN — rp_filter on the forwarding path (forward-blocked), then the port forward answering out of the other uplink (dnat-reply-asymmetric)', () => {
  const lab = useLab(dualWan({ wan2RpFilter: 1 }));
  it('two faults in a row: each named, each printed fix applied, then the port forward works', async () => {
    expect(await portForwardWorks(lab())).toBe(false);
    let { report, exitCode } = await hostcheckReport(lab(), 'r', []);
    expect(exitCode).toBe(1);
    const rp = report.findings.find((f) => f.check === 'forward-blocked');
    expect(rp, JSON.stringify(report.findings, null, 2)).toBeDefined();
    expect(rp!.summary).toContain(`the port forward ${DUALWAN.wan2}:${DUALWAN.port} on wan2`);
    expect(rp!.summary).toContain('rp_filter=1 on wan2 drops it');
    expect(rp!.evidence.map((e) => e.text)).toContain('net.ipv4.conf.wan2.rp_filter = 1');
    expect(rp!.fix[0]).toBe('sysctl -w net.ipv4.conf.wan2.rp_filter=2');
    await applyPrintedFix(lab(), 'r', rp!);
    // Now the request gets in, but the reply leaves by wan1 and isp1 drops it.
    expect(await portForwardWorks(lab())).toBe(false);
    ({ report, exitCode } = await hostcheckReport(lab(), 'r', []));
    expect(exitCode).toBe(1);
    const asym = report.findings.find((f) => f.check === 'dnat-reply-asymmetric');
    expect(asym, JSON.stringify(report.findings, null, 2)).toBeDefined();
    expect(asym!.summary).toContain(`arrives on wan2, but its replies leave by wan1 with wan2's address ${DUALWAN.wan2}`);
    expect(asym!.evidence.some((e) => e.text.includes(`-j DNAT --to-destination ${DUALWAN.server}`))).toBe(true);
    expect(asym!.fix.slice(0, 4)).toEqual([
      'iptables -t mangle -A PREROUTING -i wan2 -m conntrack --ctstate NEW -j CONNMARK --set-mark 0x103',
      'iptables -t mangle -A PREROUTING -i lan -m conntrack --ctstate ESTABLISHED,RELATED -j CONNMARK --restore-mark',
      `ip route add default via ${DUALWAN.isp2} dev wan2 table 103`,
      'ip rule add fwmark 0x103 lookup 103 priority 1000',
    ]);
    await applyPrintedFix(lab(), 'r', asym!);
    expect(await portForwardWorks(lab())).toBe(true);
    const after = await hostcheckReport(lab(), 'r', []);
    expect(errorsOf(after.report)).toEqual([]);
    expect(after.exitCode).toBe(0);
  });
});

describeLab('e2e: dual WAN with CONNMARK routing stays silent', () => {
  const lab = useLab(dualWan({ connmark: true }));
  it('the port forward works and no check reports an error', async () => {
    expect(await portForwardWorks(lab())).toBe(true);
    const { report, exitCode } = await hostcheckReport(lab(), 'r', []);
    expect(errorsOf(report)).toEqual([]);
    expect(exitCode).toBe(0);
  });
});

for (const kind of ['tc', 'xdp'] as const) {
  describeLab(`e2e: datapath-unseen (a ${kind === 'tc' ? 'tc BPF filter' : 'XDP program'} that drops everything on ecs3's eth0)`, () => {
    // TC_ACT_SHOT and XDP_DROP are both 2 and 1: programs that drop every packet.
    const object = kind === 'tc' ? writeBpfObject('tc_drop.o', 'tc', 2) : writeBpfObject('xdp_drop.o', 'xdp', 1);
    const lab = useLab(meshWithDropProgram(kind, object));
    afterAll(() => rmSync(dirname(object), { recursive: true, force: true }));
    it('symptom; hostcheck names the program instead of claiming the peers get through; removing it restores traffic', async () => {
      expect(await reach(lab(), 'ecs1', fi.ecs3)).toBe(false);
      expect(await reach(lab(), 'ecs1', MESH6.ecs3)).toBe(false);
      const { report } = await hostcheckReport(lab(), 'ecs3', peers);
      expect(errorsOf(report)).toEqual([]);
      const found = report.findings.filter((f) => f.check === 'datapath-unseen');
      expect(found, JSON.stringify(report.findings, null, 2)).toHaveLength(1);
      const f = found[0];
      expect(f.severity).toBe('warning');
      expect(f.summary).toMatch(kind === 'tc' ? /tc ingress BPF tc_drop\.o:\[tc\] \(id \d+\) on eth0/ : /XDP \(xdpgeneric\) prog \(id \d+\) on eth0/);
      expect(f.summary).toContain(`ICMP echo from ecs1 ${fi.ecs1}`);
      expect(f.evidence[0].source).toBe(kind === 'tc' ? 'tc-filter' : 'ip-addr');
      const walk = await lab().hostcheck('ecs3', ['route', 'get', fi.ecs3, 'from', fi.ecs1, 'iif', 'eth0', '--walk']);
      expect(walk.stdout).toMatch(/undecided — delivered by the rulesets and routes, but .* can change that/);
      await applyPrintedFix(lab(), 'ecs3', f);
      expect(await reach(lab(), 'ecs1', fi.ecs3)).toBe(true);
      expect(await reach(lab(), 'ecs1', MESH6.ecs3)).toBe(true);
      const after = await hostcheckReport(lab(), 'ecs3', peers);
      expect(after.report.findings.filter((x) => x.check === 'datapath-unseen')).toEqual([]);
      expect(after.exitCode).toBe(0);
    });
  });
}

describeLab('e2e: nd-blocked (an ip6tables INPUT that forgets neighbour discovery)', () => {
  const lab = useLab(ipv6Link());
  it('symptom, diagnosis, printed accept lines, recovery', async () => {
    expect(await reach(lab(), 'peer', '2001:db8:6::1')).toBe(false);
    const { report, exitCode } = await hostcheckReport(lab(), 'h', ['--peer', '2001:db8:6::2=peer']);
    expect(exitCode).toBe(1);
    const f = report.findings.find((x) => x.check === 'nd-blocked');
    expect(f, JSON.stringify(report.findings, null, 2)).toBeDefined();
    expect(f!.summary).toContain("a neighbour's solicitation for 2001:db8:6::1");
    expect(f!.summary).toContain('filter/INPUT policy');
    expect(f!.evidence.some((e) => /^:INPUT DROP/.test(e.text))).toBe(true);
    await applyPrintedFix(lab(), 'h', f!);
    // The peer's neighbour cache still holds the failed resolution: let it ask again now.
    await lab().exec('peer', ['ip', '-6', 'neigh', 'flush', 'dev', 'eth0']);
    expect(await reach(lab(), 'peer', '2001:db8:6::1')).toBe(true);
    const after = await hostcheckReport(lab(), 'h', ['--peer', '2001:db8:6::2=peer']);
    expect(errorsOf(after.report)).toEqual([]);
    expect(after.exitCode).toBe(0);
  });
});

describeLab('e2e: nd-blocked stays silent when neighbour discovery is accepted', () => {
  const lab = useLab(ipv6Link({ nd: true }));
  it('the same firewall with ND accepted: the peer pings, no error', async () => {
    expect(await reach(lab(), 'peer', '2001:db8:6::1')).toBe(true);
    const { report, exitCode } = await hostcheckReport(lab(), 'h', ['--peer', '2001:db8:6::2=peer']);
    expect(errorsOf(report)).toEqual([]);
    expect(exitCode).toBe(0);
  });
});

describeLab('e2e: dnat-reply-asymmetric over IPv6 (a NAT66 port forward on the second uplink)', () => {
  const lab = useLab(dualWan({ v6: true }));
  it('symptom in both families, diagnosis, the printed CONNMARK lines for each, recovery', async () => {
    expect(await portForwardWorks(lab(), true)).toBe(false);
    const { report, exitCode } = await hostcheckReport(lab(), 'r', []);
    expect(exitCode).toBe(1);
    const found = report.findings.filter((f) => f.check === 'dnat-reply-asymmetric');
    const six = found.find((f) => f.subject.includes(DUALWAN.wan2v6));
    expect(six, JSON.stringify(report.findings, null, 2)).toBeDefined();
    expect(six!.summary).toContain(`arrives on wan2, but its replies leave by wan1 with wan2's address ${DUALWAN.wan2v6}`);
    expect(six!.fix[0]).toMatch(/^ip6tables -t mangle -A PREROUTING -i wan2 -m conntrack --ctstate NEW -j CONNMARK --set-mark 0x[0-9a-f]+$/);
    expect(six!.fix[2]).toBe(`ip -6 route add default via ${DUALWAN.isp2v6} dev wan2 table 103`);
    for (const f of found) await applyPrintedFix(lab(), 'r', f);
    expect(await portForwardWorks(lab(), true)).toBe(true);
    expect(await portForwardWorks(lab())).toBe(true);
    const after = await hostcheckReport(lab(), 'r', []);
    expect(errorsOf(after.report)).toEqual([]);
    expect(after.exitCode).toBe(0);
  });
});

describeLab('e2e: dual WAN with CONNMARK routing in both families stays silent', () => {
  const lab = useLab(dualWan({ v6: true, connmark: true }));
  it('the IPv6 port forward works and no check reports an error', async () => {
    expect(await portForwardWorks(lab(), true)).toBe(true);
    const { report, exitCode } = await hostcheckReport(lab(), 'r', []);
    expect(errorsOf(report)).toEqual([]);
    expect(exitCode).toBe(0);
  });
});
