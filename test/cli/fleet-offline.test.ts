/**
 * `hostcheck fleet` against `hostcheck serve`: for the same hosts, a real aggregator with a real
 * agent per host (each collecting its bundle, checking against the context serve sends) and the
 * offline command give the same findings — keys, text, evidence, where each came from — and the
 * same pair verdicts. Fields only a running fleet adds (first/last seen, state) are left out.
 * Hosts: the first and second incidents' hostcheck bundles (with the cloud topology), every
 * namespace of Debian's real sos 4.0 sosreport, and two calicoctl node diags archives.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { createAgentLogger } from '../../src/agent/log.js';
import { emptyCredentials, parseAgentTokens } from '../../src/aggregator/auth.js';
import type { PairVerdict } from '../../src/aggregator/pairs.js';
import { startServer } from '../../src/aggregator/server.js';
import type { StoredFinding } from '../../src/aggregator/store.js';
import { loadTopology } from '../../src/collect/topology-file.js';
import { openBundles, bundleHostName } from '../../src/collect/bundle-open.js';
import { repoRoot } from '../helpers/samples.js';
import { LogLines } from '../helpers/agent-protocol-peer.js';

const bin = join(repoRoot, 'bin', 'hostcheck');
const tmp = mkdtempSync(join(tmpdir(), 'hc-fleet-offline-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const scenario = (name: string) => readdirSync(join(repoRoot, 'fixtures', 'scenarios', name)).filter((h) => h !== 'README.md').map((h) => join(repoRoot, 'fixtures', 'scenarios', name, h));

interface Seen {
  findings: { finding: unknown; sources: string[] }[];
  pairs: PairVerdict[];
}

const byKey = (fs: Seen['findings']) => [...fs].sort((a, b) => ((a.finding as { key: string }).key < (b.finding as { key: string }).key ? -1 : 1));

/** What serve gives for these bundles' hosts once every agent has checked against the whole fleet. */
async function served(paths: string[], topologyFile?: string): Promise<Seen> {
  const dir = mkdtempSync(join(tmp, 'serve-'));
  const bundles = (await Promise.all(paths.map((p) => openBundles(p)))).flat();
  const names = bundles.map(bundleHostName);
  const token = (i: number) => `fleet-token-${String(i).padStart(4, '0')}-0123456789`;
  const credentials = { ...emptyCredentials(), ...parseAgentTokens(JSON.stringify({ agents: names.map((host, i) => ({ token: token(i), host })) })) };
  const topology = topologyFile ? await loadTopology(topologyFile) : undefined;
  const server = await startServer({ listen: '127.0.0.1:0', db: join(dir, 'serve.db'), credentials, contextDelayMs: 10, topology });
  const api = `http://127.0.0.1:${server.tcp!.port}`;
  const agents = names.map((name, i) => {
    mkdirSync(join(dir, `a${i}`));
    writeFileSync(join(dir, `a${i}`, 'token'), `${token(i)}\n`);
    return new Agent({
      server: `ws://127.0.0.1:${server.tcp!.port}/agent`, name, identity: { hostname: bundles[i].meta.hostname }, agentVersion: 'test',
      tokenFile: join(dir, `a${i}`, 'token'), tls: {}, stateDir: join(dir, `a${i}`, 'state'), config: { peers: [], remotes: [], ports: [], ignore: [] },
      // A fresh copy each check: the agent renames the bundle it is given.
      collect: async () => structuredCopy(bundles[i]),
      watch: false, intervalMs: 60_000, backoff: { baseMs: 50, maxMs: 200 }, log: createAgentLogger({ destination: new LogLines(), level: 'warn' }),
    });
  });
  try {
    await Promise.all(agents.map((a) => a.start()));
    const get = async <T>(path: string): Promise<T> => (await (await fetch(`${api}${path}`)).json()) as T;
    // Settled: every host stored, every agent with nothing unacknowledged, and the findings unchanged since.
    let last = '';
    for (let settled = false, started = Date.now(); !settled; ) {
      if (Date.now() - started > 30_000) throw new Error('serve did not settle in 30 s');
      await new Promise((r) => setTimeout(r, 300));
      const hosts = (await get<{ hosts: unknown[] }>('/api/hosts')).hosts.length;
      const now = JSON.stringify((await get<{ findings: StoredFinding[] }>('/api/findings')).findings.map((f) => [f.finding.key, f.sources, f.resolvedAt]));
      settled = hosts === names.length && agents.every((a) => a.pending === 0) && now === last;
      last = now;
    }
    const findings = (await get<{ findings: StoredFinding[] }>('/api/findings')).findings.filter((f) => f.resolvedAt === null).map((f) => ({ finding: f.finding, sources: f.sources }));
    const pairs: PairVerdict[] = [];
    for (const [i, a] of names.entries()) for (const b of names.slice(i + 1)) pairs.push(...(await get<{ pairs: PairVerdict[] }>(`/api/pairs?from=${encodeURIComponent(a)}&to=${encodeURIComponent(b)}`)).pairs);
    return { findings, pairs };
  } finally {
    await Promise.all(agents.map((a) => a.stop('test over')));
    await server.close();
  }
}

function structuredCopy<T>(b: T): T {
  const bundle = b as unknown as { meta: unknown; files: Map<string, string> };
  return { meta: JSON.parse(JSON.stringify(bundle.meta)), files: new Map(bundle.files) } as unknown as T;
}

async function offline(paths: string[], topologyFile?: string): Promise<Seen & { exitCode: number }> {
  const r = await execa(bin, ['fleet', ...paths.flatMap((p) => ['--bundle', p]), ...(topologyFile ? ['--topology', topologyFile] : []), '--json'], { reject: false });
  expect([0, 1, 3], String(r.stderr)).toContain(r.exitCode);
  const out = JSON.parse(String(r.stdout)) as Seen & { exitCode: number };
  expect(out.exitCode).toBe(r.exitCode);
  return out;
}

async function compare(paths: string[], topologyFile?: string): Promise<Seen> {
  const [a, b] = await Promise.all([served(paths, topologyFile), offline(paths, topologyFile)]);
  expect(byKey(b.findings)).toEqual(byKey(a.findings));
  expect(b.pairs).toEqual(a.pairs);
  expect(a.findings.length).toBeGreaterThan(0);
  return b;
}

describe('hostcheck fleet gives what serve gives', () => {
  it('the first incident (hostcheck bundles): ecs3\'s docker0 breaks ecs1 ↔ ecs3', async () => {
    const seen = await compare(scenario('first-incident'));
    expect(seen.findings.map((f) => (f.finding as { key: string }).key)).toContain('route-captures-peer|ecs3|docker0 172.17.0.0/16 captures 172.17.0.64');
    expect(seen.pairs.find((p) => [p.from, p.to].sort().join() === 'ecs1,ecs3')?.verdict).toBe('broken');
  }, 60_000);

  it('the second incident with its cloud topology: the VPN selector gap', async () => {
    const seen = await compare(scenario('second-incident'), join(repoRoot, 'fixtures', 'topology', 'second-incident.yaml'));
    // The gateway host's finding (one per gateway and remote network), paired with the hosts that loop.
    const gap = seen.findings.find((f) => (f.finding as { key: string }).key === 'vpn-selector-gap|gateway|10.200.0.0/20');
    expect((gap?.finding as { pairs?: unknown } | undefined)?.pairs).toEqual([['client', 'gateway'], ['vpcrouter', 'gateway']]);
  }, 60_000);

  it('every namespace of one real sosreport (sos 4.0): the pair across namespaces', async () => {
    const seen = await compare([join(repoRoot, 'fixtures', 'bundles', 'sos-4.0', 'first-incident.tar.xz')]);
    const pair = seen.pairs.find((p) => p.from.endsWith('-ecs3') && p.to.endsWith('-ecs1'));
    expect(pair?.verdict).toBe('broken');
  }, 60_000);

  it('two calicoctl node diags archives', async () => {
    const paths = ['ecs1', 'ecs3'].map((h) => {
      const file = join(tmp, `diags-${h}.tar.gz`);
      execFileSync('tar', ['-czf', file, '-C', join(repoRoot, 'fixtures', 'bundles', 'calicoctl-node-diags-layout', h), 'diagnostics']);
      return file;
    });
    const seen = await compare(paths);
    expect(seen.pairs).toEqual([expect.objectContaining({ from: 'ecs1', to: 'ecs3', verdict: 'broken' })]);
  }, 60_000);
});
