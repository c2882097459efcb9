/**
 * The second incident rebuilt in namespaces (second-incident-topology.ts): the real symptom
 * (ping's "Time to live exceeded" from the gateway, XfrmOutNoStates for covered sources), the
 * traceroute analysis, vpn-selector-gap on the gateway, `hostcheck path` over the bundles and
 * over the topology file, then the printed fix applied literally and the findings gone.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/report/json.js';
import type { PathResult } from '../../src/simulate/path.js';
import { hostcheckBin, type Lab } from './lab.js';
import { SECOND_INCIDENT as a, secondIncident, secondIncidentCloud } from './second-incident-topology.js';
import { describeLab, useLab } from './suite.js';

const HOSTS = ['client', 'vpcrouter', 'gateway'] as const;

async function outNoStates(lab: Lab): Promise<number> {
  const { stdout } = await lab.exec('gateway', ['cat', '/proc/net/xfrm_stat'], { check: true });
  const m = /XfrmOutNoStates\s+(\d+)/.exec(stdout);
  if (!m) throw new Error(`no XfrmOutNoStates in /proc/net/xfrm_stat:\n${stdout}`);
  return Number(m[1]);
}

async function ping(lab: Lab, source: string): Promise<string> {
  const r = await lab.exec('client', ['ping', '-n', '-c', '1', '-W', '1', '-I', source, a.target]);
  return r.stdout;
}

async function gatewayFindings(lab: Lab): Promise<Finding[]> {
  const r = await lab.hostcheck('gateway', ['--json', '--name', 'gateway']);
  return (JSON.parse(r.stdout) as Report).findings.filter((f) => f.check === 'vpn-selector-gap');
}

async function capture(lab: Lab, dir: string, hosts: readonly string[]): Promise<string[]> {
  return Promise.all(hosts.map(async (h) => {
    const out = join(dir, h);
    rmSync(out, { recursive: true, force: true });
    await lab.hostcheck(h, ['capture', '--out', out, '--name', h], { check: true });
    return out;
  }));
}

async function path(lab: Lab, args: string[]): Promise<{ result: PathResult & { findings: Finding[] }; exitCode: number }> {
  const r = await lab.hostcheck('client', ['path', '--json', ...args]);
  try {
    return { result: JSON.parse(r.stdout) as PathResult & { findings: Finding[] }, exitCode: r.exitCode };
  } catch {
    throw new Error(`hostcheck path printed no JSON (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}`);
  }
}

describeLab('second incident: VPN selector gap → loop', () => {
  const lab = useLab(secondIncident());
  let dir = '';
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'hc-second-')); });
  afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  it('the real symptom: TTL exceeded from the gateway for 10.64.3.22; 10.16.1.5 hits the IPsec policy', async () => {
    expect(await ping(lab(), a.looping)).toContain(`From ${a.gateway} icmp_seq=1 Time to live exceeded`);
    const before = await outNoStates(lab());
    const covered = await ping(lab(), a.working);
    expect(covered).not.toContain('Time to live exceeded');
    expect(await outNoStates(lab())).toBeGreaterThan(before);
  });

  it('hostcheck trace --analyze names the loop and 10.100.1.18 in the real traceroute', async () => {
    const tr = await lab().exec('client', ['traceroute', '-n', '-q', '1', '-w', '1', '-m', '10', '-s', a.looping, a.target]);
    expect(tr.stdout).toMatch(new RegExp(`\\s${a.gateway.replaceAll('.', '\\.')}\\s`));
    const analysis = await lab().hostcheck('client', ['trace', '--analyze', '-'], { input: tr.stdout });
    expect(analysis.exitCode, analysis.stderr).toBe(1);
    expect(analysis.stdout).toContain('loop');
    expect(analysis.stdout).toContain(a.gateway);
  });

  it('hostcheck on the gateway reports vpn-selector-gap for 10.200.0.0/20 with the uncovered sources', async () => {
    const gaps = (await gatewayFindings(lab())).filter((f) => f.severity === 'error');
    expect(gaps.map((f) => f.subject)).toEqual([a.remote]);
    const f = gaps[0];
    expect(f.summary).toContain(`covers only ${a.covered}`);
    expect(f.summary).toContain(a.uncovered);
    expect(f.summary).toContain('loop');
    expect(f.evidence.map((e) => e.text.trim())).toContain(`src ${a.covered} dst ${a.remote}`);
    expect(f.fix[0]).toMatch(/^ip xfrm policy add src 10\.64\.0\.0\/16 dst 10\.200\.0\.0\/20 dir out /);
  });

  it('hostcheck path over the three bundles finds the same loop without sending a packet', async () => {
    const bundles = await capture(lab(), dir, HOSTS);
    const before = await outNoStates(lab());
    const { result, exitCode } = await path(lab(), ['--from', 'client', '--to', a.target, '--source', a.looping, ...bundles.flatMap((b) => ['--bundle', b])]);
    expect(exitCode).toBe(1);
    expect(result.forward.outcome).toBe('loop');
    expect(new Set(result.forward.cycle)).toEqual(new Set(['gateway', 'vpcrouter']));
    expect(result.forward.timeExceeded).toMatchObject({ node: 'gateway', address: a.gateway });
    // The fleet family over the bundles gives the gateway's own finding: the one-shot's key and words.
    const [own] = (await gatewayFindings(lab())).filter((f) => f.severity === 'error');
    expect(result.findings.filter((f) => f.check === 'vpn-selector-gap').map((f) => [f.key, f.summary, f.fix])).toEqual([[own.key, own.summary, own.fix]]);
    // The simulated expiry agrees with the kernel's for an odd and an even TTL.
    for (const ttl of [5, 8]) {
      const sim = await path(lab(), ['--from', 'client', '--to', a.target, '--source', a.looping, '--ttl', String(ttl), ...bundles.flatMap((b) => ['--bundle', b])]);
      const real = await lab().exec('client', ['ping', '-n', '-c', '1', '-W', '1', '-t', String(ttl), '-I', a.looping, a.target]);
      expect(real.stdout).toContain(`From ${sim.result.forward.timeExceeded?.address} icmp_seq=1 Time to live exceeded`);
    }
    const covered = await path(lab(), ['--from', 'client', '--to', a.target, '--source', a.working, ...bundles.flatMap((b) => ['--bundle', b])]);
    expect(covered.result.forward.outcome).toBe('left');
    expect(covered.result.forward.hops.at(-1)).toMatchObject({ node: 'gateway', action: 'encrypt' });
    expect(await outNoStates(lab())).toBe(before);
  });

  it("with the gateway as a cloud node of a topology file, the fleet check gives the gateway's finding and pairs the client with it", async () => {
    const bundles = await capture(lab(), dir, ['client', 'vpcrouter']);
    const topo = join(dir, 'cloud.json');
    writeFileSync(topo, JSON.stringify(secondIncidentCloud(), null, 2));
    const { result, exitCode } = await path(lab(), ['--from', 'client', '--to', a.target, '--source', a.looping, '--topology', topo, ...bundles.flatMap((b) => ['--bundle', b])]);
    expect(exitCode).toBe(1);
    expect(result.forward.outcome).toBe('loop');
    expect(result.forward.cycle).toContain('vpn-gateway vpn-cloud2');
    const errs = result.findings.filter((f) => f.check === 'vpn-selector-gap' && f.severity === 'error');
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatchObject({ host: 'vpn-cloud2', subject: a.remote });
    for (const word of ['vpn-cloud2', 'vco-cloud2', a.covered, a.uncovered]) expect(errs[0].summary).toContain(word);
    expect(errs[0].fix[0]).toContain(`Add ${a.uncovered}`);
    expect((errs[0] as { pairs?: unknown }).pairs).toContainEqual(['client', 'vpn-cloud2']);
  });

  it('reads a live /etc/swanctl/swanctl.conf and says where it and the kernel disagree', async () => {
    // The file is overlaid on /etc in a private mount namespace: the machine's /etc is untouched.
    const etc = join(dir, 'etc');
    mkdirSync(join(etc, 'swanctl'), { recursive: true });
    writeFileSync(join(etc, 'swanctl', 'swanctl.conf'), [
      'connections {', '  vpc-to-cloud {', `    local_addrs = ${a.gateway}`, `    remote_addrs = ${a.peerPublic}`, '    children {', '      idc-net {',
      `        local_ts = ${a.covered}, ${a.uncovered}   # widened, never reloaded`, `        remote_ts = ${a.remote}`, '      }', '    }', '  }', '}', '',
    ].join('\n'));
    const r = await lab().exec('gateway', ['unshare', '-m', 'sh', '-c', `mount --make-rprivate / && mount -t overlay overlay -o lowerdir=${etc}:/etc /etc && exec ${hostcheckBin} --json --name gateway`]);
    const findings = (JSON.parse(r.stdout) as Report).findings.filter((f) => f.check === 'vpn-selector-gap');
    const disagree = findings.find((f) => f.subject === `vpc-to-cloud/idc-net ${a.remote} config`);
    expect(disagree?.summary).toBe(`config and kernel disagree for ${a.remote}: vpc-to-cloud/idc-net says local ${a.covered}, ${a.uncovered}, the kernel's out policies encrypt ${a.covered}`);
    expect(disagree?.evidence[0]).toMatchObject({ source: 'swanctl-conf', lineNumber: 7 });
    const loop = findings.find((f) => f.subject === a.remote);
    expect(loop?.fix).toContain(`# persist: in /etc/swanctl/swanctl.conf set connections.vpc-to-cloud.children.idc-net.local_ts = ${a.covered}, ${a.uncovered}, 10.100.1.0/24, then run swanctl --load-conns (and re-initiate the child)`);
  });

  it('after the printed fix 10.64.3.22 hits the IPsec policy instead of looping, and the findings clear', async () => {
    const [f] = (await gatewayFindings(lab())).filter((x) => x.severity === 'error');
    for (const step of f.fix.filter((s) => !s.trimStart().startsWith('#'))) await lab().applyFix('gateway', step);
    const before = await outNoStates(lab());
    expect(await ping(lab(), a.looping)).not.toContain('Time to live exceeded');
    expect(await outNoStates(lab())).toBeGreaterThan(before);
    expect((await gatewayFindings(lab())).filter((x) => x.severity !== 'info')).toEqual([]);
    const bundles = await capture(lab(), dir, HOSTS);
    const { result } = await path(lab(), ['--from', 'client', '--to', a.target, '--source', a.looping, ...bundles.flatMap((b) => ['--bundle', b])]);
    expect(result.forward.outcome).toBe('left');
    expect(result.forward.hops.at(-1)).toMatchObject({ node: 'gateway', action: 'encrypt' });
  });
});
