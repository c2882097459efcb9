/**
 * The first incident through the aggregator: four test agents report the lab's captured
 * snapshots over the unix socket; the fleet finding naming ecs1, ecs3 and docker0 appears,
 * merges with ecs3's own finding of the same key, decides the pair verdicts, can be silenced,
 * and is resolved when ecs3 reports a snapshot without docker0. Then restart and stale marking.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.js';
import { emptyCredentials, parseAgentTokens } from '../../src/aggregator/auth.js';
import { AggregatorMetrics } from '../../src/aggregator/metrics.js';
import { pairFacts, pairVerdict } from '../../src/aggregator/pairs.js';
import { startServer, type RunningServer } from '../../src/aggregator/server.js';
import type { StoredFinding } from '../../src/aggregator/store.js';
import { SqliteStore } from '../../src/aggregator/store-sqlite.js';
import { analyzeSnapshot } from '../../src/checks/analyze.js';
import { scenarioSnapshot, tempDir, TestAgent, tinySnapshot } from '../helpers/aggregator-client.js';

const HOSTS = ['router', 'ecs1', 'ecs2', 'ecs3'];
const T = (s: string) => `${s}-token-0123456789abcdef`;
const KEY = 'route-captures-peer|ecs3|docker0 172.17.0.0/16 captures 172.17.0.64';

describe('aggregator fleet', () => {
  const tmp = tempDir();
  const db = join(tmp.dir, 'fleet.db');
  const socket = join(tmp.dir, 'fleet.sock');
  let server: RunningServer;
  let api: string;
  const agents = new Map<string, TestAgent>();
  const credentials = () => ({ ...emptyCredentials(), ...parseAgentTokens(HOSTS.map((h) => `${T(h)} ${h}`).join('\n')) });

  const get = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${api}${path}`);
    expect(r.status, path).toBe(200);
    return (await r.json()) as T;
  };
  const findings = async (q = ''): Promise<StoredFinding[]> => (await get<{ findings: StoredFinding[] }>(`/api/findings${q}`)).findings;

  beforeAll(async () => {
    server = await startServer({ listen: '127.0.0.1:0', socket, db, credentials: credentials(), contextDelayMs: 10 });
    api = `http://127.0.0.1:${server.tcp!.port}`;
    for (const h of HOSTS) agents.set(h, await TestAgent.connect(`ws+unix://${socket}:/agent`, h, T(h)));
    for (const h of HOSTS) await agents.get(h)!.report(await scenarioSnapshot('first-incident', h));
  });
  afterAll(async () => {
    for (const a of agents.values()) a.close();
    await server?.close();
    tmp.remove();
  });

  it('finds ecs3 docker0 capturing ecs1, in the host check\'s words, paired ecs1 ↔ ecs3', async () => {
    const f = (await findings('?check=route-captures-peer&severity=error')).find((x) => x.finding.key === KEY);
    expect(f).toMatchObject({ state: 'open', sources: ['fleet'], resolvedAt: null });
    expect(f!.finding.summary).toBe('docker0 172.17.0.0/16 (Docker network "bridge") captures replies to ecs1 172.17.0.64: they leave into docker0 instead of eth0');
    expect((f!.finding as { pairs?: unknown }).pairs).toEqual([['ecs1', 'ecs3']]);
    expect(f!.finding.evidence.map((e) => e.text).join('\n')).toContain('172.17.0.0/16 dev docker0');
    expect((await findings('?host=ecs1')).map((x) => x.finding.key)).toContain(KEY);
  });

  it('pushes context to ecs3 and merges its own finding of the same key', async () => {
    const ecs3 = agents.get('ecs3')!;
    // Contexts follow each host's arrival; wait for the one that knows ecs1.
    let ctx = (await ecs3.next('context')).context;
    while (!ctx.peers.some((p) => p.name === 'ecs1')) ctx = (await ecs3.next('context')).context;
    expect(ctx.peers).toContainEqual({ name: 'ecs1', addresses: ['172.17.0.64'], mtus: [{ address: '172.17.0.64', dev: 'eth0', mtu: 1500 }] });
    const snap = await scenarioSnapshot('first-incident', 'ecs3');
    const peers = ctx.peers.flatMap((p) => p.addresses.map((address) => ({ address, name: p.name })));
    const own = analyzeSnapshot(snap, { peers, remotes: ctx.remotes, ports: ctx.ports, ignore: [] }).findings;
    expect(own.map((f) => f.key)).toContain(KEY);
    await ecs3.report(snap, own);
    const merged = (await findings()).filter((x) => x.finding.key === KEY);
    expect(merged).toHaveLength(1);
    expect(merged[0].sources).toEqual(['host', 'fleet']);
    // One text: the agent's own finding and the fleet's are the same but for the fleet's pairs.
    const { pairs, ...words } = merged[0].finding as typeof merged[0]['finding'] & { pairs?: unknown };
    expect(pairs).toEqual([['ecs1', 'ecs3']]);
    // The fleet's copy leaves out what only the host's live kernel answers (queries, signals, kernel).
    const { queries: _q, signals: _s, kernel: _k, ...ownWords } = own.find((f) => f.key === KEY)!;
    expect(words).toEqual(JSON.parse(JSON.stringify(ownWords)));
  });

  it('gives each pair a verdict with its cause', async () => {
    const [broken] = (await get<{ pairs: { verdict: string; cause: string; findings: string[] }[] }>('/api/pairs?from=ecs1&to=ecs3')).pairs;
    expect(broken).toMatchObject({ verdict: 'broken', findings: [KEY] });
    expect(broken.cause).toContain('docker0');
    const [ok] = (await get<{ pairs: { verdict: string }[] }>('/api/pairs?from=ecs1&to=ecs2')).pairs;
    expect(ok.verdict).toBe('ok');
    const all = (await get<{ pairs: { from: string; to: string }[] }>('/api/pairs')).pairs;
    expect(all.map((p) => [p.from, p.to].sort().join('-'))).toContain('ecs1-ecs3');
    expect((await fetch(`${api}/api/pairs?from=nobody`)).status).toBe(404);
  });

  // State-changing API calls carry a JSON body (docs/api.md: cross-site requests are refused).
  const JSON_BODY = { 'content-type': 'application/json' };

  it('silences and acknowledges by key, and the silenced finding stays visible', async () => {
    const url = `${api}/api/findings/${encodeURIComponent(KEY)}/ack`;
    const until = new Date(Date.now() + 3600_000).toISOString();
    const r = await fetch(url, { method: 'POST', headers: JSON_BODY, body: JSON.stringify({ state: 'silenced', who: 'alice', why: 'docker0 moves in the next window', until }) });
    expect(r.status).toBe(200);
    const silenced = await findings('?state=silenced');
    expect(silenced.map((f) => f.finding.key)).toEqual([KEY]);
    expect(silenced[0].ack).toMatchObject({ state: 'silenced', who: 'alice', until });
    expect((await fetch(url, { method: 'POST', headers: JSON_BODY, body: '{"who": ""}' })).status).toBe(400);
    expect((await fetch(`${api}/api/findings/nope/ack`, { method: 'POST', headers: JSON_BODY, body: '{"who":"a","why":"b"}' })).status).toBe(404);
    expect((await fetch(url, { method: 'DELETE' })).status).toBe(200);
    expect((await findings('?state=open')).map((f) => f.finding.key)).toContain(KEY);
  });

  it('resolves the finding when ecs3 reports without docker0, nothing restarted', async () => {
    await agents.get('ecs3')!.report(await scenarioSnapshot('first-incident-no-docker0', 'ecs3'), []);
    const f = (await findings()).find((x) => x.finding.key === KEY)!;
    expect(f.state).toBe('resolved');
    expect(f.sources).toEqual([]);
    expect(f.resolvedAt).not.toBeNull();
    expect((await get<{ pairs: { verdict: string }[] }>('/api/pairs?from=ecs1&to=ecs3')).pairs[0].verdict).toBe('ok');
    const host = await get<{ history: unknown[]; snapshot: { identity: { name: string } } }>('/api/hosts/ecs3');
    expect(host.history.length).toBe(3);
    expect(host.snapshot.identity.name).toBe('ecs3');
  });

  it('serves health and metrics', async () => {
    expect(await get('/healthz')).toEqual({ ok: true, hosts: 4, connected: 4 });
    const text = await (await fetch(`${api}/metrics`)).text();
    expect(text).toMatch(/hostcheck_connected_agents 4/);
    expect(text).toMatch(/hostcheck_reports_total 6/);
    expect(text).toMatch(/hostcheck_fleet_match_seconds_count\{kind="incremental"\} 6/);
  });

  it('comes back from a restart with the same fleet state', async () => {
    await agents.get('ecs3')!.report(await scenarioSnapshot('first-incident', 'ecs3'));
    for (const a of agents.values()) a.close();
    agents.clear();
    await server.close();
    server = await startServer({ listen: '127.0.0.1:0', socket, db, credentials: credentials() });
    api = `http://127.0.0.1:${server.tcp!.port}`;
    const f = (await findings()).find((x) => x.finding.key === KEY)!;
    expect(f).toMatchObject({ state: 'open', sources: ['fleet'] });
    const a = await TestAgent.connect(`ws+unix://${socket}:/agent`, 'ecs1', T('ecs1'));
    agents.set('ecs1', a);
  });
});

describe('stale marking', () => {
  it('marks hosts silent for longer than the stale time, and a report clears it', async () => {
    const tmp = tempDir();
    let now = Date.parse('2030-01-01T00:00:00Z');
    const store = new SqliteStore(join(tmp.dir, 's.db'));
    const agg = new Aggregator({ store, credentials: emptyCredentials(), metrics: new AggregatorMetrics(), staleSeconds: 60, now: () => now });
    const h = { type: 'hello' as const, protocol: 1, agentVersion: 't', name: 'h1', identity: { hostname: 'h1' }, credential: { kind: 'token' as const, token: 'x'.repeat(16) }, lastSeq: 0 };
    const snap = tinySnapshot('h1', '10.0.0.1');
    await agg.report(h, { type: 'report', seq: 1, sentAt: '', digest: 'a'.repeat(64), snapshot: snap as never, findings: [], complete: true }, 10);
    now += 30_000;
    expect(await agg.sweep()).toEqual([]);
    now += 61_000;
    expect(await agg.sweep()).toEqual(['h1']);
    expect((await store.host('h1'))!.stale).toBe(true);
    expect(pairVerdict(agg, await pairFacts(agg), 'h1', 'h1').verdict).toBe('unknown');
    await agg.report(h, { type: 'report', seq: 2, sentAt: '', digest: 'b'.repeat(64), snapshot: snap as never, findings: [], complete: true }, 10);
    expect((await store.host('h1'))!.stale).toBe(false);
    await store.close();
    tmp.remove();
  });
});
