/**
 * mtu-black-hole beyond its fixtures: the config's pathMtu, and the variants of the lab-captured
 * jumbo-uplink host that make path MTU discovery unnecessary or working (a route mtu, MSS
 * clamping, ip_no_pmtu_disc, a path that carries what the host sends).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analysisOptions } from '../../src/agent/messages.js';
import { analyzeSnapshot } from '../../src/checks/analyze.js';
import { encapOverhead } from '../../src/checks/mtu-black-hole/mtu.js';
import { bundleFromFolder } from '../../src/collect/bundle-dir.js';
import { buildSnapshot } from '../../src/collect/snapshot.js';
import { parseConfig } from '../../src/model/config.js';
import type { InterfaceModel } from '../../src/model/snapshot.js';
import { repoRoot } from '../helpers/samples.js';

const JUMBO = join(repoRoot, 'fixtures', 'checks', 'mtu-black-hole', 'positive-jumbo-uplink-established-only');
const PEERS = [{ address: '10.2.0.2', name: 'p' }, { address: '2001:db8:2::2', name: 'p' }];
const work = mkdtempSync(join(tmpdir(), 'hc-mtu-unit-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The captured host with `edit` applied to its files; the mtu-black-hole subjects it reports. */
function subjectsWith(edit: Record<string, (text: string) => string>, opts: { peers?: typeof PEERS; remotes?: string[]; remotePathMtu?: Record<string, number>; vpcCidrs?: string[] } = {}): string[] {
  const dir = mkdtempSync(join(work, 'case-'));
  cpSync(JUMBO, dir, { recursive: true });
  for (const [file, f] of Object.entries(edit)) writeFileSync(join(dir, file), f(readFileSync(join(dir, file), 'utf8')));
  const s = buildSnapshot(bundleFromFolder(dir, 'h'));
  if (opts.vpcCidrs) s.identity.cloud = { provider: 'aws', vpcCidrs: opts.vpcCidrs, subnetCidrs: [], privateIps: [] };
  const a = analyzeSnapshot(s, { peers: opts.peers ?? PEERS, remotes: opts.remotes ?? [], ports: [], ignore: [], ...(opts.remotePathMtu && { remotePathMtu: opts.remotePathMtu }) });
  return a.findings.filter((f) => f.check === 'mtu-black-hole').map((f) => f.subject).sort();
}

const BOTH = ['10.2.0.2 path MTU', '2001:db8:2::2 path MTU'];
const addBefore = (marker: string, line: string) => (t: string): string => t.replace(marker, `${line}\n${marker}`);

describe('mtu-black-hole on the captured jumbo-uplink host', () => {
  it('reports both families as captured', () => {
    expect(subjectsWith({})).toEqual(BOTH);
  });

  it('is silent where the path carries what the host sends (config pathMtu), and uses a remote\'s', () => {
    expect(subjectsWith({}, { peers: PEERS.map((p) => ({ ...p, pathMtu: 9001 })) })).toEqual([]);
    expect(subjectsWith({}, { peers: [], remotes: ['10.2.0.0/24'], remotePathMtu: { '10.2.0.0/24': 9001 } })).toEqual([]);
    expect(subjectsWith({}, { peers: [], remotes: ['10.2.0.0/24'] })).toEqual(['10.2.0.0/24 path MTU']);
  });

  it('takes a peer inside the VPC (cloud metadata) to carry the uplink\'s MTU, and says "beyond the VPC" otherwise', () => {
    expect(subjectsWith({}, { vpcCidrs: ['10.0.0.0/8'] })).toEqual(['2001:db8:2::2 path MTU']);
    const dir = mkdtempSync(join(work, 'vpc-'));
    cpSync(JUMBO, dir, { recursive: true });
    const s = buildSnapshot(bundleFromFolder(dir, 'h'));
    s.identity.cloud = { provider: 'aws', vpcCidrs: ['10.1.0.0/16'], subnetCidrs: [], privateIps: [] };
    const f = analyzeSnapshot(s, { peers: PEERS, remotes: [], ports: [], ignore: [] }).findings.find((x) => x.subject === '10.2.0.2 path MTU');
    expect(f?.summary).toContain('1500 (assumed: a path beyond the VPC is taken to carry 1500; set pathMtu');
  });

  it('is silent when a route mtu sends small enough (the printed alternative)', () => {
    expect(subjectsWith({ 'ip-route-v4.txt': (t) => `10.2.0.2 via 10.1.0.1 dev eth0 mtu 1500 \n${t}` })).toEqual(['2001:db8:2::2 path MTU']);
  });

  it('a locked route mtu sends IPv4 without DF (silent for IPv4, whatever its size); a route advmss changes nothing of what this host sends', () => {
    expect(subjectsWith({ 'ip-route-v4.txt': (t) => `10.2.0.2 via 10.1.0.1 dev eth0 mtu lock 9001 \n${t}` })).toEqual(['2001:db8:2::2 path MTU']);
    expect(subjectsWith({ 'ip-route-v6.txt': (t) => `2001:db8:2::2 via 2001:db8:1::1 dev eth0 metric 1024 mtu lock 9001 pref medium\n${t}` })).toEqual(BOTH);
    // advmss is what this host announces (what the peer sends toward it), not what it sends.
    expect(subjectsWith({ 'ip-route-v4.txt': (t) => `10.2.0.2 via 10.1.0.1 dev eth0 advmss 1360 \n${t}` })).toEqual(BOTH);
    expect(subjectsWith({ 'ip-route-v4.txt': (t) => `10.2.0.2 via 10.1.0.1 dev eth0 mtu 1500 advmss 8961 \n${t}` })).toEqual(['2001:db8:2::2 path MTU']);
  });

  it('names a route advmss above what the path carries in the finding\'s why, with the route as evidence', () => {
    const dir = mkdtempSync(join(work, 'advmss-'));
    cpSync(JUMBO, dir, { recursive: true });
    writeFileSync(join(dir, 'ip-route-v4.txt'), `10.2.0.2 via 10.1.0.1 dev eth0 advmss 8961 \n${readFileSync(join(dir, 'ip-route-v4.txt'), 'utf8')}`);
    const f = analyzeSnapshot(buildSnapshot(bundleFromFolder(dir, 'h')), { peers: PEERS, remotes: [], ports: [], ignore: [] }).findings.find((x) => x.subject === '10.2.0.2 path MTU')!;
    expect(f.why).toContain("The route's advmss 8961 also makes this host announce MSS 8961, so the peer's TCP segments toward this host (up to 9001 bytes) are larger than the path carries as well");
    expect(f.evidence.map((e) => e.text.trim())).toContain('10.2.0.2 via 10.1.0.1 dev eth0 advmss 8961');
    const plain = analyzeSnapshot(buildSnapshot(bundleFromFolder(JUMBO, 'h')), { peers: PEERS, remotes: [], ports: [], ignore: [] }).findings.find((x) => x.subject === '10.2.0.2 path MTU')!;
    expect(plain.why).not.toContain('advmss');
  });

  it('takes MSS clamping of the peer\'s SYN-ACK with --set-mss that fits as covering; --clamp-mss-to-pmtu (the route\'s 9001) and a clamp on the way out not', () => {
    const mangle = (target: string, chain = 'PREROUTING -i eth0') => (t: string): string => `*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A ${chain} -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS ${target}\nCOMMIT\n${t}`;
    expect(subjectsWith({ 'iptables-save.txt': mangle('--set-mss 1460') })).toEqual(['2001:db8:2::2 path MTU']);
    expect(subjectsWith({ 'iptables-save.txt': mangle('--set-mss 1461') })).toEqual(BOTH);
    expect(subjectsWith({ 'iptables-save.txt': mangle('--clamp-mss-to-pmtu') })).toEqual(BOTH);
    // On the way out it clamps what the peer sends, not what this host sends.
    expect(subjectsWith({ 'iptables-save.txt': mangle('--set-mss 1460', 'POSTROUTING -o eth0') })).toEqual(BOTH);
  });

  it('net.ipv4.ip_no_pmtu_disc (any non-zero mode) sends IPv4 without DF: silent for IPv4 only', () => {
    for (const mode of [1, 2, 3]) expect(subjectsWith({ 'sysctl.txt': (t) => `${t}net.ipv4.ip_no_pmtu_disc = ${mode}\n` })).toEqual(['2001:db8:2::2 path MTU']);
  });

  it('is silent when the error is accepted (RELATED, or the printed ICMP type) and where the host is on the peer\'s link', () => {
    expect(subjectsWith({ 'iptables-save.txt': addBefore('COMMIT', '-A INPUT -p icmp -m conntrack --ctstate RELATED -j ACCEPT') })).toEqual(['2001:db8:2::2 path MTU']);
    expect(subjectsWith({ 'ip6tables-save.txt': (t) => t.replace(':INPUT DROP [0:0]', ':INPUT DROP [0:0]\n-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 2 -j ACCEPT') })).toEqual(['10.2.0.2 path MTU']);
    expect(subjectsWith({}, { peers: [{ address: '10.1.0.1', name: 'gw' }] })).toEqual([]);
  });
});

describe('mtu-black-hole on the captured bridge-over-vxlan host', () => {
  const VX = join(repoRoot, 'fixtures', 'checks', 'mtu-black-hole', 'positive-bridge-over-vxlan');
  const summaryWith = (edit: (t: string) => string): string[] => {
    const dir = mkdtempSync(join(work, 'vx-'));
    cpSync(VX, dir, { recursive: true });
    writeFileSync(join(dir, 'iptables-save.txt'), edit(readFileSync(join(dir, 'iptables-save.txt'), 'utf8')));
    const a = analyzeSnapshot(buildSnapshot(bundleFromFolder(dir, 'v')), { peers: [], remotes: [], ports: [], ignore: [] });
    return a.findings.filter((f) => f.check === 'mtu-black-hole').map((f) => f.summary);
  };

  it('says TCP gets through where ESTABLISHED is accepted, and is lost too where it is not', () => {
    expect(summaryWith((t) => t)).toEqual([expect.stringContaining('larger pings and datagrams are lost (TCP of an established connection gets its error as ESTABLISHED')]);
    expect(summaryWith((t) => t.replace(/.*--ctstate RELATED,ESTABLISHED -j ACCEPT\n/, ''))).toEqual([expect.stringContaining('every larger packet — pings, datagrams and TCP segments alike — is lost')]);
    expect(summaryWith((t) => t.replace(':FORWARD DROP [0:0]', ':FORWARD DROP [0:0]\n-A FORWARD -p icmp -m icmp --icmp-type 3/4 -j ACCEPT'))).toEqual([]);
  });
});

describe('mtu-black-hole on the captured router for a LAN (FORWARD accepts ESTABLISHED only)', () => {
  const ROUTED = join(repoRoot, 'fixtures', 'checks', 'mtu-black-hole', 'positive-routed-lan-established-only');
  const found = (edit: Record<string, (t: string) => string> = {}) => {
    const dir = mkdtempSync(join(work, 'routed-'));
    cpSync(ROUTED, dir, { recursive: true });
    for (const [file, f] of Object.entries(edit)) writeFileSync(join(dir, file), f(readFileSync(join(dir, file), 'utf8')));
    return analyzeSnapshot(buildSnapshot(bundleFromFolder(dir, 'h')), { peers: PEERS, remotes: [], ports: [], ignore: [] }).findings.filter((f) => f.check === 'mtu-black-hole');
  };
  const ROUTED_BOTH = ['10.4.0.0/24 to 10.2.0.2 path MTU', '2001:db8:4::/64 to 2001:db8:2::2 path MTU'];

  it('prints the accept, TCP clamping on the SYN-ACK and the senders\' MTU; the clamp it prints silences its family', () => {
    const f = found();
    expect(f.map((x) => x.subject).sort()).toEqual(ROUTED_BOTH);
    const v4 = f.find((x) => x.subject === ROUTED_BOTH[0])!;
    expect(v4.fix).toEqual([
      'iptables -I FORWARD -p icmp --icmp-type fragmentation-needed -j ACCEPT',
      '# or clamp their TCP only: iptables -t mangle -A FORWARD -i eth0 -o lan0 -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1460 (the SYN-ACK then announces what the path carries)',
      '# or give the senders on 10.4.0.0/24 an MTU of 1500 (ip link set lan0 mtu 1500 here, and the senders\' own devices)',
    ]);
    expect(v4.evidence.map((e) => e.text.replace(/\[\d+:\d+\]/, '').trim())).toEqual(expect.arrayContaining([':FORWARD DROP', '-A FORWARD -i lan0 -o eth0 -j ACCEPT']));
    const clamp = '*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A FORWARD -i eth0 -o lan0 -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1460\nCOMMIT\n';
    expect(found({ 'iptables-save.txt': (t) => clamp + t }).map((x) => x.subject)).toEqual([ROUTED_BOTH[1]]);
  });

  it('is silent where the LAN\'s MTU fits the path, where it exceeds the device out (this host answers itself), and with forwarding off', () => {
    const lanMtu = (mtu: number) => (t: string): string => t.replace(/(lan0@if\d+: <[^>]*> mtu )9001/, `$1${mtu}`);
    expect(found({ 'ip-link.txt': lanMtu(1500), 'ip-addr.txt': lanMtu(1500) })).toEqual([]);
    const eth0 = (t: string): string => t.replace(/(eth0@if\d+: <[^>]*> mtu )9001/, '$11500');
    expect(found({ 'ip-link.txt': eth0, 'ip-addr.txt': eth0 })).toEqual([]);
    expect(found({ 'sysctl.txt': (t) => t.replace('net.ipv4.ip_forward = 1', 'net.ipv4.ip_forward = 0') }).map((x) => x.subject)).toEqual([ROUTED_BOTH[1]]);
  });
});

describe('pathMtu in the config', () => {
  it('takes it on peers and on remotes given as objects; remotes stay CIDRs', () => {
    const { config, errors } = parseConfig({ peers: [{ address: '10.2.0.2', pathMtu: 1400 }], remotes: ['10.200.0.0/20', { cidr: '10.201.0.0/20', pathMtu: 1380 }] });
    expect(errors).toEqual([]);
    expect(config?.peers).toEqual([{ address: '10.2.0.2', pathMtu: 1400 }]);
    expect(config?.remotes).toEqual(['10.200.0.0/20', '10.201.0.0/20']);
    expect(config?.remotePathMtu).toEqual({ '10.201.0.0/20': 1380 });
  });

  it('reaches the agent\'s analysis with the fleet\'s peers merged', () => {
    const config = parseConfig({ peers: [{ address: '10.2.0.2', name: 'p', pathMtu: 1400 }], remotes: [{ cidr: '10.201.0.0/20', pathMtu: 1380 }] }).config!;
    const o = analysisOptions(config, { peers: [{ name: 'p', addresses: ['10.2.0.2'] }], remotes: [], ports: [] }, { name: 'me', addresses: new Set() });
    expect(o.peers).toEqual([{ address: '10.2.0.2', name: 'p', pathMtu: 1400 }]);
    expect(o.remotePathMtu).toEqual({ '10.201.0.0/20': 1380 });
  });

  it('names the field of a bad value', () => {
    expect(parseConfig({ peers: [{ address: '10.2.0.2', pathMtu: 40 }], remotes: [{ cidr: '10.201.0.0/20', pathMtu: '1400' }, { cidr: '10.0.0.0/8', mtu: 1 }] }).errors).toEqual([
      'peers[0].pathMtu: must be between 68 and 65535',
      'remotes[0].pathMtu: Invalid input: expected integer, received string',
      'remotes[1]: Unrecognized key: "mtu"',
    ]);
  });
});

describe('encapsulation overhead', () => {
  const dev = (kind: InterfaceModel['kind']): InterfaceModel => ({ name: 'x', kind, flags: [], noCarrier: false, uplink: false, addresses: [], origin: { lineNumber: 1, text: '' } });
  it('is 50 bytes for vxlan over IPv4, 70 over IPv6; unknown for what was not measured', () => {
    expect(encapOverhead(dev('vxlan'), 4)?.bytes).toBe(50);
    expect(encapOverhead(dev('vxlan'), 6)?.bytes).toBe(70);
    expect(encapOverhead(dev('wireguard'), 4)).toBeUndefined();
  });
});
