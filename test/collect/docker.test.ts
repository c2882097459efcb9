import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectDockerNetworks } from '../../src/collect/docker.js';
import { startDockerEngineDouble, type DockerEngineDouble } from '../doubles/docker-engine.js';

const bridge = {
  Name: 'bridge', Id: 'f2de39df4171b0dc801e8002d1d999b77256983dfc63041c0f34030aa3977566', Driver: 'bridge', Scope: 'local',
  IPAM: { Driver: 'default', Config: [{ Subnet: '172.17.0.0/16', Gateway: '172.17.0.1' }] },
  Options: { 'com.docker.network.bridge.name': 'docker0', 'com.docker.network.bridge.default_bridge': 'true' },
  Containers: {
    '39b69226f9d79f5634485fb236a23b2fe4e96a0a94128390a7fbbcc167065867': { Name: 'web', EndpointID: 'ed2419a97c1d', MacAddress: '02:42:ac:11:00:02', IPv4Address: '172.17.0.2/16', IPv6Address: '' },
  },
};
const userNet = {
  Name: 'app_default', Id: '7d86d31b1478e7cca9ebed7e73aa0fdeec46c5ca29497431d3007d2d9e15ed99', Driver: 'bridge', Scope: 'local',
  IPAM: { Driver: 'default', Config: [{ Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' }] },
  Options: {}, Containers: {},
};

describe('Docker collector against a TEST DOUBLE of the Engine API on a real unix socket', () => {
  let dir: string;
  let engine: DockerEngineDouble;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hc-docker-'));
    engine = await startDockerEngineDouble(join(dir, 'docker.sock'), [bridge, userNet]);
  });
  afterAll(async () => {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists networks, then inspects each for its containers', async () => {
    const r = await collectDockerNetworks(engine.socketPath, 2000);
    expect(r.status).toBe('collected');
    const nets = JSON.parse(r.text!);
    expect(nets.map((n: { Name: string }) => n.Name)).toEqual(['bridge', 'app_default']);
    expect(Object.keys(nets[0].Containers)).toHaveLength(1);
    expect(engine.requests).toEqual(['GET /networks', `GET /networks/${bridge.Id}`, `GET /networks/${userNet.Id}`]);
  });

  it('says plainly when there is no socket', async () => {
    const r = await collectDockerNetworks(join(dir, 'absent.sock'), 500);
    expect(r.status).toBe('unavailable');
    expect(r.message).toBe(`docker: no socket at ${join(dir, 'absent.sock')} (Docker not installed or not running)`);
  });
});
