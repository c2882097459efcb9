/**
 * The topology map's fields on `GET /api/hosts` rows (src/aggregator/http/host-summary.ts):
 * subnet, bridges and tunnels, from lab-captured snapshots, and served by a real aggregator.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostSummary, networkOf } from '../../src/aggregator/http/host-summary.js';
import { startServer, type RunningServer } from '../../src/aggregator/server.js';
import { scenarioSnapshot, tempDir, TestAgent, tinySnapshot } from '../helpers/aggregator-client.js';

describe('host summary: subnet, bridges, tunnels', () => {
  it('networkOf masks the host bits and refuses what is not a CIDR', () => {
    expect(networkOf('172.31.4.18/20')).toBe('172.31.0.0/20');
    expect(networkOf('fd00:1:2::5/64')).toBe('fd00:1:2::/64');
    expect(networkOf('10.0.0.1')).toBeNull();
    expect(networkOf('not/an/address')).toBeNull();
  });

  it('ECS3 of the first incident: its uplink subnet and docker0 (Docker network "bridge", no carrier)', async () => {
    const r = hostSummary(await scenarioSnapshot('first-incident', 'ecs3'), [], undefined);
    expect(r.subnet).toBe('172.31.0.0/20');
    expect(r.bridges).toEqual([{ name: 'docker0', owner: 'docker bridge', cidrs: ['172.17.0.1/16'], noCarrier: true }]);
    expect(r.tunnels).toEqual([]);
  });

  it('a host with a VXLAN device and an IPsec tunnel policy lists both, the IPsec one with its endpoints and selectors', async () => {
    const r = hostSummary(await scenarioSnapshot('rich', 'rich'), [], undefined);
    expect(r.tunnels).toContainEqual({ name: 'vx0', kind: 'vxlan', cidrs: ['10.42.0.1/24'] });
    expect(r.tunnels).toContainEqual({
      name: 'ipsec 10.100.1.18 → 203.0.113.5', kind: 'ipsec', cidrs: [], local: '10.100.1.18', remote: '203.0.113.5', selectors: ['10.16.0.0/16 → 10.200.0.0/20'],
    });
    // An inbound or forward policy's template is the same tunnel seen from the other side: not listed again.
    expect(r.tunnels.filter((t) => t.kind === 'ipsec')).toHaveLength(1);
  });

  it('a cloud host\'s subnet is its vSwitch CIDR; no snapshot means nothing is known', () => {
    const s = tinySnapshot('c1', '10.5.3.4');
    s.identity.cloud = { provider: 'alibaba', region: 'cn-hangzhou', vpcId: 'vpc-a', vpcCidrs: ['10.5.0.0/16'], subnetCidrs: ['10.5.0.0/20'], privateIps: [] };
    expect(hostSummary(s, [], undefined)).toMatchObject({ vpc: 'vpc-a', subnet: '10.5.0.0/20', bridges: [], tunnels: [] });
    expect(hostSummary(undefined, ['10.9.0.0/16'], undefined)).toMatchObject({ vpc: '10.9.0.0/16', subnet: null, bridges: [], tunnels: [] });
  });
});

describe('GET /api/hosts carries the map fields', () => {
  const tmp = tempDir();
  let server: RunningServer;
  let agent: TestAgent;
  beforeAll(async () => {
    server = await startServer({ listen: '127.0.0.1:0', db: `${tmp.dir}/agg.db`, contextDelayMs: 5 });
    agent = await TestAgent.connect(`ws://127.0.0.1:${server.tcp!.port}/agent`, 'ecs3', 'ecs3-token-0123456789abcdef');
    await agent.report(await scenarioSnapshot('first-incident', 'ecs3'));
  });
  afterAll(async () => {
    agent?.close();
    await server?.close();
    tmp.remove();
  });

  it('subnet, bridges and tunnels beside the overview\'s fields', async () => {
    const { hosts } = (await (await fetch(`http://127.0.0.1:${server.tcp!.port}/api/hosts`)).json()) as { hosts: Record<string, unknown>[] };
    expect(hosts).toHaveLength(1);
    expect(hosts[0]).toMatchObject({ name: 'ecs3', subnet: '172.31.0.0/20', tunnels: [], bridges: [{ name: 'docker0', owner: 'docker bridge', noCarrier: true }] });
  });
});
