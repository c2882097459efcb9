/**
 * mtu-black-hole with the fleet's reported MTUs (issue 16): the aggregator's own path — its index,
 * the context it sends each agent, the agent's analysis options — gives the check the MTU of the
 * device a peer's address is on, and the path is the smaller of this side's and the peer's.
 * The jumbo-uplink host was captured in the lab; the peer's bundle is that capture moved to the
 * peer's addresses with its eth0 set to the MTU under test.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analysisOptions } from '../../src/agent/messages.js';
import { parseAgentTokens } from '../../src/aggregator/auth.js';
import { startServer } from '../../src/aggregator/server.js';
import { analyzeSnapshot } from '../../src/checks/analyze.js';
import { tempDir, TestAgent } from '../helpers/aggregator-client.js';
import { Aggregator } from '../../src/aggregator/aggregator.js';
import { emptyCredentials } from '../../src/aggregator/auth.js';
import { AggregatorMetrics } from '../../src/aggregator/metrics.js';
import { SqliteStore } from '../../src/aggregator/store-sqlite.js';
import { buildSnapshot } from '../../src/collect/snapshot.js';
import type { HostcheckConfig } from '../../src/model/config.js';
import { bundleFromFolder } from '../../src/collect/bundle-dir.js';
import { matchOffline } from '../../src/cli/fleet-offline.js';
import { fleetContextOf } from '../../src/model/server-messages.js';
import type { Finding } from '../../src/model/finding.js';
import { repoRoot } from '../helpers/samples.js';

const JUMBO = join(repoRoot, 'fixtures', 'checks', 'mtu-black-hole', 'positive-jumbo-uplink-established-only');
const work = mkdtempSync(join(tmpdir(), 'hc-mtu-fleet-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The captured host as itself (`h`), or moved to the peer's addresses with eth0 at `mtu` (`p`). */
function bundle(name: 'h' | 'p', mtu?: number) {
  const dir = mkdtempSync(join(work, `${name}-`));
  cpSync(JUMBO, dir, { recursive: true });
  if (name === 'p') {
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.txt'))) {
      writeFileSync(join(dir, f), readFileSync(join(dir, f), 'utf8').replaceAll('10.1.0.', '10.2.0.').replaceAll('2001:db8:1::', '2001:db8:2::').replace(/(eth0@if2: <[^>]*> mtu )9001/g, `$1${mtu}`));
    }
  }
  return bundleFromFolder(dir, name);
}

/** h's mtu-black-hole findings in a fleet of h and p (p's eth0 at `peerMtu`); `vpc`: h's cloud metadata puts p inside its VPC. */
async function hFindings(peerMtu: number, opts: { vpc?: boolean; config?: HostcheckConfig } = {}): Promise<Finding[]> {
  const h = bundle('h');
  if (opts.vpc) h.meta.cloud = { provider: 'aws', vpcCidrs: ['10.0.0.0/8'], subnetCidrs: ['10.1.0.0/24'], privateIps: ['10.1.0.2'] };
  const fleet = await matchOffline([h, bundle('p', peerMtu)], opts.config ? { config: opts.config } : {});
  return fleet.hosts.find((r) => r.host === 'h')!.findings.filter((f) => f.check === 'mtu-black-hole');
}

const summaryOf = (found: Finding[], subject: string): string => found.find((f) => f.subject === subject)?.summary ?? `no ${subject} finding`;

describe('mtu-black-hole with the peer\'s MTU from the fleet', () => {
  it('the aggregator\'s context carries the device MTU of each address the peer reported, through the protocol\'s validation to the agent\'s peers', async () => {
    const store = new SqliteStore(':memory:');
    try {
      const agg = new Aggregator({ store, credentials: emptyCredentials(), metrics: new AggregatorMetrics() });
      for (const b of [bundle('h'), bundle('p', 1400)]) { const s = buildSnapshot(b); agg.index.upsert(s.identity.name, s); }
      const context = fleetContextOf(JSON.parse(JSON.stringify(agg.contextFor('h'))));
      expect(context.peers).toEqual([{ name: 'p', addresses: ['10.2.0.2', '2001:db8:2::2'], mtus: [{ address: '10.2.0.2', dev: 'eth0', mtu: 1400 }, { address: '2001:db8:2::2', dev: 'eth0', mtu: 1400 }] }]);
      const o = analysisOptions({ peers: [{ address: '10.2.0.2', name: 'mine', pathMtu: 9001 }], remotes: [], ports: [], ignore: [] }, context, { name: 'h', addresses: new Set(['10.1.0.2']) });
      expect(o.peers).toEqual([{ address: '10.2.0.2', name: 'mine', pathMtu: 9001, reportedMtu: { mtu: 1400, dev: 'eth0' } }, { address: '2001:db8:2::2', name: 'p', reportedMtu: { mtu: 1400, dev: 'eth0' } }]);
      expect(() => fleetContextOf({ peers: [{ name: 'p', addresses: ['10.2.0.2'], mtus: [{ address: '10.2.0.2', dev: 'eth0', mtu: 40 }] }], remotes: [], ports: [] })).toThrow('context.peers.0.mtus.0.mtu: expected integer >= 68');
    } finally {
      await store.close();
    }
  });

  it('a real server: the agent of h gets p\'s MTU in its context, and a new context when p reports another MTU', async () => {
    const tmp = tempDir();
    const socket = join(tmp.dir, 'fleet.sock');
    const token = (h: string): string => `${h}-token-0123456789abcdef`;
    const server = await startServer({ socket, db: join(tmp.dir, 'fleet.db'), credentials: { ...emptyCredentials(), ...parseAgentTokens(['h', 'p'].map((x) => `${token(x)} ${x}`).join('\n')) }, contextDelayMs: 10 });
    const agents: TestAgent[] = [];
    try {
      for (const x of ['h', 'p']) agents.push(await TestAgent.connect(`ws+unix://${socket}:/agent`, x, token(x)));
      const [h, p] = agents;
      await h.report(buildSnapshot(bundle('h')));
      await p.report(buildSnapshot(bundle('p', 9001)));
      /** h's next context that lists p with `mtu`, and the mtu-black-hole verdict h's agent makes of it. */
      const verdict = async (mtu: number): Promise<string[]> => {
        let ctx = (await h.next('context')).context;
        while (ctx.peers[0]?.mtus?.[0]?.mtu !== mtu) ctx = (await h.next('context')).context;
        const o = analysisOptions({ peers: [], remotes: [], ports: [], ignore: [] }, ctx, { name: 'h', addresses: new Set(['10.1.0.2', '2001:db8:1::2']) });
        const s = buildSnapshot(bundle('h'));
        s.identity.cloud = { provider: 'aws', vpcCidrs: ['10.0.0.0/8'], subnetCidrs: [], privateIps: [] };
        return analyzeSnapshot(s, o).findings.filter((f) => f.check === 'mtu-black-hole').map((f) => f.summary.replace(/^.*the path beyond carries (\d+ \([^)]*\)).*$/, '$1'));
      };
      // Inside h's VPC p at 9001 leaves IPv4 silent; p at 1400 is named, from its report.
      expect(await verdict(9001)).toEqual([expect.stringContaining('1500 (assumed')]);
      await p.report(buildSnapshot(bundle('p', 1400)));
      expect((await verdict(1400)).sort()).toEqual(["1400 (the mtu of p's eth0, as it reported to the fleet)", "1400 (the mtu of p's eth0, as it reported to the fleet; below the 1500 assumed beyond the host)"]);
    } finally {
      for (const a of agents) a.close();
      await server.close();
      tmp.remove();
    }
  });

  it('without the fleet, the assumed 1500 (the verdict a peer\'s report corrects)', async () => {
    const found = await hFindings(9001);
    expect(summaryOf(found, '10.2.0.2 path MTU')).toContain('the path beyond carries 1500 (assumed');
  });

  it('a peer reporting 1400 turns the assumed 1500 into 1400, and says where it came from', async () => {
    const found = await hFindings(1400);
    expect(found.map((f) => f.subject).sort()).toEqual(['10.2.0.2 path MTU', '2001:db8:2::2 path MTU']);
    const v4 = found.find((f) => f.subject === '10.2.0.2 path MTU')!;
    expect(v4.summary).toContain("the path beyond carries 1400 (the mtu of p's eth0, as it reported to the fleet; below the 1500 assumed beyond the host)");
    expect(v4.summary).toContain('the largest packet that gets through is 1400 bytes (ping -s 1372, TCP MSS 1360)');
    expect(v4.fix.join('\n')).toContain('dev eth0 mtu 1400');
    expect(summaryOf(found, '2001:db8:2::2 path MTU')).toContain('the largest packet that gets through is 1400 bytes (ping -s 1352, TCP MSS 1340)');
  });

  it('on a jumbo path (the config\'s pathMtu 9001, or inside the VPC) a peer at 9001 stays silent and one at 1400 is named', async () => {
    const jumbo: HostcheckConfig = { peers: [{ address: '10.2.0.2', name: 'p', pathMtu: 9001 }, { address: '2001:db8:2::2', name: 'p', pathMtu: 9001 }], remotes: [], ports: [], ignore: [] };
    expect(await hFindings(9001, { config: jumbo })).toEqual([]);
    const configured = await hFindings(1400, { config: jumbo });
    expect(summaryOf(configured, '10.2.0.2 path MTU')).toContain("carries 1400 (the mtu of p's eth0, as it reported to the fleet; below the pathMtu 9001 in the config)");
    // Inside the VPC (IPv4 only: the VPC's CIDR is IPv4) the path carries the uplink's 9001.
    expect((await hFindings(9001, { vpc: true })).map((f) => f.subject)).toEqual(['2001:db8:2::2 path MTU']);
    const vpc = await hFindings(1400, { vpc: true });
    expect(summaryOf(vpc, '10.2.0.2 path MTU')).toContain("carries 1400 (the mtu of p's eth0, as it reported to the fleet), and");
    expect(vpc.find((f) => f.subject === '10.2.0.2 path MTU')?.severity).toBe('warning');
  });

  it('a peer at 1500 changes nothing beyond the assumed 1500 but the words stay the assumption\'s', async () => {
    expect(summaryOf(await hFindings(1500), '10.2.0.2 path MTU')).toContain('carries 1500 (assumed');
  });
});
