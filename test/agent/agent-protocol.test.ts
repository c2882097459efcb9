/**
 * The agent against a real WebSocket protocol peer (loopback TCP and a unix socket), collecting
 * from the first incident's captured ECS3 bundle so every run sees the same host.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Agent, type AgentOptions } from '../../src/agent/agent.js';
import { createAgentLogger } from '../../src/agent/log.js';
import { readBundle } from '../../src/collect/bundle.js';
import { helloSchema, reportSchema } from '../../src/model/protocol.js';
import { repoRoot } from '../helpers/samples.js';
import { AgentProtocolPeer, LogLines, waitFor } from '../helpers/agent-protocol-peer.js';

const ecs3 = join(repoRoot, 'fixtures', 'scenarios', 'first-incident', 'ecs3');
const tmp = mkdtempSync(join(tmpdir(), 'hc-agent-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const running: { agent: Agent; peer?: AgentProtocolPeer }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.agent.stop('test over');
    await r.peer?.close();
  }
});

let dirs = 0;
function startAgent(server: string, overrides: Partial<AgentOptions> & { peer?: AgentProtocolPeer; token?: string | null } = {}) {
  const dir = join(tmp, `a${++dirs}`);
  const tokenFile = join(dir, 'token');
  const { peer, token, ...rest } = overrides;
  if (token !== null) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(tokenFile, (token ?? 'agent-token-0123456789abcdef') + '\n');
  }
  const logs = new LogLines();
  const agent = new Agent({
    server,
    name: 'ecs3',
    identity: { hostname: 'ecs3', machineId: '0'.repeat(32) },
    agentVersion: '0.1.0',
    tokenFile,
    tls: {},
    stateDir: join(dir, 'state'),
    config: { peers: [], remotes: [], ports: [], ignore: [] },
    collect: () => readBundle(ecs3),
    watch: false,
    intervalMs: 200,
    backoff: { baseMs: 100, maxMs: 400 },
    log: createAgentLogger({ destination: logs, level: 'debug' }),
    ...rest,
  });
  running.push({ agent, peer });
  return { agent, logs, dir, tokenFile };
}


describe('hostcheck agent ⇄ protocol peer', () => {
  it('says hello, is welcomed, reports, and logs each acknowledged (host, seq)', async () => {
    const peer = await AgentProtocolPeer.start({ ackDelayMs: 100 });
    const { agent, logs } = startAgent(peer.url, { peer });
    await agent.start();
    const report = await waitFor('first report', () => peer.reports[0]);
    expect(helloSchema.parse(peer.hellos[0])).toMatchObject({ name: 'ecs3', credential: { kind: 'token', token: 'agent-token-0123456789abcdef' }, lastSeq: 0, identity: { hostname: 'ecs3' } });
    expect(reportSchema.safeParse(report).success).toBe(true);
    expect(report.seq).toBe(1);
    expect(report.snapshot.identity.name).toBe('ecs3');
    expect(report.snapshot.partial).toBeUndefined();
    expect(peer.deflate[1]).toBe(true);
    await waitFor('ack log line', () => logs.with('report acknowledged').length > 0);
    expect(logs.with('report acknowledged')[0]).toMatchObject({ host: 'ecs3', seq: 1 });
    expect(agent.pending).toBe(0);
    expect(peer.invalid).toEqual([]);
  });

  it('an unchanged host sends heartbeats, not reports', async () => {
    const peer = await AgentProtocolPeer.start();
    const { agent } = startAgent(peer.url, { peer, intervalMs: 100 });
    await agent.start();
    await waitFor('5 heartbeats', () => peer.count('heartbeat') >= 5);
    expect(agent.stats.checks).toBeGreaterThanOrEqual(5);
    expect(peer.count('report')).toBe(1);
  });

  it('a fleet context with peers makes its findings name them (route-captures-peer for ecs1)', async () => {
    const peer = await AgentProtocolPeer.start();
    const { agent } = startAgent(peer.url, { peer });
    await agent.start();
    await waitFor('first report', () => peer.reports[0]);
    expect(peer.reports[0].findings.filter((f) => f.summary.includes('172.17.0.64'))).toEqual([]);
    peer.setContext({ peers: [{ name: 'ecs1', addresses: ['172.17.0.64'] }, { name: 'ecs3', addresses: ['172.31.4.18'] }], remotes: [], ports: [] });
    const second = await waitFor('report after context', () => peer.reports[1]);
    expect(second.seq).toBe(2);
    const finding = second.findings.find((f) => f.check === 'route-captures-peer');
    expect(finding?.severity).toBe('error');
    expect(finding?.summary).toContain('172.17.0.64');
    expect(finding?.summary).toContain('ecs1');
    expect(finding?.evidence.map((e) => e.text).join('\n')).toContain('172.17.0.0/16 dev docker0');
  });

  it('the first report already uses the welcome\'s fleet context', async () => {
    const peer = await AgentProtocolPeer.start({ context: { peers: [{ name: 'ecs1', addresses: ['172.17.0.64'] }], remotes: [], ports: [] } });
    const { agent } = startAgent(peer.url, { peer });
    await agent.start();
    const first = await waitFor('first report', () => peer.reports[0]);
    expect(first.findings.some((f) => f.check === 'route-captures-peer' && f.summary.includes('ecs1'))).toBe(true);
  });

  it('ignores and logs a message of an unknown type or one that tries to make it act; never executes it', async () => {
    const peer = await AgentProtocolPeer.start();
    const { agent, logs } = startAgent(peer.url, { peer, intervalMs: 100 });
    await agent.start();
    await waitFor('first report', () => peer.reports[0]);
    const marker = join(tmp, 'pwned');
    peer.broadcast({ type: 'exec', command: `touch ${marker}` });
    peer.broadcast({ type: 'run', argv: ['touch', marker] });
    peer.broadcast('not json at all; touch ' + marker);
    peer.broadcast({ type: 'ack', seq: 'touch' });
    const beats = peer.count('heartbeat');
    await waitFor('4 ignored messages', () => agent.stats.ignoredMessages >= 4);
    await waitFor('heartbeats go on', () => peer.count('heartbeat') >= beats + 2);
    const ignored = logs.with('ignored server message (the agent takes only data: welcome, ack, context, heartbeat, error)');
    expect(ignored.map((l) => l.type)).toEqual(['exec', 'run', undefined, 'ack']);
    expect(ignored[0].reason).toBe('unknown message type "exec"');
    expect(existsSync(marker)).toBe(false);
  });

  it('works over a unix socket (ws+unix://)', async () => {
    const peer = await AgentProtocolPeer.start({ socketPath: join(tmp, 'peer.sock') });
    expect(peer.url.startsWith('ws+unix:///')).toBe(true);
    const { agent, logs } = startAgent(peer.url, { peer });
    await agent.start();
    await waitFor('first report', () => peer.reports[0]);
    await waitFor('ack', () => logs.with('report acknowledged').length > 0);
    expect(peer.hellos).toHaveLength(1);
  });

  it('reconnects with backoff after the server drops it, and resends unacknowledged reports', async () => {
    const peer = await AgentProtocolPeer.start();
    peer.acks = false;
    const { agent, logs } = startAgent(peer.url, { peer });
    await agent.start();
    const first = await waitFor('first report', () => peer.reports[0]);
    expect(agent.pending).toBe(1);
    peer.dropAll();
    await waitFor('second connection', () => peer.connectionCount >= 2);
    const backoff = logs.with('reconnecting after backoff');
    expect(backoff[0]).toMatchObject({ attempt: 1 });
    expect(backoff[0].delayMs).toBeGreaterThanOrEqual(50);
    expect(backoff[0].delayMs).toBeLessThanOrEqual(100);
    const resent = await waitFor('resent report', () => peer.received.find((r) => r.connection === 2 && r.message.type === 'report')?.message);
    expect(resent).toMatchObject({ seq: first.seq, digest: first.digest });
    expect(peer.hellos[1].lastSeq).toBe(1);
    peer.acks = true;
    peer.ackedSeq = 1;
    peer.dropAll();
    // The welcome's ackedSeq acknowledges it without a resend.
    await waitFor('third connection welcomed', () => logs.with('report acknowledged (by welcome)').length > 0);
    expect(agent.pending).toBe(0);
  });

  it('keeps a bounded outbox while the server is away: drops the oldest, counts them, sends the rest', async () => {
    const socketPath = join(tmp, 'late.sock');
    let n = 0;
    const bundleOnce = await readBundle(ecs3);
    const changing = async () => {
      const b = await readBundle(ecs3);
      b.files.set('ip-route-v4', (bundleOnce.files.get('ip-route-v4') ?? '') + `10.99.${++n}.0/24 dev eth0 proto static\n`);
      return b;
    };
    const { agent, logs } = startAgent(`ws+unix://${socketPath}`, { collect: changing, outboxCapacity: 2, intervalMs: 50, backoff: { baseMs: 300, maxMs: 300 } });
    await agent.start();
    await waitFor('5 reports queued', () => agent.stats.reports >= 5);
    expect(agent.pending).toBe(2);
    expect(logs.with('outbox full: dropped the oldest unacknowledged report').map((l) => l.seq).slice(0, 3)).toEqual([1, 2, 3]);
    const peer = await AgentProtocolPeer.start({ socketPath });
    running.push({ agent, peer });
    const got = await waitFor('queued reports after connecting', () => peer.reports.length >= 2 && peer.reports);
    const seqs = got.map((r) => r.seq);
    expect(seqs[0]).toBe(seqs[1] - 1);
    expect(seqs[0]).toBeGreaterThan(3);
    expect(agent.stats.dropped).toBeGreaterThanOrEqual(3);
  });

  it('enrols: sends the enrolment token, stores the issued one with mode 0600, uses it after', async () => {
    const peer = await AgentProtocolPeer.start({ issueToken: 'issued-token-for-ecs3-abcdef0123' });
    const dir = join(tmp, 'enrol');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'enrol'), 'fleet-enrolment-token-0123456789\n');
    const tokenFile = join(dir, 'var', 'token');
    const { agent } = startAgent(peer.url, { peer, token: null, tokenFile, enrolTokenFile: join(dir, 'enrol'), stateDir: join(dir, 'state') });
    await agent.start();
    await waitFor('token written', () => existsSync(tokenFile));
    expect(peer.hellos[0].credential).toEqual({ kind: 'enrol', token: 'fleet-enrolment-token-0123456789' });
    expect(readFileSync(tokenFile, 'utf8').trim()).toBe('issued-token-for-ecs3-abcdef0123');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    peer.dropAll();
    await waitFor('second hello', () => peer.hellos[1]);
    expect(peer.hellos[1].credential).toEqual({ kind: 'token', token: 'issued-token-for-ecs3-abcdef0123' });
  });

  it('keeps sequence numbers across restarts, so (host, seq) stays unique', async () => {
    const peer = await AgentProtocolPeer.start();
    const stateDir = join(tmp, 'seq-state');
    const a = startAgent(peer.url, { stateDir });
    await a.agent.start();
    await waitFor('first report', () => peer.reports[0]);
    // Acknowledged before the stop: an unacknowledged one would be sent again first (the outbox is on disk).
    await waitFor('first report acknowledged', () => a.agent.pending === 0);
    await a.agent.stop();
    const b = startAgent(peer.url, { stateDir, peer });
    await b.agent.start();
    const again = await waitFor('report of the restarted agent', () => peer.reports[1]);
    expect(again.seq).toBe(2);
    expect(peer.hellos[1].lastSeq).toBe(1);
    expect(JSON.parse(readFileSync(join(stateDir, 'seq-ecs3.json'), 'utf8'))).toEqual({ host: 'ecs3', seq: 2 });
  });

  it('without a credential it refuses to start, naming the files', async () => {
    const { agent } = startAgent('ws://127.0.0.1:9', { token: null, tokenFile: join(tmp, 'absent', 'token') });
    await expect(agent.start()).rejects.toThrow(/no credential: token file .*absent\/token is missing/);
  });
});
