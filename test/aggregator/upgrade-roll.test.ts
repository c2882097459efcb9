/**
 * A rolling upgrade on one PostgreSQL database (issue 19, "upgrades roll"; docs/replicas.md,
 * "Rolling upgrades"), all real processes: the previous version (commit 93dae31, store steps
 * 1–3, protocol 2; built from git history by test/helpers/previous-version.ts) runs two replicas
 * A and B; B is replaced on its address by the current version N, whose start applies its steps after 3 (4: the timeline, 5: changes found at an agent's start)
 * while A runs; agents of both versions report to both; A restarts on the migrated database;
 * then A is replaced too. At every stage both replicas answer the same hosts (who is connected
 * included) and findings, and the cross-replica fleet finding and the pushed context hold. Also:
 * a SQLite file the previous version wrote, opened by the current serve in its place (the one-
 * server upgrade), an agent upgraded with reports still queued in its state dir, and a finding
 * the older replica reopens between the newer one's triggers.
 *
 * Behind HOSTCHECK_TEST_UPGRADE=1: it needs the git history (CI may clone shallow) and builds the
 * previous version (about 25 s here) before a minute of its own; docs/replicas.md has its figures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_MIGRATIONS } from '../../src/aggregator/store-migrations.js';
import { postgresBin, startPostgres, type PgCluster } from '../helpers/postgres.js';
import { buildPrevious, hasCommit, PREVIOUS_COMMIT, type PreviousBuild } from '../helpers/previous-version.js';
import { repoRoot } from '../helpers/samples.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { hello, reportOf, tempDir, tinySnapshot } from '../helpers/aggregator-client.js';
import { Replay, type RecordedLine } from '../helpers/recorded-agents.js';
import type { FindingTrigger, HostChange } from '../../src/model/changes.js';
import { findingKey, type Finding } from '../../src/model/finding.js';
import type { ReportMessage } from '../../src/model/protocol.js';
import type { ServerMessage } from '../../src/model/server-messages.js';

const enabled = process.env.HOSTCHECK_TEST_UPGRADE === '1' && postgresBin() !== undefined && hasCommit(PREVIOUS_COMMIT);
const current = join(repoRoot, 'bin', 'hostcheck');
const scenario = join(repoRoot, 'fixtures', 'scenarios', 'first-incident');
const ecs2Bundle = join(repoRoot, 'fixtures', 'protocol', 'v2', 'bundles', 'ecs2-many-routes');

let cluster: PgCluster;
let prev: PreviousBuild;
let url: string;
const tmp = tempDir();
const processes: { kill(): Promise<void> }[] = [];

beforeAll(async () => {
  if (!enabled) return;
  cluster = await startPostgres();
  url = await cluster.createDatabase('roll');
  prev = buildPrevious();
  process.stderr.write(`upgrade-roll: built ${prev.version} from ${PREVIOUS_COMMIT.slice(0, 7)} in ${prev.buildSeconds.toFixed(1)} s\n`);
}, 180_000);

afterAll(async () => {
  for (const p of processes) await p.kill();
  await cluster?.stop();
  prev?.remove();
  tmp.remove();
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function replica(bin: string, port: number, db = url): Promise<ServeProcess> {
  // db: a PostgreSQL URL or a SQLite file.
  const s = await startServe(['--db', db, '--stale-seconds', '600'], port, 30_000, bin);
  processes.push(s);
  return s;
}

interface AgentProcess { name: string; child: ChildProcess; out(): string; acks(): number }

function agent(bin: string, name: string, bundle: string, ports: number[], dir = tmp.dir): AgentProcess {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.token`), `roll-token-${name}-0123456789\n`);
  const child = spawn(process.execPath, [bin, 'agent', '--bundle', bundle, '--name', name, ...ports.flatMap((p) => ['--server', `ws://127.0.0.1:${p}/agent`]),
    '--token-file', join(dir, `${name}.token`), '--state-dir', join(dir, `state-${name}`), '--interval', '1', '--no-cloud'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  processes.push({ kill: async () => void (child.exitCode === null && child.kill('SIGTERM')) });
  return { name, child, out: () => out, acks: () => out.split('\n').filter((l) => l.includes('"report acknowledged"')).length };
}

async function until<T>(what: string, f: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve().then(f).catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const json = async <T>(s: ServeProcess, path: string): Promise<T> => (await fetch(`${s.http}${path}`)).json() as Promise<T>;

/** What a replica answers, times aside: hosts (with who is connected, the last committed seq) and findings. */
async function view(s: ServeProcess) {
  const hosts = (await json<{ hosts: { name: string; connected: boolean; lastSeq: number; complete: boolean; stale: boolean; addresses: string[] }[] }>(s, '/api/hosts')).hosts
    .map(({ name, connected, lastSeq, complete, stale, addresses }) => ({ name, connected, lastSeq, complete, stale, addresses }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const findings = (await json<{ findings: { finding: { key: string; severity: string; summary: string; pairs?: string[][] }; state: string; sources: string[] }[] }>(s, '/api/findings')).findings
    .map((f) => ({ key: f.finding.key, severity: f.finding.severity, pairs: f.finding.pairs, state: f.state, sources: f.sources }))
    .sort((a, b) => a.key.localeCompare(b.key));
  return { hosts, findings };
}

const EXPECTED_FINDINGS = ['docker-pool-conflict|ecs3|172.18.0.0/16~172.18.1.22/32', 'route-captures-peer|ecs3|docker0 172.17.0.0/16 captures 172.17.0.64'];

/** Both replicas give the same answer, with every host connected and the expected open findings. */
async function agreeing(a: ServeProcess, b: ServeProcess, hosts: string[]): Promise<Awaited<ReturnType<typeof view>>> {
  let last = '';
  return until(`both replicas agreeing on ${hosts.join(', ')} (last: ${last})`, async () => {
    const [va, vb] = [await view(a), await view(b)];
    last = JSON.stringify([va, vb]);
    const ok = JSON.stringify(va) === JSON.stringify(vb) && JSON.stringify(va.hosts.map((h) => h.name)) === JSON.stringify(hosts) && va.hosts.every((h) => h.connected)
      && JSON.stringify(va.findings.filter((f) => f.state === 'open').map((f) => f.key)) === JSON.stringify(EXPECTED_FINDINGS);
    return ok && va;
  }, 40_000);
}

/** Every step of the current version's migrations. */
const CURRENT_STEPS = PG_MIGRATIONS.map((_, i) => i + 1);

async function schemaSteps(): Promise<number[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ version: number }>('SELECT version FROM migrations ORDER BY version')).rows.map((r) => r.version);
  } finally {
    await c.end();
  }
}

/** What a replica answers a raw hello of `protocol`. */
async function helloAnswer(s: ServeProcess, protocol: number): Promise<ServerMessage> {
  const ws = new WebSocket(s.ws);
  try {
    await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
    const answer = new Promise<ServerMessage>((r) => ws.once('message', (d) => r(JSON.parse(d.toString()) as ServerMessage)));
    ws.send(JSON.stringify({ type: 'hello', protocol, agentVersion: 'roll-test', name: `raw-${protocol}`, identity: { hostname: 'raw' }, credential: { kind: 'token', token: `raw-token-${protocol}-0123456789` }, lastSeq: 0 }));
    return await answer;
  } finally {
    ws.terminate();
  }
}

/** One connection of a host `name` speaking `protocol`: a hello, then `reports`, each acknowledged (Replay fails otherwise). */
async function session(s: ServeProcess, name: string, protocol: number, reports: ReportMessage[]): Promise<void> {
  const h = { ...hello(name, `raw-token-${name}-0123456789`), protocol };
  const r = await Replay.run(s.ws, [h, ...reports].map((message) => ({ conn: 1, from: 'agent' as const, message: message as RecordedLine['message'] })));
  await r.close();
}

/** A report of host `name` with `findings` and, for protocol 3, `changes`. */
function report(name: string, seq: number, findings: Finding[], changes?: HostChange[]): ReportMessage {
  return { ...reportOf(seq, tinySnapshot(name, '10.66.0.1'), findings), ...(changes ? { changes } : {}) };
}

const hostChange = (kind: HostChange['kind'], action: HostChange['action'], subject: string): HostChange => ({ at: new Date().toISOString(), count: 1, kind, action, subject, owner: { type: 'unknown' } });

describe.skipIf(!enabled)('a rolling upgrade from the previous version on one PostgreSQL database', () => {
  it('two consecutive versions share the database: the new steps applied under a running older replica, agents of both versions on both, every answer the same', async () => {
    const t0 = Date.now();
    const [portA, portB] = [await freePort(), await freePort()];
    // Before: the previous version only.
    let a = await replica(prev.bin, portA);
    const b = await replica(prev.bin, portB);
    expect(await schemaSteps()).toEqual([1, 2, 3]);
    const ecs2 = agent(prev.bin, 'ecs2', ecs2Bundle, [portB]);
    await until('ecs2 (previous agent, a routes section) acknowledged by B', () => ecs2.acks() > 0);

    // The roll: B is replaced on its address by the current version, which applies steps 4 and 5 while A runs.
    await b.stop();
    const n = await replica(current, portB);
    expect(await schemaSteps()).toEqual(CURRENT_STEPS);
    expect((await fetch(`${a.http}/healthz`)).status).toBe(200);
    // An older replica turns protocol 3 away (the agent moves on to another).
    expect(await helloAnswer(a, 3)).toMatchObject({ type: 'error', reason: expect.stringContaining('protocol_version') });
    // Agents of both versions: the previous agent ecs1 on A (the older replica, writing to the migrated
    // schema), ecs2 back on its address (now N), the current agent ecs3 given both (A refuses it, N takes it).
    const ecs1 = agent(prev.bin, 'ecs1', join(scenario, 'ecs1'), [portA]);
    const ecs3 = agent(current, 'ecs3', join(scenario, 'ecs3'), [portA, portB]);
    await until('ecs1 acknowledged by A', () => ecs1.acks() > 0);
    await until('ecs3 acknowledged by N', () => ecs3.acks() > 0);
    await until('ecs2 and ecs3 connected to N', async () => (await json<{ connected: number }>(n, '/healthz')).connected === 2);
    const during = await agreeing(a, n, ['ecs1', 'ecs2', 'ecs3']);
    // Reports to either are on both: ecs1's (to A) and ecs3's (to N), seq for seq.
    expect(during.hosts.find((h) => h.name === 'ecs1')!.lastSeq).toBeGreaterThan(0);
    expect(during.hosts.find((h) => h.name === 'ecs3')!.lastSeq).toBeGreaterThan(0);
    // The fleet finding joins a host reported to A (ecs1) and one reported to N (ecs3).
    expect(during.findings.find((f) => f.key === EXPECTED_FINDINGS[1])!.pairs).toEqual([['ecs1', 'ecs3']]);
    const routes = (s: ServeProcess) => json<{ snapshot: { routes: { table?: string }[] } }>(s, '/api/hosts/ecs2').then((h) => h.snapshot.routes.filter((r) => String(r.table) === '200').length);
    expect([await routes(a), await routes(n)]).toEqual([300, 300]);

    // The older replica restarts on the migrated database (a crash mid-roll): it starts, and agrees.
    await a.kill();
    a = await replica(prev.bin, portA);
    expect(await schemaSteps()).toEqual(CURRENT_STEPS);
    await agreeing(a, n, ['ecs1', 'ecs2', 'ecs3']);

    // The roll ends: A is replaced by the current version; the previous agents stay welcome.
    await a.stop();
    const n2 = await replica(current, portA);
    const after = await agreeing(n2, n, ['ecs1', 'ecs2', 'ecs3']);
    expect(after.findings.map((f) => f.key)).toEqual(during.findings.map((f) => f.key));
    const errors = (p: AgentProcess) => p.out().split('\n').filter((l) => l.includes('"the server refused the report')).length;
    expect([errors(ecs1), errors(ecs2), errors(ecs3)]).toEqual([0, 0, 0]);
    process.stderr.write(`upgrade-roll: the roll took ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }, 240_000);

  it('a SQLite fleet upgraded in place: the file the previous version wrote keeps its hosts, sequence numbers and findings (first seen too), and its agents carry on', async () => {
    const file = join(tmp.dir, 'in-place.db');
    const port = await freePort();
    const dir = join(tmp.dir, 'in-place');
    let s = await replica(prev.bin, port, file);
    const agents = [agent(prev.bin, 'ecs1', join(scenario, 'ecs1'), [port], dir), agent(prev.bin, 'ecs3', join(scenario, 'ecs3'), [port], dir), agent(prev.bin, 'ecs2', ecs2Bundle, [port], dir)];
    const firstSeen = async (x: ServeProcess) => (await json<{ findings: { finding: { key: string }; firstSeen: string; state: string }[] }>(x, '/api/findings')).findings
      .map((f) => `${f.finding.key} ${f.state} ${f.firstSeen}`).sort();
    const before = await agreeing(s, s, ['ecs1', 'ecs2', 'ecs3']);
    const seenBefore = await firstSeen(s);
    await s.stop();
    s = await replica(current, port, file);
    // Every agent back (their backoff is at most a few seconds here), nothing stored twice, nothing lost.
    const after = await agreeing(s, s, ['ecs1', 'ecs2', 'ecs3']);
    expect(after).toEqual(before);
    expect(await firstSeen(s)).toEqual(seenBefore);
    // Each agent welcomed again by the current serve with the sequence number the file held: nothing to resend.
    for (const a of agents) {
      const lines = a.out().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; ackedSeq?: number; resend?: number; seq?: number });
      const welcomes = lines.filter((l) => l.msg === 'welcomed');
      expect(welcomes.length, a.name).toBeGreaterThanOrEqual(2);
      const lastAcked = Math.max(...lines.filter((l) => l.msg === 'report acknowledged').map((l) => l.seq!));
      expect(welcomes.at(-1), a.name).toMatchObject({ ackedSeq: lastAcked, resend: 0 });
      expect(after.hosts.find((h) => h.name === a.name)!.lastSeq).toBe(lastAcked);
    }
    await s.stop();
    for (const a of agents) a.child.kill('SIGTERM');
  }, 90_000);

  it('an agent upgraded in place: the current agent sends the report and the section the previous one queued in its state dir', async () => {
    const port = await freePort();
    const dir = join(tmp.dir, 'agent-in-place');
    // The previous agent, its server away: the report waits in the outbox (and on disk).
    const old = agent(prev.bin, 'ecs2', ecs2Bundle, [port], dir);
    const logged = (p: AgentProcess) => p.out().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; seq?: number; sections?: number });
    const queued = await until('a queued report', () => logged(old).find((l) => l.msg === 'report'));
    expect(queued).toMatchObject({ seq: 1, sections: 1 });
    const exited = new Promise((r) => old.child.once('exit', r));
    old.child.kill('SIGTERM');
    await exited;
    const stoppedAt = new Date().toISOString();
    const s = await replica(current, port, join(tmp.dir, 'agent-in-place.db'));
    const now = agent(current, 'ecs2', ecs2Bundle, [port], dir);
    await until('seq 1 acknowledged', () => logged(now).some((l) => l.msg === 'report acknowledged' && l.seq === 1));
    const host = await json<{ host: { agentVersion: string }; snapshot: { routes: { table?: string }[] }; history: { seq: number; sentAt: string }[] }>(s, '/api/hosts/ecs2');
    // Seq 1 is the previous agent's report (sent before it stopped), not a new one of the current agent's.
    expect(host.history.find((r) => r.seq === 1)!.sentAt < stoppedAt).toBe(true);
    expect(host.snapshot.routes.filter((r) => String(r.table) === '200')).toHaveLength(300);
    expect(logged(now).filter((l) => /refused|error/.test(l.msg))).toEqual([]);
    now.child.kill('SIGTERM');
    await s.stop();
  }, 60_000);

  it('a finding an older replica reopens and a newer one resolves: no trigger of another opening, the resolving change of this one', async () => {
    const db = await cluster.createDatabase('triggers');
    const older = await replica(prev.bin, 0, db);
    const newer = await replica(current, 0, db);
    const x = { check: 'rp-filter-drop', severity: 'error', host: 'flip', subject: 'eth9 192.0.2.1', key: findingKey('rp-filter-drop', 'flip', 'eth9 192.0.2.1'), summary: 'drops', evidence: [], why: 'w', fix: [] } satisfies Finding;
    const stored = async () => (await json<{ findings: { state: string; finding: { trigger?: FindingTrigger; resolvedBy?: FindingTrigger } }[] }>(newer, '/api/hosts/flip')).findings[0];
    // Opened and resolved on the newer replica: a trigger, then a resolving change.
    await session(newer, 'flip', 3, [report('flip', 1, [x], [hostChange('link', 'added', 'link docker0')])]);
    expect((await stored()).finding.trigger).toMatchObject({ change: { subject: 'link docker0' } });
    await session(newer, 'flip', 3, [report('flip', 2, [], [hostChange('link', 'removed', 'link docker0')])]);
    expect(await stored()).toMatchObject({ state: 'resolved', finding: { resolvedBy: { change: { subject: 'link docker0', action: 'removed' } } } });
    // Reopened by the older replica, which knows no trigger columns: the first opening's trigger is not this opening's.
    await session(older, 'flip', 2, [report('flip', 3, [x])]);
    const reopened = await stored();
    expect(reopened.state).toBe('open');
    expect(reopened.finding.trigger).toBeUndefined();
    // Resolved on the newer replica: this resolution's change, not the first one's.
    await session(newer, 'flip', 3, [report('flip', 4, [], [hostChange('sysctl', 'changed', 'net.ipv4.conf.eth9.rp_filter')])]);
    expect(await stored()).toMatchObject({ state: 'resolved', finding: { resolvedBy: { change: { subject: 'net.ipv4.conf.eth9.rp_filter' } } } });
  }, 60_000);
});
