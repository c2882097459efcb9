/**
 * Issue 16 parts 2 and 3 on the kernel: a host whose iptables-legacy INPUT drops a peer while
 * iptables-nft shows nothing (symptom, the finding quoting the legacy line, the printed fix
 * applied, traffic flows), the order the kernel runs both backends in at one priority, healthy
 * variants that stay silent, and conntrack's counting of real flows between two namespaces.
 */
import { expect, it } from 'vitest';
import type { HostSnapshot } from '../../src/model/snapshot.js';
import { applyPrintedFix, errorsOf, hostcheckReport } from './e2e-helpers.js';
import type { Lab, Topology } from './lab.js';
import { describeLab, useLab } from './suite.js';

const SRV = '10.77.0.1';
const PEER = '10.77.0.2';

/** srv and peer on one link; `setup` runs in srv. */
function pair(setup: string[]): Topology {
  return {
    hosts: { srv: { routes: [`default via ${PEER} dev eth0`], setup }, peer: { routes: [`default via ${SRV} dev eth0`] } },
    links: [{ a: { host: 'srv', iface: 'eth0', addresses: [`${SRV}/24`] }, b: { host: 'peer', iface: 'eth0', addresses: [`${PEER}/24`] } }],
  };
}

const peerArgs = ['--peer', `${PEER}=peer`];
const reaches = async (lab: Lab): Promise<boolean> => (await lab.ping('peer', SRV, { count: 2, timeoutS: 1 })).ok;

describeLab('e2e: a legacy iptables rule drops a peer while iptables-nft shows nothing', () => {
  const lab = useLab(pair([`iptables-legacy -A INPUT -s ${PEER} -j DROP`]));

  it('symptom, diagnosis quoting the legacy line, printed fix, recovery', async () => {
    expect(await reaches(lab())).toBe(false);
    const nftView = await lab().exec('srv', ['iptables', '-S', 'INPUT'], { check: true });
    expect(nftView.stdout.trim()).toBe('-P INPUT ACCEPT');

    const { report, exitCode } = await hostcheckReport(lab(), 'srv', peerArgs);
    expect(exitCode).toBe(1);
    const found = report.findings.filter((f) => f.check === 'firewall-blocks-peer');
    expect(found.map((f) => f.subject)).toEqual([`${PEER} icmp-in`]);
    const f = found[0];
    expect(f.severity).toBe('error');
    expect(f.summary).toContain('legacy');
    expect(f.summary).toContain('filter/INPUT rule 1 of iptables-legacy -j DROP');
    expect(f.evidence).toEqual([{ source: 'iptables-legacy-save', lineNumber: expect.any(Number), text: expect.stringContaining(`-A INPUT -s ${PEER}/32 -j DROP`) }]);
    expect(f.fix[0]).toBe(`iptables-legacy -t filter -D INPUT -s ${PEER}/32 -j DROP`);
    // Nothing else: iptables-nft holds no rule, so the two-backends warning has no second side.
    expect(report.findings.filter((x) => x.check !== 'firewall-blocks-peer')).toEqual([]);

    await applyPrintedFix(lab(), 'srv', f);
    expect(await reaches(lab())).toBe(true);
    const after = await hostcheckReport(lab(), 'srv', peerArgs);
    expect(errorsOf(after.report)).toEqual([]);
    expect(after.exitCode).toBe(0);
  });
});

describeLab('e2e: iptables in one backend only stays silent', () => {
  const lab = useLab(pair([
    `iptables-legacy -A INPUT -s ${PEER} -p icmp -j ACCEPT`,
    'iptables-legacy -A INPUT -s 10.200.0.0/16 -j DROP',
    'iptables-legacy -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  ]));
  it('legacy rules that let the peer in, iptables-nft empty: traffic flows, no finding', async () => {
    expect(await reaches(lab())).toBe(true);
    const { report, exitCode } = await hostcheckReport(lab(), 'srv', peerArgs);
    expect(report.findings).toEqual([]);
    expect(exitCode).toBe(0);
  });
});

describeLab('e2e: rules in both backends that touch no peer', () => {
  const lab = useLab(pair([
    'iptables-legacy -N DOCKER-USER', 'iptables-legacy -A DOCKER-USER -s 10.200.0.0/16 -j DROP', 'iptables-legacy -A FORWARD -j DOCKER-USER',
    'iptables -N KUBE-FIREWALL', 'iptables -A KUBE-FIREWALL -s 10.201.0.0/16 -m comment --comment "kubernetes firewall for dropping marked packets" -j DROP', 'iptables -A INPUT -j KUBE-FIREWALL',
  ]));
  it('a warning naming both sides and who writes each; traffic flows, no error', async () => {
    expect(await reaches(lab())).toBe(true);
    const { report, exitCode } = await hostcheckReport(lab(), 'srv', peerArgs);
    expect(errorsOf(report)).toEqual([]);
    expect(exitCode).toBe(0);
    const w = report.findings.filter((f) => f.check === 'iptables-two-backends');
    expect(w).toHaveLength(1);
    expect(w[0].severity).toBe('warning');
    expect(w[0].summary).toContain('iptables-legacy (x_tables) holds 2 rules (written by Docker)');
    expect(w[0].summary).toContain('nf_tables: iptables-nft 2 (written by kube-proxy)');
    expect(new Set(w[0].evidence.map((e) => e.source))).toEqual(new Set(['iptables-legacy-save', 'iptables-save']));
  });

  it('measured: at one priority the table registered last runs first (legacy filter vs iptables-nft filter on INPUT)', async () => {
    // Each side marks the packet and counts packets that carry the other side's mark.
    const host = 'srv';
    const run = (argv: string[]) => lab().exec(host, argv, { check: true });
    await run(['iptables', '-I', 'INPUT', '1', '-p', 'icmp', '-j', 'MARK', '--set-xmark', '0x1/0x1']);
    await run(['iptables', '-I', 'INPUT', '2', '-p', 'icmp', '-m', 'mark', '--mark', '0x2/0x2', '-j', 'ACCEPT']);
    await run(['iptables-legacy', '-I', 'INPUT', '1', '-p', 'icmp', '-j', 'MARK', '--set-xmark', '0x2/0x2']);
    await run(['iptables-legacy', '-I', 'INPUT', '2', '-p', 'icmp', '-m', 'mark', '--mark', '0x1/0x1', '-j', 'ACCEPT']);
    expect(await reaches(lab())).toBe(true);
    const count = async (tool: string) => Number(/^\s*(\d+)/.exec((await run([tool, '-L', 'INPUT', '2', '-v', '-n', '-x'])).stdout)?.[1]);
    // The legacy filter table was made first (setup), iptables-nft's after it: nft's chain ran first.
    expect(await count('iptables-legacy')).toBeGreaterThan(0);
    expect(await count('iptables')).toBe(0);
  });
});

describeLab('conntrack counts real flows between two namespaces', () => {
  const FLOWS = 30;
  const lab = useLab(pair(['iptables -A INPUT -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT']));
  it(`${FLOWS} UDP flows: nf_conntrack_count and the per-CPU statistics read back, no finding`, async () => {
    // One socket each, all open at once so no two share a source port (bash's /dev/udp, one after
    // another, let the kernel pick a closed socket's port again: 29 entries for 30 flows once), so
    // one conntrack entry each; bounded in count, over in well under a second.
    const send = `import socket\nss = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(${FLOWS})]\nfor s in ss: s.sendto(b'x', ('${SRV}', 5353))`;
    await lab().exec('peer', ['python3', '-c', send], { check: true, timeoutMs: 10_000 });
    const r = await lab().hostcheck('srv', ['snapshot', '--json'], { check: true });
    const s = JSON.parse(r.stdout) as HostSnapshot;
    const sysctl = (k: string) => Number(s.sysctls.find((x) => x.key === `net.netfilter.${k}`)?.value);
    expect(sysctl('nf_conntrack_count')).toBe(FLOWS);
    expect(sysctl('nf_conntrack_max')).toBeGreaterThan(0);
    const stats = s.conntrack?.stats ?? [];
    expect(stats.map((x) => [x.rows[0]?.origin.source, x.form])).toEqual([['conntrack-stat', 'proc'], ['conntrack-stats', 'cpu']]);
    const proc = stats[0];
    expect(proc.totals.entries).toBe(FLOWS);
    expect(proc.rows.length).toBe(stats[1].rows.length);
    for (const k of ['drop', 'early_drop', 'insert_failed']) expect(proc.totals[k]).toBe(0);
    expect(s.sources.filter((x) => x.name.startsWith('conntrack')).map((x) => [x.name, x.status])).toEqual([['conntrack-sysctl', 'collected'], ['conntrack-stat', 'collected'], ['conntrack-stats', 'collected']]);
    const { report } = await hostcheckReport(lab(), 'srv', peerArgs);
    expect(report.findings.filter((f) => f.check === 'conntrack-table-full')).toEqual([]);
  });
});
