/**
 * Debian's real `sos report` (sos 4.0) on a host whose drops are in nf_tables where sos's iptables
 * listing does not look: a native `table inet filter` drops ecs2 (172.18.0.0/16), and an
 * iptables-nft rule in the raw table drops ecs1's pings (sos 4.0 lists only the filter table on
 * an iptables-nft host). sos writes `nft list ruleset` as text; `hostcheck --bundle
 * sosreport-….tar.xz` reads it and names both drops as the live run does — the native one with
 * the nft rule quoted (no handle: sos's text has none, and the fix says where `nft -a` prints it),
 * the raw one from nft's text of that table. Following the printed fix on ECS3 makes ecs2 flow.
 * Needs a build and the sosreport package. (fixtures/bundles/sos-4.0/nft-drops.tar.xz is the same
 * sos run, recorded by `npm run fixtures:bundles -- nft-drops`, for test/collect/bundle-layouts.test.ts.)
 */
import { rmSync } from 'node:fs';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/report/json.js';
import { applyEcs3NftDrops, meshWithEcs3 } from './check-topologies.js';
import { hostcheckBin } from './lab.js';
import { sosReport, type SosRun } from './sos.js';
import { describeLab, useLab } from './suite.js';
import { FIRST_INCIDENT as fi } from './topologies.js';

describeLab('a sosreport whose drops are in nf_tables: sos\'s nft list ruleset text is read', () => {
  const lab = useLab(meshWithEcs3({}));
  let sos: SosRun;
  const peers = ['--peer', `${fi.ecs1}=ecs1`, '--peer', `${fi.ecs2}=ecs2`];

  beforeAll(async () => {
    await applyEcs3NftDrops(lab());
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(false);
    expect((await lab().ping('ecs2', fi.ecs3)).ok).toBe(false);
    sos = await sosReport(lab(), 'ecs3', ['networking'], { allowSystemChanges: true, namespaces: false });
    console.log(`[sos] sos report --only-plugins networking --allow-system-changes in ecs3: ${sos.durationMs} ms`);
  });
  afterAll(() => {
    if (sos) rmSync(sos.dir, { recursive: true, force: true });
  });

  it('names the native drop and the raw-table drop the live run names; the fix, its handle looked up, makes ecs2 flow', async () => {
    const live = await lab().hostcheck('ecs3', [...peers, '--name', 'ecs3', '--json']);
    const offline = await execa(hostcheckBin, ['--bundle', sos.archive, ...peers, '--json'], { reject: false });
    expect(live.exitCode, live.stderr).toBe(1);
    expect(offline.exitCode, String(offline.stderr)).toBe(1);
    const [a, b] = [JSON.parse(live.stdout) as Report, JSON.parse(String(offline.stdout)) as Report];
    const drops = (r: Report): Finding[] => r.findings.filter((f) => f.check === 'firewall-blocks-peer' && f.severity === 'error');
    expect(drops(a).map((f) => f.subject).sort()).toEqual([`${fi.ecs1} icmp-in`, `${fi.ecs2} icmp-in`]);
    expect(drops(b).map((f) => f.subject).sort()).toEqual(drops(a).map((f) => f.subject).sort());
    expect(b.findings.filter((f) => f.severity === 'error').map((f) => f.check)).toEqual(a.findings.filter((f) => f.severity === 'error').map((f) => f.check));

    // The native drop: the same nft rule quoted, without the handle sos's text does not carry.
    const of = (r: Report, peer: string) => drops(r).find((f) => f.subject === `${peer} icmp-in`)!;
    const [liveNative, sosNative] = [of(a, fi.ecs2), of(b, fi.ecs2)];
    expect(liveNative.evidence.map((e) => e.text)).toEqual([expect.stringMatching(/^table inet filter chain input: ip saddr 172\.18\.0\.0\/16 drop # handle \d+$/)]);
    expect(sosNative.evidence.map((e) => [e.source, e.text])).toEqual([['nft', liveNative.evidence[0].text.replace(/ # handle \d+$/, '')]]);
    expect(sosNative.fix[0]).toBe('nft delete rule inet filter input handle HANDLE  # HANDLE: the number after "# handle" that `nft -a list chain inet filter input` prints on the line of: ip saddr 172.18.0.0/16 drop');
    const nft = b.sources.find((s) => s.name === 'nft');
    expect(nft).toMatchObject({ status: 'collected', file: 'sos_commands/networking/nft_list_ruleset' });
    expect(nft?.message).toMatch(/^read from sos's `nft list ruleset` text \(sos runs no nft -j\); it prints no rule handles; read as `nft list ruleset` text, without rule handles/);

    // The raw-table drop: the live run reads it from iptables-save; sos did not list the raw table, nft's text has it.
    const [liveRaw, sosRaw] = [of(a, fi.ecs1), of(b, fi.ecs1)];
    expect(liveRaw.evidence.map((e) => e.source)).toContain('iptables-save');
    expect(sosRaw.evidence.map((e) => [e.source, e.text])).toEqual([['nft', expect.stringMatching(new RegExp(`^table ip raw chain PREROUTING: meta l4proto icmp ip saddr ${fi.ecs1.replaceAll('.', '\\.')} counter packets \\d+ bytes \\d+ drop$`))]]);
    expect(nft?.message).toMatch(/the rules of iptables-nft's table ip raw are read from it \(no iptables dump holds it\)$/);
    expect(b.sources.find((s) => s.name === 'iptables-save')?.message).toMatch(/table raw exists \(nft list ruleset shows table ip raw\) but sos did not list it: its rules are read from sos_commands\/networking\/nft_list_ruleset as nft prints them/);

    // The printed fix, its handle found as it says: ecs2 gets through.
    const listed = (await lab().exec('ecs3', ['nft', '-a', 'list', 'chain', 'inet', 'filter', 'input'])).stdout;
    const handle = /ip saddr 172\.18\.0\.0\/16 drop # handle (\d+)/.exec(listed)?.[1];
    expect(handle).toBeDefined();
    await lab().applyFix('ecs3', sosNative.fix[0].replace(/\s+#.*$/, '').replace('HANDLE', handle!));
    expect((await lab().ping('ecs2', fi.ecs3)).ok).toBe(true);
    expect((await lab().ping('ecs1', fi.ecs3)).ok).toBe(false);
  });
});
