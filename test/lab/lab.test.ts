/**
 * The lab's own tests: it builds what the topology says, and it never leaves a namespace behind —
 * not after destroy, a thrown test, a failed setup, SIGTERM, SIGINT, exit or an uncaught error.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  Lab,
  LabCommandError,
  LabSetupError,
  TopologyError,
  hostcheckBin,
  newLabPrefix,
  repoRoot,
  sweepStaleNamespaces,
  type Topology,
} from './lab.js';
import { describeLab } from './suite.js';

function namespacesWithPrefix(prefix: string): string[] {
  try {
    return readdirSync('/run/netns').filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}

const pair: Topology = {
  hosts: { a: {}, b: {} },
  links: [{ a: { host: 'a', iface: 'eth0', addresses: ['10.98.0.1/30'] }, b: { host: 'b', iface: 'eth0', addresses: ['10.98.0.2/30'] } }],
};

/** Everything the lab can describe, in one topology. */
const features: Topology = {
  hosts: {
    gw: {
      router: true,
      bridges: [{ name: 'br-lan', addresses: ['10.20.0.1/24', 'fd00:20::1/64'] }],
      routes: ['10.200.0.0/20 via 10.10.0.2 dev eth0 table 100', 'blackhole 10.201.0.0/16', '10.9.9.9/32 via 10.10.0.2'],
      rules: ['from 10.20.0.0/24 lookup 100 pref 1000'],
      xfrmPolicies: ['src 10.16.0.0/16 dst 10.200.0.0/20 dir out tmpl src 10.10.0.1 dst 10.10.0.2 proto esp mode tunnel'],
      iptables: ['*filter', ':INPUT ACCEPT [0:0]', '-A INPUT -s 192.0.2.7/32 -p tcp --dport 22 -j DROP', 'COMMIT', ''].join('\n'),
    },
    peer: {
      bridges: [{ name: 'docker0', addresses: ['172.17.0.1/16'] }],
      devices: [
        { name: 'vx0', link: 'type vxlan id 42 dstport 4789 local 10.10.0.2 dev eth0', addresses: ['10.30.0.2/24'] },
        { name: 'mv0', link: 'link eth0 type macvlan mode bridge' },
        { name: 'tap0', tuntap: 'tap' },
      ],
      addresses: ['10.9.9.9/32 dev lo'],
      routes: ['default via 10.10.0.1'],
      sysctls: { 'net.ipv4.conf.all.accept_redirects': 0, 'net.ipv4.conf.eth0.arp_ignore': 1 },
    },
    lanhost: { routes: ['default via 10.20.0.1'] },
  },
  links: [
    { a: { host: 'gw', iface: 'eth0', addresses: ['10.10.0.1/30'] }, b: { host: 'peer', iface: 'eth0', addresses: ['10.10.0.2/30'] } },
    { a: { host: 'gw', iface: 'veth-lan1', bridge: 'br-lan' }, b: { host: 'lanhost', iface: 'eth0', addresses: ['10.20.0.10/24', 'fd00:20::10/64'] } },
  ],
};

describeLab('lab: namespaces come and go', () => {
  it('creates one namespace per host with the run prefix, links none to the root namespace, and removes all on destroy', async () => {
    const lab = await Lab.create(pair);
    try {
      expect(lab.prefix).toMatch(/^hclab-[0-9a-z]+-[0-9a-z]{4}-$/);
      expect(namespacesWithPrefix(lab.prefix).sort()).toEqual([`${lab.prefix}a`, `${lab.prefix}b`]);
      const rootLinks = await execa('ip', ['-o', 'link', 'show']);
      expect(rootLinks.stdout).not.toContain(lab.prefix);
      expect((await lab.exec('a', ['ip', '-br', 'link', 'show', 'lo'])).stdout).toContain('UP');
      expect((await lab.ping('a', '10.98.0.2')).ok).toBe(true);
    } finally {
      await lab.destroy();
    }
    expect(namespacesWithPrefix(lab.prefix)).toEqual([]);
    await expect(lab.exec('a', ['true'])).rejects.toThrow(/destroyed/);
  });

  it('removes the lab when the test body throws inside try/finally', async () => {
    let prefix = '';
    await expect(
      (async () => {
        const lab = await Lab.create(pair);
        prefix = lab.prefix;
        try {
          throw new Error('test failed on purpose');
        } finally {
          await lab.destroy();
        }
      })(),
    ).rejects.toThrow('test failed on purpose');
    expect(prefix).not.toBe('');
    expect(namespacesWithPrefix(prefix)).toEqual([]);
  });

  it('a failed setup removes what it built and names the topology item', async () => {
    const prefix = newLabPrefix();
    const broken: Topology = { ...pair, hosts: { a: { routes: ['10.0.0.0/8 via 10.77.0.1'] }, b: {} } };
    const error = await Lab.create(broken, { prefix }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LabSetupError);
    expect((error as Error).message).toContain('a.routes[0]: ip route add 10.0.0.0/8 via 10.77.0.1');
    expect(namespacesWithPrefix(prefix)).toEqual([]);
  });

  it('rejects unsupported link kinds and unknown hosts before touching the kernel', async () => {
    const prefix = newLabPrefix();
    await expect(Lab.create({ hosts: { a: { devices: [{ name: 'gre1', link: 'type gre remote 1.2.3.4' }] } } }, { prefix })).rejects.toThrow(
      /link kind gre is not supported/,
    );
    await expect(Lab.create({ ...pair, links: [{ a: { host: 'a', iface: 'eth0' }, b: { host: 'zz', iface: 'eth0' } }] }, { prefix })).rejects.toThrow(
      TopologyError,
    );
    expect(namespacesWithPrefix(prefix)).toEqual([]);
  });
});

describeLab('lab: what a topology describes is what the kernel has', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await Lab.create(features);
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  const sh = async (host: string, line: string): Promise<string> => (await lab.exec(host, ['sh', '-c', line], { check: true })).stdout;

  it('routes in a non-main table and the rule that selects it', async () => {
    expect(await sh('gw', 'ip route show table 100')).toContain('10.200.0.0/20 via 10.10.0.2 dev eth0');
    expect(await sh('gw', 'ip route show')).toContain('blackhole 10.201.0.0/16');
    expect(await sh('gw', 'ip rule show')).toContain('1000:\tfrom 10.20.0.0/24 lookup 100');
    expect(await sh('gw', 'ip route get 10.200.0.5 from 10.20.0.10 iif br-lan')).toContain('via 10.10.0.2 dev eth0');
  });

  it('sysctls: lab base values, forwarding by role, and the host’s own (global and per interface)', async () => {
    expect(await sh('gw', 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/icmp_ratelimit /proc/sys/net/ipv6/icmp/ratelimit')).toBe('1\n0\n0');
    expect(await sh('peer', 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/all/rp_filter')).toBe('0\n0');
    expect(await sh('peer', 'cat /proc/sys/net/ipv4/conf/all/accept_redirects /proc/sys/net/ipv4/conf/eth0/arp_ignore')).toBe('0\n1');
  });

  it('iptables rules loaded with iptables-restore show in iptables-save', async () => {
    expect(await sh('gw', 'iptables-save -t filter')).toContain('-A INPUT -s 192.0.2.7/32 -p tcp -m tcp --dport 22 -j DROP');
    expect(await sh('peer', 'iptables-save')).not.toContain('192.0.2.7');
  });

  it('xfrm policies show in ip xfrm policy', async () => {
    const policies = await sh('gw', 'ip xfrm policy');
    expect(policies).toContain('src 10.16.0.0/16 dst 10.200.0.0/20');
    expect(policies).toContain('tmpl src 10.10.0.1 dst 10.10.0.2');
  });

  it('a bridge without ports is NO-CARRIER and its route linkdown; one with a port is up', async () => {
    expect(await sh('peer', 'ip link show docker0')).toMatch(/<NO-CARRIER,BROADCAST,MULTICAST,UP>.*state DOWN/);
    expect((await sh('peer', 'ip route show dev docker0')).trim()).toBe('172.17.0.0/16 proto kernel scope link src 172.17.0.1 linkdown');
    expect(await sh('gw', 'ip link show br-lan')).toContain('<BROADCAST,MULTICAST,UP,LOWER_UP>');
    expect(await sh('gw', 'ip route show dev br-lan')).not.toContain('linkdown');
    expect(await sh('gw', 'ip -o link show veth-lan1')).toContain('master br-lan');
  });

  it('devices: vxlan, macvlan and tap; addresses on lo', async () => {
    expect(await sh('peer', 'ip -d link show vx0')).toContain('vxlan id 42');
    expect(await sh('peer', 'ip -d link show mv0')).toContain('macvlan mode bridge');
    expect(await sh('peer', 'ip -d link show tap0')).toContain('tun type tap');
    expect(await sh('peer', 'ip -o address show dev lo')).toContain('10.9.9.9/32');
  });

  it('real packets cross the router and the bridge, IPv4 and IPv6', async () => {
    expect((await lab.ping('lanhost', '10.10.0.2')).ok).toBe(true);
    expect((await lab.ping('peer', '10.20.0.10', { source: '10.9.9.9' })).ok).toBe(true);
    expect((await lab.ping('lanhost', 'fd00:20::1')).ok).toBe(true);
    const unreachable = await lab.ping('peer', '10.201.0.1', { count: 2, timeoutS: 1 });
    expect(unreachable.ok).toBe(false);
  });

  it('exec reports a non-zero exit without throwing unless asked; applyFix throws on failure', async () => {
    const result = await lab.exec('gw', ['sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(result).toEqual({ stdout: 'out', stderr: 'err', exitCode: 7 });
    await expect(lab.exec('gw', ['false'], { check: true })).rejects.toBeInstanceOf(LabCommandError);
    await expect(lab.applyFix('gw', 'ip link del nosuchdev')).rejects.toThrow(/nosuchdev/);
    expect(() => lab.ns('nosuchhost')).toThrow(/no host/);
  });

  it.skipIf(!existsSync(hostcheckBin))(
    existsSync(hostcheckBin) ? 'hostcheck runs from the repository inside a host' : 'skipped: bin/hostcheck does not exist yet',
    async () => {
      const result = await lab.hostcheck('gw', ['--help']);
      expect(result.stderr).not.toMatch(/No such file|EACCES|exec of/);
      expect(result.exitCode).not.toBe(-1);
    },
  );
});

const childScript = join(repoRoot, 'test', 'lab', 'interrupt-child.ts');

interface ChildRun {
  namespaces: string[];
  /** Resolves with how the child ended. */
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  pid: number;
}

/** Starts interrupt-child.ts and waits until its lab exists. */
async function startChild(mode: string): Promise<ChildRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', childScript, mode], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const firstLine = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('\n')) resolve(stdout.slice(0, stdout.indexOf('\n')));
    });
    void ended.then(() => reject(new Error(`child ended before its lab was ready: ${stderr}`)));
  });
  const { namespaces } = JSON.parse(firstLine) as { namespaces: string[] };
  return { namespaces, ended, pid: child.pid! };
}

describeLab('lab: interrupted runs leave nothing behind', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} to a process holding a lab removes its namespaces and the process still dies by ${signal}`, async () => {
      const run = await startChild('wait');
      expect(run.namespaces.every((n) => namespacesWithPrefix(n).length === 1)).toBe(true);
      process.kill(run.pid, signal);
      expect(await run.ended).toEqual({ code: null, signal });
      expect(run.namespaces.flatMap(namespacesWithPrefix)).toEqual([]);
    });
  }

  it('process.exit and an uncaught error remove the namespaces too', async () => {
    for (const [mode, code] of [
      ['exit', 3],
      ['throw', 1],
    ] as const) {
      const run = await startChild(mode);
      expect(await run.ended).toEqual({ code, signal: null });
      expect(run.namespaces.flatMap(namespacesWithPrefix)).toEqual([]);
    }
  });

  it('SIGKILL leaves namespaces that sweepStaleNamespaces removes', async () => {
    const run = await startChild('wait');
    process.kill(run.pid, 'SIGKILL');
    await run.ended;
    expect(run.namespaces.flatMap(namespacesWithPrefix).sort()).toEqual([...run.namespaces].sort());
    expect(sweepStaleNamespaces()).toEqual(expect.arrayContaining(run.namespaces));
    expect(run.namespaces.flatMap(namespacesWithPrefix)).toEqual([]);
  });

  it('sweepStaleNamespaces leaves the labs of live processes alone', async () => {
    const lab = await Lab.create(pair);
    try {
      expect(sweepStaleNamespaces()).not.toContain(lab.ns('a'));
      expect(namespacesWithPrefix(lab.prefix)).toHaveLength(2);
    } finally {
      await lab.destroy();
    }
  });
});
