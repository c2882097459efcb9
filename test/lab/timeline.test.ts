/**
 * The change timeline live (docs/timeline.md): `hostcheck serve` and real agents in the first
 * incident's namespaces, ECS3 without docker0 at first. Changes made with ip inside ECS3 (a route,
 * a policy rule, then a docker0-like bridge with 172.17.0.1/16) reach the aggregator's timeline
 * with their lines and owners; the fleet finding the bridge opens names it as its trigger, and
 * the incident's fix (`ip link del docker0`) as the change that resolved it. `hostcheck diff` over
 * captures of ECS3 before and after docker0 names the same change and finding.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import type { DiffReport } from '../../src/cli/commands-diff.js';
import type { StoredFinding } from '../../src/aggregator/store.js';
import type { Timeline } from '../../src/aggregator/http/timeline.js';
import { LabFleet, waitFor } from './lab-fleet.js';
import { hostcheckBin } from './lab.js';
import { describeLab, useLab } from './suite.js';
import { FIRST_INCIDENT, firstIncident } from './topologies.js';

const KEY = `route-captures-peer|ecs3|docker0 172.17.0.0/16 captures ${FIRST_INCIDENT.ecs1}`;

describeLab('timeline: changes on a host name the finding they open and the one they resolve', () => {
  const lab = useLab(firstIncident({ docker0: false }));
  const fleet = new LabFleet(['ecs1', 'ecs2', 'ecs3']);
  afterAll(() => fleet.stop());

  it('records a route, a rule and docker0 appearing; docker0 opens the finding and its deletion resolves it', async () => {
    const started = performance.now();
    await fleet.startServer();
    for (const h of ['ecs1', 'ecs2', 'ecs3']) fleet.startAgent(lab(), h);
    await waitFor('three hosts reported', async () => (await fleet.get<{ hosts: Array<{ name: string; lastSeq: number }> }>('/api/hosts')).hosts.filter((h) => h.lastSeq > 0).length === 3, 20_000);
    // The agents' ip monitor is running once they are welcomed and checked once.
    await new Promise((r) => setTimeout(r, 1500));
    const ecs3 = (argv: string[]) => lab().exec('ecs3', argv, { check: true });

    await ecs3(['ip', 'route', 'add', '10.123.0.0/24', 'via', FIRST_INCIDENT.gateway3, 'proto', 'bird']);
    await ecs3(['ip', 'rule', 'add', 'from', '10.9.0.0/16', 'lookup', '100', 'pref', '1000']);
    const timeline = () => fleet.get<Timeline & { host: string }>('/api/hosts/ecs3/timeline');
    const first = await waitFor('the route and the rule on the timeline', async () => {
      const t = await timeline();
      return t.changes.some((c) => c.kind === 'route' && c.subject.includes('10.123.0.0/24')) && t.changes.some((c) => c.kind === 'rule') ? t : undefined;
    }, 15_000);
    const route = first.changes.find((c) => c.kind === 'route' && c.subject.includes('10.123.0.0/24'))!;
    expect(route).toMatchObject({ host: 'ecs3', action: 'added', owner: { type: 'routing-daemon', name: 'bird' } });
    expect(route.after).toBe(`10.123.0.0/24 via ${FIRST_INCIDENT.gateway3} dev eth0 proto bird`);
    expect(route.before).toBeUndefined();
    expect(route.text).toBe(`route 10.123.0.0/24 via ${FIRST_INCIDENT.gateway3} dev eth0 appeared (a routing daemon (bird))`);
    const rule = first.changes.find((c) => c.kind === 'rule')!;
    expect(rule).toMatchObject({ action: 'added', after: '1000: from 10.9.0.0/16 lookup 100', owner: { type: 'unknown' } });
    // The agent's clock and the aggregator's, side by side.
    expect(Date.parse(route.receivedAt)).toBeGreaterThanOrEqual(Date.parse(route.serverAt));

    // hostcheck diff over two captures of ECS3, one before docker0 and one after.
    await lab().hostcheck('ecs3', ['capture', '--name', 'ecs3', '--out', join(fleet.dir, 'before')], { check: true });
    const added = Date.now();
    await ecs3(['ip', 'link', 'add', 'docker0', 'type', 'bridge']);
    await ecs3(['ip', 'addr', 'add', '172.17.0.1/16', 'dev', 'docker0']);
    await ecs3(['ip', 'link', 'set', 'docker0', 'up']);
    const open = await waitFor('the fleet finding with its trigger', async () => (await fleet.findings('?check=route-captures-peer')).find((f: StoredFinding) => f.finding.key === KEY && f.state === 'open' && f.sources.includes('fleet')), 15_000);
    console.log(`[timeline-lab] docker0 added → finding open in ${Date.now() - added} ms`);
    const trigger = open.finding.trigger!;
    expect(trigger).toMatchObject({ host: 'ecs3', related: true, change: { kind: 'address', action: 'added', subject: 'docker0 172.17.0.1/16', after: '172.17.0.1/16 scope global docker0'.replace(/^/, 'inet ') } });
    expect(trigger.change.owner).toEqual({ type: 'docker', name: 'bridge', guess: true });
    expect(trigger.text).toMatch(/^opened [0-5] s after docker0 172\.17\.0\.1\/16 appeared \(Docker network "bridge", guessed from the name\)$/);
    expect(open.finding.resolvedBy).toBeUndefined();
    await lab().hostcheck('ecs3', ['capture', '--name', 'ecs3', '--out', join(fleet.dir, 'after')], { check: true });
    const diff = await execa(process.execPath, [hostcheckBin, 'diff', join(fleet.dir, 'before'), join(fleet.dir, 'after'), '--peer', `${FIRST_INCIDENT.ecs1}=ecs1`, '--json'], { reject: false });
    expect(diff.exitCode).toBe(1);
    const report = JSON.parse(diff.stdout) as DiffReport;
    expect(report.changes.filter((c) => c.action === 'added').map((c) => c.text)).toEqual(expect.arrayContaining([
      'link docker0 appeared (Docker network "bridge", guessed from the name)',
      'docker0 172.17.0.1/16 appeared (Docker network "bridge", guessed from the name)',
      'route 172.17.0.0/16 dev docker0 appeared (Docker network "bridge", guessed from the name)',
    ]));
    expect(report.findings.opened.map((f) => [f.key, f.trigger?.change.subject])).toEqual([[KEY, 'docker0 172.17.0.1/16']]);

    const deleted = Date.now();
    await ecs3(['ip', 'link', 'del', 'docker0']);
    const resolved = await waitFor('the finding resolved', async () => (await fleet.findings('?check=route-captures-peer')).find((f) => f.finding.key === KEY && f.state === 'resolved'), 15_000);
    console.log(`[timeline-lab] docker0 deleted → finding resolved in ${Date.now() - deleted} ms`);
    // A check that looks while `ip link del` is under way can see the address or route gone before
    // the link (fleet.test.ts says the same): then that is what resolved it; usually it is the link.
    expect(resolved.finding.resolvedBy).toMatchObject({ host: 'ecs3', related: true, change: { action: 'removed' } });
    expect(resolved.finding.resolvedBy!.text).toMatch(/^resolved [0-5] s after (link docker0|docker0 172\.17\.0\.1\/16|route 172\.17\.0\.0\/16 dev docker0) went away \(Docker network "bridge", guessed from the name\)$/);
    console.log(`[timeline-lab] ${resolved.finding.resolvedBy!.text}`);
    // The trigger that opened it stays.
    expect(resolved.finding.trigger).toEqual(trigger);

    // The fleet's timeline: ECS3's changes and the finding, newest first; a window before them is empty.
    await waitFor('docker0\'s removal on the timeline', async () => (await fleet.get<Timeline>('/api/timeline?host=ecs3')).changes.some((c) => c.text === 'link docker0 went away (Docker network "bridge", guessed from the name)'), 5000);
    // From docker0's addition (a second before it, for the agent's clock), but after the route: the capture between may take less than that second.
    const since = new Date(Math.max(added - 1000, Date.parse(route.lastServerAt) + 1)).toISOString();
    const fleetTimeline = await fleet.get<Timeline>(`/api/timeline?host=ecs3&since=${encodeURIComponent(since)}`);
    expect(fleetTimeline.changes.some((c) => c.subject.includes('10.123.0.0/24'))).toBe(false);
    expect(fleetTimeline.findings.find((f) => f.key === KEY)).toMatchObject({ state: 'resolved', trigger, resolvedBy: resolved.finding.resolvedBy });
    const times = fleetTimeline.changes.map((c) => c.serverAt);
    expect([...times].sort().reverse()).toEqual(times);
    const before = await fleet.get<Timeline>(`/api/timeline?until=${encodeURIComponent(new Date(Date.parse(route.serverAt) - 1).toISOString())}`);
    expect(before.changes.filter((c) => c.host === 'ecs3' && c.subject.includes('docker0'))).toEqual([]);
    console.log(`[timeline-lab] suite body ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }, 90_000);
});
