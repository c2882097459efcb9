/**
 * Debian's real `sos report` (sos 4.0) in the first incident's lab: run inside ECS3, it records
 * ECS3's stack and every lab namespace. `hostcheck --bundle sosreport-….tar.xz` names the cause
 * the live run names on ECS3, and `hostcheck fleet` over that one sosreport finds the pair
 * across its namespaces. Needs a build (bin/hostcheck runs build/) and the sosreport package.
 */
import { rmSync } from 'node:fs';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/report/json.js';
import { hostcheckBin } from './lab.js';
import { sosReport, type SosRun } from './sos.js';
import { describeLab, useLab } from './suite.js';
import { FIRST_INCIDENT as addr, firstIncident } from './topologies.js';

/**
 * A finding without what names the host, and without line numbers: sos keeps a command's stderr
 * in its output file (iproute2's "Error: Peer netns reference is invalid." lines while other
 * namespaces come and go), which can move the lines quoted; the lines themselves must be equal.
 */
/** A finding as every face gives it: not the host's name, nor what a live kernel said (a sosreport asks none). */
const withoutHost = (fs: Finding[]) => fs.map(({ host: _h, key: _k, kernel: _kernel, ...rest }) => ({ ...rest, evidence: rest.evidence.map((e) => ({ ...e, lineNumber: 0 })) }));

describeLab('a sosreport of the first incident, analysed anywhere', () => {
  const lab = useLab(firstIncident());
  let sos: SosRun;

  beforeAll(async () => {
    // With its iptables listings (test/lab/sos.ts): the namespace's iptables-save must still serve.
    sos = await sosReport(lab(), 'ecs3', ['networking'], { allowSystemChanges: true });
    console.log(`[sos] sos report --only-plugins networking --allow-system-changes in ecs3: ${sos.durationMs} ms`);
  });
  afterAll(() => {
    if (sos) rmSync(sos.dir, { recursive: true, force: true });
  });

  it('hostcheck --bundle sosreport-….tar.xz names the cause the live run names on ECS3', async () => {
    const peer = `${addr.ecs1}=ecs1`;
    const live = await lab().hostcheck('ecs3', ['--peer', peer, '--name', 'ecs3', '--json']);
    const offline = await execa(hostcheckBin, ['--bundle', sos.archive, '--peer', peer, '--json'], { reject: false });
    expect(live.exitCode, live.stderr).toBe(1);
    expect(offline.exitCode, String(offline.stderr)).toBe(1);
    const [a, b] = [JSON.parse(live.stdout) as Report, JSON.parse(String(offline.stdout)) as Report];
    const errors = (r: Report) => r.findings.filter((f) => f.severity === 'error');
    expect(errors(a).map((f) => f.check)).toEqual(['route-captures-peer']);
    expect(withoutHost(errors(b))).toEqual(withoutHost(errors(a)));
    expect(b.host).toBe(`${b.host.split(':')[0]}:${lab().ns('ecs3')}`);
    expect(b.notes.some((n) => n.startsWith(`sos ran inside network namespace ${lab().ns('ecs3')}`))).toBe(true);
    expect(b.sources.find((s) => s.name === 'ip-route-v4')).toMatchObject({ status: 'collected', file: 'sos_commands/networking/ip_route_show_table_all' });
    // sos listed ECS3's rules with iptables -vnxL too; the namespace's iptables-save (the whole rules) is read.
    expect(b.sources.find((s) => s.name === 'iptables-save')).toMatchObject({ status: 'collected', file: `sos_commands/networking/ip_netns_exec_${lab().ns('ecs3')}_iptables-save` });
  });

  it('every lab namespace is a host of the sosreport (--host picks one)', async () => {
    for (const host of ['ecs1', 'ecs2', 'router']) {
      const r = await execa(hostcheckBin, ['snapshot', '--bundle', sos.archive, '--host', lab().ns(host), '--json'], { reject: false });
      expect(r.exitCode, String(r.stderr)).toBe(0);
      const s = JSON.parse(String(r.stdout)) as { identity: { name: string }; interfaces: { name: string; addresses: { cidr: string }[] }[] };
      expect(s.identity.name.endsWith(`:${lab().ns(host)}`)).toBe(true);
      expect(s.interfaces.flatMap((i) => i.addresses.map((a) => a.cidr))).toContain(host === 'router' ? `${addr.gateway1}/24` : `${host === 'ecs1' ? addr.ecs1 : addr.ecs2}/24`);
    }
  });

  it('hostcheck fleet over that one sosreport finds the pair across its namespaces; path follows the reply into docker0', async () => {
    const r = await execa(hostcheckBin, ['fleet', '--bundle', sos.archive, '--json'], { reject: false });
    expect(r.exitCode, String(r.stderr)).toBe(1);
    const fleet = JSON.parse(String(r.stdout)) as { findings: { finding: Finding & { pairs?: string[][] }; sources: string[] }[]; pairs: { from: string; to: string; verdict: string }[] };
    const name = (host: string) => fleet.pairs.flatMap((p) => [p.from, p.to]).find((n) => n.endsWith(`:${lab().ns(host)}`))!;
    const captured = fleet.findings.find((f) => f.finding.key === `route-captures-peer|${name('ecs3')}|docker0 172.17.0.0/16 captures ${addr.ecs1}`);
    expect(captured?.sources).toEqual(['host', 'fleet']);
    expect(captured?.finding.pairs).toEqual([[name('ecs1'), name('ecs3')]]);
    expect(fleet.pairs.find((p) => [p.from, p.to].sort().join() === [name('ecs1'), name('ecs3')].sort().join())?.verdict).toBe('broken');
    const path = await execa(hostcheckBin, ['path', '--from', name('ecs1'), '--to', addr.ecs3, '--bundle', sos.archive, '--json'], { reject: false });
    const result = JSON.parse(String(path.stdout)) as { forward: { outcome: string; hops: { node: string }[] }; reply: { outcome: string } };
    expect(result.forward.outcome).toBe('delivered');
    expect(result.forward.hops.map((h) => h.node)).toEqual([name('ecs1'), name('router'), name('ecs3')]);
    expect(result.reply.outcome).toBe('blackhole');
  });
});
