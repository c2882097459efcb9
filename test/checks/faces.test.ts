/**
 * One situation, one finding, from every face (DESIGN.md, Findings): the two incidents' captured
 * bundles go through the one-shot (`hostcheck --bundle`), `hostcheck path`, the agent (real
 * Agent instances whose reports pass through a recording WebSocket relay) and `hostcheck serve`
 * (a real aggregator in-process, its fleet match and store), and the finding each face gives is
 * compared: key, check, severity, summary, evidence, why and fix. Only what a face alone can add
 * stays out: the fleet's pairs and via.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { Agent } from '../../src/agent/agent.js';
import { createAgentLogger } from '../../src/agent/log.js';
import { emptyCredentials, parseAgentTokens } from '../../src/aggregator/auth.js';
import { startServer, type RunningServer } from '../../src/aggregator/server.js';
import { readBundle } from '../../src/collect/bundle.js';
import type { Finding } from '../../src/model/finding.js';
import type { AgentMessage } from '../../src/model/protocol.js';
import { loadTopology } from '../../src/collect/topology-file.js';
import { cliInProcess } from '../helpers/cli.js';
import { repoRoot } from '../helpers/samples.js';
import { LogLines, waitFor } from '../helpers/agent-protocol-peer.js';
import { tempDir } from '../helpers/aggregator-client.js';

const scenarios = join(repoRoot, 'fixtures', 'scenarios');
const T = (h: string): string => `${h}-token-0123456789abcdef`;

/** What every face must say alike. */
const words = (f: Finding): Pick<Finding, 'key' | 'check' | 'severity' | 'summary' | 'evidence' | 'why' | 'fix'> =>
  JSON.parse(JSON.stringify({ key: f.key, check: f.check, severity: f.severity, summary: f.summary, evidence: f.evidence, why: f.why, fix: f.fix }));

const cli = cliInProcess;

/** A WebSocket relay between agents and the aggregator that keeps every message the agents send. */
class Relay {
  readonly sent: AgentMessage[] = [];
  private readonly http: Server = createServer();
  private readonly wss = new WebSocketServer({ server: this.http });

  constructor(private readonly target: string) {
    this.wss.on('connection', (agentSide) => {
      const serverSide = new WebSocket(this.target);
      const early: [WebSocket.RawData, boolean][] = [];
      serverSide.on('open', () => { for (const [d, b] of early.splice(0)) serverSide.send(d, { binary: b }); });
      agentSide.on('message', (d, binary) => {
        this.sent.push(JSON.parse(d.toString()) as AgentMessage);
        if (serverSide.readyState === WebSocket.OPEN) serverSide.send(d, { binary }); else early.push([d, binary]);
      });
      serverSide.on('message', (d, binary) => agentSide.send(d, { binary }));
      serverSide.on('close', (code, reason) => agentSide.close(code >= 3000 || code === 1000 ? code : 1000, reason));
      agentSide.on('close', () => serverSide.close());
      serverSide.on('error', () => agentSide.terminate());
      agentSide.on('error', () => serverSide.terminate());
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.http.listen(0, '127.0.0.1', r));
    return `ws://127.0.0.1:${(this.http.address() as AddressInfo).port}/agent`;
  }

  /** The last finding of `key` an agent reported. */
  reported(host: string, key: string): Finding | undefined {
    for (let i = this.sent.length - 1; i >= 0; i--) {
      const m = this.sent[i];
      if (m.type === 'report' && m.snapshot.identity.name === host) {
        const f = m.findings.find((x) => x.key === key);
        if (f) return f as Finding;
      }
    }
    return undefined;
  }

  async close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
    await new Promise<void>((r) => this.http.close(() => r()));
  }
}

/** A real aggregator and one real agent per bundle of a scenario, the agents' messages recorded. */
class Fleet {
  server?: RunningServer;
  relay?: Relay;
  readonly agents: Agent[] = [];
  readonly tmp = tempDir();

  async start(scenario: string, hosts: string[], topology?: string): Promise<void> {
    const credentials = { ...emptyCredentials(), ...parseAgentTokens(hosts.map((h) => `${T(h)} ${h}`).join('\n')) };
    this.server = await startServer({ listen: '127.0.0.1:0', db: join(this.tmp.dir, 'fleet.db'), credentials, contextDelayMs: 10, ...(topology && { topology: await loadTopology(topology) }) });
    this.relay = new Relay(`ws://127.0.0.1:${this.server.tcp!.port}/agent`);
    const url = await this.relay.listen();
    for (const h of hosts) {
      const dir = join(this.tmp.dir, h);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'token'), `${T(h)}\n`);
      const agent = new Agent({
        server: url, name: h, identity: { hostname: h }, agentVersion: 'faces', tokenFile: join(dir, 'token'), tls: {}, stateDir: join(dir, 'state'),
        config: { peers: [], remotes: [], ports: [], ignore: [] }, collect: () => readBundle(join(scenarios, scenario, h)), watch: false,
        intervalMs: 600_000, backoff: { baseMs: 100, maxMs: 400 }, log: createAgentLogger({ destination: new LogLines(), level: 'warn' }),
      });
      this.agents.push(agent);
      await agent.start();
    }
  }

  /** The stored finding once serve has it from `sources`. */
  async stored(key: string, sources: string[]): Promise<Finding & { pairs?: [string, string][] }> {
    const s = await waitFor(`${key} from ${sources.join(' and ')}`, async () => (await this.server!.aggregator.store.findings()).find((f) => f.finding.key === key && sources.every((x) => f.sources.includes(x as 'host' | 'fleet'))), 15_000);
    return s.finding as Finding & { pairs?: [string, string][] };
  }

  async stop(): Promise<void> {
    for (const a of this.agents) await a.stop('test over');
    await this.relay?.close();
    await this.server?.close();
    this.tmp.remove();
  }
}

describe('the second incident (a Linux IPsec gateway) through every face: vpn-selector-gap', () => {
  const KEY = 'vpn-selector-gap|gateway|10.200.0.0/20';
  const dir = (h: string): string => join(scenarios, 'second-incident', h);
  const fleet = new Fleet();
  beforeAll(() => fleet.start('second-incident', ['client', 'vpcrouter', 'gateway']));
  afterAll(() => fleet.stop());

  it('the one-shot, hostcheck path, the agent and serve give one finding: same key and words', async () => {
    const oneShot = JSON.parse((await cli(['--bundle', dir('gateway'), '--json'])).stdout) as { findings: Finding[] };
    const fromOneShot = oneShot.findings.find((f) => f.key === KEY)!;
    expect(fromOneShot).toBeDefined();

    const path = await cli(['path', '--from', 'client', '--to', '10.200.1.15', '--source', '10.64.3.22', '--json', ...['client', 'vpcrouter', 'gateway'].flatMap((h) => ['--bundle', dir(h)])]);
    expect(path.code).toBe(1);
    const fromPath = (JSON.parse(path.stdout) as { findings: (Finding & { pairs: [string, string][] })[] }).findings.filter((f) => f.check === 'vpn-selector-gap');
    expect(fromPath.map((f) => f.key)).toEqual([KEY]);

    const fromServe = await fleet.stored(KEY, ['host', 'fleet']);
    const fromAgent = await waitFor('the gateway agent\'s report', () => fleet.relay!.reported('gateway', KEY));

    expect(words(fromPath[0])).toEqual(words(fromOneShot));
    expect(words(fromAgent)).toEqual(words(fromOneShot));
    expect(words(fromServe)).toEqual(words(fromOneShot));
    // What only the fleet adds: who suffers it.
    expect(fromPath[0].pairs).toEqual([['client', 'gateway'], ['vpcrouter', 'gateway']]);
    expect(fromServe.pairs).toEqual(fromPath[0].pairs);
  });
});

describe('the second incident with the gateway as a VPN gateway of the topology: path and serve', () => {
  const KEY = 'vpn-selector-gap|vpn-bp1gw000000000000001|10.200.0.0/20';
  const topology = join(repoRoot, 'fixtures', 'topology', 'second-incident.yaml');
  const fleet = new Fleet();
  beforeAll(() => fleet.start('second-incident', ['client', 'vpcrouter'], topology));
  afterAll(() => fleet.stop());

  it('hostcheck path --topology and hostcheck serve --topology give the gateway one finding: same key and words', async () => {
    const path = await cli(['path', '--from', 'client', '--to', '10.200.1.15', '--source', '10.64.3.22', '--topology', topology, '--json', ...['client', 'vpcrouter'].flatMap((h) => ['--bundle', join(scenarios, 'second-incident', h)])]);
    const fromPath = (JSON.parse(path.stdout) as { findings: (Finding & { pairs: [string, string][] })[] }).findings.filter((f) => f.check === 'vpn-selector-gap');
    expect(fromPath.map((f) => f.key)).toEqual([KEY]);
    const fromServe = await waitFor('both pairs', async () => {
      const f = (await fleet.server!.aggregator.store.findings()).find((x) => x.finding.key === KEY)?.finding as (Finding & { pairs?: [string, string][] }) | undefined;
      return f?.pairs?.length === 2 ? f : undefined;
    }, 15_000);
    expect(words(fromServe)).toEqual(words(fromPath[0]));
    expect(fromServe.pairs).toEqual(fromPath[0].pairs);
  });
});

describe('the first incident through every face: route-captures-peer', () => {
  const KEY = 'route-captures-peer|ecs3|docker0 172.17.0.0/16 captures 172.17.0.64';
  const dir = (h: string): string => join(scenarios, 'first-incident', h);
  const hosts = ['router', 'ecs1', 'ecs2', 'ecs3'];
  const fleet = new Fleet();
  beforeAll(() => fleet.start('first-incident', hosts));
  afterAll(() => fleet.stop());

  it('the one-shot (ecs1 as a peer), hostcheck path, the agent and serve give one finding: same key and words', async () => {
    const oneShot = JSON.parse((await cli(['--bundle', dir('ecs3'), '--peer', '172.17.0.64=ecs1', '--json'])).stdout) as { findings: Finding[] };
    const fromOneShot = oneShot.findings.find((f) => f.key === KEY)!;
    expect(fromOneShot).toBeDefined();

    const path = await cli(['path', '--from', 'ecs1', '--to', '172.31.4.18', '--json', ...hosts.flatMap((h) => ['--bundle', dir(h)])]);
    const fromPath = (JSON.parse(path.stdout) as { findings: (Finding & { pairs: [string, string][] })[] }).findings.find((f) => f.key === KEY)!;
    expect(fromPath).toBeDefined();

    const fromServe = await fleet.stored(KEY, ['host', 'fleet']);
    const fromAgent = await waitFor('ecs3\'s report naming ecs1', () => fleet.relay!.reported('ecs3', KEY));

    expect(words(fromPath)).toEqual(words(fromOneShot));
    expect(words(fromAgent)).toEqual(words(fromOneShot));
    expect(words(fromServe)).toEqual(words(fromOneShot));
    expect(fromPath.pairs).toEqual([['ecs1', 'ecs3']]);
    expect(fromServe.pairs).toEqual([['ecs1', 'ecs3']]);
  });
});
