/**
 * The packet walk on hand-built snapshots: the order of stages and what each changes. The kernel
 * itself is compared in test/kernel/walk-diff.test.ts; these pin the cases findings rely on.
 */
import { describe, expect, it } from 'vitest';
import { walkPacket, type Walk, type WalkStage } from '../../src/simulate/walk.js';
import { icmpErrorAbout, replyTo } from '../../src/simulate/walk-reply.js';
import { hostSnapshot } from '../helpers/host-snapshot.js';

const save = (...tables: string[]): string => `${tables.join('\n')}\n`;

const stagesOf = (w: Walk, kind: WalkStage['kind']): WalkStage[] => w.stages.filter((s) => s.kind === kind);

describe('marks into policy routing (issue 15)', () => {
  const h = hostSnapshot('h', {
    addrs: { eth0: ['172.18.1.1/24'] },
    routes: ['172.18.1.0/24 dev eth0 proto kernel scope link src 172.18.1.1', 'blackhole default table 102'],
    rules: ['100:\tfrom all fwmark 0x66 lookup 102'],
    iptables: save('*mangle', ':OUTPUT ACCEPT [0:0]', '-A OUTPUT -d 172.18.0.0/16 -j MARK --set-xmark 0x66/0xffffffff', 'COMMIT'),
  });

  it('a local packet marked in mangle OUTPUT is rerouted by the fwmark rule into the blackhole', () => {
    const w = walkPacket(h, { dst: '172.18.1.22', proto: 'icmp', icmpType: 8, icmpCode: 0 });
    expect(w.outcome).toBe('dropped');
    expect(w.path).toBe('output');
    const reroute = w.decidedBy;
    expect(reroute?.kind).toBe('route');
    if (reroute?.kind !== 'route') return;
    expect(reroute.why).toBe('reroute');
    expect(reroute.query.mark).toBe(0x66);
    expect(reroute.result.type).toBe('blackhole');
    expect(reroute.result.rule?.origin.text).toContain('fwmark 0x66 lookup 102');
    const output = stagesOf(w, 'hook')[0];
    expect(output.kind === 'hook' && output.changes.map((c) => c.what)).toEqual(['mark 0x0 → 0x66']);
  });

  it('a peer\'s ping is delivered, its reply dies the same way', () => {
    const w = walkPacket(h, { src: '172.18.1.22', dst: '172.18.1.1', iif: 'eth0', proto: 'icmp', icmpType: 8, icmpCode: 0 });
    expect(w.outcome).toBe('delivered');
    const next = replyTo(w);
    expect('packet' in next).toBe(true);
    if (!('packet' in next)) return;
    expect(next.packet).toMatchObject({ src: '172.18.1.1', dst: '172.18.1.22', icmpType: 0, conntrack: { state: 'ESTABLISHED', reply: true } });
    const reply = walkPacket(h, next.packet);
    expect(reply.outcome).toBe('dropped');
    expect(reply.reason).toMatch(/blackhole/);
  });
});

describe('reroute and the output device', () => {
  it('filter OUTPUT still sees the device of the first lookup; POSTROUTING the rerouted one', () => {
    const h = hostSnapshot('h', {
      addrs: { eth0: ['10.0.0.1/24'], eth1: ['10.0.1.1/24'] },
      routes: ['default via 10.0.0.254 dev eth0', '10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.1', '10.0.1.0/24 dev eth1 proto kernel scope link src 10.0.1.1', 'default via 10.0.1.254 dev eth1 table 7'],
      rules: ['100:\tfrom all fwmark 0x7 lookup 7'],
      iptables: save(
        '*mangle', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', '-A OUTPUT -d 203.0.113.0/24 -j MARK --set-mark 0x7', '-A POSTROUTING -o eth1 -j MARK --or-mark 0x100', 'COMMIT',
        '*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', '-A OUTPUT -o eth1 -j DROP', 'COMMIT',
      ),
    });
    const w = walkPacket(h, { dst: '203.0.113.5', proto: 'udp', sport: 5000, dport: 53 });
    expect(w.outcome).toBe('sent');
    expect(w.outDev).toBe('eth1');
    expect(w.final.mark).toBe(0x107);
  });
});

describe('forwarding, NAT and the reply through conntrack', () => {
  const gw = hostSnapshot('gw', {
    forward: true,
    addrs: { eth0: ['203.0.113.2/24'], eth1: ['192.168.10.1/24'] },
    routes: ['default via 203.0.113.1 dev eth0', '203.0.113.0/24 dev eth0 proto kernel scope link src 203.0.113.2', '192.168.10.0/24 dev eth1 proto kernel scope link src 192.168.10.1'],
    iptables: save(
      '*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]',
      '-A PREROUTING -i eth0 -p tcp --dport 8443 -j DNAT --to-destination 192.168.10.5:443',
      '-A POSTROUTING -s 192.168.10.0/24 -o eth0 -j MASQUERADE', 'COMMIT',
    ),
  });

  it('MASQUERADE takes the address of the device the route chose; the reply is translated back', () => {
    const w = walkPacket(gw, { src: '192.168.10.5', dst: '8.8.8.8', iif: 'eth1', proto: 'udp', sport: 40000, dport: 53 });
    expect(w.outcome).toBe('forwarded');
    expect(w.path).toBe('forward');
    expect(w.outDev).toBe('eth0');
    expect(w.via).toBe('203.0.113.1');
    expect(w.final).toMatchObject({ src: '203.0.113.2', dst: '8.8.8.8' });
    const next = replyTo(w);
    if (!('packet' in next)) throw new Error(next.none);
    expect(next.packet).toMatchObject({ src: '8.8.8.8', dst: '203.0.113.2', iif: 'eth0', sport: 53, dport: 40000 });
    const reply = walkPacket(gw, next.packet);
    expect(reply.outcome).toBe('forwarded');
    expect(reply.outDev).toBe('eth1');
    expect(reply.final).toMatchObject({ src: '8.8.8.8', dst: '192.168.10.5', dport: 40000 });
  });

  it('a DNAT port forward routes by the new destination; its reply gets the old source back', () => {
    const w = walkPacket(gw, { src: '198.51.100.9', dst: '203.0.113.2', iif: 'eth0', proto: 'tcp', sport: 50000, dport: 8443 });
    expect(w.outcome).toBe('forwarded');
    expect(w.outDev).toBe('eth1');
    expect(w.final).toMatchObject({ dst: '192.168.10.5', dport: 443 });
    const next = replyTo(w);
    if (!('packet' in next)) throw new Error(next.none);
    const reply = walkPacket(gw, next.packet);
    expect(reply.outcome).toBe('forwarded');
    expect(reply.outDev).toBe('eth0');
    expect(reply.final).toMatchObject({ src: '203.0.113.2', sport: 8443, dst: '198.51.100.9' });
  });

  it('forwarding off on the input device drops; strict rp_filter drops a source whose way back is elsewhere', () => {
    const off = hostSnapshot('gw', { forward: true, addrs: { eth0: ['10.0.0.1/24'], eth1: ['10.0.1.1/24'] }, routes: ['default via 10.0.0.254 dev eth0'], sysctls: ['net.ipv4.conf.eth1.forwarding = 0'] });
    const w = walkPacket(off, { src: '10.0.1.5', dst: '8.8.8.8', iif: 'eth1', proto: 'icmp', icmpType: 8, icmpCode: 0 });
    expect(w.outcome).toBe('dropped');
    expect(w.decidedBy).toMatchObject({ kind: 'forwarding', dev: 'eth1', on: false });
    const strict = hostSnapshot('gw', { forward: true, addrs: { eth0: ['10.0.0.1/24'], eth1: ['10.0.1.1/24'] }, routes: ['default via 10.0.0.254 dev eth0', '10.0.1.0/24 dev eth1 proto kernel scope link src 10.0.1.1'], sysctls: ['net.ipv4.conf.all.rp_filter = 1'] });
    const spoofed = walkPacket(strict, { src: '172.16.0.9', dst: '10.0.0.77', iif: 'eth1', proto: 'udp', sport: 1, dport: 2 });
    expect(spoofed.outcome).toBe('dropped');
    expect(spoofed.decidedBy).toMatchObject({ kind: 'rp-filter', mode: 1, pass: false });
  });

  it('CONNMARK: a mark saved on the first packet is restored on the reply and steers its route', () => {
    const dual = hostSnapshot('gw', {
      forward: true,
      addrs: { wan1: ['198.51.100.2/24'], wan2: ['203.0.113.2/24'], lan: ['192.168.10.1/24'] },
      routes: ['default via 198.51.100.1 dev wan1', '192.168.10.0/24 dev lan proto kernel scope link src 192.168.10.1', 'default via 203.0.113.1 dev wan2 table 2'],
      rules: ['100:\tfrom all fwmark 0x2 lookup 2'],
      iptables: save(
        '*mangle', ':PREROUTING ACCEPT [0:0]', '-A PREROUTING -i wan2 -m conntrack --ctstate NEW -j CONNMARK --set-mark 0x2', '-A PREROUTING -i lan -j CONNMARK --restore-mark', 'COMMIT',
        '*nat', ':PREROUTING ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', '-A PREROUTING -i wan2 -p tcp --dport 80 -j DNAT --to-destination 192.168.10.5', 'COMMIT',
      ),
    });
    const w = walkPacket(dual, { src: '8.8.4.4', dst: '203.0.113.2', iif: 'wan2', proto: 'tcp', sport: 40000, dport: 80 });
    expect(w.outcome).toBe('forwarded');
    expect(w.connection?.ctmark).toBe(2);
    const next = replyTo(w);
    if (!('packet' in next)) throw new Error(next.none);
    const reply = walkPacket(dual, next.packet);
    expect(reply.outDev).toBe('wan2');
    expect(reply.final.src).toBe('203.0.113.2');
  });
});

describe('bridged packets', () => {
  const kvm = (bridgeNf: number): ReturnType<typeof hostSnapshot> => hostSnapshot('kvm', {
    addrs: { br0: ['192.168.122.1/24'] },
    routes: ['192.168.122.0/24 dev br0 proto kernel scope link src 192.168.122.1'],
    sysctls: [`net.bridge.bridge-nf-call-iptables = ${bridgeNf}`],
    iptables: save('*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]', ':DOCKER-USER - [0:0]', '-A FORWARD -j DOCKER-USER', '-A DOCKER-USER -j RETURN', 'COMMIT'),
  });
  const packet = { src: '192.168.122.10', dst: '192.168.122.11', proto: 'icmp' as const, icmpType: 8, icmpCode: 0, bridged: { bridge: 'br0', inPort: 'vnet0', outPort: 'vnet1' } };

  it('with bridge-nf-call-iptables=1 they cross FORWARD, where a DROP policy ends them', () => {
    const w = walkPacket(kvm(1), packet);
    expect(w.path).toBe('bridge');
    expect(w.outcome).toBe('dropped');
    expect(w.reason).toMatch(/filter\/FORWARD policy on FORWARD drops/);
  });

  it('with 0 the bridge forwards them past iptables', () => {
    expect(walkPacket(kvm(0), packet).outcome).toBe('bridged');
  });
});

describe('connection state', () => {
  const fw = hostSnapshot('h', {
    addrs: { eth0: ['10.0.0.1/24'] },
    routes: ['10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.1'],
    iptables: save('*filter', ':INPUT DROP [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', '-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-A INPUT -p tcp --dport 22 -j ACCEPT', 'COMMIT'),
  });

  it('a first packet is NEW; a reply of no known connection gets the kernel\'s state (SYN-ACK INVALID, ACK NEW)', () => {
    const syn = walkPacket(fw, { src: '10.0.0.9', dst: '10.0.0.1', iif: 'eth0', proto: 'tcp', sport: 40000, dport: 22 });
    expect(stagesOf(syn, 'conntrack')[0]).toMatchObject({ state: 'NEW' });
    expect(syn.outcome).toBe('delivered');
    const synAck = walkPacket(fw, { src: '10.0.0.9', dst: '10.0.0.1', iif: 'eth0', proto: 'tcp', sport: 443, dport: 40000, tcpFlags: 0x12 });
    expect(stagesOf(synAck, 'conntrack')[0]).toMatchObject({ state: 'INVALID' });
    expect(synAck.outcome).toBe('dropped');
  });

  it('state that depends on unseen history is undecided, naming why', () => {
    const w = walkPacket(fw, { src: '10.0.0.9', dst: '10.0.0.1', iif: 'eth0', proto: 'tcp', sport: 443, dport: 40000, tcpFlags: 0x10, conntrack: { state: 'ESTABLISHED', unknown: 'whether this host saw the connection start' } });
    expect(w.outcome).toBe('undecided');
    expect(w.reason).toMatch(/whether this host saw the connection start/);
  });

  it('an ICMP error from a router on the way is RELATED; the vxlan driver\'s carries the state of the packet it answers', () => {
    const out = walkPacket(fw, { dst: '10.0.0.9', proto: 'tcp', sport: 40000, dport: 443 });
    const err = icmpErrorAbout(out, { type: 3, code: 4, from: '10.0.0.254', by: 'router' });
    if (!('packet' in err)) throw new Error(err.none);
    expect(err.packet.conntrack?.state).toBe('RELATED');
    expect(walkPacket(fw, err.packet).outcome).toBe('delivered');
    const kvm = hostSnapshot('kvm', { addrs: { br0: ['10.1.0.1/24'] }, routes: [], sysctls: ['net.bridge.bridge-nf-call-iptables = 1'] });
    const bridged = walkPacket(kvm, { src: '10.1.0.5', dst: '10.2.0.9', proto: 'icmp', icmpType: 8, icmpCode: 0, bridged: { bridge: 'br0', inPort: 'tap0', outPort: 'vx0' } });
    const vx = icmpErrorAbout(bridged, { type: 3, code: 4, from: '10.1.0.1', by: 'vxlan' });
    if (!('packet' in vx)) throw new Error(vx.none);
    expect(vx.packet.conntrack?.state).toBe('NEW');
  });

  it('an untracked packet (NOTRACK) leaves no connection: its reply is a packet of no known connection', () => {
    const h = hostSnapshot('h', {
      forward: true,
      addrs: { eth0: ['10.0.0.1/24'], eth1: ['10.0.1.1/24'] },
      routes: ['10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.1', '10.0.1.0/24 dev eth1 proto kernel scope link src 10.0.1.1'],
      iptables: save('*raw', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', '-A PREROUTING -j CT --notrack', 'COMMIT'),
    });
    const w = walkPacket(h, { src: '10.0.0.9', dst: '10.0.1.9', iif: 'eth0', proto: 'icmp', icmpType: 8, icmpCode: 0 });
    expect(w.outcome).toBe('forwarded');
    expect(w.connection).toBeUndefined();
    const next = replyTo(w);
    if (!('packet' in next)) throw new Error(next.none);
    expect(next.packet.conntrack).toBeUndefined();
  });
});

describe('kernel differences found by the walk differential test (IPv6 setups)', () => {
  it('MASQUERADE after a DNAT takes the source toward the new destination, not the old one (seed 75)', () => {
    // An echo to r's eth1 address arrives on eth2 and is DNATed to a remote behind eth2's gateway:
    // the kernel masquerades with eth2's address (ipv6_dev_get_saddr for the translated daddr);
    // choosing for the old destination picked 2001:db8:b::1 (RFC 6724 rule 1, the same address).
    const h = hostSnapshot('r', {
      forward: true,
      addrs: { eth0: ['2001:db8:a::1/64'], eth1: ['2001:db8:b::1/64'], eth2: ['2001:db8:c::1/64'] },
      routes: [],
      routes6: [
        '2001:db8:a::/64 dev eth0 proto kernel metric 256 pref medium', '2001:db8:b::/64 dev eth1 proto kernel metric 256 pref medium',
        '2001:db8:c::/64 dev eth2 proto kernel metric 256 pref medium', 'default via 2001:db8:c::fe dev eth2 metric 1024 pref medium',
      ],
      ip6tables: save(
        '*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]',
        '-A PREROUTING -p ipv6-icmp -j DNAT --to-destination 2001:db8:100::7', '-A POSTROUTING -m conntrack --ctstate NEW -j MASQUERADE', 'COMMIT',
      ),
    });
    const w = walkPacket(h, { src: '2001:db8:a::fe', dst: '2001:db8:b::1', iif: 'eth2', proto: 'icmpv6', icmpType: 128, icmpCode: 0 });
    expect(w.outcome).toBe('forwarded');
    expect(w.outDev).toBe('eth2');
    expect(w.final).toMatchObject({ src: '2001:db8:c::1', dst: '2001:db8:100::7' });
  });

  it('IPv6 REDIRECT sends the packet to the input device\'s first address of the destination\'s scope (seeds 150, 198)', () => {
    // The walk left it undecided ("one of several addresses"); the kernel delivered it.
    const h = hostSnapshot('r', {
      forward: true,
      addrs: { eth0: ['2001:db8:a::1/64', 'fe80::1/64'], eth1: ['2001:db8:b::1/64'], eth2: ['fe80::2/64'] },
      routes: [],
      routes6: ['2001:db8:a::/64 dev eth0 proto kernel metric 256 pref medium', 'fe80::/64 dev eth0 proto kernel metric 256 pref medium', 'default via 2001:db8:b::fe dev eth1 metric 1024 pref medium'],
      ip6tables: save('*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', '-A PREROUTING -p tcp -d 64:ff9b::/96 -j REDIRECT --to-ports 8080', 'COMMIT'),
    });
    const w = walkPacket(h, { src: '2001:db8:100::7', dst: '64:ff9b::5', iif: 'eth0', proto: 'tcp', sport: 25526, dport: 53 });
    expect(w.outcome).toBe('delivered');
    expect(w.final).toMatchObject({ dst: '2001:db8:a::1', dport: 8080 });
    // A device with only a link-local address has none of a global destination's scope.
    const ll = walkPacket(h, { src: '2001:db8:100::7', dst: '64:ff9b::5', iif: 'eth2', proto: 'tcp', sport: 25526, dport: 53 });
    expect(ll.outcome).toBe('undecided');
  });

  it('--ctstate SNAT/DNAT in raw PREROUTING: before conntrack a packet has no entry, so no NAT status (seed 183)', () => {
    // The reply to a masqueraded packet: ESTABLISHED with the SNAT status once conntrack has run,
    // but raw runs first and its rule does not count it (the walk matched it).
    const h = hostSnapshot('r', {
      forward: true,
      addrs: { eth0: ['10.0.0.1/24'], eth1: ['10.0.1.1/24'] },
      routes: ['10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.1', '10.0.1.0/24 dev eth1 proto kernel scope link src 10.0.1.1', 'default via 10.0.1.254 dev eth1'],
      iptables: save(
        '*raw', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', '-A PREROUTING -m conntrack --ctstate SNAT', 'COMMIT',
        '*mangle', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', '-A PREROUTING -m conntrack --ctstate SNAT', 'COMMIT',
        '*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', '-A POSTROUTING -o eth1 -j SNAT --to-source 10.0.1.1', 'COMMIT',
      ),
    });
    const w = walkPacket(h, { src: '10.0.0.9', dst: '198.51.100.7', iif: 'eth0', proto: 'udp', sport: 40000, dport: 53 });
    expect(w.final.src).toBe('10.0.1.1');
    const next = replyTo(w);
    if (!('packet' in next)) throw new Error(next.none);
    const reply = walkPacket(h, next.packet);
    expect(reply.outcome).toBe('forwarded');
    const matched = reply.trace.filter((t) => t.matched === true && t.rule !== undefined).map((t) => `${t.table}/${t.chain}/${t.rule}`);
    expect(matched).toEqual(['mangle/PREROUTING/1']);
  });
});
