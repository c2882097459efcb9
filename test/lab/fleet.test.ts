/**
 * The fleet live: `hostcheck serve` in the root namespace listening only on a unix socket, real
 * agents (`bin/hostcheck agent`) inside lab namespaces reaching it through the socket file.
 * 1. First incident: agents in ECS1, ECS2 and ECS3 → the fleet finding naming ecs1, ecs3 and
 *    docker0 within 10 s; docker0 deleted inside ECS3 → resolved within 10 s, nothing restarted.
 * 2. Kill: six agents stream reports while routes churn; the server is stopped (SIGSTOP) until at
 *    least 100 reports are unacknowledged, then SIGKILLed and restarted on the same db and socket;
 *    every (host, seq) an agent logged as acknowledged is in the SQLite file and every agent is back.
 */
import Database from 'better-sqlite3';
import { execa, type ResultPromise } from 'execa';
import { afterAll, expect, it } from 'vitest';
import { LabFleet, waitFor, type Proc } from './lab-fleet.js';
import { describeLab, useLab } from './suite.js';
import { FIRST_INCIDENT, firstIncident } from './topologies.js';

const logLines = (p: Proc): Array<Record<string, unknown>> => p.logs;

const KEY = `route-captures-peer|ecs3|docker0 172.17.0.0/16 captures ${FIRST_INCIDENT.ecs1}`;

describeLab('fleet: agents in the first incident report to one aggregator', () => {
  const lab = useLab(firstIncident());
  const fleet = new LabFleet(['ecs1', 'ecs2', 'ecs3']);
  afterAll(() => fleet.stop());

  it('finds ecs3 docker0 capturing ecs1 within 10 s and resolves it within 10 s of docker0 going', async () => {
    await fleet.startServer();
    const started = Date.now();
    for (const h of ['ecs1', 'ecs2', 'ecs3']) fleet.startAgent(lab(), h);
    const found = await waitFor('the fleet finding', async () => (await fleet.findings('?check=route-captures-peer')).find((f) => f.finding.key === KEY && f.sources.includes('fleet') && f.state === 'open'), 15_000);
    const foundMs = Date.now() - started;
    console.log(`[fleet-lab] agents started → fleet finding in ${foundMs} ms`);
    expect(foundMs).toBeLessThan(10_000);
    // The host check's words (the agent on ecs3 has ecs1 as a peer): one text from every face.
    expect(found.finding.summary).toBe(`docker0 172.17.0.0/16 (Docker network "bridge") captures replies to ecs1 ${FIRST_INCIDENT.ecs1}: they leave into docker0 instead of eth0`);
    expect(found.finding.evidence.map((e) => e.text).join('\n')).toMatch(/172\.17\.0\.0\/16 dev docker0/);
    expect((found.finding as { pairs?: string[][] }).pairs).toEqual([['ecs1', 'ecs3']]);
    // Agents connect independently: ecs2 may arrive a moment after the finding.
    await waitFor('all three agents connected', async () => {
      const hosts = await fleet.get<{ hosts: Array<{ name: string; connected: boolean }> }>('/api/hosts');
      const connected = hosts.hosts.filter((h) => h.connected).map((h) => h.name).sort();
      return connected.join(',') === 'ecs1,ecs2,ecs3' ? connected : undefined;
    }, 15_000);

    const pids = [...fleet.agents.values(), fleet.server!].map((p) => p.child.pid);
    const deleted = Date.now();
    await lab().exec('ecs3', ['ip', 'link', 'del', 'docker0'], { check: true });
    const resolved = await waitFor('the finding resolved', async () => (await fleet.findings('?check=route-captures-peer')).find((f) => f.finding.key === KEY && f.state === 'resolved'), 15_000);
    const resolvedMs = Date.now() - deleted;
    console.log(`[fleet-lab] docker0 deleted → finding resolved in ${resolvedMs} ms`);
    expect(resolvedMs).toBeLessThan(10_000);
    expect(resolved.sources).toEqual([]);
    // A report collected while `ip link del` runs can already lack docker0's route (resolving the
    // finding) and still list the link; the change it saw brings the next report within the debounce.
    const names = async () => (await fleet.get<{ snapshot: { interfaces: Array<{ name: string }> } }>('/api/hosts/ecs3')).snapshot.interfaces.map((i) => i.name);
    await waitFor('ecs3\'s stored snapshot without docker0', async () => !(await names()).includes('docker0'), 5_000);
    // Nothing restarted: the same processes, each agent started once, none exited.
    expect([...fleet.agents.values(), fleet.server!].map((p) => p.child.pid)).toEqual(pids);
    for (const p of [...fleet.agents.values(), fleet.server!]) expect(p.child.exitCode).toBeNull();
    for (const p of fleet.agents.values()) expect(logLines(p).filter((l) => l.msg === 'agent starting')).toHaveLength(1);
  }, 40_000);
});

const CHURN_HOSTS = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'];

describeLab('fleet: the aggregator killed with reports in flight', () => {
  const lab = useLab({
    hosts: Object.fromEntries([['r', { router: true }], ...CHURN_HOSTS.map((h, i) => [h, { routes: [`default via 10.61.${i}.1 dev eth0`] }])]),
    links: CHURN_HOSTS.map((h, i) => ({ a: { host: 'r', iface: `eth${i}`, addresses: [`10.61.${i}.1/24`] }, b: { host: h, iface: 'eth0', addresses: [`10.61.${i}.2/24`] } })),
  });
  const fleet = new LabFleet(CHURN_HOSTS);
  const churn: ResultPromise[] = [];
  afterAll(async () => {
    for (const c of churn) c.kill('SIGKILL');
    if (fleet.server) process.kill(fleet.server.child.pid!, 'SIGCONT');
    await fleet.stop();
  });

  it('keeps every acknowledged (host, seq) across SIGKILL and every agent comes back', async () => {
    await fleet.startServer();
    for (const h of CHURN_HOSTS) fleet.startAgent(lab(), h, ['--interval', '0.1']);
    await waitFor('every agent welcomed', () => [...fleet.agents.values()].every((p) => logLines(p).some((l) => l.msg === 'welcomed')), 20_000);
    // A route that changes every 50 ms (bounded: 30 s at most) makes every check a new report.
    CHURN_HOSTS.forEach((h, i) => churn.push(execa('ip', ['netns', 'exec', lab().ns(h), 'sh', '-c',
      `for k in $(seq 1 600); do ip route add 10.99.$((k % 200)).0/24 via 10.61.${i}.1; ip route del 10.99.$(((k + 199) % 200)).0/24 2>/dev/null; sleep 0.05; done`], { reject: false })));
    const count = (msg: RegExp): number => [...fleet.agents.values()].reduce((n, p) => n + logLines(p).filter((l) => msg.test(String(l.msg))).length, 0);
    await waitFor('reports acknowledged before the stop', () => count(/^report acknowledged/) >= 30, 20_000);

    const server = fleet.server!;
    process.kill(server.child.pid!, 'SIGSTOP');
    const ackedAtStop = count(/^report acknowledged/);
    await waitFor('100 reports in flight', () => count(/^report$/) - ackedAtStop >= 100, 30_000);
    const inFlight = count(/^report$/) - ackedAtStop;
    process.kill(server.child.pid!, 'SIGKILL');
    await server.child;
    console.log(`[fleet-lab] SIGKILL with ${inFlight} reports in flight (${ackedAtStop} acknowledged before)`);
    for (const c of churn) c.kill('SIGKILL');
    const killedAt = Date.now();
    const welcomesBefore = new Map([...fleet.agents].map(([h, p]) => [h, logLines(p).filter((l) => l.msg === 'welcomed').length]));

    await fleet.startServer();
    await waitFor('every agent back', () => [...fleet.agents].every(([h, p]) => logLines(p).filter((l) => l.msg === 'welcomed').length > welcomesBefore.get(h)!), 30_000);
    // Drained: each agent's last report is acknowledged.
    await waitFor('every report resent and acknowledged', () => [...fleet.agents.values()].every((p) => {
      const lines = logLines(p);
      const last = Math.max(0, ...lines.filter((l) => l.msg === 'report').map((l) => Number(l.seq)));
      return lines.some((l) => String(l.msg).startsWith('report acknowledged') && Number(l.seq) >= last);
    }), 30_000);
    console.log(`[fleet-lab] all agents back and drained ${Date.now() - killedAt} ms after the kill`);
    expect((await fleet.get<{ connected: number }>('/healthz')).connected).toBe(CHURN_HOSTS.length);

    const db = new Database(fleet.db, { readonly: true, fileMustExist: true });
    try {
      const stored = new Set((db.prepare('SELECT host, seq FROM reports').all() as Array<{ host: string; seq: number }>).map((r) => `${r.host}#${r.seq}`));
      const acked = [...new Set([...fleet.agents].flatMap(([h, p]) => logLines(p).filter((l) => String(l.msg).startsWith('report acknowledged')).map((l) => `${String(l.host ?? h)}#${Number(l.seq)}`)))];
      const perHost = new Map<string, number>();
      for (const a of acked) perHost.set(a.split('#')[0], (perHost.get(a.split('#')[0]) ?? 0) + 1);
      // The store keeps 100 reports per host: stay under it so every acknowledged one must be there.
      expect(Math.max(...perHost.values())).toBeLessThanOrEqual(100);
      expect(acked.length).toBeGreaterThanOrEqual(ackedAtStop + 100);
      expect(acked.filter((a) => !stored.has(a))).toEqual([]);
    } finally {
      db.close();
    }
  }, 60_000);
});
