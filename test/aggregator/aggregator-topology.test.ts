/**
 * The second incident through the aggregator with a topology file: `serve --topology` rejects an
 * invalid file (exit 2, the field named); test agents report the lab's client and VPC router over
 * real WebSockets; /api/path shows the loop at the topology's VPN gateway; the fleet finding
 * vpn-selector-gap is the gateway's (one per gateway and remote network), names the connection and
 * the networks it leaves out (10.64.0.0/16, 10.100.0.0/16), and pairs the client and the router
 * with the gateway; a pair goes when that host's report or the topology no longer shows its
 * packets looping, the finding when the connection selects every network the VPC routes to it;
 * `hostcheck trace --analyze --server` names the looping address from the fleet.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyCredentials, parseAgentTokens, parseViewerTokens } from '../../src/aggregator/auth.js';
import { startServer, type RunningServer } from '../../src/aggregator/server.js';
import type { StoredFinding } from '../../src/aggregator/store.js';
import { loadTopology } from '../../src/collect/topology-file.js';
import type { PathResult } from '../../src/simulate/path-types.js';
import { cliInProcess } from '../helpers/cli.js';
import { repoRoot } from '../helpers/samples.js';
import { scenarioSnapshot, tempDir, TestAgent } from '../helpers/aggregator-client.js';
import { RouteList } from '../../src/model/route-list.js';

const HOSTS = ['client', 'vpcrouter', 'gateway'];
const T = (s: string) => `${s}-token-0123456789abcdef`;
const VIEWER = 'viewer-token-0123456789abcdef';
const GW = 'vpn-bp1gw000000000000001';
const KEY = `vpn-selector-gap|${GW}|10.200.0.0/20`;
const CLIENT: [string, string] = ['client', GW];
const ROUTER: [string, string] = ['vpcrouter', GW];
const pairsOf = (f: StoredFinding | undefined): unknown => (f?.finding as { pairs?: unknown } | undefined)?.pairs;

const cli = cliInProcess;

describe('aggregator with a topology: the second incident', () => {
  const tmp = tempDir();
  const db = join(tmp.dir, 'fleet.db');
  const topologyFile = join(tmp.dir, 'cloud.yaml');
  const tokenFile = join(tmp.dir, 'viewer-token');
  let server: RunningServer | undefined;
  let api: string;
  const agents = new Map<string, TestAgent>();

  const start = async (): Promise<void> => {
    const credentials = { ...emptyCredentials(), ...parseAgentTokens(HOSTS.map((h) => `${T(h)} ${h}`).join('\n')), viewers: parseViewerTokens(VIEWER) };
    server = await startServer({ listen: '127.0.0.1:0', db, credentials, contextDelayMs: 10, topology: await loadTopology(topologyFile) });
    api = `http://127.0.0.1:${server.tcp!.port}`;
  };
  const connect = async (h: string, scenario = 'second-incident'): Promise<void> => {
    const a = await TestAgent.connect(`ws://127.0.0.1:${server!.tcp!.port}/agent`, h, T(h));
    agents.set(h, a);
    await a.report(await scenarioSnapshot(scenario, h));
  };
  const get = async <R>(path: string): Promise<R> => {
    const r = await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${VIEWER}` } });
    expect(r.status, path).toBe(200);
    return (await r.json()) as R;
  };
  const finding = async (key: string): Promise<StoredFinding | undefined> =>
    (await get<{ findings: StoredFinding[] }>('/api/findings?check=vpn-selector-gap')).findings.find((f) => f.finding.key === key);

  beforeAll(async () => {
    copyFileSync(join(repoRoot, 'fixtures', 'topology', 'second-incident.yaml'), topologyFile);
    writeFileSync(tokenFile, `${VIEWER}\n`);
    await start();
    // The gateway is the topology's cloud node: only the client and the VPC router report.
    for (const h of ['client', 'vpcrouter']) await connect(h);
  });
  afterAll(async () => {
    for (const a of agents.values()) a.close();
    await server?.close();
    tmp.remove();
  });

  it('serve --topology with an invalid file exits 2, naming the field and line, before it opens the database', async () => {
    const bad = join(tmp.dir, 'bad.db');
    const r = await cli(['serve', '--listen', '127.0.0.1:0', '--db', bad, '--topology', join(repoRoot, 'fixtures', 'topology', 'invalid-host-bits.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('line 10: vpnGateways[0].connections[1].localSubnets[0]: "10.16.0.5/16" has host bits set; did you mean 10.16.0.0/16?');
    expect(existsSync(bad)).toBe(false);
    expect((await cli(['serve', '--db', bad, '--topology', join(tmp.dir, 'missing.yaml')])).stderr).toMatch(/missing\.yaml is invalid:\n {2}cannot read: ENOENT/);
  });

  it('/api/path shows the loop at the VPN gateway for 10.64.3.22, and encryption for 10.16.1.5', async () => {
    const loop = await get<PathResult>('/api/path?from=client&to=other-cloud-server&source=10.64.3.22');
    expect(loop.forward.outcome).toBe('loop');
    expect(loop.forward.hops.map((h) => h.node).slice(0, 4)).toEqual(['client', 'vpcrouter', `vpn-gateway ${GW}`, 'vpcrouter']);
    expect(loop.forward.cycle).toContain(`vpn-gateway ${GW}`);
    expect(loop.forward.timeExceeded).toMatchObject({ node: `vpn-gateway ${GW}`, address: '10.100.1.18' });
    const ok = await get<PathResult>('/api/path?from=client&to=10.200.1.15&source=10.16.1.5');
    expect(ok.forward.outcome).toBe('left');
    expect(ok.forward.hops.at(-1)).toMatchObject({ node: `vpn-gateway ${GW}`, action: 'encrypt' });
  });

  it("the fleet finding is the gateway's: the connection, the networks it leaves out, and the hosts whose packets loop", async () => {
    const f = await finding(KEY);
    expect(f).toMatchObject({ state: 'open', sources: ['fleet'], resolvedAt: null });
    expect(f!.finding.summary).toBe(`IPsec connection vco-bp1conn0000000000001 (other-cloud-10-200) of VPN gateway ${GW} (to-other-cloud) 10.100.1.18 covers only 10.16.0.0/16: traffic to 10.200.0.0/20 from 10.64.0.0/16, 10.100.0.0/16 is not encrypted and goes back to the VPC router, whose route sends it to the gateway again — a loop until the TTL runs out`);
    expect(f!.finding.evidence).toEqual([
      { source: 'topology', lineNumber: 0, text: `route table vtb-bp1system0000000001 (vpc-bp1transit0000000001): 10.200.0.0/20 → vpn-gateway ${GW}` },
      { source: 'topology', lineNumber: 0, text: 'route table vtb-bp1system0000000001 (vpc-bp1transit0000000001): 10.64.0.0/16 → router-interface ri-bp1idc000000000000001' },
      { source: 'topology', lineNumber: 0, text: 'VPC vpc-bp1transit0000000001 (transit-vpc): 10.100.0.0/16' },
      { source: 'topology', lineNumber: 0, text: 'VPN connection vco-bp1conn0000000000001: 10.16.0.0/16 === 10.200.0.0/20' },
    ]);
    expect(f!.finding.fix[0]).toContain('Add 10.64.0.0/16, 10.100.0.0/16 to the local subnets of IPsec connection vco-bp1conn0000000000001');
    expect(f!.finding.fix[0]).toContain('0.0.0.0/0');
    // The client (10.64.3.22; its 10.16.1.5 is selected) and the router's own 10.100.1.253 loop there.
    expect(pairsOf(f)).toEqual([CLIENT, ROUTER]);
    expect((await get<{ findings: StoredFinding[] }>('/api/findings?check=vpn-selector-gap')).findings.map((x) => x.finding.key)).toEqual([KEY]);
    expect((await get<{ findings: StoredFinding[] }>('/api/findings?host=client')).findings.map((x) => x.finding.key)).toContain(KEY);
    expect((await get<{ pairs: { verdict: string; findings: string[] }[] }>('/api/pairs?from=client&to=vpcrouter')).pairs[0].findings).not.toContain(KEY);
  });

  it("the client's pair goes when its report no longer holds 10.64.3.22, and comes back with it", async () => {
    const snap = await scenarioSnapshot('second-incident', 'client');
    for (const i of snap.interfaces) i.addresses = i.addresses.filter((a) => !a.cidr.startsWith('10.64.3.22/'));
    await agents.get('client')!.report(snap);
    expect(await finding(KEY)).toMatchObject({ state: 'open' });
    expect(pairsOf(await finding(KEY))).toEqual([ROUTER]);
    await agents.get('client')!.report(await scenarioSnapshot('second-incident', 'client'));
    expect(pairsOf(await finding(KEY))).toEqual([CLIENT, ROUTER]);
  });

  it("the client's pair goes when the router between them stops routing 10.200.0.0/20 to the gateway (the router's report)", async () => {
    const snap = await scenarioSnapshot('second-incident', 'vpcrouter');
    snap.routes = RouteList.fromRecords(snap.routes.filter((r) => r.dst !== '10.200.0.0/20'));
    await agents.get('vpcrouter')!.report(snap);
    expect(pairsOf(await finding(KEY))).not.toContainEqual(CLIENT);
    await agents.get('vpcrouter')!.report(await scenarioSnapshot('second-incident', 'vpcrouter'));
    expect(pairsOf(await finding(KEY))).toEqual([CLIENT, ROUTER]);
  });

  it('a widened topology set while serving (what serve does on SIGHUP) drops the client and 10.64.0.0/16; narrowed again, they come back', async () => {
    const narrow = readFileSync(topologyFile, 'utf8');
    const widenedFile = join(tmp.dir, 'widened.yaml');
    writeFileSync(widenedFile, narrow.replace('localSubnets: [10.16.0.0/16]', 'localSubnets: [10.16.0.0/16, 10.64.0.0/16]'));
    const events: string[] = [];
    server!.aggregator.events.on('change', (e: { type: string }) => events.push(e.type));
    const widened = await server!.aggregator.setTopology(await loadTopology(widenedFile));
    expect(widened.found.map((f) => f.key)).toEqual([KEY]);
    const f = await finding(KEY);
    expect(f!.state).toBe('open');
    expect(f!.finding.summary).toContain('from 10.100.0.0/16 is not encrypted');
    // The router's own 10.100.1.253 is still outside the widened selector.
    expect(pairsOf(f)).toEqual([ROUTER]);
    const p = await get<PathResult>('/api/path?from=client&to=10.200.1.15&source=10.64.3.22');
    expect(p.forward.hops.at(-1)).toMatchObject({ node: `vpn-gateway ${GW}`, action: 'encrypt' });
    const narrowed = await server!.aggregator.setTopology(await loadTopology(topologyFile));
    expect(narrowed.found.map((x) => x.key)).toEqual([KEY]);
    expect(pairsOf(await finding(KEY))).toEqual([CLIENT, ROUTER]);
    expect(events.filter((t) => t === 'topology')).toHaveLength(2);
    // Every network the VPC routes to the gateway selected: resolved.
    const all = join(tmp.dir, 'all.yaml');
    writeFileSync(all, narrow.replace('localSubnets: [10.16.0.0/16]', 'localSubnets: [10.16.0.0/16, 10.64.0.0/16, 10.100.0.0/16]'));
    expect((await server!.aggregator.setTopology(await loadTopology(all))).resolved.map((x) => x.key)).toEqual([KEY]);
    expect((await finding(KEY))!.state).toBe('resolved');
    await server!.aggregator.setTopology(await loadTopology(topologyFile));
    expect((await finding(KEY))!.state).toBe('open');
  });

  it('serve re-reads --topology on SIGHUP, and keeps the current one when the file is invalid', async () => {
    const file = join(tmp.dir, 'hup.yaml');
    const good = readFileSync(topologyFile, 'utf8');
    writeFileSync(file, good);
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'hostcheck'), 'serve', '--listen', '127.0.0.1:0', '--db', join(tmp.dir, 'hup.db'), '--topology', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const waitFor = async (re: RegExp): Promise<void> => {
      const deadline = Date.now() + 15_000;
      while (!re.test(stderr)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${re} in: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      await waitFor(/listening on/);
      writeFileSync(file, readFileSync(join(repoRoot, 'fixtures', 'topology', 'invalid-host-bits.yaml'), 'utf8'));
      child.kill('SIGHUP');
      await waitFor(/not re-read, the previous one stays: .*invalid/);
      writeFileSync(file, good.replace('localSubnets: [10.16.0.0/16]', 'localSubnets: [10.16.0.0/16, 10.64.0.0/16]'));
      child.kill('SIGHUP');
      await waitFor(/topology .*hup\.yaml re-read: 1 VPN gateways, \d+ route tables; fleet findings 1 current, 0 resolved/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    }
    expect(child.exitCode).toBe(0);
  });

  it('after the connection is widened to 10.64.0.0/16 and serve restarted, only the router is paired; the path is encrypted', async () => {
    for (const a of agents.values()) a.close();
    agents.clear();
    await server!.close();
    server = undefined;
    writeFileSync(topologyFile, readFileSync(topologyFile, 'utf8').replace('localSubnets: [10.16.0.0/16]', 'localSubnets: [10.16.0.0/16, 10.64.0.0/16]'));
    await start();
    const f = await finding(KEY);
    expect(f!.state).toBe('open');
    // The router's own 10.100.1.253 is still outside the widened selector.
    expect(pairsOf(f)).toEqual([ROUTER]);
    const p = await get<PathResult>('/api/path?from=client&to=10.200.1.15&source=10.64.3.22');
    expect(p.forward.hops.at(-1)).toMatchObject({ node: `vpn-gateway ${GW}`, action: 'encrypt' });
  });

  it('trace --analyze --server names the looping address from the fleet, with the viewer token', async () => {
    await connect('gateway');
    const trace = join(repoRoot, 'fixtures', 'traceroute', 'written-vpn-loop.txt');
    const r = await cli(['trace', '--analyze', trace, '--source', '10.64.3.22', '--server', api, '--viewer-token-file', tokenFile, '--json']);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { hops: { responders: { address: string; is?: string }[] }[]; findings: { check: string; summary: string }[] };
    expect(out.hops[1].responders).toEqual([{ address: '10.100.1.18', is: 'an address of host gateway (fleet)' }]);
    expect(out.findings.find((f) => f.check === 'traceroute-loop')!.summary).toContain('host gateway');
    const denied = await cli(['trace', '--analyze', trace, '--server', api]);
    expect(denied.code).toBe(2);
    expect(denied.stderr).toContain(`cannot read the fleet from ${api}/api/hosts: HTTP 401`);
  });
});
