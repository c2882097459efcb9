/**
 * docker-pool-conflict: Docker's `bip` or `default-address-pools` (or its built-in defaults)
 * overlaps a remote network or a peer — the conflict appears when the next network is created.
 */
import { evidenceOf, findingKey, type Finding } from '../model/finding.js';
import { formatIPv4, formatPrefix, parseAddress, parsePrefix, prefixesOverlap, type Prefix } from '../net/address.js';
import type { Check, HostContext } from './types.js';
import { dockerDaemon, dockerNetworks, maskPrefix, peerLabel } from './view.js';

/** Docker's built-in pools when daemon.json sets none: 172.17-31.0.0/16 and 192.168.0.0/16 in /20s. */
export const DOCKER_DEFAULT_POOLS: Prefix[] = [parsePrefix('172.17.0.0/16')!, parsePrefix('172.18.0.0/15')!, parsePrefix('172.20.0.0/14')!, parsePrefix('172.24.0.0/13')!, parsePrefix('192.168.0.0/16')!];

const CANDIDATE_POOLS = ['10.250.0.0/16', '10.251.0.0/16', '172.30.0.0/16', '192.168.240.0/20', '100.127.0.0/16'];

interface Pool {
  prefix: Prefix;
  label: string;
  builtin?: boolean;
  origin?: Finding['evidence'][number];
}

function dockerPresent(ctx: HostContext): boolean {
  const s = ctx.snapshot;
  return dockerNetworks(s).length > 0 || dockerDaemon(s) !== undefined || s.interfaces.some((i) => i.owner?.type === 'docker');
}

function poolsOf(ctx: HostContext): Pool[] {
  const daemon = dockerDaemon(ctx.snapshot);
  const pools: Pool[] = [];
  if (daemon?.bip) {
    const p = parsePrefix(daemon.bip, 4, true);
    if (p) pools.push({ prefix: maskPrefix(p), label: `bip ${daemon.bip}`, origin: evidenceOf(daemon.lines.bip ?? daemon.origin)[0] });
  }
  for (const pool of daemon?.defaultAddressPools ?? []) {
    const p = parsePrefix(pool.base);
    if (p) pools.push({ prefix: p, label: `default-address-pools base ${pool.base} size ${pool.size}`, origin: evidenceOf(daemon?.lines['default-address-pools'] ?? daemon?.origin)[0] });
  }
  if (!daemon?.defaultAddressPools.length) {
    // Docker's presence is the evidence: its bridge's address line.
    const bridgeLine = ctx.snapshot.interfaces.find((i) => i.owner?.type === 'docker')?.addresses[0]?.origin;
    for (const p of DOCKER_DEFAULT_POOLS) pools.push({ prefix: p, label: "Docker's built-in address pools (172.17.0.0/16 to 172.31.0.0/16, 192.168.0.0/16 in /20s; no default-address-pools in /etc/docker/daemon.json)", builtin: true, origin: evidenceOf(bridgeLine)[0] });
  }
  return pools;
}

/** Pool ranges that overlap nothing the host or its peers use: one for bip, one for the pools. */
function freePools(avoid: Prefix[]): [string, string] {
  const free = CANDIDATE_POOLS.filter((c) => !avoid.some((a) => prefixesOverlap(a, parsePrefix(c)!)));
  return [free[0] ?? '10.250.0.0/16', free[1] ?? '10.251.0.0/16'];
}

export const dockerPoolConflict: Check = {
  id: 'docker-pool-conflict',
  title: "Docker's address pools overlap a remote network or a peer",
  severity: 'warning',
  explain: `Docker takes each new bridge network's subnet from its address pools: "bip" for docker0 and
"default-address-pools" (by default 172.17.0.0/16 to 172.31.0.0/16, then 192.168.0.0/16 in /20s)
for every "docker network create" and every compose project. When a pool overlaps a remote VPC,
the IDC or a peer, the next network created there captures that traffic: replies to those
addresses go into the new bridge instead of out of eth0. Nothing is broken yet; it breaks
the day someone starts a compose project.

Fix: set "bip" and "default-address-pools" in /etc/docker/daemon.json to a range no remote
network or peer uses, then restart Docker (existing networks keep their subnets until recreated).`,
  families: {
    host(ctx) {
      if (!dockerPresent(ctx)) return [];
      const used = [
        ...dockerNetworks(ctx.snapshot).flatMap((n) => n.ipam.config.map((c) => (c.subnet ? parsePrefix(c.subnet) : null))),
        ...ctx.snapshot.interfaces.filter((i) => i.owner?.type === 'docker').flatMap((i) => i.addresses.map((a) => parsePrefix(a.cidr, a.family, true))).map((p) => (p ? maskPrefix(p) : null)),
      ].filter((p): p is Prefix => !!p);
      const targets: { label: string; prefix: Prefix; peer?: string }[] = [];
      for (const r of ctx.remotes) {
        const p = parsePrefix(r, r.includes(':') ? 6 : 4);
        if (p) targets.push({ label: `remote network ${r}`, prefix: p });
      }
      for (const peer of ctx.peers) {
        const a = parseAddress(peer.address);
        if (a) targets.push({ label: `peer ${peerLabel(peer)}`, prefix: a.family === 4 ? { family: 4, value: a.value, len: 32 } : { family: 6, value: a.value, len: 128 }, peer: peer.address });
      }
      const avoid = [...targets.map((t) => t.prefix), ...used, ...ctx.snapshot.interfaces.flatMap((i) => i.addresses.map((a) => parsePrefix(a.cidr, a.family, true)).filter((p): p is Prefix => !!p).map(maskPrefix))];
      const findings: Finding[] = [];
      const pools = poolsOf(ctx);
      const poolsInUse = pools.map((p) => p.prefix);
      for (const pool of pools) {
        for (const t of targets) {
          if (!prefixesOverlap(pool.prefix, t.prefix)) continue;
          // A subnet Docker already uses is route-captures-peer's business, not a future conflict.
          if (used.some((u) => prefixesOverlap(u, t.prefix) && prefixesOverlap(u, pool.prefix))) continue;
          // The built-in pools hand out whole /16s (172.x) and /20s (192.168.x): name the one at risk.
          const atRisk = pool.builtin ? maskPrefix({ ...t.prefix, len: Math.min(t.prefix.len, t.prefix.family === 4 && (t.prefix.value >>> 16) === 0xc0a8 ? 20 : 16) } as Prefix) : pool.prefix;
          const subject = `${formatPrefix(atRisk)}~${formatPrefix(t.prefix)}`;
          const [bipRange, newPool] = freePools([...avoid, ...poolsInUse]);
          findings.push({
            check: 'docker-pool-conflict',
            severity: 'warning',
            host: ctx.host,
            subject,
            key: findingKey('docker-pool-conflict', ctx.host, subject),
            summary: pool.builtin
              ? `Docker's built-in address pools include ${formatPrefix(atRisk)}, which holds ${t.label}: the next Docker network may take it and capture that traffic`
              : `Docker's ${pool.label} overlaps ${t.label}: the next Docker network may take it and capture that traffic`,
            evidence: pool.origin ? [pool.origin] : [],
            why: `Docker assigns new bridge networks from ${pool.builtin ? pool.label : formatPrefix(pool.prefix)}. A network created there gets a connected route that wins over the uplink for ${formatPrefix(t.prefix)}, so replies to ${t.label} would leave into the bridge.`,
            fix: [
              `# set non-overlapping pools in /etc/docker/daemon.json, e.g. {"bip": "${bipFor(bipRange)}", "default-address-pools": [{"base": "${newPool}", "size": 24}]}`,
              '# then: systemctl restart docker (existing networks keep their subnets until recreated)',
            ],
            peers: t.peer ? [t.peer] : undefined,
          });
        }
      }
      return findings;
    },
  },
};

function bipFor(pool: string): string {
  const p = parsePrefix(pool)!;
  if (p.family !== 4) return pool;
  return `${formatIPv4(p.value + 1)}/24`;
}
