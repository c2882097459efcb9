/**
 * The path tracer over hand-built snapshots of the second incident (the same tables the lab
 * builds, see test/lab/second-incident-topology.ts) and over its topology file; CIDR difference
 * as a property.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HostSnapshot } from '../../src/model/snapshot.js';
import { parseTopology, type Topology } from '../../src/model/topology-schema.js';
import { formatIPv4, formatPrefix, parseAddress, parsePrefix, prefixContains, type Prefix } from '../../src/net/address.js';
import { PathQueryError, tracePath } from '../../src/simulate/path.js';
import { subtractPrefixes } from '../../src/simulate/path-selectors.js';
import { cloudGaps } from '../../src/checks/vpn-selector-gap/cloud.js';
import { hostSnapshot } from '../helpers/host-snapshot.js';
import { SECOND_INCIDENT as a, SECOND_INCIDENT_POLICY, secondIncidentCloud } from '../lab/second-incident-topology.js';

const host = hostSnapshot;

const xfrmText = (policy: string): string => {
  const m = /^src (\S+) dst (\S+) dir out priority (\d+) tmpl src (\S+) dst (\S+) proto esp reqid (\d+) mode tunnel$/.exec(policy)!;
  return `src ${m[1]} dst ${m[2]} \n\tdir out priority ${m[3]} ptype main \n\ttmpl src ${m[4]} dst ${m[5]}\n\t\tproto esp reqid ${m[6]} mode tunnel\n`;
};

function incident(opts: { widened?: boolean; gatewayForwards?: boolean; iptables?: string } = {}): HostSnapshot[] {
  const client = host('client', { addrs: { eth0: [`${a.looping}/24`, `${a.working}/24`] }, routes: [`default via ${a.clientRouter64} dev eth0`, `10.64.3.0/24 dev eth0 proto kernel scope link src ${a.looping}`, `10.16.1.0/24 dev eth0 proto kernel scope link src ${a.working}`] });
  const vpcrouter = host('vpcrouter', {
    addrs: { eth1: [`${a.clientRouter64}/24`, `${a.clientRouter16}/24`], eth0: [`${a.vpcRouter}/24`] }, forward: true, iptables: opts.iptables,
    routes: [`10.64.3.0/24 dev eth1 proto kernel scope link src ${a.clientRouter64}`, `10.16.1.0/24 dev eth1 proto kernel scope link src ${a.clientRouter16}`, `10.100.1.0/24 dev eth0 proto kernel scope link src ${a.vpcRouter}`, `${a.remote} via ${a.gateway} dev eth0`],
  });
  const policies = [SECOND_INCIDENT_POLICY, ...(opts.widened ? [SECOND_INCIDENT_POLICY.replace(a.covered, a.uncovered)] : [])];
  const gateway = host('gateway', {
    addrs: { eth0: [`${a.gateway}/24`], pub0: [`${a.gatewayPublic}/30`] }, forward: opts.gatewayForwards ?? true,
    routes: [`${a.remote} dev pub0 table 220 scope link`, `default via ${a.vpcRouter} dev eth0`, `${a.covered} via ${a.vpcRouter} dev eth0`, `${a.uncovered} via ${a.vpcRouter} dev eth0`, `10.100.1.0/24 dev eth0 proto kernel scope link src ${a.gateway}`, `198.51.100.0/30 dev pub0 proto kernel scope link src ${a.gatewayPublic}`],
    rules: [`220:\tfrom ${a.covered} to ${a.remote} lookup 220`],
    xfrm: policies.map(xfrmText).join(''),
  });
  return [client, vpcrouter, gateway];
}

describe('tracePath over the second incident', () => {
  it('finds the loop, its cycle, and that ping would hear "Time to live exceeded" from 10.100.1.18', () => {
    const r = tracePath(incident(), undefined, { from: 'client', to: a.target, source: a.looping });
    expect(r.forward.outcome).toBe('loop');
    expect(r.forward.hops.map((h) => [h.node, h.iif ?? '-', h.ttl])).toEqual([['client', '-', 64], ['vpcrouter', 'eth1', 64], ['gateway', 'eth0', 63], ['vpcrouter', 'eth0', 62]]);
    expect(r.forward.cycle).toEqual(['gateway', 'vpcrouter']);
    expect(r.forward.timeExceeded).toEqual({ node: 'gateway', address: a.gateway, hop: 64 });
    expect(r.forward.hops[2].evidence.map((e) => e.text.trim())).toEqual([`default via ${a.vpcRouter} dev eth0`]);
    expect(r.reply).toBeUndefined();
  });

  it('an odd TTL expires at the VPC router, answering from its client-side address', () => {
    const r = tracePath(incident(), undefined, { from: 'client', to: a.target, source: a.looping, ttl: 5 });
    expect(r.forward.timeExceeded).toEqual({ node: 'vpcrouter', address: a.clientRouter64, hop: 5 });
  });

  it('a covered source is encrypted at the gateway (policy routing table 220, the IPsec policy)', () => {
    const r = tracePath(incident(), undefined, { from: a.working, to: a.target });
    expect(r.forward.outcome).toBe('left');
    const last = r.forward.hops.at(-1)!;
    expect(last).toMatchObject({ node: 'gateway', action: 'encrypt', dev: 'pub0' });
    expect(last.evidence.map((e) => e.source)).toEqual(['ip-xfrm-policy', 'ip-rule-v4', 'ip-route-v4']);
    expect(r.forward.detail).toContain(`${a.gateway} → ${a.peerPublic}`);
  });

  it('after widening the selector the looping source is encrypted too', () => {
    expect(tracePath(incident({ widened: true }), undefined, { from: 'client', to: a.target, source: a.looping }).forward.outcome).toBe('left');
  });

  it('delivers to the gateway and traces the reply back', () => {
    const r = tracePath(incident(), undefined, { from: 'client', to: a.gateway, source: a.looping });
    expect(r.forward.outcome).toBe('delivered');
    expect(r.reply?.outcome).toBe('delivered');
    expect(r.reply?.hops.map((h) => h.node)).toEqual(['gateway', 'vpcrouter', 'client']);
  });

  it('names the firewall rule that drops, and a host that does not forward', () => {
    const ipt = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -d 10.200.0.0/20 -j DROP\nCOMMIT\n';
    const dropped = tracePath(incident({ iptables: ipt }), undefined, { from: 'client', to: a.target, source: a.looping });
    expect(dropped.forward.outcome).toBe('dropped');
    expect(dropped.forward.hops.at(-1)!.evidence[0].text).toBe('-A FORWARD -d 10.200.0.0/20 -j DROP');
    const noForward = tracePath(incident({ gatewayForwards: false }), undefined, { from: 'client', to: a.target, source: a.looping });
    expect(noForward.forward.outcome).toBe('dropped');
    expect(noForward.forward.detail).toContain('gateway does not forward');
  });

  it('reports a blackhole and leaving the known network', () => {
    const hosts = incident();
    expect(tracePath(hosts.slice(0, 2), undefined, { from: 'client', to: a.target, source: a.looping }).forward).toMatchObject({ outcome: 'left', detail: expect.stringContaining(`no bundle or topology node holds ${a.gateway}`) });
    const bh = tracePath(hosts, undefined, { from: 'vpcrouter', to: '192.0.2.9' });
    expect(bh.forward.outcome).toBe('blackhole');
    expect(bh.forward.detail).toContain('no route for 192.0.2.9');
  });

  it('refuses an unknown start or a bad port with a PathQueryError', () => {
    expect(() => tracePath(incident(), undefined, { from: 'nobody', to: a.target })).toThrow(PathQueryError);
    expect(() => tracePath(incident(), undefined, { from: 'client', to: a.target, port: 'sctp/1' })).toThrow(PathQueryError);
  });
});

describe('the topology: the gateway as a cloud node', () => {
  const topology = parseTopology(secondIncidentCloud()).topology as Topology;

  it('the topology file of the lab is valid', () => {
    expect(parseTopology(secondIncidentCloud()).errors).toEqual([]);
  });

  it('the VPN gateway node sends the unselected source back to the VPC router: a loop', () => {
    const r = tracePath(incident().slice(0, 2), topology, { from: 'client', to: a.target, source: a.looping });
    expect(r.forward.outcome).toBe('loop');
    expect(r.forward.cycle).toEqual(['vpn-gateway vpn-cloud2', 'vpcrouter']);
    expect(r.forward.hops[2].note).toContain(`${a.looping} is outside VPN connection vco-cloud2's local subnets ${a.covered}`);
    const ok = tracePath(incident().slice(0, 2), topology, { from: 'client', to: a.target, source: a.working });
    expect(ok.forward).toMatchObject({ outcome: 'left', detail: expect.stringContaining('into IPsec connection vco-cloud2') });
  });

  it('without any bundle the VPC route table itself loops through the gateway', () => {
    const r = tracePath([], topology, { from: 'vpc-router vsw-vpn', to: a.target, source: a.looping });
    expect(r.forward.outcome).toBe('loop');
    expect(r.forward.cycle).toEqual(['vpn-gateway vpn-cloud2']);
  });

  it('vpn-selector-gap from the topology alone: one finding for the gateway and remote, naming the connection and what it leaves out', () => {
    const gaps = cloudGaps(topology);
    expect(gaps).toHaveLength(1);
    const f = gaps[0].finding;
    expect(f).toMatchObject({ check: 'vpn-selector-gap', severity: 'error', host: 'vpn-cloud2', subject: a.remote, key: `vpn-selector-gap|vpn-cloud2|${a.remote}` });
    // The IDC network the route table reaches through the router interface, and the VPC's own CIDR.
    expect(gaps[0].missing.map(formatPrefix)).toEqual([a.uncovered, '10.100.0.0/16']);
    for (const word of ['vco-cloud2', 'vpn-cloud2', a.covered, a.uncovered, '10.100.0.0/16']) expect(f.summary).toContain(word);
    expect(f.fix[1]).toBe(`Alibaba Cloud CLI: aliyun vpc ModifyVpnConnectionAttribute --RegionId <region> --VpnConnectionId vco-cloud2 --LocalSubnet ${a.covered},${a.uncovered},10.100.0.0/16`);
    const widened = structuredClone(topology);
    widened.vpnGateways[0].connections[0].localSubnets.push(a.uncovered);
    expect(cloudGaps(widened).map((g) => g.missing.map(formatPrefix))).toEqual([['10.100.0.0/16']]);
    widened.vpnGateways[0].connections[0].localSubnets.push('10.100.0.0/16');
    expect(cloudGaps(widened)).toEqual([]);
  });
});

describe('subtractPrefixes', () => {
  const prefix = fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 16, max: 28 })).map(([hi, len]): Prefix => parsePrefix(formatPrefix({ family: 4, value: ((0x0a000000 | (hi << 8)) & (0xffffffff << (32 - len))) >>> 0, len }))!);
  it('is the exact difference, as disjoint CIDRs', () => {
    fc.assert(fc.property(prefix, fc.array(prefix, { maxLength: 4 }), fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 20, maxLength: 20 }), (from, minus, probes) => {
      const rest = subtractPrefixes(from, minus);
      for (let i = 0; i < rest.length; i++) for (let j = i + 1; j < rest.length; j++) expect(prefixContains(rest[i], { family: 4, value: rest[j].value as number })).toBe(false);
      const size = 2 ** (32 - from.len);
      for (const n of probes) {
        const ip = parseAddress(formatIPv4(((from.value as number) + (n % size)) >>> 0))!;
        const inMinus = minus.some((m) => prefixContains(m, ip));
        expect(rest.some((r) => prefixContains(r, ip))).toBe(!inMinus);
      }
    }), { numRuns: 200 });
  });
});
