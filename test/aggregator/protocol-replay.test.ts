/**
 * The previous protocol version's agents on the current server (issue 19, "upgrades roll"): the
 * messages real protocol 2 agents sent (fixtures/protocol/v2, recorded from commit 93dae31 by
 * scripts/record-protocol.ts; its README says how) are replayed over real WebSockets to the
 * current `hostcheck serve` on SQLite and on PostgreSQL. Every hello is welcomed at protocol 2,
 * every section taken, every report acknowledged, each welcome carries every field the previous
 * server's did, each host's last pushed context is the one the previous server pushed, and the
 * API shows the hosts and findings the current agent's reports of the same bundles give (times
 * aside).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../src/model/protocol-version.js';
import { postgresBin, startPostgres, type PgCluster } from '../helpers/postgres.js';
import { readRecording, Replay } from '../helpers/recorded-agents.js';
import { repoRoot } from '../helpers/samples.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { tempDir } from '../helpers/aggregator-client.js';

const v2 = join(repoRoot, 'fixtures', 'protocol', 'v2');
const recording = readRecording(join(v2, 'messages.jsonl'));
const bundles: [string, string][] = [
  ['ecs1', join(repoRoot, 'fixtures', 'scenarios', 'first-incident', 'ecs1')],
  ['ecs3', join(repoRoot, 'fixtures', 'scenarios', 'first-incident', 'ecs3')],
  ['ecs2', join(v2, 'bundles', 'ecs2-many-routes')],
];
const tmp = tempDir();
const processes: { kill(): Promise<void> }[] = [];
let cluster: PgCluster | undefined;

afterAll(async () => {
  for (const p of processes) await p.kill();
  await cluster?.stop();
  tmp.remove();
});

const json = async <T>(s: ServeProcess, path: string): Promise<T> => (await fetch(`${s.http}${path}`)).json() as Promise<T>;

interface StoredFinding {
  finding: { check: string; host: string; subject: string; key: string; severity: string; summary: string; pairs?: string[][]; evidence: unknown[]; fix: string[] };
  sources?: unknown;
  state: string;
}

/** What the fleet knows, times aside: hosts and their summaries, open findings. */
async function fleetView(s: ServeProcess) {
  const hosts = (await json<{ hosts: Record<string, unknown>[] }>(s, '/api/hosts')).hosts
    .map(({ name, hostname, complete, stale, connected, region, vpc, subnet, addresses, bridges, tunnels, findings }) => ({ name, hostname, complete, stale, connected, region, vpc, subnet, addresses, bridges, tunnels, findings }))
    .sort((a, b) => String(a.name).localeCompare(String(b.name)));
  const findings = (await json<{ findings: StoredFinding[] }>(s, '/api/findings')).findings
    .map((f) => ({ key: f.finding.key, check: f.finding.check, host: f.finding.host, severity: f.finding.severity, summary: f.finding.summary, pairs: f.finding.pairs, state: f.state }))
    .sort((a, b) => a.key.localeCompare(b.key));
  return { hosts, findings };
}

/** The same answer twice, 1.5 s apart (fleet matching and context pushes have settled). */
async function settled<T>(f: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = JSON.stringify(await f());
  for (;;) {
    await new Promise((r) => setTimeout(r, 1500));
    const now = await f();
    if (JSON.stringify(now) === last) return now;
    if (Date.now() > deadline) throw new Error('the fleet did not settle');
    last = JSON.stringify(now);
  }
}

/** The current agent (bin/hostcheck agent) on the same bundles, against `s`, until every agent's report is acknowledged. */
async function currentAgents(s: ServeProcess): Promise<ChildProcess[]> {
  const children: ChildProcess[] = [];
  for (const [name, bundle] of bundles) {
    writeFileSync(join(tmp.dir, `${name}.token`), `current-token-${name}-0123456789\n`);
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'hostcheck'), 'agent', '--bundle', bundle, '--name', name, '--server', s.ws,
      '--token-file', join(tmp.dir, `${name}.token`), '--state-dir', join(tmp.dir, `state-${name}`), '--interval', '1', '--no-cloud'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    children.push(child);
    processes.push({ kill: async () => void (child.exitCode === null && child.kill('SIGTERM')) });
    const deadline = Date.now() + 30_000;
    while (!out.includes('"report acknowledged"')) {
      if (Date.now() > deadline) throw new Error(`${name}: no acknowledged report: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return children;
}

type View = Awaited<ReturnType<typeof fleetView>>;
let expected: View;

beforeAll(async () => {
  if (postgresBin()) cluster = await startPostgres();
  // The reference: the current agent's reports of the same bundles.
  const s = await startServe(['--db', join(tmp.dir, 'current.db')]);
  processes.push(s);
  await currentAgents(s);
  // ecs3 reports again once the context names ecs2 (docker-pool-conflict): a loaded machine may take a few seconds.
  const deadline = Date.now() + 30_000;
  while (!(await fleetView(s)).findings.some((f) => f.check === 'docker-pool-conflict' && f.state === 'open') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  expected = await settled(() => fleetView(s));
}, 90_000);

describe(`protocol ${PROTOCOL_VERSION - 1} agents, recorded, on the current server`, () => {
  it('the recording is of protocol 2 agents that sent a section, reports and heartbeats', () => {
    const agent = recording.filter((l) => l.from === 'agent').map((l) => l.message);
    expect(agent.filter((m) => m.type === 'hello').map((m) => m.protocol)).toEqual([2, 2, 2]);
    expect(agent.filter((m) => m.type === 'section').length).toBeGreaterThan(0);
    expect(agent.filter((m) => m.type === 'report').length).toBeGreaterThanOrEqual(3);
    expect(agent.some((m) => 'changes' in m)).toBe(false);
  });

  for (const store of ['sqlite', 'postgres'] as const) {
    it.skipIf(store === 'postgres' && !postgresBin())(`${store}: every hello welcomed at protocol 2, every report acknowledged, the fleet as the current agent's`, async () => {
      const db = store === 'sqlite' ? join(tmp.dir, 'replay.db') : await cluster!.createDatabase('replay');
      const s = await startServe(['--db', db]);
      processes.push(s);
      const replay = await Replay.run(s.ws, recording);
      try {
        const welcomes = replay.of('welcome').map(({ host, message }) => ({ host, protocol: (message as { protocol: number }).protocol, ackedSeq: (message as { ackedSeq: number }).ackedSeq }));
        expect(welcomes).toEqual([{ host: 'ecs1', protocol: 2, ackedSeq: 0 }, { host: 'ecs3', protocol: 2, ackedSeq: 0 }, { host: 'ecs2', protocol: 2, ackedSeq: 0 }]);
        const reports = recording.filter((l) => l.from === 'agent' && l.message.type === 'report').map((l) => `${l.host} ${l.message.seq}`).sort();
        expect(replay.of('ack').map(({ host, message }) => `${host} ${(message as { seq: number }).seq}`).sort()).toEqual(reports);
        expect(replay.of('error')).toEqual([]);
        expect([...replay.connections.values()].filter((c) => c.closed)).toEqual([]);
        // Heartbeats are answered.
        expect(replay.of('heartbeat').length).toBe(recording.filter((l) => l.from === 'agent' && l.message.type === 'heartbeat').length);
        // What the previous agent reads of the server's messages is all there: each welcome has
        // every field the previous server's had, and the last context each host got is the one the
        // previous server pushed last (the same peers).
        const recorded = (host: string, type: string) => recording.filter((l) => l.from === 'server' && l.host === host && l.message.type === type).map((l) => l.message);
        for (const { host, message } of replay.of('welcome')) expect(Object.keys(message)).toEqual(expect.arrayContaining(Object.keys(recorded(host, 'welcome')[0])));
        // What the previous agent reads of a context (its fleetContextOf at that commit takes these
        // fields and ignores the rest, such as the peers' `mtus` added since).
        type Ctx = { peers: { name: string; addresses: string[]; vpc?: string }[]; remotes: string[]; ports: string[] };
        const asRead = (c: Ctx | undefined) => c && { peers: c.peers.map((p) => ({ name: p.name, addresses: p.addresses, ...(p.vpc !== undefined && { vpc: p.vpc }) })), remotes: c.remotes, ports: c.ports };
        const lastContext = (msgs: { type: string; context?: unknown }[]) => asRead(msgs.filter((m) => m.type === 'welcome' || m.type === 'context').at(-1)?.context as Ctx | undefined);
        await settled(async () => [...replay.connections.values()].map((c) => lastContext(c.received)));
        for (const c of replay.connections.values()) {
          expect(lastContext(c.received), c.host).toEqual(lastContext(recording.filter((l) => l.from === 'server' && l.host === c.host).map((l) => l.message)));
        }
        // Not an empty fleet on both sides: ecs3's docker0 captures ecs1 (a fleet finding) and Docker's pools hold ecs2 (from the pushed context).
        expect(expected.findings.map((f) => f.key)).toEqual(['docker-pool-conflict|ecs3|172.18.0.0/16~172.18.1.22/32', 'route-captures-peer|ecs3|docker0 172.17.0.0/16 captures 172.17.0.64']);
        const got = await settled(() => fleetView(s));
        expect(got).toEqual(expected);
        // The section-borne routes are the host's: ecs2's table 200 is in its stored snapshot.
        const ecs2 = await json<{ snapshot: { routes: { table?: string | number }[] }; history: unknown[] }>(s, '/api/hosts/ecs2');
        expect(ecs2.snapshot.routes.filter((r) => String(r.table) === '200')).toHaveLength(300);
      } finally {
        await replay.close();
      }
    }, 60_000);
  }
});
