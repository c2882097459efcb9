/**
 * The healthy-host corpus (issue 14): every host is built in namespaces and proven healthy with
 * real packets (ping both ways, traceroute where a path matters) before hostcheck runs inside
 * it with its peers; then no check may report an error or a warning. One case keeps the true
 * latent risk: a peer inside Docker's default address pools keeps its docker-pool-conflict
 * warning, and nothing else. Each host's findings are printed as `[corpus] CASE: ...`.
 */
import { expect, it } from 'vitest';
import type { Finding } from '../../src/model/finding.js';
import { parseAddress, parsePrefix, prefixContains } from '../../src/net/address.js';
import type { Report } from '../../src/report/json.js';
import { DOCKER_POOL_RISK, HEALTHY, type HealthyCase } from './healthy-topologies.js';
import type { Lab } from './lab.js';
import { describeLab, useLab } from './suite.js';

async function report(lab: Lab, c: HealthyCase): Promise<Report> {
  const args = ['--json', '--name', c.host, ...c.peers.flatMap((p) => ['--peer', `${p.address}=${p.name}`])];
  const r = await lab.hostcheck(c.host, args);
  try {
    return JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`hostcheck in ${c.host} printed no JSON (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}`);
  }
}

/** Errors and warnings, as `severity check subject: summary` (what the corpus forbids). */
const noisy = (r: Report): string[] => r.findings.filter((f) => f.severity !== 'info').map((f) => `${f.severity} ${f.check} ${f.subject}: ${f.summary}`);

function logCounts(name: string, r: Report): void {
  const count = (s: Finding['severity']): number => r.findings.filter((f) => f.severity === s).length;
  console.log(`[corpus] ${name}: ${count('error')} error(s), ${count('warning')} warning(s), ${count('info')} info${noisy(r).map((n) => `\n  ${n}`).join('')}`);
}

async function pings(lab: Lab, pairs: [string, string][]): Promise<void> {
  for (const [from, to] of pairs) {
    const r = await lab.ping(from, to, { count: 2, timeoutS: 2 });
    expect(r.ok, `ping ${from} → ${to}:\n${r.output}`).toBe(true);
  }
}

/** traceroute -n from `from` to `to`: the responders in hop order. */
async function traceroute(lab: Lab, from: string, to: string): Promise<string[]> {
  const r = await lab.exec(from, ['traceroute', '-n', '-q', '1', '-w', '1', '-m', '8', to]);
  expect(r.exitCode, r.stderr).toBe(0);
  return r.stdout.split('\n').slice(1).map((l) => l.trim().split(/\s+/)[1]).filter((x): x is string => x !== undefined);
}

/** Findings that call a range holding one of the (reached) peers unreachable. */
function unreachableClaims(r: Report, c: HealthyCase): string[] {
  return r.findings.filter((f) => /unreachable/.test(f.summary)).filter((f) => {
    const text = f.subject.split(' ')[1] ?? '';
    const range = parsePrefix(text, text.includes(':') ? 6 : 4);
    return range !== null && c.peers.some((p) => {
      const a = parseAddress(p.address);
      return a !== null && a.family === range.family && prefixContains(range, a);
    });
  }).map((f) => f.summary);
}

/** What proves each host healthy before hostcheck looks at it. */
const PROOF: Record<string, (lab: Lab) => Promise<void>> = {
  'dual-stack': async (lab) => {
    await pings(lab, [['host', '10.20.0.5'], ['client', '10.10.0.10'], ['host', '2001:db8:20::5'], ['client', '2001:db8:10::10']]);
    expect(await traceroute(lab, 'host', '2001:db8:20::5')).toEqual(['2001:db8:10::1', '2001:db8:20::5']);
  },
  'multi-nic': async (lab) => {
    // The router drops a source that arrives on the wrong NIC: both addresses answering proves the return paths.
    await pings(lab, [['client', '10.1.0.10'], ['client', '10.2.0.10']]);
    expect(await traceroute(lab, 'client', '10.2.0.10')).toEqual(['10.9.0.1', '10.2.0.10']);
  },
  'nat-router': async (lab) => {
    await pings(lab, [['lanpc', '10.0.1.1'], ['host', '10.0.1.10'], ['host', '198.51.100.20'], ['wan', '203.0.113.2'], ['lanpc', '198.51.100.20']]);
    expect(await traceroute(lab, 'lanpc', '198.51.100.20')).toEqual(['10.0.1.1', '203.0.113.1', '198.51.100.20']);
  },
  docker: async (lab) => {
    await pings(lab, [['client', '10.30.0.10'], ['host', '172.17.0.2'], ['ctr', '172.17.0.1'], ['ctr', '10.40.0.5']]);
    // The published port: client → 10.30.0.10:8080, DNAT to the container through FORWARD and DOCKER-USER.
    const server = lab.exec('ctr', ['timeout', '10', 'python3', '-c', 'import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 80)); s.listen(1); c, _ = s.accept(); c.sendall(b"hello from ctr"); c.close()']);
    const client = await lab.exec('client', ['python3', '-c', [
      'import socket, time',
      'for _ in range(40):',
      '    try:',
      '        print(socket.create_connection(("10.30.0.10", 8080), timeout=2).recv(100).decode()); break',
      '    except ConnectionRefusedError: time.sleep(0.1)',
    ].join('\n')]);
    await server;
    expect(client.stdout.trim(), client.stderr).toBe('hello from ctr');
  },
  'k8s-node': async (lab) => {
    await pings(lab, [['node1', '10.50.0.12'], ['client', '10.50.0.11'], ['pod1', '10.244.2.2'], ['pod2', '10.244.1.2'], ['node1', '10.244.1.2']]);
    // pod1 → pod2 crosses flannel.1: node1's cni0, node2's flannel.1 address, then the pod.
    expect(await traceroute(lab, 'pod1', '10.244.2.2')).toEqual(['10.244.1.1', '10.244.2.0', '10.244.2.2']);
  },
  'bridge-range-rescued': async (lab) => {
    await pings(lab, [['ecs1', '172.31.4.18'], ['ecs3', '172.17.0.64']]);
    expect(await traceroute(lab, 'ecs3', '172.17.0.64')).toEqual(['172.31.15.253', '172.17.0.64']);
  },
  'vms-on-own-bridge': async (lab) => {
    await pings(lab, [['host', '192.168.50.11'], ['host', '192.168.50.12'], ['vm1', '192.168.50.1'], ['vm2', '192.168.50.11'], ['client', '10.70.0.10'], ['vm1', '10.80.0.5']]);
  },
  'linkdown-ignored': async (lab) => {
    await pings(lab, [['ecs1', '172.31.4.18'], ['ecs3', '172.17.0.64']]);
    const route = await lab.exec('ecs3', ['ip', 'route', 'get', '172.17.0.64']);
    expect(route.stdout).toContain('via 172.31.15.253 dev eth0');
  },
  'nft-empty-accept': async (lab) => {
    expect((await lab.exec('host', ['nft', 'list', 'ruleset'])).stdout).toContain('policy accept');
    await pings(lab, [['client', '10.90.0.10'], ['host', '10.100.0.5']]);
  },
  'libvirt-default': async (lab) => {
    await pings(lab, [['client', '10.110.0.10'], ['host', '10.120.0.5']]);
  },
};

for (const [name, c] of Object.entries(HEALTHY)) {
  describeLab(`healthy corpus: ${name}`, () => {
    const lab = useLab(c.topology());
    it('works with real packets, and hostcheck reports no error and no warning', async () => {
      await PROOF[name](lab());
      const r = await report(lab(), c);
      logCounts(name, r);
      expect(noisy(r)).toEqual([]);
      // An info may describe a range's risk, but never calls a range with a peer the kernel reaches unreachable.
      expect(unreachableClaims(r, c)).toEqual([]);
    });
  });
}

describeLab('healthy corpus: a peer inside Docker’s default address pools keeps its one warning', () => {
  const lab = useLab(DOCKER_POOL_RISK.topology());
  it('ecs2 172.18.1.22 is reached today; the only finding above info is docker-pool-conflict for 172.18.0.0/16', async () => {
    await pings(lab(), [['ecs1', '172.31.4.18'], ['ecs2', '172.31.4.18'], ['ecs3', '172.18.1.22']]);
    const r = await report(lab(), DOCKER_POOL_RISK);
    logCounts('docker-pool-risk', r);
    expect(noisy(r)).toEqual([expect.stringMatching(/^warning docker-pool-conflict 172\.18\.0\.0\/16~172\.18\.1\.22\/32: Docker's built-in address pools include 172\.18\.0\.0\/16, which holds peer ecs2 172\.18\.1\.22/)]);
  });
});
