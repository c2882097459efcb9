/**
 * Kernel evidence on the kernel (docs/kernel.md): for rp_filter, a blackhole route, a netfilter
 * DROP, a prohibit rule and an xfrm block, real traffic between lab namespaces during `--watch`
 * turns the finding `confirmed` with the counter (and drop reason) measured for its cause; with no
 * traffic a finding only counters can confirm stays `not-seen`; a planted simulator bug becomes
 * `contradicted` with a `simulator-disagrees` error. Drop reasons are system-wide (other tests on
 * the machine drop packets too), so each test counts only its own cause's reason and location.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/report/json.js';
import { AgentProtocolPeer, waitFor as waitForPeer } from '../helpers/agent-protocol-peer.js';
import { TWO_NIC, meshWithEcs3, twoNic } from './check-topologies.js';
import { repoRoot, type Lab } from './lab.js';
import { describeLab, useLab } from './suite.js';
import { FIRST_INCIDENT as fi } from './topologies.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** True when tracefs (mounted in a throw-away mount namespace) has this path under instances/. */
async function instanceExists(name: string): Promise<boolean> {
  const r = await execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tracefs nodev /sys/kernel/tracing && test -d "/sys/kernel/tracing/instances/$0"', name], { reject: false });
  return r.exitCode === 0;
}

async function waitFor(what: string, test: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function reportOf(r: { stdout: string; stderr: string; exitCode: number }): Report {
  try {
    return JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`hostcheck printed no JSON (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}`);
  }
}

/**
 * hostcheck --watch SECONDS --drop-reasons in `host` (tracefs mounted for it), `traffic` sent once
 * its tracing instance is up (the window has begun), the report returned.
 */
async function watched(lab: Lab, host: string, args: string[], traffic: () => Promise<unknown>, seconds = 4): Promise<Report> {
  let opened: () => void = () => undefined;
  const open = new Promise<void>((r) => (opened = r));
  const run = lab.hostcheckWithTracefs(host, ['--json', '--name', host, '--watch', String(seconds), '--drop-reasons', ...args], {
    onSpawn: (child) => child.stderr?.on('data', (c: Buffer) => String(c).includes('watching') && opened()),
  });
  // Traffic once the window is open (the collection done, the counters read).
  await Promise.race([open, run]);
  await traffic();
  return reportOf(await run);
}

function finding(report: Report, check: string, subject?: string): Finding {
  const f = report.findings.find((x) => x.check === check && (subject === undefined || x.subject === subject));
  if (!f) throw new Error(`no ${check} finding${subject ? ` for ${subject}` : ''} in:\n${JSON.stringify(report.findings.map((x) => [x.check, x.subject, x.kernel]), null, 2)}`);
  return f;
}

/** The count in an evidence line like `NAME +5 in 4.01 s` or `REASON 5 drops in 4 s at LOCATION`. */
function counted(f: Finding, pattern: RegExp): number {
  const line = f.kernel?.evidence.find((e) => pattern.test(e));
  if (!line) throw new Error(`no evidence line ${pattern} in ${JSON.stringify(f.kernel)}`);
  return Number(pattern.exec(line)![1]);
}

/** A TCP listener on port 8080 in `host` for `seconds` (node: no nc here). */
function listen(lab: Lab, host: string, seconds: number): Promise<unknown> {
  return lab.exec(host, ['timeout', String(seconds), process.execPath, '-e', "require('net').createServer((s) => s.end()).listen(8080)"]);
}

describeLab('kernel evidence: rp_filter', () => {
  const lab = useLab(twoNic({ ecs4RpFilter: 1 }));
  it('pings hitting strict rp_filter during --watch: confirmed by the route answer, IPReversePathFilter and IP_RPFILTER', async () => {
    const report = await watched(lab(), 'ecs4', ['--peer', `${TWO_NIC.client}=client`], () => lab().ping('client', TWO_NIC.ecs4eth1, { count: 5 }));
    const f = finding(report, 'rp-filter-drop');
    expect(f.kernel?.status).toBe('confirmed');
    expect(f.kernel?.evidence).toContain(`ip route get ${TWO_NIC.ecs4eth1} from ${TWO_NIC.client} iif eth1: Invalid argument (the simulator agrees)`);
    expect(counted(f, /^TcpExtIPReversePathFilter \+(\d+) in [\d.]+ s$/)).toBe(5);
    expect(counted(f, /^IP_RPFILTER (\d+) drops in [\d.]+ s at ip_rcv_finish_core/)).toBeGreaterThanOrEqual(5);
    expect(report.kernel.window?.drops?.systemWide).toBe(true);
  });
});

describeLab('kernel evidence: a blackhole route and a prohibit rule', () => {
  const lab = useLab(meshWithEcs3({ rules: [`to ${fi.ecs1} prohibit pref 100`], routes: ['blackhole 172.18.1.0/24'] }));
  it('TCP connections whose SYN-ACKs cannot be routed: confirmed by the route answers and IpOutNoRoutes', async () => {
    const server = listen(lab(), 'ecs3', 12);
    await sleep(500);
    const report = await watched(lab(), 'ecs3', ['--peer', `${fi.ecs1}=ecs1`, '--peer', `${fi.ecs2}=ecs2`], async () => {
      await lab().exec('ecs1', ['curl', '-s', '--connect-timeout', '2', `http://${fi.ecs3}:8080/`]);
      await lab().exec('ecs2', ['curl', '-s', '--connect-timeout', '2', `http://${fi.ecs3}:8080/`]);
    }, 7);
    await server;
    const prohibit = finding(report, 'route-kills-traffic', fi.ecs1);
    const blackhole = finding(report, 'route-kills-traffic', fi.ecs2);
    expect(prohibit.kernel?.status).toBe('confirmed');
    expect(prohibit.kernel?.evidence).toContain(`ip route get ${fi.ecs1} from ${fi.ecs3}: Permission denied (the simulator agrees)`);
    expect(blackhole.kernel?.status).toBe('confirmed');
    expect(blackhole.kernel?.evidence).toContain(`ip route get ${fi.ecs2} from ${fi.ecs3}: Invalid argument (the simulator agrees)`);
    // Each refused SYN-ACK counts (one per SYN and retransmission), in this namespace only.
    expect(counted(blackhole, /^IpOutNoRoutes \+(\d+) in/)).toBeGreaterThanOrEqual(2);
  });
});

describeLab('kernel evidence: a netfilter DROP rule', () => {
  const lab = useLab(meshWithEcs3({ iptables: `*filter\n-A INPUT -s ${fi.ecs1}/32 -j DROP\nCOMMIT\n` }));
  it('with no traffic the finding stays not-seen', async () => {
    const report = await watched(lab(), 'ecs3', ['--peer', `${fi.ecs1}=ecs1`], async () => undefined, 2);
    const f = finding(report, 'firewall-blocks-peer', `${fi.ecs1} icmp-in`);
    expect(f.kernel?.status).toBe('not-seen');
    // NETFILTER_DROP of other namespaces (other tests) may move: quoted, not attributed.
    expect(f.kernel?.evidence.at(-1)).toMatch(/^watched iptables -t filter -A INPUT -s 172\.17\.0\.64\/32 -j DROP(, drop reason NETFILTER_DROP)? for [\d.]+ s: no change$/);
  });

  it('pings dropped by the rule during --watch: confirmed by the rule counter and NETFILTER_DROP', async () => {
    const report = await watched(lab(), 'ecs3', ['--peer', `${fi.ecs1}=ecs1`], () => lab().ping('ecs1', fi.ecs3, { count: 5 }));
    const f = finding(report, 'firewall-blocks-peer', `${fi.ecs1} icmp-in`);
    expect(f.kernel?.status).toBe('confirmed');
    expect(counted(f, /^iptables -t filter -A INPUT -s 172\.17\.0\.64\/32 -j DROP: \+(\d+) packets in/)).toBe(5);
    expect(counted(f, /^NETFILTER_DROP (\d+) drops in [\d.]+ s at nft_do_chain/)).toBeGreaterThanOrEqual(5);
  });
});

describeLab('kernel evidence: xfrm block policies', () => {
  const t = meshWithEcs3({});
  t.hosts.ecs3.xfrmPolicies = [`src ${fi.ecs3}/32 dst ${fi.ecs1}/32 dir out action block`, `src ${fi.ecs2}/32 dst ${fi.ecs3}/32 dir in action block`];
  const lab = useLab(t);
  const peers = ['--peer', `${fi.ecs1}=ecs1`, '--peer', `${fi.ecs2}=ecs2`];

  it('with no traffic both findings stay not-seen', async () => {
    const report = await watched(lab(), 'ecs3', peers, async () => undefined, 2);
    expect(finding(report, 'ipsec-policy-blocks-peer', `${fi.ecs1} out`).kernel?.status).toBe('not-seen');
    expect(finding(report, 'ipsec-policy-blocks-peer', `${fi.ecs2} in`).kernel?.status).toBe('not-seen');
  });

  it('pings blocked on the way out and on the way in: XfrmOutPolBlock; XfrmInPolBlock and XFRM_POLICY', async () => {
    const report = await watched(lab(), 'ecs3', peers, async () => {
      await lab().ping('ecs1', fi.ecs3, { count: 4 });
      await lab().ping('ecs2', fi.ecs3, { count: 3 });
    });
    const out = finding(report, 'ipsec-policy-blocks-peer', `${fi.ecs1} out`);
    expect(out.kernel?.status).toBe('confirmed');
    expect(counted(out, /^XfrmOutPolBlock \+(\d+) in/)).toBe(4);
    const inbound = finding(report, 'ipsec-policy-blocks-peer', `${fi.ecs2} in`);
    expect(inbound.kernel?.status).toBe('confirmed');
    expect(counted(inbound, /^XfrmInPolBlock \+(\d+) in/)).toBe(3);
    expect(counted(inbound, /^XFRM_POLICY (\d+) drops? in [\d.]+ s at icmp_rcv/)).toBeGreaterThanOrEqual(3);
  });
});

describeLab('kernel evidence: a planted simulator bug', () => {
  const lab = useLab(meshWithEcs3({}));
  it('a route the kernel does not have, planted in the model: contradicted, and simulator-disagrees names the question', async () => {
    const r = await lab().exec('ecs3', [process.execPath, '--import', 'tsx', `${repoRoot}/test/lab/planted-route.ts`, 'blackhole 172.18.1.0/24', fi.ecs2]);
    expect(r.exitCode, r.stderr).toBe(0);
    const findings = JSON.parse(r.stdout) as Finding[];
    const planted = findings.find((f) => f.check === 'route-kills-traffic' && f.subject === fi.ecs2);
    expect(planted?.kernel?.status).toBe('contradicted');
    // The simulator's analysis is kept: the kernel confirms, it never decides alone.
    expect(planted?.summary).toContain('blackhole');
    expect(planted?.kernel?.evidence[0]).toMatch(/^ip route get 172\.18\.1\.22 from 172\.31\.4\.18: the kernel answers "172\.18\.1\.22 from 172\.31\.4\.18 via 172\.31\.15\.253 dev eth0 .*", the simulator "Invalid argument"$/);
    const disagree = findings.find((f) => f.check === 'simulator-disagrees');
    expect(disagree?.severity).toBe('error');
    expect(disagree?.subject).toBe(`ip route get ${fi.ecs2} from ${fi.ecs3}`);
    expect(disagree?.why).toContain(`route-kills-traffic (${fi.ecs2})`);
  });
});

describeLab('kernel evidence: tracefs missing, a crashed run swept, hostcheck drops', () => {
  const lab = useLab(twoNic({ ecs4RpFilter: 1 }));

  it('under ip netns exec (which remounts /sys) the report says tracefs is missing and how to mount it; counters still work', async () => {
    const run = lab().hostcheck('ecs4', ['--json', '--peer', TWO_NIC.client, '--watch', '3', '--drop-reasons']);
    await sleep(1500);
    await lab().ping('client', TWO_NIC.ecs4eth1, { count: 3 });
    const report = reportOf(await run);
    expect(report.kernel.window?.drops?.status).toBe('unavailable');
    expect(report.kernel.window?.drops?.message).toMatch(/^tracefs is not mounted .*systemd hosts mount it at \/sys\/kernel\/tracing.*hostcheck never mounts anything$/);
    const f = finding(report, 'rp-filter-drop');
    expect(f.kernel?.status).toBe('confirmed');
    expect(f.kernel?.evidence.some((e) => e.startsWith('TcpExtIPReversePathFilter +'))).toBe(true);
  });

  it('a run killed with SIGKILL leaves its instance; the next run sweeps it and removes its own', async () => {
    const args = ['--peer', TWO_NIC.client, '--watch', '60', '--drop-reasons'];
    const ns = lab().ns('ecs4');
    const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tracefs nodev /sys/kernel/tracing && exec nsenter --net="/run/netns/$0" "$@"', ns, `${repoRoot}/bin/hostcheck`, ...args], { stdio: 'ignore' });
    const name = `hostcheck-${child.pid}`;
    await waitFor(name, () => instanceExists(name));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(await instanceExists(name)).toBe(true);
    let pid: number | undefined;
    const r = await lab().hostcheckWithTracefs('ecs4', ['--json', '--watch', '1', '--drop-reasons'], { onSpawn: (c) => (pid = c.pid) });
    expect(reportOf(r).kernel.window?.drops?.status).toBe('read');
    expect(await instanceExists(name)).toBe(false);
    expect(await instanceExists(`hostcheck-${pid}`)).toBe(false);
  });

  it('hostcheck drops ties IP_RPFILTER and IPReversePathFilter to the rp-filter-drop finding', async () => {
    let opened: () => void = () => undefined;
    const open = new Promise<void>((r) => (opened = r));
    const run = lab().hostcheckWithTracefs('ecs4', ['drops', '--for', '4', '--json', '--peer', `${TWO_NIC.client}=client`], {
      onSpawn: (child) => child.stderr?.on('data', (c: Buffer) => String(c).includes('watching') && opened()),
    });
    await Promise.race([open, run]);
    await lab().ping('client', TWO_NIC.ecs4eth1, { count: 4 });
    const r = await run;
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { rows: { kind: string; what: string; count: number; explainedBy: string[] }[]; findings: { key: string; check: string }[]; dropReasons: { systemWide: boolean } };
    const key = out.findings.find((f) => f.check === 'rp-filter-drop')?.key;
    expect(key).toBeDefined();
    const reason = out.rows.find((x) => x.what === 'IP_RPFILTER at ip_rcv_finish_core');
    expect(reason?.count).toBeGreaterThanOrEqual(4);
    expect(reason?.explainedBy).toEqual([key]);
    expect(out.rows.find((x) => x.what === 'TcpExtIPReversePathFilter')).toMatchObject({ kind: 'counter', count: 4, explainedBy: [key] });
    expect(out.dropReasons.systemWide).toBe(true);
  });
});

describeLab('kernel evidence: the agent', () => {
  const lab = useLab(twoNic({ ecs4RpFilter: 1 }));
  it('keeps the counters between checks and sends what moved with its report; drop reasons from the config field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hc-kernel-agent-'));
    writeFileSync(join(dir, 'token'), 'agent-token-0123456789abcdef\n');
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ peers: [{ address: TWO_NIC.client, name: 'client' }], dropReasons: true }));
    const peer = await AgentProtocolPeer.start({ socketPath: join(dir, 'peer.sock') });
    let stop: (() => void) | undefined;
    let pid: number | undefined;
    let stdout = '';
    const run = lab().hostcheckWithTracefs('ecs4', ['agent', '--server', peer.url, '--name', 'ecs4', '--no-cloud', '--interval', '3', '--token-file', join(dir, 'token'), '--state-dir', dir, '--config', join(dir, 'config.json')], {
      onSpawn: (child) => {
        stop = () => child.kill('SIGTERM');
        pid = child.pid;
        child.stdout?.on('data', (c: Buffer) => (stdout += String(c)));
      },
    });
    try {
      const first = await waitForPeer('the first report', () => peer.reports[0], 30_000);
      // The first check starts the window: the route answers confirm, no counter window yet.
      const rp1 = first.findings.find((f) => f.check === 'rp-filter-drop');
      expect(rp1?.kernel?.status).toBe('confirmed');
      expect(first.kernel).toBeUndefined();
      await lab().ping('client', TWO_NIC.ecs4eth1, { count: 4 });
      const later = await waitForPeer('a report with the counters that moved', () => peer.reports.find((r) => r.kernel?.counters.some((c) => c.name === 'TcpExtIPReversePathFilter')), 20_000);
      expect(later.kernel?.counters.find((c) => c.name === 'TcpExtIPReversePathFilter')?.delta).toBe(4);
      expect(later.kernel?.drops?.status).toBe('read');
      const rp = later.findings.find((f) => f.check === 'rp-filter-drop');
      expect(rp?.kernel?.evidence).toContain(`ip route get ${TWO_NIC.ecs4eth1} from ${TWO_NIC.client} iif eth1: Invalid argument (the simulator agrees)`);
      expect(rp?.kernel?.evidence.some((e) => /^TcpExtIPReversePathFilter \+4 in [\d.]+ s$/.test(e))).toBe(true);
      stop?.();
      const r = await run;
      expect(r.exitCode, `${stdout}\n${r.stderr}`).toBe(0);
      expect(stdout).toContain('"agent stopped"');
      expect(await instanceExists(`hostcheck-${pid}`)).toBe(false);
    } finally {
      stop?.();
      await run;
      await peer.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
