/**
 * Changes made while the agent was stopped (docs/timeline.md, "While the agent was stopped"):
 * `hostcheck serve` and real agents on ECS1 and ECS3 of the first incident (ECS3 without
 * docker0). ECS3's agent is stopped (SIGTERM); a route is added and docker0 with 172.17.0.1/16
 * made inside ECS3; the agent starts again with the same state dir. The aggregator's timeline
 * lists those changes marked as found at the start, with the range they happened in, and the
 * fleet finding docker0 opens names the address as its trigger, saying so. A further stop and
 * start with nothing changed logs nothing.
 */
import { afterAll, expect, it } from 'vitest';
import type { StoredFinding } from '../../src/aggregator/store.js';
import type { Timeline } from '../../src/aggregator/http/timeline.js';
import { LabFleet, waitFor } from './lab-fleet.js';
import { describeLab, useLab } from './suite.js';
import { FIRST_INCIDENT, firstIncident } from './topologies.js';

const KEY = `route-captures-peer|ecs3|docker0 172.17.0.0/16 captures ${FIRST_INCIDENT.ecs1}`;

describeLab('timeline: what changed while the agent was stopped is logged at its start', () => {
  const lab = useLab(firstIncident({ docker0: false }));
  const fleet = new LabFleet(['ecs1', 'ecs3']);
  afterAll(() => fleet.stop());

  it('logs a route and docker0 added while ECS3\'s agent was stopped, with the range; the finding names the address; a start with nothing changed logs nothing', async () => {
    const started = performance.now();
    await fleet.startServer();
    for (const h of ['ecs1', 'ecs3']) fleet.startAgent(lab(), h);
    const lastSeq = async (host: string): Promise<number> => (await fleet.get<{ hosts: Array<{ name: string; lastSeq: number }> }>('/api/hosts')).hosts.find((h) => h.name === host)?.lastSeq ?? 0;
    await waitFor('both hosts reported', async () => (await lastSeq('ecs1')) > 0 && (await lastSeq('ecs3')) > 0, 20_000);
    const timeline = () => fleet.get<Timeline>('/api/timeline?host=ecs3');
    const settled = async (): Promise<number> => waitFor('ECS3 settled', async () => { const s = await lastSeq('ecs3'); await new Promise((r) => setTimeout(r, 1500)); return s === await lastSeq('ecs3') ? s : undefined; }, 15_000);
    // A new lab's IPv6 link-locals finish DAD on their own (their local routes appear): first that.
    await waitFor('ECS3\'s addresses past DAD', async () => (await lab().exec('ecs3', ['ip', '-6', 'addr', 'show', 'tentative'])).stdout.trim() === '', 15_000);
    await settled();
    const quiet = (await timeline()).changes.map((c) => c.id);

    await fleet.stopAgent('ecs3');
    const stopped = Date.now();
    const ecs3 = (argv: string[]) => lab().exec('ecs3', argv, { check: true });
    await ecs3(['ip', 'route', 'add', '10.123.0.0/24', 'via', FIRST_INCIDENT.gateway3, 'proto', 'static']);
    await ecs3(['ip', 'link', 'add', 'docker0', 'type', 'bridge']);
    await ecs3(['ip', 'addr', 'add', FIRST_INCIDENT.docker0, 'dev', 'docker0']);
    await ecs3(['ip', 'link', 'set', 'docker0', 'up']);
    const restarted = Date.now();
    fleet.startAgent(lab(), 'ecs3');

    const found = await waitFor('the changes on the timeline', async () => {
      const t = await timeline();
      t.changes = t.changes.filter((c) => !quiet.includes(c.id));
      return t.changes.some((c) => c.kind === 'route' && c.subject.includes('10.123.0.0/24')) && t.changes.some((c) => c.kind === 'address') ? t : undefined;
    }, 20_000);
    console.log(`[timeline-stopped-lab] ${found.changes.map((c) => c.text).join('\n  ')}`);
    // The kernel's part of docker0's IPv6 link-local may be ready by the start's look too (DAD's timing).
    const ours = found.changes.filter((c) => !/fe80::.* dev docker0/.test(c.subject));
    expect(ours.map((c) => `${c.action} ${c.subject}`).sort()).toEqual([
      'added docker0 172.17.0.1/16', 'added link docker0', 'added route 172.17.0.0/16 dev docker0', `added route 10.123.0.0/24 via ${FIRST_INCIDENT.gateway3} dev eth0`,
    ].sort());
    for (const c of found.changes) {
      // The range: from ECS3's last check before the stop to the look at its start (one clock here).
      expect(Date.parse(c.between!.from)).toBeLessThanOrEqual(stopped);
      expect(Date.parse(c.between!.until)).toBeGreaterThanOrEqual(restarted);
      expect(c.at).toBe(c.between!.until);
      expect(c.text).toContain(', while the agent was stopped (some time between ');
    }
    const route = found.changes.find((c) => c.kind === 'route' && c.subject.includes('10.123.0.0/24'))!;
    expect(route).toMatchObject({ after: `10.123.0.0/24 via ${FIRST_INCIDENT.gateway3} dev eth0 proto static`, owner: { type: 'unknown' } });

    const open = await waitFor('the fleet finding with its trigger', async () => (await fleet.findings('?check=route-captures-peer')).find((f: StoredFinding) => f.finding.key === KEY && f.state === 'open'), 15_000);
    expect(open.finding.trigger).toMatchObject({ host: 'ecs3', related: true, change: { kind: 'address', subject: 'docker0 172.17.0.1/16', between: { from: expect.any(String) } } });
    expect(open.finding.trigger!.text).toMatch(/^opened \d+ s after the agent's start found that docker0 172\.17\.0\.1\/16 appeared \(Docker network "bridge", guessed from the name\), while the agent was stopped \(some time between .+, agent clock\)$/);
    console.log(`[timeline-stopped-lab] ${open.finding.trigger!.text}`);

    // Stopped and started again with nothing changed: a report, no change. The kernel finishes
    // docker0's IPv6 link-local on its own (its local route appears) a moment later: first that,
    // logged by the running agent, then the stop.
    await waitFor('docker0\'s link-local route', async () => (await lab().exec('ecs3', ['ip', '-6', 'route', 'show', 'table', 'local', 'dev', 'docker0'])).stdout.includes('fe80::'), 15_000);
    const seq = await settled();
    const before = (await timeline()).changes.map((c) => c.id);
    await fleet.stopAgent('ecs3');
    fleet.startAgent(lab(), 'ecs3');
    await waitFor('ECS3 reporting after the third start', async () => (await lastSeq('ecs3')) > seq, 20_000);
    await new Promise((r) => setTimeout(r, 1500));
    const after = await timeline();
    expect(after.changes.filter((c) => !before.includes(c.id))).toEqual([]);
    console.log(`[timeline-stopped-lab] suite body ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }, 90_000);
});
