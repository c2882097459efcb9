/**
 * Collection on real kernels (the rich lab host): what the snapshot holds, that a captured bundle
 * reproduces the live snapshot, and that a run without root still writes a bundle that says what
 * it could not read. Docker is a TEST DOUBLE of the Engine API (no Docker engine runs here).
 * Needs a build (`npm run build`): bin/hostcheck runs build/.
 */
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DockerDaemonConfig } from '../../src/model/docker.js';
import type { DockerNetworkRecord } from '../../src/model/docker.js';
import type { IptablesTable } from '../../src/model/netfilter.js';
import type { NftTable } from '../../src/model/nft.js';
import type { XfrmPolicyRecord } from '../../src/model/xfrm.js';
import type { SysctlRecord } from '../../src/model/sysctl.js';
import { readBundle, writeBundle, type BundleMeta } from '../../src/collect/bundle.js';
import { collectBundle } from '../../src/collect/collect.js';
import { buildSnapshot } from '../../src/collect/snapshot.js';
import { SOURCES } from '../../src/collect/sources.js';
import type { HostSnapshot } from '../../src/model/snapshot.js';
import { startDockerEngineDouble, type DockerEngineDouble, type EngineNetwork } from '../doubles/docker-engine.js';
import { RICH, richHost, settleIpv6 } from './fixture-topologies.js';
import { hostcheckBin, repoRoot } from './lab.js';
import { describeLab, useLab } from './suite.js';

const NET_ADMIN_HINT = 'permission denied — run as root, or grant CAP_NET_ADMIN and CAP_NET_RAW';

/**
 * The snapshot without what legitimately changes between two collections of an unchanged host:
 * `collectedAt`, and packet/byte counters (iptables `[pkts:bytes]`, nft `counter`), which the
 * kernel bumps with every packet (IPv6 multicast listener reports and the vxlan's traffic run on
 * their own). Counters appear as `counters` fields, in nft rules' `expr`, and in `origin.text`.
 */
function stable(snapshot: HostSnapshot): unknown {
  const text = JSON.stringify({ ...snapshot, collectedAt: undefined }, (key, v: unknown) => {
    if (key === 'counters' && v && typeof v === 'object') return { packets: 0, bytes: 0 };
    if (key === 'counter' && v && typeof v === 'object' && 'packets' in v) return { packets: 0, bytes: 0 };
    if (key === 'text' && typeof v === 'string') {
      return v
        .replace(/^\[\d+:\d+\] /, '[0:0] ')
        .replace(/^(:\S+ \S+) \[\d+:\d+\]$/, '$1 [0:0]')
        .replace(/"counter": \{"packets": \d+, "bytes": \d+\}/g, '"counter": {"packets": 0, "bytes": 0}');
    }
    return v;
  });
  return JSON.parse(text);
}

/** Paths (a.b[3].c) where two JSON values differ, for a readable failure. */
function differences(a: unknown, b: unknown, path = '$', out: string[] = []): string[] {
  if (out.length > 20) return out;
  if (a === b) return out;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`, out);
    return out;
  }
  out.push(`${path}: ${JSON.stringify(a)?.slice(0, 200)} ≠ ${JSON.stringify(b)?.slice(0, 200)}`);
  return out;
}

async function hostcheckJson(args: string[]): Promise<HostSnapshot> {
  const r = await execa(hostcheckBin, args, { reject: false });
  expect(r.exitCode, String(r.stderr)).toBe(0);
  return JSON.parse(String(r.stdout)) as HostSnapshot;
}

describeLab('collection of the rich lab host', () => {
  const lab = useLab(richHost());
  let dir: string;
  let live: HostSnapshot;
  let fromBundle: HostSnapshot;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hc-collect-'));
    const bundle = join(dir, 'bundle');
    await settleIpv6(lab());
    const [liveRun, capture] = await Promise.all([
      lab().hostcheck(RICH.host, ['snapshot', '--json']),
      lab().hostcheck(RICH.host, ['capture', '--out', bundle]),
    ]);
    expect(liveRun.exitCode, liveRun.stderr).toBe(0);
    expect(capture.exitCode, capture.stderr).toBe(0);
    live = JSON.parse(liveRun.stdout) as HostSnapshot;
    // Analysed outside the lab: a bundle needs nothing of the host it came from.
    fromBundle = await hostcheckJson(['snapshot', '--bundle', bundle, '--json']);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('capture then snapshot --bundle reproduces the live snapshot (except collectedAt and packet counters)', () => {
    expect(differences(stable(live), stable(fromBundle))).toEqual([]);
    expect(fromBundle.collectedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('every required source was collected: the snapshot is complete', () => {
    const required = fromBundle.sources.filter((s) => s.required);
    expect(required.map((s) => [s.name, s.status])).toEqual(required.map((s) => [s.name, 'collected']));
    expect(fromBundle.complete).toBe(true);
    expect(fromBundle.warnings).toEqual([]);
  });

  it('holds the iptables rules: the DROP rule for the lan peer, the user chain and the MASQUERADE', () => {
    const tables = fromBundle.netfilter.v4 as IptablesTable[];
    const filter = tables.find((t) => t.name === 'filter');
    const nat = tables.find((t) => t.name === 'nat');
    expect(filter?.backend).toBe('nf_tables');
    const drop = filter!.rules.find((r) => r.chain === 'INPUT' && r.target?.name === 'DROP');
    expect(drop?.source).toEqual({ value: '10.16.0.20/32', negated: false });
    expect(drop?.origin.text.replace(/^\[\d+:\d+\] /, '')).toBe(RICH.dropRule);
    expect(drop?.origin.source).toBe('iptables-save');
    expect(drop?.matches.find((m) => m.module === 'comment')?.options).toEqual([{ name: 'comment', negated: false, args: ['lan peer blocked'] }]);
    expect(filter!.chains.find((c) => c.name === 'HC-ALLOW')).toMatchObject({ builtin: false });
    expect(nat!.rules.map((r) => r.target?.name)).toEqual(['MASQUERADE']);
    const v6 = (fromBundle.netfilter.v6 as IptablesTable[]).find((t) => t.name === 'filter');
    expect(v6?.chains.find((c) => c.name === 'FORWARD')?.policy).toBe('DROP');
  });

  it('holds the native nft table beside the iptables-nft ones', () => {
    const tables = fromBundle.nft as NftTable[];
    const native = tables.find((t) => t.name === RICH.nftTable);
    expect(native).toMatchObject({ family: 'inet', managedBy: 'native' });
    expect(native!.chains.map((c) => [c.name, c.hook, c.priority, c.policy])).toEqual([['input', 'input', 10, 'accept']]);
    expect(native!.chains[0].rules).toHaveLength(1);
    expect(native!.chains[0].rules[0].text).toContain('10.9.9.9');
    expect(tables.filter((t) => t.managedBy === 'iptables-nft').map((t) => `${t.family} ${t.name}`).sort()).toEqual(['ip filter', 'ip nat', 'ip6 filter']);
  });

  it('holds the xfrm policies with their selectors and templates', () => {
    const policies = fromBundle.xfrmPolicies as XfrmPolicyRecord[];
    const byDir = Object.fromEntries(policies.map((p) => [p.dir, p]));
    expect(Object.keys(byDir).sort()).toEqual(['fwd', 'in', 'out']);
    expect(byDir.out.selector).toMatchObject({ src: '10.16.0.0/16', dst: '10.200.0.0/20' });
    expect(byDir.out.templates).toMatchObject([{ src: '10.100.1.18', dst: '203.0.113.5', proto: 'esp', reqid: 1, mode: 'tunnel' }]);
    expect(byDir.in.selector).toMatchObject({ src: '10.200.0.0/20', dst: '10.16.0.0/16' });
    expect(byDir.fwd.selector).toMatchObject({ src: '10.200.0.0/20', dst: '10.16.0.0/16' });
    expect(policies.every((p) => p.family === 4 && p.action === 'allow')).toBe(true);
  });

  it('holds rp_filter per interface: strict on eth1, loose on eth0', () => {
    const sysctls = fromBundle.sysctls as SysctlRecord[];
    const value = (key: string) => sysctls.find((s) => s.key === key)?.value;
    expect(value('net.ipv4.conf.eth1.rp_filter')).toBe('1');
    expect(value('net.ipv4.conf.eth0.rp_filter')).toBe('2');
    expect(value('net.ipv4.conf.all.rp_filter')).toBe('0');
    expect(sysctls.find((s) => s.key === 'net.ipv4.conf.eth1.rp_filter')).toMatchObject({ device: 'eth1', name: 'rp_filter', family: 4 });
  });

  it('gives IPv6 rules family 6 even where they name no address (from all lookup local)', () => {
    const v6 = fromBundle.rules.filter((r) => r.origin.source === 'ip-rule-v6');
    expect(v6.map((r) => r.priority)).toEqual([0, 1000, 1100, 1300, 1600, 32766]);
    expect(v6.map((r) => r.family)).toEqual(v6.map(() => 6));
  });

  it('models docker0 as Docker\'s idle bridge (no carrier, not an uplink) with its address', () => {
    const byName = Object.fromEntries(fromBundle.interfaces.map((i) => [i.name, i]));
    expect(byName.docker0).toMatchObject({ kind: 'bridge', noCarrier: true, uplink: false, owner: { type: 'docker', name: 'bridge' } });
    expect(byName.docker0.addresses.map((a) => a.cidr)).toEqual([RICH.docker0]);
    expect(byName.tap0).toMatchObject({ kind: 'tap', noCarrier: true });
    expect(byName.eth1.addresses.map((a) => a.cidr)).toEqual([RICH.eth1, RICH.eth1v6, expect.stringMatching(/^fe80::/)]);
  });
});

describeLab('collection without root (uid nobody inside a lab host)', () => {
  const lab = useLab(richHost());
  let dir: string;
  let meta: BundleMeta;
  let capture: { exitCode: number; stdout: string; stderr: string };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hc-nobody-'));
    await chown(dir, 65534, 65534);
    // A plain user's PATH: root's may hold directories under /root that nobody cannot search.
    capture = await lab().exec(RICH.host, [
      'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all',
      'env', 'PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin',
      hostcheckBin, 'capture', '--out', join(dir, 'bundle'),
    ]);
    meta = JSON.parse(await readFile(join(dir, 'bundle', 'meta.json'), 'utf8')) as BundleMeta;
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('still writes a bundle and exits 0', () => {
    expect(capture.exitCode, capture.stderr).toBe(0);
    expect(capture.stdout).toMatch(/^wrote \d+ sources to /);
  });

  it('meta.json names each source it could not read and why', () => {
    const status = (name: string) => {
      const s = meta.sources.find((x) => x.name === name);
      return s && { status: s.status, message: s.message };
    };
    expect(status('iptables-save')).toEqual({ status: 'failed', message: `iptables-save: ${NET_ADMIN_HINT}` });
    expect(status('ip6tables-save')).toEqual({ status: 'failed', message: `ip6tables-save: ${NET_ADMIN_HINT}` });
    expect(status('nft')).toEqual({ status: 'failed', message: `nft: ${NET_ADMIN_HINT}` });
    expect(status('ip-xfrm-policy')).toEqual({ status: 'failed', message: `ip: ${NET_ADMIN_HINT}` });
    // The stderr that was classified is kept for support.
    expect(meta.sources.find((s) => s.name === 'iptables-save')?.stderr).toMatch(/Permission denied \(you must be root\)/);
  });

  it('reads everything else an unprivileged user may read', () => {
    // ipvs: /proc/net/ip_vs is absent on kernels without IPVS (this one), whoever reads.
    const unreadable = new Set(['iptables-save', 'ip6tables-save', 'iptables-legacy-save', 'ip6tables-legacy-save', 'conntrack-stats', 'nft', 'ip-xfrm-policy', 'ipset', 'docker-daemon', 'docker-networks', 'swanctl-conf', 'ipsec-conf', 'ipvs']);
    const rest = meta.sources.filter((s) => !unreadable.has(s.name));
    expect(rest.map((s) => [s.name, s.status])).toEqual(rest.map((s) => [s.name, 'collected']));
    expect(rest.length).toBe(SOURCES.length - unreadable.size);
    const ipset = meta.sources.find((s) => s.name === 'ipset')!;
    // Not installed here (unavailable); where it is, saving needs CAP_NET_ADMIN (failed).
    expect(ipset.status === 'unavailable' ? ipset.message : ipset.message).toMatch(/^ipset: (command not found|permission denied)/);
  });

  it('the snapshot of that bundle is marked incomplete and keeps the reasons', async () => {
    const snapshot = await hostcheckJson(['snapshot', '--bundle', join(dir, 'bundle'), '--json']);
    expect(snapshot.complete).toBe(false);
    expect(snapshot.sources.find((s) => s.name === 'iptables-save')).toMatchObject({ status: 'failed', required: true, message: `iptables-save: ${NET_ADMIN_HINT}` });
    expect(snapshot.routes.length).toBeGreaterThan(0);
    expect(snapshot.netfilter.v4).toEqual([]);
  });
});

const BRIDGE: EngineNetwork = {
  Name: 'bridge', Id: 'f2de39df4171b0dc801e8002d1d999b77256983dfc63041c0f34030aa3977566', Driver: 'bridge', Scope: 'local',
  IPAM: { Driver: 'default', Config: [{ Subnet: '192.168.200.0/24', Gateway: '192.168.200.1' }] },
  Options: { 'com.docker.network.bridge.name': 'docker0', 'com.docker.network.bridge.default_bridge': 'true' },
  Containers: {
    '39b69226f9d79f5634485fb236a23b2fe4e96a0a94128390a7fbbcc167065867': { Name: 'web', EndpointID: 'ed2419a97c1d', MacAddress: '02:42:c0:a8:c8:02', IPv4Address: '192.168.200.2/24', IPv6Address: '' },
  },
};
const APP: EngineNetwork = {
  Name: 'app_default', Id: '7d86d31b1478e7cca9ebed7e73aa0fdeec46c5ca29497431d3007d2d9e15ed99', Driver: 'bridge', Scope: 'local',
  IPAM: { Driver: 'default', Config: [{ Subnet: '10.201.3.0/24', Gateway: '10.201.3.1' }] },
  Options: {}, Containers: {},
};

describe('Docker collection against a TEST DOUBLE of the Engine API (in-process, root namespace)', () => {
  let dir: string;
  let engine: DockerEngineDouble;
  let snapshot: HostSnapshot;
  const only = ['docker-daemon', 'docker-networks'];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hc-docker-host-'));
    engine = await startDockerEngineDouble(join(dir, 'docker.sock'), [BRIDGE, APP]);
    await writeFile(join(dir, 'daemon.json'), '{\n  "bip": "192.168.200.1/24",\n  "default-address-pools": [{ "base": "10.201.0.0/16", "size": 24 }]\n}\n');
    const bundle = await collectBundle({ dockerSocket: engine.socketPath, dockerDaemonJson: join(dir, 'daemon.json'), only, noCloud: true });
    snapshot = buildSnapshot(bundle);
    await writeBundle(join(dir, 'bundle'), bundle);
  });
  afterAll(async () => {
    await engine?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads daemon.json and every network (listed, then inspected for its containers)', () => {
    expect(snapshot.sources.map((s) => [s.name, s.status, s.warnings])).toEqual([['docker-daemon', 'collected', 0], ['docker-networks', 'collected', 0]]);
    expect(snapshot.docker.daemon).toMatchObject({ bip: '192.168.200.1/24', defaultAddressPools: [{ base: '10.201.0.0/16', size: 24 }] } satisfies Partial<DockerDaemonConfig>);
    const networks = snapshot.docker.networks as DockerNetworkRecord[];
    expect(networks.map((n) => [n.name, n.bridgeName, n.ipam.config.map((c) => c.subnet)])).toEqual([
      ['bridge', 'docker0', ['192.168.200.0/24']],
      ['app_default', 'br-7d86d31b1478', ['10.201.3.0/24']],
    ]);
    expect(networks[0].containers.map((c) => [c.name, c.ipv4Address])).toEqual([['web', '192.168.200.2/24']]);
    expect(engine.requests).toEqual(['GET /networks', `GET /networks/${BRIDGE.Id}`, `GET /networks/${APP.Id}`]);
  });

  it('the written bundle keeps the API answer and daemon.json as read, and gives the same snapshot', async () => {
    const again = buildSnapshot(await readBundle(join(dir, 'bundle')));
    expect(again).toEqual(snapshot);
    expect(await readFile(join(dir, 'bundle', 'docker-daemon.json'), 'utf8')).toBe(await readFile(join(dir, 'daemon.json'), 'utf8'));
    const networks = JSON.parse(await readFile(join(dir, 'bundle', 'docker-networks.json'), 'utf8')) as EngineNetwork[];
    expect(networks.map((n) => n.Name)).toEqual(['bridge', 'app_default']);
  });

  it('says plainly when Docker is absent', async () => {
    const bundle = await collectBundle({ dockerSocket: join(dir, 'absent.sock'), dockerDaemonJson: join(dir, 'absent.json'), only, noCloud: true });
    const s = buildSnapshot(bundle);
    expect(s.sources.map((x) => [x.name, x.status, x.message])).toEqual([
      ['docker-daemon', 'unavailable', `${join(dir, 'absent.json')}: absent (Docker defaults apply if Docker is installed)`],
      ['docker-networks', 'unavailable', `docker: no socket at ${join(dir, 'absent.sock')} (Docker not installed or not running)`],
    ]);
    expect(s.complete).toBe(true);
    expect(s.docker).toEqual({ daemon: undefined, networks: [] });
  });
});

describe('docs/bundle.md', () => {
  it('lists every bundle file with what produces it, its parser and whether it is required', async () => {
    const rows = (await readFile(join(repoRoot, 'docs', 'bundle.md'), 'utf8')).split('\n');
    for (const s of SOURCES) {
      const row = rows.find((l) => l.startsWith(`| \`${s.file}\` |`));
      expect(row, s.file).toBeDefined();
      const cells = row!.split(' | ');
      if (s.argv) expect(cells[1], s.file).toBe(`\`${s.argv.join(' ')}\``);
      expect(cells[2], s.file).toBe(s.format ?? '—');
      expect(cells[3], s.file).toBe(s.required ? 'yes |' : 'no |');
    }
  });
});

describe('a lab-captured bundle from fixtures/scenarios (first incident, ecs3)', () => {
  it('gives IPv6 rules that name no address family 6 and from ::/0 (the source says -6)', async () => {
    const snapshot = buildSnapshot(await readBundle(join(repoRoot, 'fixtures', 'scenarios', 'first-incident', 'ecs3')));
    const v6 = snapshot.rules.filter((r) => r.origin.source === 'ip-rule-v6');
    expect(v6.map((r) => [r.priority, r.family, r.from])).toEqual([[0, 6, '::/0'], [32766, 6, '::/0']]);
  });

  it('shows the incident: docker0 without carrier, its connected route linkdown', async () => {
    const snapshot = buildSnapshot(await readBundle(join(repoRoot, 'fixtures', 'scenarios', 'first-incident', 'ecs3')));
    expect(snapshot.interfaces.find((i) => i.name === 'docker0')).toMatchObject({ noCarrier: true, owner: { type: 'docker' } });
    const route = snapshot.routes.find((r) => r.dst === '172.17.0.0/16' && r.table === 'main');
    expect(route).toMatchObject({ dev: 'docker0', flags: expect.arrayContaining(['linkdown']) });
    expect(snapshot.complete).toBe(true);
  });
});
