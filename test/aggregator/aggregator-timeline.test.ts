/**
 * The timeline over real WebSockets and a real SQLite file: a real agent (bundle mode, its host
 * going from the lab's capture of ECS3 without docker0 to the one with it and back) sends its
 * change log; the aggregator keeps it, names the host finding's trigger and resolving change,
 * folds churn, prunes by --timeline-days, and keeps refusing a change log from protocol 2 agents
 * while taking their reports; a change found at an agent's start keeps its range, and a field the
 * server does not know is dropped with the entry kept.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { createAgentLogger } from '../../src/agent/log.js';
import { startServer, type RunningServer } from '../../src/aggregator/server.js';
import type { Timeline } from '../../src/aggregator/http/timeline.js';
import type { StoredFinding } from '../../src/aggregator/store.js';
import { readBundle } from '../../src/collect/bundle.js';
import type { HostChange } from '../../src/model/changes.js';
import { repoRoot } from '../helpers/samples.js';
import { LogLines, waitFor } from '../helpers/agent-protocol-peer.js';
import { hello, reportOf, tempDir, TestAgent, tinySnapshot } from '../helpers/aggregator-client.js';

const tmp = tempDir();
afterAll(() => tmp.remove());
const running: { stop: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop();
});

async function server(extra: Partial<Parameters<typeof startServer>[0]> = {}): Promise<{ s: RunningServer; url: string; api: <T>(path: string) => Promise<{ status: number; body: T }> }> {
  const s = await startServer({ listen: '127.0.0.1:0', db: join(tmp.dir, `${Math.random().toString(36).slice(2)}.db`), ...extra });
  running.push({ stop: () => s.close() });
  const base = `http://127.0.0.1:${s.tcp!.port}`;
  return {
    s, url: `${base.replace('http', 'ws')}/agent`,
    api: async <T>(path: string) => {
      const r = await fetch(`${base}${path}`);
      return { status: r.status, body: (await r.json()) as T };
    },
  };
}

const scenario = (name: string) => join(repoRoot, 'fixtures', 'scenarios', name, 'ecs3');
const KEY = 'route-captures-peer|ecs3|docker0 172.17.0.0/16 captures 172.17.0.64';
const rewritten = (count: number): HostChange => ({ at: new Date().toISOString(), count, kind: 'rule', action: 'rewritten', subject: 'rule 100: from 10.1.0.0/16 lookup 100', before: '100: from 10.1.0.0/16 lookup 100', after: '100: from 10.1.0.0/16 lookup 100', owner: { type: 'unknown' } });

describe('aggregator timeline (protocol 3)', () => {
  it('keeps a real agent\'s changes and names the trigger and the resolving change of its finding', async () => {
    const { url, api } = await server();
    writeFileSync(join(tmp.dir, 'ecs3-token'), 'ecs3-token-0123456789abcdef\n');
    // The host as the lab captured it: no docker0, then docker0, then no docker0 again.
    const looks = [scenario('first-incident-no-docker0'), scenario('first-incident'), scenario('first-incident-no-docker0')];
    let look = 0;
    const logs = new LogLines();
    const agent = new Agent({
      server: url, name: 'ecs3', identity: { hostname: 'ecs3' }, agentVersion: 'test', tokenFile: join(tmp.dir, 'ecs3-token'), tls: {},
      stateDir: join(tmp.dir, 'ecs3-state'), config: { peers: [{ address: '172.17.0.64', name: 'ecs1' }], remotes: [], ports: [], ignore: [] },
      collect: () => readBundle(looks[Math.min(look, looks.length - 1)]), watch: false, intervalMs: 200, backoff: { baseMs: 100, maxMs: 400 },
      log: createAgentLogger({ destination: logs, level: 'debug' }),
    });
    running.push({ stop: () => agent.stop('test over') });
    await agent.start();
    await waitFor('the first report acknowledged', () => agent.stats.acked >= 1, 10_000);
    look = 1;
    const opened = await waitFor('the finding open', async () => (await api<{ findings: StoredFinding[] }>('/api/findings')).body.findings.find((f) => f.finding.key === KEY && f.state === 'open'), 10_000);
    expect(opened.finding.trigger).toMatchObject({ host: 'ecs3', related: true, change: { kind: 'address', action: 'added', subject: 'docker0 172.17.0.1/16', after: 'inet 172.17.0.1/16 scope global docker0' } });
    expect(opened.finding.trigger!.text).toMatch(/^opened \d s after docker0 172\.17\.0\.1\/16 appeared \(Docker network "bridge", guessed from the name\)$/);
    look = 2;
    const resolved = await waitFor('the finding resolved', async () => (await api<{ findings: StoredFinding[] }>('/api/findings')).body.findings.find((f) => f.finding.key === KEY && f.state === 'resolved'), 10_000);
    expect(resolved.finding.resolvedBy).toMatchObject({ host: 'ecs3', related: true, change: { kind: 'link', action: 'removed', subject: 'link docker0' } });
    expect(resolved.finding.trigger).toEqual(opened.finding.trigger);

    const { body } = await api<Timeline & { host: string }>('/api/hosts/ecs3/timeline');
    // Newest first: docker0 went, after it came with its address and route.
    expect(`${body.changes[0].action} ${body.changes[0].subject}`).toBe('removed link docker0');
    expect(body.changes.slice(1).map((c) => `${c.action} ${c.subject}`).sort()).toEqual(['added docker0 172.17.0.1/16', 'added link docker0', 'added route 172.17.0.0/16 dev docker0']);
    for (const c of body.changes) expect(c).toMatchObject({ host: 'ecs3', receivedAt: expect.any(String), serverAt: expect.any(String), at: expect.any(String) });
    expect(body.findings.find((f) => f.key === KEY)).toMatchObject({ state: 'resolved', trigger: opened.finding.trigger, resolvedBy: resolved.finding.resolvedBy });
    expect((await api('/api/hosts/nobody/timeline')).status).toBe(404);
    expect((await api('/api/timeline?since=yesterday')).status).toBe(400);
    expect((await api('/api/timeline?since=2030-01-01T00:00:00Z&until=2029-01-01T00:00:00Z')).status).toBe(400);
    expect((await api<Timeline>(`/api/timeline?until=2000-01-01T00:00:00Z`)).body.changes).toEqual([]);
  }, 30_000);

  it('folds churn into one entry with a count; prunes after --timeline-days', async () => {
    const { s, url, api } = await server({ timelineDays: 2 / 86_400 });
    const a = await TestAgent.open(url, 'k8s');
    a.send({ ...hello('k8s', 'k8s-token-0123456789abcdef'), protocol: 3 });
    await a.next('welcome');
    const snap = tinySnapshot('k8s', '10.0.0.5');
    for (const [seq, count] of [[1, 5], [2, 7], [3, 9]] as const) {
      a.send({ ...reportOf(seq, snap), changes: [rewritten(count)] });
      expect((await a.next('ack')).seq).toBe(seq);
    }
    const t = (await api<Timeline>('/api/timeline?host=k8s')).body;
    expect(t.changes).toHaveLength(1);
    expect(t.changes[0]).toMatchObject({ action: 'rewritten', count: 21, text: 'rule 100: from 10.1.0.0/16 lookup 100 was rewritten 21 times without change', seq: 1 });
    await new Promise((r) => setTimeout(r, 2500));
    await s.aggregator.sweep();
    expect((await api<Timeline>('/api/timeline?host=k8s')).body.changes).toEqual([]);
    a.close();
  });

  it('takes protocol 2 agents\' reports and refuses a change log from them', async () => {
    const { url } = await server();
    const v2 = await TestAgent.open(url, 'old');
    v2.send({ ...hello('old', 'old-token-0123456789abcdef'), protocol: 2 });
    expect((await v2.next('welcome')).protocol).toBe(2);
    v2.send(reportOf(1, tinySnapshot('old', '10.0.0.6')));
    expect((await v2.next('ack')).seq).toBe(1);
    v2.send({ ...reportOf(2, tinySnapshot('old', '10.0.0.6')), changes: [rewritten(1)] });
    expect((await v2.next('error')).reason).toMatch(/^protocol_version: a change log needs protocol 3/);
  });

  it('keeps a change\'s range from the agent\'s start, and drops a field it does not know, keeping the entry (as servers before `between` did)', async () => {
    const { url, api } = await server();
    const a = await TestAgent.open(url, 'restarted');
    a.send({ ...hello('restarted', 'restarted-token-0123456789abcdef'), protocol: 3 });
    await a.next('welcome');
    const until = new Date().toISOString();
    const between = { from: new Date(Date.now() - 600_000).toISOString(), until };
    const added: HostChange = { at: until, count: 1, kind: 'route', action: 'added', subject: 'route 10.9.0.0/24 via 10.0.0.1 dev eth0', after: '10.9.0.0/24 via 10.0.0.1 dev eth0', owner: { type: 'unknown' } };
    a.send({ ...reportOf(1, tinySnapshot('restarted', '10.0.0.7')), changes: [{ ...added, between, seenBy: 'a later agent' }, { ...added, subject: 'route 10.8.0.0/24 via 10.0.0.1 dev eth0' }] });
    expect((await a.next('ack')).seq).toBe(1);
    const [second, first] = (await api<Timeline>('/api/timeline?host=restarted')).body.changes;
    expect(first).toMatchObject({ subject: 'route 10.9.0.0/24 via 10.0.0.1 dev eth0', between, text: expect.stringMatching(/ appeared, while the agent was stopped \(some time between .+, agent clock\)$/) });
    expect(first).not.toHaveProperty('seenBy');
    expect(second).not.toHaveProperty('between');
    // An ISO time only.
    a.send({ ...reportOf(2, tinySnapshot('restarted', '10.0.0.7')), changes: [{ ...added, between: { from: '<b>', until } }] });
    expect((await a.next('error')).reason).toMatch(/^schema: .*between.*not an ISO time/);
    a.close();
  });
});
