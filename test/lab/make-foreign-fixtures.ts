/**
 * Bundles of other collectors, for the readers in src/collect: `npm run fixtures:bundles` as root
 * (= `tsx test/lab/make-foreign-fixtures.ts`). Builds the first incident (test/lab/topologies.ts)
 * and writes to fixtures/bundles/:
 *
 * - `sos-4.0/first-incident.tar.xz`: Debian's real `sos report` (sos 4.0), run inside ecs3 — the
 *   archive exactly as sos wrote it (its namespace names keep the lab's random prefix);
 * - `sos-3.9.1-layout/sosreport-sos-lab.0-19700101000000/`: the layout sos 3.9.1 writes, built from
 *   its source (sos/plugins/networking.py and kernel.py of tag 3.9.1: the commands, `_mangle_command`
 *   file names, version.txt, the `ip_addr` link) with the lab's real outputs of those commands;
 * - `sos-4.0/firewall-listing.tar.xz`: the same sos in ecs3 of ecs3PeerFirewall (check-topologies.ts),
 *   recording no namespace, with --allow-system-changes (test/lab/sos.ts says why): the firewall of
 *   the stack sos ran in as `iptables -vnxL`, the neighbour table as `ip -s -s neigh show`
 *   (`npm run fixtures:bundles -- firewall-listing` writes only this one);
 * - `sos-4.0/nft-drops.tar.xz`: the same sos in ecs3 with drops in nf_tables where sos's iptables
 *   listing does not look (check-topologies.ts ECS3_NFT_DROPS: a native inet table, an iptables-nft
 *   raw-table rule): sos's `nft list ruleset` text (`npm run fixtures:bundles -- nft-drops` writes only this one);
 * - `calicoctl-node-diags-layout/{ecs1,ecs3}/diagnostics/`: the layout of `calicoctl node diags`,
 *   built from calicoctl/calicoctl/commands/node/diags.go (projectcalico/calico): one file per
 *   command, stdout and stderr together, from the lab's real outputs.
 *
 * The built layouts are normalised like fixtures/scenarios (make-fixtures.ts): the lab prefix,
 * iptables-save dates and counters, bridge timers. Only sos 4.0 runs here (Debian's package).
 */
import { copyFileSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sosCommandFile } from '../../src/collect/bundle-sos.js';
import { settleIpv6 } from './fixture-topologies.js';
import { Lab, labPrerequisites, repoRoot } from './lab.js';
import { FIXTURE_PREFIX, normaliseFile, withoutDad } from './make-fixtures.js';
import { sosReport } from './sos.js';
import { applyEcs3NftDrops, ecs3PeerFirewall, meshWithEcs3 } from './check-topologies.js';
import { FIRST_INCIDENT, firstIncident } from './topologies.js';
import type { Topology } from './topology.js';

const OUT = join(repoRoot, 'fixtures', 'bundles');

/** Runs one command line in a lab host: stdout and stderr as one text, as both collectors keep them. */
async function output(lab: Lab, host: string, command: string): Promise<string> {
  const r = await lab.exec(host, ['sh', '-c', `${command} 2>&1`]);
  return r.stdout + (r.stdout.endsWith('\n') || r.stdout === '' ? '' : '\n');
}

/** The lab's random prefix fixed, and the volatile parts of each kind of output. */
function normalise(lab: Lab, command: string, text: string): string {
  const kind = /iptables-save|ip6tables-save/.test(command) ? 'iptables-save.txt' : /ip (-s )?-d (addr|link)/.test(command) ? 'ip-addr.txt' : 'other';
  return normaliseFile(kind, text, lab.prefix);
}

async function sos391Layout(lab: Lab): Promise<void> {
  const root = join(OUT, 'sos-3.9.1-layout');
  rmSync(root, { recursive: true, force: true });
  const top = join(root, 'sosreport-sos-lab.0-19700101000000');
  const net = join(top, 'sos_commands', 'networking');
  mkdirSync(net, { recursive: true });
  mkdirSync(join(top, 'sos_commands', 'kernel'), { recursive: true });
  mkdirSync(join(top, 'sos_logs'), { recursive: true });
  mkdirSync(join(top, 'etc'), { recursive: true });
  // sos ran inside ecs3; networking.py (3.9.1) runs these, then three per namespace.
  const main = ['ip -o addr', 'ip route show table all', 'ip -6 route show table all', 'ip -4 rule', 'ip -6 rule', 'ip -s -d link', 'ip -d address', 'ip netns'];
  for (const c of main) writeFileSync(join(net, sosCommandFile(c)), normalise(lab, c, await output(lab, 'ecs3', c)));
  for (const host of lab.hosts) {
    for (const c of ['ip address show', 'ip route show table all', 'iptables-save']) {
      const full = `ip netns exec ${FIXTURE_PREFIX}${host} ${c}`;
      writeFileSync(join(net, sosCommandFile(full)), normalise(lab, c, await output(lab, host, c)));
    }
  }
  // kernel.py runs sysctl -a; kept to the net.* keys (the rest is the machine's, and large).
  const sysctl = (await output(lab, 'ecs3', 'sysctl -a')).split('\n').filter((l) => l.startsWith('net.')).join('\n') + '\n';
  writeFileSync(join(top, 'sos_commands', 'kernel', 'sysctl_-a'), normalise(lab, 'sysctl -a', sysctl));
  writeFileSync(join(top, 'etc', 'hostname'), 'sos-lab\n');
  writeFileSync(join(top, 'version.txt'), 'sosreport: 3.9.1\nnetworking: unversioned\nkernel: unversioned');
  writeFileSync(join(top, 'sos_logs', 'sos.log'), 'layout of sos 3.9.1 built by test/lab/make-foreign-fixtures.ts from the lab first incident\n');
  symlinkSync('sos_commands/networking/ip_-o_addr', join(top, 'ip_addr'));
}

async function calicoLayout(lab: Lab): Promise<void> {
  const root = join(OUT, 'calicoctl-node-diags-layout');
  rmSync(root, { recursive: true, force: true });
  // diags.go's commands with their files; the ipset of the calico/node container needs Docker (absent: empty).
  const commands: [string, string][] = [
    ['netstat -a -n', 'netstat'], ['ip -4 route', 'ipv4_route'], ['ip -6 route', 'ipv6_route'], ['ip -4 addr', 'ipv4_addr'], ['ip -6 addr', 'ipv6_addr'],
    ['iptables-save -c', 'ipv4_tables'], ['ip6tables-save -c', 'ipv6_tables'], ['ipset list', 'ipsets'],
  ];
  for (const host of ['ecs1', 'ecs3']) {
    const dir = join(root, host, 'diagnostics');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'date'), 'Thu Jan  1 00:00:00 UTC 1970\n');
    writeFileSync(join(dir, 'hostname'), `${host}\n`);
    for (const [c, file] of commands) writeFileSync(join(dir, file), normalise(lab, c, await output(lab, host, c)));
    writeFileSync(join(dir, 'ipset_container'), '');
  }
}

/**
 * sos in ecs3 of `topology` (after `setup`), recording no namespace, with --allow-system-changes;
 * ECS3 answers ecs2 and ecs1 first (and so learns its gateway's address): sos-4.0/`file`.
 */
async function sosOfEcs3(topology: Topology, file: string, setup: (lab: Lab) => Promise<void> = async () => {}): Promise<void> {
  const lab = await Lab.create(withoutDad(topology));
  try {
    await settleIpv6(lab);
    await setup(lab);
    await lab.ping('ecs2', FIRST_INCIDENT.ecs3);
    await lab.ping('ecs1', FIRST_INCIDENT.ecs3);
    const sos = await sosReport(lab, 'ecs3', ['networking'], { allowSystemChanges: true, namespaces: false });
    mkdirSync(join(OUT, 'sos-4.0'), { recursive: true });
    copyFileSync(sos.archive, join(OUT, 'sos-4.0', file));
    rmSync(sos.dir, { recursive: true, force: true });
    process.stdout.write(`sos-4.0/${file} (sos ran ${sos.durationMs} ms)\n`);
  } finally {
    await lab.destroy();
  }
}

/** A host whose INPUT drops a peer: the -vnxL listing. */
const firewallListing = (): Promise<void> => sosOfEcs3(ecs3PeerFirewall(), 'firewall-listing.tar.xz');
/** A host whose drops are in nf_tables (a native inet table, an iptables-nft raw rule): sos's nft list ruleset text. */
const nftDrops = (): Promise<void> => sosOfEcs3(meshWithEcs3({}), 'nft-drops.tar.xz', applyEcs3NftDrops);

async function main(): Promise<void> {
  const prerequisites = labPrerequisites();
  if (!prerequisites.ok) throw new Error(`cannot build the lab: ${prerequisites.reason}`);
  if (process.argv[2] === 'nft-drops') return nftDrops();
  await firewallListing();
  if (process.argv[2] === 'firewall-listing') return;
  await nftDrops();
  const lab = await Lab.create(withoutDad(firstIncident()));
  try {
    await settleIpv6(lab);
    const sos = await sosReport(lab, 'ecs3');
    mkdirSync(join(OUT, 'sos-4.0'), { recursive: true });
    copyFileSync(sos.archive, join(OUT, 'sos-4.0', 'first-incident.tar.xz'));
    rmSync(sos.dir, { recursive: true, force: true });
    process.stdout.write(`sos-4.0/first-incident.tar.xz (sos ran ${sos.durationMs} ms)\n`);
    await sos391Layout(lab);
    await calicoLayout(lab);
  } finally {
    await lab.destroy();
  }
}

await main();
