/**
 * Protocol 2 end to end over real WebSockets and a real SQLite file: a big host (sections for its
 * routes, rules, nft tables and ipsets) reaches the aggregator and is matched against the fleet;
 * restarted, it sends a small report naming the sections the server already has; the server,
 * restarted, rebuilds the host from its store; and every refusal has its reason.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { createAgentLogger } from '../../src/agent/log.js';
import { startServer, type RunningServer } from '../../src/aggregator/server.js';
import { buildSnapshot } from '../../src/collect/snapshot.js';
import { bigBundle } from '../helpers/big-host.js';
import { hello, reportOf, tempDir, TestAgent, tinySnapshot } from '../helpers/aggregator-client.js';
import { LogLines, waitFor } from '../helpers/agent-protocol-peer.js';

const tmp = tempDir();
afterAll(() => tmp.remove());
const running: { stop: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop();
});

async function server(db: string, extra: Parameters<typeof startServer>[0] extends infer O ? Partial<O> : never = {}): Promise<{ s: RunningServer; url: string }> {
  const s = await startServer({ listen: '127.0.0.1:0', db, ...extra });
  running.push({ stop: () => s.close() });
  return { s, url: `ws://127.0.0.1:${s.tcp!.port}/agent` };
}

function bigAgent(url: string, stateDir: string): { agent: Agent; logs: LogLines } {
  const logs = new LogLines();
  const agent = new Agent({
    server: url, name: 'rich', identity: { hostname: 'rich' }, agentVersion: 'test', tokenFile: join(tmp.dir, 'rich-token'), tls: {},
    stateDir, config: { peers: [], remotes: [], ports: [], ignore: [] }, collect: () => bigBundle(), watch: false, intervalMs: 60_000,
    backoff: { baseMs: 100, maxMs: 400 }, log: createAgentLogger({ destination: logs, level: 'debug' }),
  });
  running.push({ stop: () => agent.stop('test over') });
  return { agent, logs };
}

const metric = async (s: RunningServer, name: string): Promise<number> => {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, 'gm');
  let total = 0;
  for (const x of (await s.aggregator.metrics.text()).matchAll(m)) total += Number(x[1]);
  return total;
};

describe('aggregator, protocol 2 (sections)', () => {
  it('a big host reaches it, is matched against the fleet, and after a restart sends only a small report; a restarted server rebuilds it', async () => {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(tmp.dir, 'rich-token'), 'rich-token-0123456789abcdef\n');
    const db = join(tmp.dir, 'big.db');
    const { s, url } = await server(db);
    const peer = await TestAgent.connect(url, 'ecs1', 'ecs1-token-0123456789abcdef');
    await peer.report(tinySnapshot('ecs1', '172.17.0.64'));

    const stateDir = join(tmp.dir, 'rich-state');
    const first = bigAgent(url, stateDir);
    await first.agent.start();
    await waitFor('the big report acknowledged', () => first.agent.stats.acked >= 1, 20_000);
    const expected = buildSnapshot(await bigBundle());
    const rules = (x: typeof expected) => x.netfilter.v4.reduce((n, t) => n + t.rules.length, 0);
    const indexed = s.aggregator.index.snapshot('rich')!;
    expect(indexed.routes.length).toBe(expected.routes.length);
    expect(rules(indexed)).toBe(rules(expected));
    expect(indexed.nft.map((t) => t.name)).toEqual(expected.nft.map((t) => t.name));
    expect(indexed.ipsets[0].members).toHaveLength(300);
    expect(await metric(s, 'hostcheck_sections_received_total')).toBe(4);
    // Matched: rich's docker0 172.17.0.0/16 (a route inside its routes section) captures ecs1.
    expect(s.aggregator.fleetFindings().map((f) => f.key)).toContain('route-captures-peer|rich|docker0 172.17.0.0/16 captures 172.17.0.64');
    // The API serves the host's whole snapshot, its sections read back from the store.
    const api = await (await fetch(`http://127.0.0.1:${s.tcp!.port}/api/hosts/rich`)).json() as { snapshot: typeof expected };
    expect(api.snapshot.netfilter.v4.reduce((n, t) => n + t.rules.length, 0)).toBe(rules(expected));
    expect(api.snapshot.routes).toHaveLength(expected.routes.length);
    const [report1] = await s.aggregator.store.reports('rich');
    expect(report1.bytes).toBeLessThan(64 * 1024);

    // The agent restarts: the host did not change, the welcome lists its sections, none is sent again.
    await first.agent.stop();
    const second = bigAgent(url, stateDir);
    await second.agent.start();
    await waitFor('the restarted agent\'s report acknowledged', () => second.agent.stats.acked >= 1, 20_000);
    expect(await metric(s, 'hostcheck_sections_received_total')).toBe(4);
    expect(second.logs.lines.filter((l) => l.msg === 'section sent')).toEqual([]);
    const reports = await s.aggregator.store.reports('rich');
    expect(reports.map((r) => r.seq)).toEqual([2, 1]);
    expect(reports[0].bytes).toBeLessThan(64 * 1024);
    await second.agent.stop();
    peer.close();

    // The server restarts: the host is rebuilt from the stored snapshot and its sections.
    await running.shift()!.stop();
    const again = await server(db);
    const rebuilt = again.s.aggregator.index.snapshot('rich')!;
    expect(rules(rebuilt)).toBe(rules(expected));
    expect(rebuilt.routes.length).toBe(expected.routes.length);
    expect(again.s.aggregator.fleetFindings().map((f) => f.key)).toContain('route-captures-peer|rich|docker0 172.17.0.0/16 captures 172.17.0.64');
  }, 60_000);

  it('an agent whose report the server refuses for its content drops it instead of sending it again and again', async () => {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(tmp.dir, 'rich-token'), 'rich-token-0123456789abcdef\n');
    const { s, url } = await server(join(tmp.dir, 'refuse.db'), { limits: { maxRules: 100 } });
    const { agent, logs } = bigAgent(url, join(tmp.dir, 'refuse-state'));
    await agent.start();
    await waitFor('the refusal', () => logs.lines.find((l) => l.msg === 'the server refused the report; dropped'), 20_000);
    await waitFor('welcomed again', () => logs.lines.filter((l) => l.msg === 'welcomed').length >= 2, 20_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(logs.lines.filter((l) => l.msg === 'the server refused the report; dropped')).toHaveLength(1);
    expect(logs.lines.find((l) => l.msg === 'the server refused the report; dropped')).toMatchObject({ seq: 1, reason: expect.stringMatching(/^too_many_rules: section netfilter: more than 100 rules/) });
    expect(agent.pending).toBe(0);
    expect(s.aggregator.connected('rich')).toBe(true);
    expect(await metric(s, 'hostcheck_rejected_messages_total')).toBe(1);
  });

  it('refuses a piece out of order, a wrong digest, a section it never got, sections on protocol 1, too much at once, and content over its limits', async () => {
    const { url } = await server(join(tmp.dir, 'limits.db'), { limits: { maxRoutes: 300, maxRules: 50 }, maxSectionChars: 100_000 });
    const v2 = async (name: string): Promise<TestAgent> => {
      const a = await TestAgent.open(url, name);
      a.send({ ...hello(name, `${name}-token-0123456789abcdef`), protocol: 2 });
      expect((await a.next('welcome')).sections).toEqual([]);
      return a;
    };
    const content = `${JSON.stringify({ kind: 'ipsets', parts: [{ source: 'ipsets', length: 2 }] })}\n[]`;
    const digest = createHash('sha256').update(content).digest('hex');
    const piece = (index: number, count: number, data: string, d = digest) => ({ type: 'section', kind: 'ipsets', digest: d, index, count, data });
    const refused = async (a: TestAgent) => (await a.closed).reason;

    const a = await v2('order');
    a.send(piece(1, 2, content));
    expect(await refused(a)).toMatch(/^schema: section [0-9a-f]{12}: piece 1 arrived before piece 0/);

    const b = await v2('digest');
    b.send(piece(0, 1, content, 'f'.repeat(64)));
    expect(await refused(b)).toMatch(/^schema: section ipsets: its content does not have the digest fff/);

    const c = await v2('missing');
    c.send({ ...reportOf(1, tinySnapshot('missing', '10.3.0.1')), sections: { ipsets: digest } });
    expect(await refused(c)).toMatch(/^schema: snapshot.ipsets: sent inline and as section/);
    const c2 = await v2('missing2');
    const r = reportOf(1, tinySnapshot('missing2', '10.3.0.2'));
    delete (r.snapshot as Record<string, unknown>).ipsets;
    c2.send({ ...r, sections: { ipsets: digest } });
    expect(await refused(c2)).toMatch(/^section_missing: section ipsets [0-9a-f]{64} was not sent on this/);

    // Sent whole, the same section is taken and the report that names it is acknowledged.
    const ok = await v2('uploads');
    ok.send(piece(0, 2, content.slice(0, 10)));
    ok.send(piece(1, 2, content.slice(10)));
    const rr = reportOf(1, tinySnapshot('uploads', '10.3.0.3'));
    delete (rr.snapshot as Record<string, unknown>).ipsets;
    ok.send({ ...rr, sections: { ipsets: digest } });
    expect((await ok.next('ack')).seq).toBe(1);
    ok.close();

    const v1 = await TestAgent.connect(url, 'old', 'old-token-0123456789abcdef');
    v1.send(piece(0, 1, content));
    expect(await refused(v1)).toMatch(/^protocol_version: sections need protocol 2/);

    const big = await v2('big');
    for (let i = 0; i < 3; i++) big.send(piece(i, 5, 'x'.repeat(40_000)));
    expect(await refused(big)).toMatch(/^section_too_large: sections on this connection passed 100000 characters/);

    const routes = await v2('routes');
    const many = tinySnapshot('routes', '10.3.0.4');
    const json = JSON.parse(JSON.stringify(reportOf(1, many))) as ReturnType<typeof reportOf>;
    json.snapshot.routes = Array.from({ length: 301 }, (_, i) => ({ family: 4, type: 'unicast', dst: `10.9.${i >> 8}.${i & 255}/32`, table: 'main', dev: 'eth0', flags: [], nexthops: [], origin: { lineNumber: i + 1, text: '' } })) as never;
    routes.send(json);
    expect(await refused(routes)).toMatch(/^too_many_routes: the snapshot has 301 routes; this server takes at most 300/);

    const rules = await v2('rules');
    const withRules = JSON.parse(JSON.stringify(reportOf(1, tinySnapshot('rules', '10.3.0.5')))) as ReturnType<typeof reportOf>;
    (withRules.snapshot as Record<string, unknown>).netfilter = { v4: [{ name: 'filter', rules: Array.from({ length: 51 }, () => ({})) }], v6: [], notices: [] };
    rules.send(withRules);
    expect(await refused(rules)).toMatch(/^too_many_rules: the snapshot has 51 iptables and nft rules; this server takes at most/);
  });
});
