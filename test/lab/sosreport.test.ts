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

const withoutHost = (fs: Finding[]) => fs.map(({ host: _h, key: _k, ...rest }) => rest);

describeLab('a sosreport of the first incident, analysed anywhere', () => {
  const lab = useLab(firstIncident());
  let sos: SosRun;

  beforeAll(async () => {
    sos = await sosReport(lab(), 'ecs3');
    console.log(`[sos] sos report --only-plugins networking in ecs3: ${sos.durationMs} ms`);
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
});
