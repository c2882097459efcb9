/**
 * Native nftables end to end: ECS3 loads a `table inet filter` whose input chain drops
 * 172.18.0.0/16 (ecs2 lives there, ecs1 does not). The kernel drops ecs2's pings; hostcheck in
 * ECS3 names the nft rule as `nft -a list ruleset` prints it (table, chain, handle), stays silent
 * for ecs1, and the `nft delete rule` it prints makes ecs2's pings flow. A native `table ip filter`
 * (which iptables-nft refuses to list) is read from `nft -j` alone.
 */
import { expect, it } from 'vitest';
import { applyPrintedFix, errorsOf, hostcheckReport } from './e2e-helpers.js';
import { meshWithEcs3 } from './check-topologies.js';
import { describeLab, useLab } from './suite.js';
import { FIRST_INCIDENT as fi } from './topologies.js';

const peers = ['--peer', `${fi.ecs1}=ecs1`, '--peer', `${fi.ecs2}=ecs2`];

describeLab('e2e: a native nft table drops a peer (firewall-blocks-peer)', () => {
  const lab = useLab(meshWithEcs3({}));

  it('table inet filter: the dropped peer is an error quoting the nft rule; the fix makes it flow; the other peer is silent', async () => {
    const ruleset = 'table inet filter {\n  chain input {\n    type filter hook input priority filter; policy accept;\n    ip saddr 172.18.0.0/16 drop\n  }\n}\n';
    expect((await lab().exec('ecs3', ['nft', '-f', '-'], { input: ruleset })).exitCode).toBe(0);
    expect((await lab().ping('ecs2', fi.ecs3)).ok).toBe(false);
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(true);

    const { report, exitCode } = await hostcheckReport(lab(), 'ecs3', peers);
    expect(exitCode).toBe(1);
    const fw = report.findings.filter((f) => f.check === 'firewall-blocks-peer');
    expect(fw.map((f) => `${f.severity} ${f.subject}`)).toEqual([`error ${fi.ecs2} icmp-in`]);
    const f = fw[0];
    expect(f.summary).toMatch(/drops ICMP echo from .*inet filter\/input handle \d+ \(native nft\): ip saddr 172\.18\.0\.0\/16 drop/);
    expect(f.evidence).toHaveLength(1);
    expect(f.evidence[0].source).toBe('nft');
    expect(f.evidence[0].text).toMatch(/^table inet filter chain input: ip saddr 172\.18\.0\.0\/16 drop # handle \d+$/);
    expect(f.fix[0]).toMatch(/^nft delete rule inet filter input handle \d+$/);
    expect(f.fix[1]).toBe(`# or let the peer in before it: nft insert rule inet filter input ip saddr ${fi.ecs2} meta l4proto icmp accept`);
    // Nothing is undecided: ecs1 never matches the rule.
    expect(report.findings.filter((x) => x.severity === 'warning' && x.check === 'firewall-blocks-peer')).toEqual([]);
    expect(errorsOf(report).map((x) => x.check)).toEqual(['firewall-blocks-peer']);

    await applyPrintedFix(lab(), 'ecs3', f);
    expect((await lab().ping('ecs2', fi.ecs3)).ok).toBe(true);
    const after = await hostcheckReport(lab(), 'ecs3', peers);
    expect(errorsOf(after.report)).toEqual([]);
    expect(after.exitCode).toBe(0);
  });

  it('a native table ip filter iptables-nft cannot list is read from nft alone', async () => {
    await lab().exec('ecs3', ['nft', 'flush', 'ruleset']);
    const ruleset = 'table ip filter {\n  set blocked { type ipv4_addr; elements = { 172.18.1.22 } }\n  chain input {\n    type filter hook input priority filter; policy accept;\n    ip saddr @blocked counter drop\n  }\n}\n';
    expect((await lab().exec('ecs3', ['nft', '-f', '-'], { input: ruleset })).exitCode).toBe(0);
    const saved = await lab().exec('ecs3', ['iptables-save']);
    expect(saved.stdout).toMatch(/incompatible/);
    expect((await lab().ping('ecs2', fi.ecs3)).ok).toBe(false);
    const { report } = await hostcheckReport(lab(), 'ecs3', peers);
    const fw = report.findings.filter((f) => f.check === 'firewall-blocks-peer');
    expect(fw.map((f) => `${f.severity} ${f.subject}`)).toEqual([`error ${fi.ecs2} icmp-in`]);
    expect(fw[0].evidence[0].text).toMatch(/^table ip filter chain input: ip saddr @blocked counter packets \d+ bytes \d+ drop # handle \d+$/);
    await applyPrintedFix(lab(), 'ecs3', fw[0]);
    expect((await lab().ping('ecs2', fi.ecs3)).ok).toBe(true);
    expect(errorsOf((await hostcheckReport(lab(), 'ecs3', peers)).report)).toEqual([]);
  });
});
