/** The topology file (validation, errors naming field and line, describeAddress) and the Alibaba import. */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTopology, topologyFromText, TopologyFileError } from '../../src/collect/topology-file.js';
import { describeAddress } from '../../src/model/topology.js';
import { AlibabaImportError, importAlibaba } from '../../src/topology/alibaba-import.js';
import { repoRoot } from '../helpers/samples.js';

const topoDir = join(repoRoot, 'fixtures', 'topology');
const ali = (f: string) => JSON.parse(readFileSync(join(repoRoot, 'fixtures', 'alibaba', f), 'utf8')) as unknown;
const GW = 'vpn-bp1gw000000000000001';

function errorsOf(text: string): string[] {
  try {
    topologyFromText(text, 't.yaml');
  } catch (err) {
    if (err instanceof TopologyFileError) return err.problems;
    throw err;
  }
  return [];
}

describe('topology file', () => {
  it('every valid fixture loads (YAML and JSON)', async () => {
    const files = readdirSync(topoDir).filter((f) => !f.startsWith('invalid-'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) await expect(loadTopology(join(topoDir, f)), f).resolves.toBeDefined();
  });

  it('host bits in a local subnet: the error names the field path and the YAML line', async () => {
    const err = await loadTopology(join(topoDir, 'invalid-host-bits.yaml')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TopologyFileError);
    expect((err as TopologyFileError).problems).toEqual(['line 10: vpnGateways[0].connections[1].localSubnets[0]: "10.16.0.5/16" has host bits set; did you mean 10.16.0.0/16?']);
  });

  it('unknown fields, bad addresses, bad next-hop types, dangling references and bad YAML are named', () => {
    expect(errorsOf('vpnGateways:\n  - id: vpn-a\n    privateIp: 10.0.0.1\n')[0]).toMatch(/^line 2: vpnGateways\[0\]: .*privateIp/);
    expect(errorsOf('hosts:\n  - name: a\n    addresses: [10.0.0.300]\n')).toEqual(['line 3: hosts[0].addresses[0]: not an IPv4 or IPv6 address']);
    expect(errorsOf('routeTables:\n  - id: vtb\n    routes:\n      - destination: 10.0.0.0/8\n        nextHops: [{ type: teleporter }]\n')[0]).toMatch(/^line 5: routeTables\[0\]\.routes\[0\]\.nextHops\[0\]\.type: /);
    expect(errorsOf('vpcs: [{ id: vpc-a }]\nhosts: [{ name: h, addresses: [10.0.0.1], vpc: vpc-b }]\n')).toEqual(['line 2: hosts[0].vpc: "vpc-b" is not a vpc of this file']);
    expect(errorsOf('vpcs: [\n')[0]).toMatch(/^line \d+: /);
    expect(errorsOf('{"networks": [{"cidr": "10.0.0.0/33", "name": "x"}]}')).toEqual(['line 1: networks[0].cidr: "10.0.0.0/33" is not a CIDR (e.g. 10.16.0.0/16)']);
  });

  it('describeAddress: gateways, hosts, vSwitch routers, networks; undefined when unknown', async () => {
    const t = await loadTopology(join(topoDir, 'second-incident.yaml'));
    expect(describeAddress(t, '10.100.1.18')).toBe(`the private address of VPN gateway ${GW} (to-other-cloud)`);
    expect(describeAddress(t, '203.0.113.18')).toBe(`the public address of VPN gateway ${GW} (to-other-cloud)`);
    expect(describeAddress(t, '10.64.3.22')).toBe('host idc-client (IDC client outside the selector)');
    expect(describeAddress(t, '10.100.1.253')).toBe("the VPC router's address in vSwitch vsw-bp1vpn00000000000001 (vpn-vsw) of VPC vpc-bp1transit0000000001 (transit-vpc)");
    expect(describeAddress(t, '10.100.1.7')).toBe('an address in vSwitch vsw-bp1vpn00000000000001 (vpn-vsw) (10.100.1.0/24) of VPC vpc-bp1transit0000000001 (transit-vpc)');
    expect(describeAddress(t, '10.200.3.3')).toBe('an address in the remote subnet 10.200.0.0/20 of VPN connection vco-bp1conn0000000000001 (other-cloud-10-200) on ' + GW);
    expect(describeAddress(t, '10.64.9.9')).toBe('an address in IDC server network (10.64.0.0/16)');
    expect(describeAddress(t, '192.0.2.1')).toBeUndefined();
    const mesh = await loadTopology(join(topoDir, 'cen-mesh.yaml'));
    expect(describeAddress(mesh, '172.31.4.18')).toBe('host ecs3 (runs Docker) in vpc-bj0000000000000000001');
  });
});

describe('Alibaba Cloud import', () => {
  const full = () => importAlibaba({
    routeTables: ali('second-incident-route-tables.json'),
    routeEntries: ali('second-incident-route-entries.json'),
    vpnConnections: ali('second-incident-vpn-connections.json'),
    vpnGateways: ali('second-incident-vpn-gateways.json'),
    privateIps: { [GW]: ['10.100.1.18'] },
  });

  it('the second incident\'s responses give the hand-written topology\'s tables and gateway', async () => {
    const imported = full();
    const hand = await loadTopology(join(topoDir, 'second-incident.yaml'));
    expect(imported.vpnGateways).toEqual(hand.vpnGateways);
    const vpn = imported.routeTables[0].routes.find((r) => r.destination === '10.200.0.0/20');
    expect(vpn).toEqual(hand.routeTables[0].routes.find((r) => r.destination === '10.200.0.0/20'));
    expect(imported.routeTables[0]).toMatchObject({ id: 'vtb-bp1system0000000001', vpc: 'vpc-bp1transit0000000001', type: 'System', vswitches: ['vsw-bp1vpn00000000000001'] });
    expect(imported.vpcs).toEqual([{ id: 'vpc-bp1transit0000000001', cidrs: [], vswitches: [] }]);
  });

  it('maps every NextHopType and keeps ECMP next hops', () => {
    const routes = full().routeTables[0].routes;
    const types = Object.fromEntries(routes.map((r) => [r.destination, r.nextHops.map((h) => h.type).join(',')]));
    expect(types).toEqual({
      '10.100.1.0/24': 'local',
      '10.200.0.0/20': 'vpn-gateway',
      '10.16.0.0/16': 'router-interface',
      '10.64.0.0/16': 'router-interface',
      '192.168.50.0/24': 'instance,instance',
      '172.16.0.0/12': 'transit-router',
      '0.0.0.0/0': 'ipv4-gateway',
    });
  });

  it('splits comma-separated LocalSubnet/RemoteSubnet and names the bad one by API field', () => {
    const err = (() => {
      try {
        importAlibaba({ vpnConnections: ali('multi-subnet-vpn-connections.json') });
      } catch (e) {
        return e as AlibabaImportError;
      }
    })();
    expect(err).toBeInstanceOf(AlibabaImportError);
    expect(err!.problems).toEqual(['--vpn-connections: VpnConnections.VpnConnection[1].LocalSubnet: "10.16.0.5/16" has host bits set; did you mean 10.16.0.0/16?']);
    const good = ali('multi-subnet-vpn-connections.json') as { VpnConnections: { VpnConnection: unknown[] } };
    good.VpnConnections.VpnConnection.pop();
    const t = importAlibaba({ vpnConnections: good });
    expect(t.vpnGateways[0].connections[0]).toMatchObject({ localSubnets: ['10.16.0.0/16', '10.17.0.0/16'], remoteSubnets: ['192.168.10.0/24', '192.168.20.0/24'] });
  });

  it('a response without the fields we read, or a private IP for an unknown gateway, is an error naming it', () => {
    expect(() => importAlibaba({ routeEntries: { RouteEntrys: { RouteEntry: [{ RouteTableId: 'vtb' }] } } })).toThrow(/--route-entries \(DescribeRouteEntryList\): RouteEntrys\.RouteEntry\[0\]\.DestinationCidrBlock/);
    expect(() => importAlibaba({ vpnConnections: ali('second-incident-vpn-connections.json'), privateIps: { 'vpn-nope': ['10.0.0.1'] } })).toThrow('--private-ip vpn-nope: no VPN gateway vpn-nope in the responses');
  });
});
