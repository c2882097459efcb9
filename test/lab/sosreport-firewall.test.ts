/**
 * Debian's real `sos report` (sos 4.0) on a host whose firewall drops a peer: sos lists the
 * rules of the stack it ran in with `iptables -vnxL` (no iptables-save), and hostcheck reads that
 * listing into the same rules. `hostcheck --bundle sosreport-….tar.xz` names the drop the live run
 * names; a rule whose match the listing prints in a form not read back stays undecided (the
 * kernel lets that peer through; hostcheck does not claim a drop). sos's `ip -s -s neigh show` is
 * the neighbour table. Needs a build and the sosreport package.
 */
import { rmSync } from 'node:fs';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/report/json.js';
import { ecs3PeerFirewall } from './check-topologies.js';
import { applyPrintedFix } from './e2e-helpers.js';
import { hostcheckBin } from './lab.js';
import { sosReport, type SosRun } from './sos.js';
import { describeLab, useLab } from './suite.js';
import { FIRST_INCIDENT as fi } from './topologies.js';

describeLab('a sosreport whose firewall sos listed with iptables -vnxL', () => {
  const lab = useLab(ecs3PeerFirewall());
  let sos: SosRun;
  const peers = ['--peer', `${fi.ecs1}=ecs1`, '--peer', `${fi.ecs2}=ecs2`];

  beforeAll(async () => {
    // The kernel: ecs1 dropped, ecs2 through (its packets are short); ECS3 learns its gateway's MAC.
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(false);
    expect((await lab().ping('ecs2', fi.ecs3)).ok).toBe(true);
    sos = await sosReport(lab(), 'ecs3', ['networking'], { allowSystemChanges: true, namespaces: false });
    console.log(`[sos] sos report --only-plugins networking --allow-system-changes in ecs3: ${sos.durationMs} ms`);
  });
  afterAll(() => {
    if (sos) rmSync(sos.dir, { recursive: true, force: true });
  });

  it('hostcheck --bundle names the drop of ecs1 the live run names, from the listing\'s lines', async () => {
    const live = await lab().hostcheck('ecs3', [...peers, '--name', 'ecs3', '--json']);
    const offline = await execa(hostcheckBin, ['--bundle', sos.archive, ...peers, '--json'], { reject: false });
    expect(live.exitCode, live.stderr).toBe(1);
    expect(offline.exitCode, String(offline.stderr)).toBe(1);
    const [a, b] = [JSON.parse(live.stdout) as Report, JSON.parse(String(offline.stdout)) as Report];
    const drop = (r: Report) => r.findings.find((f) => f.check === 'firewall-blocks-peer' && f.subject === `${fi.ecs1} icmp-in`);
    const [liveDrop, bundleDrop] = [drop(a), drop(b)];
    expect(liveDrop?.severity).toBe('error');
    const same = (f: Finding | undefined) => f && { severity: f.severity, subject: f.subject, summary: f.summary.replaceAll(b.host, a.host), fix: f.fix };
    expect(same(bundleDrop)).toEqual(same(liveDrop));
    expect(bundleDrop?.evidence.map((e) => e.source)).toEqual(['iptables-save', 'iptables-save']);
    expect(bundleDrop?.evidence[1].text).toMatch(new RegExp(`DROP .* ${fi.ecs1.replaceAll('.', '\\.')} .*/\\* old monitoring block \\*/`));
    const source = b.sources.find((s) => s.name === 'iptables-save');
    expect(source).toMatchObject({ status: 'collected', file: 'sos_commands/networking/iptables_-vnxL' });
    expect(source?.message).toMatch(/read from sos's `iptables -nvL` listings/);
    expect(source?.message).toMatch(/rule at line \d+ read approximately/);
    // ecs2: the kernel lets it through; the listing lost the length match, so hostcheck cannot decide.
    const ecs2 = b.findings.find((f) => f.check === 'firewall-blocks-peer' && f.subject.startsWith(`${fi.ecs2} `));
    expect(ecs2?.severity).toBe('warning');
    expect(JSON.stringify(ecs2)).toMatch(/length 2000:3000.*not read back/);
    expect(b.findings.filter((f) => f.severity === 'error').map((f) => f.subject)).toEqual([`${fi.ecs1} icmp-in`]);
    // The fix printed from the sosreport, applied on ECS3: ecs1 gets through.
    await applyPrintedFix(lab(), 'ecs3', bundleDrop!);
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(true);
  });

  it('the neighbour table comes from sos\'s ip -s -s neigh show', async () => {
    const r = await execa(hostcheckBin, ['snapshot', '--bundle', sos.archive, '--json'], { reject: false });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const s = JSON.parse(String(r.stdout)) as { neighbours?: { address: string; dev?: string; states: string[] }[]; sources: { name: string; status: string; file?: string }[] };
    expect(s.sources.find((x) => x.name === 'ip-neigh')).toMatchObject({ status: 'collected', file: 'sos_commands/networking/ip_-s_-s_neigh_show' });
    const live = await lab().exec('ecs3', ['ip', 'neigh', 'show']);
    const gateway = live.stdout.split('\n').find((l) => l.includes(' lladdr '))!.split(' ')[0];
    expect(s.neighbours?.find((n) => n.address === gateway)).toMatchObject({ dev: 'eth0' });
  });
});
