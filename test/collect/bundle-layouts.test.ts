/**
 * Other collectors' bundles (src/collect/bundle-sos.ts, bundle-calico.ts) from fixtures/bundles:
 * Debian's real sos 4.0 archive of the first incident, the sos 3.9.1 and calicoctl node diags
 * layouts built from those tools' sources, and a sos 4.5 layout (namespaces/ subdirectories,
 * manifest exit codes) built here from the 3.9.1 one. Each names, per source, the file that gave
 * it or why it is lacking, and the first incident's cause comes out as from hostcheck's own bundle.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeSnapshot } from '../../src/checks/analyze.js';
import { READ_SOURCES } from '../../src/collect/bundle-foreign.js';
import { openBundles } from '../../src/collect/bundle-open.js';
import { sosCommandFile } from '../../src/collect/bundle-sos.js';
import { readBundle, type Bundle } from '../../src/collect/bundle.js';
import { buildSnapshot } from '../../src/collect/snapshot.js';
import type { Finding } from '../../src/model/finding.js';
import { repoRoot } from '../helpers/samples.js';

const bundles = join(repoRoot, 'fixtures', 'bundles');
const sos40 = join(bundles, 'sos-4.0', 'first-incident.tar.xz');
const sos391 = join(bundles, 'sos-3.9.1-layout', 'sosreport-sos-lab.0-19700101000000');
const ecs3Own = join(repoRoot, 'fixtures', 'scenarios', 'first-incident', 'ecs3');
const tmp = mkdtempSync(join(tmpdir(), 'hc-layouts-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const source = (b: Bundle, name: string) => b.meta.sources.find((s) => s.name === name)!;

/** The first incident's finding on ECS3, without what names the host (and, `lines: false`, the line numbers). */
function ecs3Cause(b: Bundle, lines = true): Omit<Finding, 'host' | 'key'>[] {
  const { findings } = analyzeSnapshot(buildSnapshot(b), { peers: [{ address: '172.17.0.64', name: 'ecs1' }], remotes: [], ports: [], ignore: [] });
  return findings
    .filter((f) => f.severity === 'error')
    .map(({ host: _h, key: _k, ...rest }) => ({ ...rest, evidence: rest.evidence.map((e) => (lines ? e : { ...e, lineNumber: 0 })) }));
}

describe('Debian sos 4.0, the real archive of a firewall sos listed with iptables -vnxL', () => {
  const archive = join(bundles, 'sos-4.0', 'firewall-listing.tar.xz');
  const peers = [{ address: '172.17.0.64', name: 'ecs1' }, { address: '172.18.1.22', name: 'ecs2' }];

  it('reads the listing into iptables-save\'s records; the rule it cannot read back is approximate', async () => {
    const hosts = await openBundles(archive);
    expect(hosts).toHaveLength(1);
    const [main] = hosts;
    expect(source(main, 'iptables-save')).toMatchObject({ status: 'collected', file: 'sos_commands/networking/iptables_-vnxL', format: 'iptables-list' });
    expect(source(main, 'ip6tables-save')).toMatchObject({ status: 'collected', file: 'sos_commands/networking/ip6tables_-vnxL' });
    expect(source(main, 'nft')).toMatchObject({ status: 'collected', file: 'sos_commands/networking/nft_list_ruleset', format: 'nft-text', message: 'read from sos\'s `nft list ruleset` text (sos runs no nft -j); it prints no rule handles' });
    const snapshot = buildSnapshot(main);
    // nft's text: iptables-nft's ip filter (its warning line), whose rules are the listing's.
    expect(snapshot.nft.map((t) => [`${t.family} ${t.name}`, t.managedBy, t.rulesFromNft, t.chains.map((c) => c.rules.length)])).toEqual([['ip filter', 'iptables-nft', undefined, [0, 0, 0]]]);
    expect(snapshot.sources.find((x) => x.name === 'nft')).toMatchObject({ status: 'collected', warnings: 0, message: expect.stringMatching(/; read as `nft list ruleset` text, without rule handles/) });
    const filter = snapshot.netfilter.v4.find((t) => t.name === 'filter')!;
    expect(filter.form).toBe('listing');
    const peersChain = filter.rules.filter((r) => r.chain === 'PEERS');
    expect(peersChain.map((r) => r.readBackAs)).toEqual(['[1:84] -A PEERS -s 172.17.0.64/32 -m comment --comment "old monitoring block" -j DROP', '[0:0] -A PEERS -s 172.18.1.22/32 -j DROP']);
    expect(peersChain[1].approximate).toMatch(/printed "length 2000:3000", which hostcheck does not read back: whether the rule matches is not known/);
    const status = snapshot.sources.find((x) => x.name === 'iptables-save')!;
    expect(status.message).toMatch(/^read from sos's `iptables -nvL` listings, not iptables-save .*filter: sos_commands\/networking\/iptables_-vnxL \(lines 2–\d+\).*rule at line (\d+) read approximately/);
    expect(status.warnings).toBe(1);
    expect(snapshot.warnings.find((w) => w.source === 'iptables-save')?.reason).toMatch(/^read approximately: /);
    expect(snapshot.neighbours?.map((n) => [n.address, n.dev, n.states])).toEqual([['172.31.15.253', 'eth0', ['DELAY']]]);
  });

  it('names the drop of ecs1, and cannot decide ecs2 at the rule whose match was lost', async () => {
    const [main] = await openBundles(archive);
    const { findings } = analyzeSnapshot(buildSnapshot(main), { peers, remotes: [], ports: [], ignore: [] });
    const fw = findings.filter((f) => f.check === 'firewall-blocks-peer');
    const ecs1 = fw.find((f) => f.subject === '172.17.0.64 icmp-in')!;
    expect(ecs1.severity).toBe('error');
    expect(ecs1.fix[0]).toBe('iptables -t filter -D PEERS -s 172.17.0.64/32 -m comment --comment "old monitoring block" -j DROP');
    const ecs2 = fw.find((f) => f.subject.startsWith('172.18.1.22 '))!;
    expect(ecs2.severity).toBe('warning');
    expect(ecs2.summary).toMatch(/length 2000:3000/);
    expect(findings.filter((f) => f.severity === 'error').map((f) => f.subject)).toEqual(['172.17.0.64 icmp-in']);
  });
});

describe('Debian sos 4.0, the real archive', () => {
  it('one host per namespace; sos ran inside ecs3, whose two views are kept once', async () => {
    const hosts = await openBundles(sos40);
    const netns = hosts.map((h) => h.meta.layout?.netns ?? '');
    const labHosts = netns.map((n) => n.replace(/^hclab-[0-9a-z]+-[0-9a-z]{4}-/, ''));
    expect(labHosts[0]).toBe('ecs3');
    expect(labHosts.slice(1).sort()).toEqual(['ecs1', 'ecs2', 'router']);
    const hostname = hosts[0].meta.hostname;
    expect(hosts.map((h) => h.meta.name)).toEqual(netns.map((n) => `${hostname}:${n}`));
    expect(hosts[0].meta.layout).toEqual({ kind: 'sosreport', version: '4.0', netns: netns[0] });
    expect(hosts[0].meta.notes?.[0]).toMatch(/^sos ran inside network namespace hclab-\S+-ecs3: its own outputs and .* analysed once as /);
  });

  it('per source: the file and the command (from the manifest), or why this sosreport lacks it', async () => {
    const [main, ...others] = await openBundles(sos40);
    const ecs1 = others.find((h) => h.meta.name!.endsWith('-ecs1'))!;
    expect(source(main, 'ip-route-v4')).toMatchObject({ status: 'collected', file: 'sos_commands/networking/ip_route_show_table_all', argv: ['ip', 'route', 'show', 'table', 'all'], exitCode: 0 });
    expect(source(main, 'ip-addr')).toMatchObject({ status: 'collected', file: 'sos_commands/networking/ip_-d_address' });
    expect(source(main, 'ip-link')).toMatchObject({ status: 'collected', file: 'sos_commands/networking/ip_-s_-d_link' });
    expect(source(main, 'ip-rule-v4')).toMatchObject({ status: 'collected', file: 'sos_commands/networking/ip_-4_rule' });
    // sos never runs iptables-save for the stack it ran in; ecs3's namespace view has it.
    expect(source(main, 'iptables-save').file).toMatch(/^sos_commands\/networking\/ip_netns_exec_hclab-\S+-ecs3_iptables-save$/);
    expect(source(main, 'ip6tables-save')).toMatchObject({ status: 'unavailable', lacking: true });
    // This kernel has no modules: sos 4.0 skipped its iptables listings (test/lab/sos.ts).
    expect(source(main, 'ip6tables-save').message).toMatch(/^not in this sosreport \(sos 4.0\): no `ip6tables -vnxL` or `ip6tables -t TABLE -nvL` listing/);
    expect(source(main, 'ip-neigh')).toMatchObject({ status: 'collected', file: 'sos_commands/networking/ip_-s_-s_neigh_show' });
    for (const s of ['nft', 'ipset', 'ip-xfrm-policy', 'sysctl', 'docker-daemon', 'docker-networks', 'swanctl-conf', 'ipsec-conf']) expect(source(main, s), s).toMatchObject({ lacking: true, file: '' });
    expect(source(ecs1, 'ip-rule-v4')).toMatchObject({ lacking: true });
    expect(source(ecs1, 'ip-rule-v4').message).toMatch(/for network namespace hclab-\S+-ecs1: no `ip rule` for this namespace \(sos records it from 4.1\)/);
    expect(source(ecs1, 'ip-route-v6')).toMatchObject({ status: 'collected', file: source(ecs1, 'ip-route-v4').file, message: "read with ip-route-v4: its output holds both" });
    expect(source(ecs1, 'docker-daemon')).toMatchObject({ status: 'unavailable', message: expect.stringMatching(/a file of the machine, not of network namespace/) });
    expect(source(ecs1, 'docker-daemon').lacking).toBeUndefined();
    const snapshot = buildSnapshot(main);
    expect(snapshot.complete).toBe(false);
    expect(snapshot.sources.find((s) => s.name === 'ip-addr')).toMatchObject({ file: 'sos_commands/networking/ip_-d_address', status: 'collected' });
    // The networking plugin's copy of /proc/net (a link to sos's own /proc/PID/net): ecs3's connection tracking counters.
    expect(source(main, 'conntrack-stat')).toMatchObject({ status: 'collected', file: 'proc/net/stat/nf_conntrack' });
    expect(snapshot.conntrack?.stats.map((r) => r.form)).toEqual(['proc']);
    expect(source(ecs1, 'conntrack-stat')).toMatchObject({ lacking: true });
  });

  it('names the first incident\'s cause as hostcheck\'s own bundle of the same host does', async () => {
    const [main] = await openBundles(sos40);
    const fromSos = ecs3Cause(main);
    expect(fromSos.map((f) => f.check)).toEqual(['route-captures-peer']);
    expect(fromSos).toEqual(ecs3Cause(await readBundle(ecs3Own)));
  });

  it('the report says what could not be decided for want of a source', async () => {
    const [main] = await openBundles(sos40);
    const { notes } = analyzeSnapshot(buildSnapshot(main), { peers: [{ address: '172.17.0.64' }], remotes: [], ports: [], ignore: [] });
    expect(notes).toContain('vpn-selector-gap could not decide: ip-xfrm-policy, swanctl-conf, ipsec-conf not read (not in this bundle)');
    expect(notes).toContain('rp-filter-drop could not decide: sysctl not read (not in this bundle)');
    expect(notes).toContain('firewall-blocks-peer decided without ip6tables-save, nft, ipset, iptables-legacy-save, ip6tables-legacy-save (not in this bundle): what they hold was not checked');
    // sos's ip -s -s neigh show is the neighbour table.
    expect(notes.filter((n) => n.includes('ip-neigh'))).toEqual([]);
  });

  it('the same sosreport extracted into a directory reads the same', async () => {
    const dir = join(tmp, 'sos40');
    mkdirSync(dir);
    execFileSync('tar', ['-xJf', sos40, '-C', dir]);
    const [fromDir, fromArchive] = [await openBundles(join(dir, readdirSync(dir)[0])), await openBundles(sos40)];
    expect(fromDir.map((b) => b.meta)).toEqual(fromArchive.map((b) => b.meta));
    expect(fromDir.map((b) => b.files)).toEqual(fromArchive.map((b) => b.files));
  });
});

describe('sos 3.9.1 layout (built from its source)', () => {
  it('reads sysctl -a of the kernel plugin, rules, and the per-namespace files', async () => {
    const hosts = await openBundles(sos391);
    expect(hosts.map((h) => h.meta.name)).toEqual(['ecs3', 'ecs1', 'ecs2', 'router'].map((h) => `sos-lab:hclab-0-0000-${h}`));
    const [main, ecs1] = hosts;
    expect(main.meta.layout).toEqual({ kind: 'sosreport', version: '3.9.1', netns: 'hclab-0-0000-ecs3' });
    expect(source(main, 'sysctl')).toMatchObject({ status: 'collected', file: 'sos_commands/kernel/sysctl_-a', argv: ['sysctl', '-a'] });
    expect(buildSnapshot(main).sysctls.some((s) => s.key === 'net.ipv4.conf.eth0.rp_filter')).toBe(true);
    expect(source(main, 'ip-rule-v6')).toMatchObject({ status: 'collected', file: 'sos_commands/networking/ip_-6_rule' });
    expect(source(ecs1, 'ip-addr')).toMatchObject({ file: 'sos_commands/networking/ip_netns_exec_hclab-0-0000-ecs1_ip_address_show', argv: ['ip', 'netns', 'exec', 'hclab-0-0000-ecs1', 'ip', 'address', 'show'] });
    expect(ecs3Cause(main)).toEqual(ecs3Cause(await readBundle(ecs3Own)));
  });
});

/** The 3.9.1 layout moved to where sos 4.5 writes each output, with a manifest. */
function sos45(name = 'sosreport-lab-2026-01-01-abcdefg'): string {
  const top = join(tmp, name);
  cpSync(sos391, top, { recursive: true, verbatimSymlinks: true });
  const net = join(top, 'sos_commands', 'networking');
  renameSync(join(net, 'ip_-4_rule'), join(net, sosCommandFile('ip -4 rule list')));
  renameSync(join(net, 'ip_-6_rule'), join(net, sosCommandFile('ip -6 rule list')));
  const commands: { exec: string; filepath: string; return_code: number }[] = [];
  for (const host of ['ecs1', 'ecs2', 'ecs3', 'router']) {
    const ns = `hclab-0-0000-${host}`;
    const dir = join(net, 'namespaces', ns);
    mkdirSync(dir, { recursive: true });
    const move = (from: string, to: string, code = 0) => {
      const name = sosCommandFile(`ip netns exec ${ns}  ${to}`);
      renameSync(join(net, sosCommandFile(`ip netns exec ${ns} ${from}`)), join(dir, name));
      commands.push({ exec: `ip netns exec ${ns}  ${to}`, filepath: `sos_commands/networking/namespaces/${ns}/${name}`, return_code: code });
    };
    move('ip address show', 'ip -d address show');
    move('ip route show table all', 'ip route show table all');
    move('iptables-save', 'iptables-save');
    writeFileSync(join(dir, sosCommandFile(`ip netns exec ${ns} ip -4 rule list`)), '0:\tfrom all lookup local\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n');
    writeFileSync(join(dir, sosCommandFile(`ip netns exec ${ns} ip6tables-save`)), 'ip6tables-save: command not found\n');
    commands.push({ exec: `ip netns exec ${ns} ip6tables-save`, filepath: `sos_commands/networking/namespaces/${ns}/${sosCommandFile(`ip netns exec ${ns} ip6tables-save`)}`, return_code: 127 });
  }
  rmSync(join(top, 'version.txt'));
  mkdirSync(join(top, 'sos_reports'));
  writeFileSync(join(top, 'sos_reports', 'manifest.json'), JSON.stringify({ version: '4.5.0', start_time: '2026-01-01 00:00:00.000000', components: { report: { plugins: { networking: { commands } } } } }));
  return top;
}

describe('sos 4.5 layout: namespaces/NS/, ip -4 rule list, sysctl -a per namespace, manifest exit codes', () => {
  it('reads each namespace from its directory; a command that failed is a failed source with its output', async () => {
    const hosts = await openBundles(sos45());
    expect(hosts.map((h) => h.meta.name)).toEqual(['ecs3', 'ecs1', 'ecs2', 'router'].map((h) => `sos-lab:hclab-0-0000-${h}`));
    const ecs1 = hosts[1];
    expect(source(ecs1, 'ip-addr').file).toBe('sos_commands/networking/namespaces/hclab-0-0000-ecs1/ip_netns_exec_hclab-0-0000-ecs1_ip_-d_address_show');
    expect(source(ecs1, 'ip-rule-v4')).toMatchObject({ status: 'collected', file: 'sos_commands/networking/namespaces/hclab-0-0000-ecs1/ip_netns_exec_hclab-0-0000-ecs1_ip_-4_rule_list' });
    expect(source(ecs1, 'ip6tables-save')).toMatchObject({ status: 'failed', exitCode: 127 });
    expect(source(ecs1, 'ip6tables-save').message).toMatch(/exit code 127: ip6tables-save: command not found/);
    expect(source(hosts[0], 'ip-rule-v4').file).toBe('sos_commands/networking/ip_-4_rule_list');
    expect(hosts[0].meta.startedAt).toBe('2026-01-01T00:00:00.000000');
    expect(ecs3Cause(hosts[0])).toEqual(ecs3Cause(await readBundle(ecs3Own)));
  });
});

describe('sos 4.1+ conntrack plugin: conntrack -S per stack, /proc/net/stat/nf_conntrack, the sysctls', () => {
  it('reads conntrack -S for the stack sos ran in and each namespace; the table size comes from sysctl -a', async () => {
    const top = sos45('sosreport-lab-2026-01-01-conntrk');
    const dir = join(top, 'sos_commands', 'conntrack');
    mkdirSync(dir);
    // A real `conntrack -S` (telegraf issue #8955, fixtures/checks/conntrack-table-full): CPU 7 counts an insert race.
    const stats = readFileSync(join(repoRoot, 'fixtures', 'checks', 'conntrack-table-full', 'positive-insert-race-telegraf-8955', 'conntrack-stats.txt'), 'utf8');
    writeFileSync(join(dir, sosCommandFile('conntrack -S')), stats);
    writeFileSync(join(dir, sosCommandFile('ip netns exec hclab-0-0000-ecs1 conntrack -S')), stats.split('\n')[0] + '\n');
    const [main, ecs1] = await openBundles(top);
    expect(source(main, 'conntrack-stats')).toMatchObject({ status: 'collected', file: 'sos_commands/conntrack/conntrack_-S' });
    expect(source(main, 'conntrack-sysctl')).toMatchObject({ status: 'collected', file: 'sos_commands/kernel/sysctl_-a', message: expect.stringMatching(/^read with sysctl/) });
    expect(source(ecs1, 'conntrack-stats')).toMatchObject({ status: 'collected', file: 'sos_commands/conntrack/ip_netns_exec_hclab-0-0000-ecs1_conntrack_-S' });
    expect(source(ecs1, 'conntrack-stat').message).toMatch(/for network namespace hclab-0-0000-ecs1: sos copies \/proc\/net\/stat\/nf_conntrack only for the stack it ran in/);
    const snapshot = buildSnapshot(main);
    expect(snapshot.conntrack?.stats.map((r) => [r.form, r.rows.length, r.totals.insert_failed])).toEqual([['cpu', stats.trim().split('\n').length, 1]]);
    expect(snapshot.sysctls.some((r) => r.key === 'net.netfilter.nf_conntrack_max')).toBe(true);
    const { findings } = analyzeSnapshot(snapshot, { peers: [], remotes: [], ports: [], ignore: [] });
    expect(findings.filter((f) => f.check === 'conntrack-table-full').map((f) => f.summary).join('\n')).toMatch(/insert/);
  });

  it('without the conntrack plugin each source says why it is missing', async () => {
    const [main] = await openBundles(sos391);
    expect(source(main, 'conntrack-stats')).toMatchObject({ lacking: true, message: expect.stringMatching(/^not in this sosreport \(sos 3.9.1\): no `conntrack -S` \(sos's conntrack plugin, sos 4.1 and later/) });
  });
});

describe('Debian sos 4.0, the real archive of a host whose drops are in nf_tables (nft list ruleset text)', () => {
  const archive = join(bundles, 'sos-4.0', 'nft-drops.tar.xz');
  const peers = [{ address: '172.17.0.64', name: 'ecs1' }, { address: '172.18.1.22', name: 'ecs2' }];

  it('evaluates the native inet table and the raw table sos did not list from nft\'s text; both drops are errors quoting nft\'s rules', async () => {
    const [main] = await openBundles(archive);
    expect(source(main, 'nft')).toMatchObject({ status: 'collected', file: 'sos_commands/networking/nft_list_ruleset', format: 'nft-text' });
    const snapshot = buildSnapshot(main);
    expect(snapshot.nft.map((t) => [`${t.family} ${t.name}`, t.managedBy, t.rulesFromNft ?? false, t.chains.map((c) => c.rules.length)])).toEqual([
      ['inet filter', 'native', false, [1]], ['ip raw', 'iptables-nft', true, [1]],
    ]);
    expect(snapshot.netfilter.v4.map((t) => t.name)).toEqual(['filter']);
    expect(snapshot.sources.find((x) => x.name === 'iptables-save')!.message).toContain('table raw exists (nft list ruleset shows table ip raw) but sos did not list it: its rules are read from sos_commands/networking/nft_list_ruleset as nft prints them');
    const { findings } = analyzeSnapshot(snapshot, { peers, remotes: [], ports: [], ignore: [] });
    const drops = findings.filter((f) => f.check === 'firewall-blocks-peer');
    expect(drops.map((f) => [f.severity, f.subject, f.evidence.map((e) => `${e.source}:${e.lineNumber} ${e.text}`)])).toEqual([
      ['error', '172.17.0.64 icmp-in', ['nft:10 table ip raw chain PREROUTING: meta l4proto icmp ip saddr 172.17.0.64 counter packets 1 bytes 84 drop']],
      ['error', '172.18.1.22 icmp-in', ['nft:4 table inet filter chain input: ip saddr 172.18.0.0/16 drop']],
    ]);
    expect(drops[0].summary).toBe('the firewall drops ICMP echo from ecs1 172.17.0.64: ip raw/PREROUTING rule 1 (iptables-nft, as nft lists it): meta l4proto icmp ip saddr 172.17.0.64 counter packets 1 bytes 84 drop');
    expect(drops[1].summary).toMatch(/: inet filter\/input rule 1 \(native nft\): ip saddr 172\.18\.0\.0\/16 drop$/);
    expect(drops[1].fix[0]).toMatch(/^nft delete rule inet filter input handle HANDLE {2}# HANDLE: the number after "# handle" that `nft -a list chain inet filter input` prints/);
  });
});

describe('sos 4.1+ firewall_tables: iptables -vnxL and -t TABLE -nvL, nft -a list ruleset', () => {
  /** The 4.5 layout with the firewall_tables plugin's files: the lab's real listings, one per table. */
  function withFirewallTables(namespaces: boolean): string {
    const top = join(tmp, `sosreport-fw-${namespaces ? 'ns' : 'alone'}-2026-01-01-abcdefg`);
    rmSync(top, { recursive: true, force: true });
    rmSync(join(tmp, 'sosreport-lab-2026-01-01-abcdefg'), { recursive: true, force: true });
    renameSync(sos45(), top);
    if (!namespaces) {
      rmSync(join(top, 'sos_commands', 'networking', 'namespaces'), { recursive: true });
      rmSync(join(top, 'sos_commands', 'networking', 'ip_netns'));
    }
    const fw = join(top, 'sos_commands', 'firewall_tables');
    mkdirSync(fw, { recursive: true });
    const listing = readFileSync(join(repoRoot, 'fixtures', 'iptables-list', 'captured-every-table-nvL.txt'), 'utf8');
    const tables = Object.fromEntries(listing.split(/^# iptables -t (\w+) -nvL\n/m).slice(1).reduce<[string, string][]>((out, part, i, all) => (i % 2 === 0 ? [...out, [part, all[i + 1]]] : out), []));
    writeFileSync(join(fw, sosCommandFile('iptables -vnxL')), tables.filter);
    writeFileSync(join(fw, sosCommandFile('iptables -t nat -nvL')), tables.nat);
    writeFileSync(join(fw, sosCommandFile('iptables -t mangle -nvL')), 'iptables v1.8.9 (nf_tables): table `mangle\' is incompatible, use \'nft\' tool.\n');
    writeFileSync(join(fw, sosCommandFile('nft -a list ruleset')), ['filter', 'nat', 'mangle', 'raw'].map((t) => `table ip ${t} { # handle 1\n\tchain ${t === 'nat' ? 'POSTROUTING' : 'PREROUTING'} { # handle 1\n\t}\n}\n`).join('') + 'table inet firewalld { # handle 9\n\tchain filter_INPUT { # handle 1\n\t}\n}\n');
    const manifest = JSON.parse(readFileSync(join(top, 'sos_reports', 'manifest.json'), 'utf8')) as { components: { report: { plugins: Record<string, unknown> } } };
    manifest.components.report.plugins.firewall_tables = { commands: [{ exec: 'iptables -t mangle -nvL', filepath: 'sos_commands/firewall_tables/iptables_-t_mangle_-nvL', return_code: 1 }] };
    writeFileSync(join(top, 'sos_reports', 'manifest.json'), JSON.stringify(manifest));
    return top;
  }

  it('sos inside a namespace it recorded: that namespace\'s iptables-save serves, not the listing of the same stack', async () => {
    const [main] = await openBundles(withFirewallTables(true));
    expect(source(main, 'iptables-save').file).toBe('sos_commands/networking/namespaces/hclab-0-0000-ecs3/ip_netns_exec_hclab-0-0000-ecs3_iptables-save');
    expect(source(main, 'iptables-save').format).toBeUndefined();
  });

  it('alone: the listings of every table sos listed, the failed and the unlisted ones named; nft read from its text', async () => {
    const [main] = await openBundles(withFirewallTables(false));
    const fw = source(main, 'iptables-save');
    expect(fw).toMatchObject({ status: 'collected', format: 'iptables-list', file: 'sos_commands/firewall_tables/iptables_-vnxL, sos_commands/firewall_tables/iptables_-t_nat_-nvL' });
    expect(fw.message).toMatch(/^read from sos's `iptables -nvL` listings, not iptables-save \(sos runs none for the stack it ran in\): filter: sos_commands\/firewall_tables\/iptables_-vnxL \(lines 2–\d+\); nat: sos_commands\/firewall_tables\/iptables_-t_nat_-nvL \(lines \d+–\d+\)/);
    expect(fw.message).toContain('failed: sos_commands/firewall_tables/iptables_-t_mangle_-nvL (exit code 1: iptables v1.8.9 (nf_tables): table `mangle\' is incompatible');
    expect(fw.message).toContain('tables mangle, raw exist (nft list ruleset shows table ip mangle, table ip raw) but sos did not list them: their rules are read from sos_commands/firewall_tables/nft_-a_list_ruleset as nft prints them');
    expect(source(main, 'nft')).toMatchObject({ status: 'collected', format: 'nft-text', file: 'sos_commands/firewall_tables/nft_-a_list_ruleset', message: 'read from sos\'s `nft -a list ruleset` text (sos runs no nft -j)' });
    const snapshot = buildSnapshot(main);
    expect(snapshot.nft.map((t) => [`${t.family} ${t.name}`, t.handle, t.managedBy])).toEqual([['ip filter', 1, 'native'], ['ip nat', 1, 'native'], ['ip mangle', 1, 'native'], ['ip raw', 1, 'native'], ['inet firewalld', 9, 'native']]);
    expect(snapshot.sources.find((x) => x.name === 'nft')!.message).toMatch(/read as `nft list ruleset` text with rule handles \(nft -a\)$/);
    expect(snapshot.netfilter.v4.map((t) => [t.name, t.rules.length])).toEqual([['filter', 50], ['nat', 11]]);
    // The line numbers are the joined text's; the message says which lines came from which file.
    const dnat = snapshot.netfilter.v4[1].rules.find((r) => r.target?.name === 'DNAT')!;
    expect(main.files.get('iptables-save')!.split('\n')[dnat.origin.lineNumber - 1]).toBe(dnat.origin.text);
  });
});

describe('docs/bundle.md', () => {
  it('the mapping table has a row for every source a foreign bundle accounts for', () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'bundle.md'), 'utf8');
    const table = doc.slice(doc.indexOf('### Another collector\'s bundle: the mapping'), doc.indexOf('### Namespaces are hosts'));
    const rows = [...table.matchAll(/^\| `([a-z0-9-]+)` \|/gm)].map((m) => m[1]);
    expect(rows).toEqual(READ_SOURCES);
  });
});

describe('calicoctl node diags layout (built from its source)', () => {
  function diags(host: string): string {
    const file = join(tmp, `diags-${host}.tar.gz`);
    execFileSync('tar', ['-czf', file, '-C', join(bundles, 'calicoctl-node-diags-layout', host), 'diagnostics']);
    return file;
  }

  it('reads routes, IPv4 and IPv6 addresses, iptables-save -c and ipset list; the rest is lacking', async () => {
    const [b] = await openBundles(diags('ecs3'));
    expect(b.meta).toMatchObject({ name: 'ecs3', hostname: 'ecs3', layout: { kind: 'calicoctl-node-diags' } });
    expect(source(b, 'ip-route-v4')).toMatchObject({ status: 'collected', file: 'diagnostics/ipv4_route', argv: ['ip', '-4', 'route'], message: expect.stringMatching(/main table only/) });
    expect(source(b, 'iptables-save')).toMatchObject({ status: 'collected', file: 'diagnostics/ipv4_tables' });
    expect(source(b, 'ipset')).toMatchObject({ status: 'collected', file: 'diagnostics/ipsets', argv: ['ipset', 'list'] });
    expect(source(b, 'ip-rule-v4')).toMatchObject({ lacking: true, message: expect.stringMatching(/^not in calicoctl node diags: calicoctl does not run `ip rule`/) });
    const eth0 = buildSnapshot(b).interfaces.find((i) => i.name === 'eth0')!;
    expect(eth0.addresses.map((a) => a.cidr)).toEqual(['172.31.4.18/20', expect.stringMatching(/^fe80::/)]);
    // calicoctl's ip -4 addr has no link lines: the same lines quoted, at other line numbers.
    expect(ecs3Cause(b, false)).toEqual(ecs3Cause(await readBundle(ecs3Own), false));
  });

  it('is told apart from a sosreport and a hostcheck bundle by its files, not its name', async () => {
    const renamed = join(tmp, 'customer-upload.bin');
    cpSync(diags('ecs1'), renamed);
    expect((await openBundles(renamed))[0].meta.layout?.kind).toBe('calicoctl-node-diags');
    expect(readFileSync(renamed).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  });
});
