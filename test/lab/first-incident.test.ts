/**
 * The seed's first incident with real packets: ECS3's idle docker0 (172.17.0.1/16) captures
 * ECS1's 172.17.0.64, so ECS1 cannot ping ECS3 while ECS2 can; deleting docker0 fixes it.
 */
import { expect, it } from 'vitest';
import { describeLab, useLab } from './suite.js';
import { FIRST_INCIDENT as addr, firstIncident } from './topologies.js';

describeLab('first incident: docker0 on ECS3 shadows ECS1', () => {
  const lab = useLab(firstIncident());

  it('ECS3 holds an idle docker0: NO-CARRIER, its 172.17.0.0/16 route linkdown', async () => {
    expect((await lab().exec('ecs3', ['ip', 'link', 'show', 'docker0'])).stdout).toContain('NO-CARRIER');
    expect((await lab().exec('ecs3', ['ip', 'route', 'show'])).stdout).toContain('172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1 linkdown');
  });

  it('the seed’s evidence: on ECS3, ip route get 172.17.0.64 says dev docker0', async () => {
    const { stdout } = await lab().exec('ecs3', ['ip', 'route', 'get', addr.ecs1], { check: true });
    expect(stdout).toMatch(/^172\.17\.0\.64 dev docker0 src 172\.17\.0\.1 /);
  });

  it('ECS2 → ECS3 works', async () => {
    const ping = await lab().ping('ecs2', addr.ecs3);
    expect(ping.ok, ping.output).toBe(true);
  });

  it('ECS1 → ECS3 fails: the request arrives on eth0, the reply goes into docker0', async () => {
    const ping = await lab().ping('ecs1', addr.ecs3);
    expect(ping.ok, ping.output).toBe(false);
    // ECS3 tried to resolve ECS1 on the bridge: the reply's next hop was looked up on docker0.
    const neighbours = await lab().exec('ecs3', ['ip', 'neigh', 'show', addr.ecs1]);
    expect(neighbours.stdout).toContain(`${addr.ecs1} dev docker0`);
  });

  it('after `ip link del docker0` on ECS3, ECS1 → ECS3 works', async () => {
    await lab().applyFix('ecs3', 'ip link del docker0');
    const ping = await lab().ping('ecs1', addr.ecs3);
    expect(ping.ok, ping.output).toBe(true);
    expect((await lab().exec('ecs3', ['ip', 'route', 'get', addr.ecs1])).stdout).toContain('via 172.31.15.253 dev eth0');
  });
});

describeLab('first incident without docker0: the mesh itself is fine', () => {
  const lab = useLab(firstIncident({ docker0: false }));

  it('every ECS pings every other', async () => {
    const pairs = [
      ['ecs1', addr.ecs3],
      ['ecs2', addr.ecs3],
      ['ecs3', addr.ecs1],
      ['ecs1', addr.ecs2],
    ] as const;
    for (const [from, to] of pairs) {
      const ping = await lab().ping(from, to);
      expect(ping.ok, `${from} → ${to}\n${ping.output}`).toBe(true);
    }
  });
});
