/** The kernel join (src/checks/kernel-join.ts): verdicts from route answers, counters and drop reasons; hostcheck drops rows. */
import { describe, expect, it } from 'vitest';
import { explainDrops, joinKernelEvidence, routeQueriesOf } from '../../src/checks/kernel-join.js';
import type { Finding } from '../../src/model/finding.js';
import type { KernelEvidence, KernelWindow } from '../../src/model/kernel.js';
import { kernelSignals } from '../../src/simulate/kernel-signals.js';
import { answersAgree, routeGetAnswer } from '../../src/simulate/route-get.js';

const base = { severity: 'error' as const, host: 'h', summary: 's', evidence: [], why: 'w', fix: [] };
const rp: Finding = {
  ...base, check: 'rp-filter-drop', subject: 'eth1 10.9.0.5', key: 'rp-filter-drop|h|eth1 10.9.0.5',
  queries: [{ query: { dst: '10.2.0.10', src: '10.9.0.5', iif: 'eth1' }, expect: { kind: 'error', error: 'Invalid argument' } }],
  signals: kernelSignals({ cause: 'rp-filter' }),
};
const fw: Finding = {
  ...base, check: 'firewall-blocks-peer', subject: '10.9.0.5 icmp-in', key: 'firewall-blocks-peer|h|10.9.0.5 icmp-in',
  signals: kernelSignals({ cause: 'netfilter-drop', hook: 'input', rule: { tool: 'iptables', table: 'filter', chain: 'INPUT', rule: '-A INPUT -s 10.9.0.5/32 -j DROP' } }),
};
const info: Finding = { ...base, severity: 'info', check: 'route-captures-peer', subject: 'docker0 172.17.0.0/16', key: 'route-captures-peer|h|docker0 172.17.0.0/16' };
const asked = (text: string, error?: string): KernelEvidence['routes'] => ({
  status: 'asked',
  answers: [{ query: rp.queries![0].query, text, answer: error ? { kind: 'error', error } : { kind: 'route', type: 'local', nexthops: [{ dev: 'lo' }] } }],
});
const window = (w: Partial<KernelWindow>): KernelWindow => ({ seconds: 5, counters: [], missing: [], ...w });

describe('joinKernelEvidence', () => {
  it('a bundle: every finding unavailable, nothing added', () => {
    const out = joinKernelEvidence([rp, info], undefined, 'h');
    expect(out.map((f) => f.kernel?.status)).toEqual(['unavailable', 'unavailable']);
  });

  it('the kernel answering as the simulator confirms; a moved counter is quoted with the window', () => {
    const [f] = joinKernelEvidence([rp], { routes: asked('Invalid argument', 'Invalid argument'), window: window({ counters: [{ name: 'TcpExtIPReversePathFilter', delta: 37 }] }) }, 'h');
    expect(f.kernel).toEqual({ status: 'confirmed', evidence: ['ip route get 10.2.0.10 from 10.9.0.5 iif eth1: Invalid argument (the simulator agrees)', 'TcpExtIPReversePathFilter +37 in 5 s'] });
  });

  it('an answer that differs: contradicted, the analysis kept, and one simulator-disagrees error naming the question', () => {
    const out = joinKernelEvidence([rp, { ...rp, check: 'asymmetric-return', key: 'x' }], { routes: asked('local 10.2.0.10 from 10.9.0.5 dev lo') }, 'h');
    const contradicted = out.filter((f) => f.kernel?.status === 'contradicted');
    expect(contradicted.map((f) => f.check).sort()).toEqual(['asymmetric-return', 'rp-filter-drop']);
    expect(contradicted[0].summary).toBe('s');
    const d = out.filter((f) => f.check === 'simulator-disagrees');
    expect(d).toHaveLength(1);
    expect(d[0].subject).toBe('ip route get 10.2.0.10 from 10.9.0.5 iif eth1');
    expect(d[0].summary).toContain('"local 10.2.0.10 from 10.9.0.5 dev lo"');
    expect(d[0].summary).toContain('"Invalid argument"');
    expect(d[0].why).toContain('rp-filter-drop (eth1 10.9.0.5), asymmetric-return (eth1 10.9.0.5)');
    expect(out[0].check).toBe('asymmetric-return'); // sorted: severity, host, check
  });

  it('a counter-only finding: not-seen with a window where nothing moved, confirmed by its rule counter, unavailable without a window', () => {
    expect(joinKernelEvidence([fw], { window: window({}) }, 'h')[0].kernel).toEqual({ status: 'not-seen', evidence: ['watched iptables -t filter -A INPUT -s 10.9.0.5/32 -j DROP for 5 s: no change'] });
    const moved = joinKernelEvidence([fw], { window: window({ counters: [{ name: 'iptables -t filter -A INPUT -s 10.9.0.5/32 -j DROP', delta: 3, rule: { tool: 'iptables', table: 'filter', chain: 'INPUT', rule: '-A INPUT -s 10.9.0.5/32 -j DROP' } }] }) }, 'h')[0];
    expect(moved.kernel).toEqual({ status: 'confirmed', evidence: ['iptables -t filter -A INPUT -s 10.9.0.5/32 -j DROP: +3 packets in 5 s'] });
    expect(joinKernelEvidence([fw], { routes: { status: 'asked', answers: [] } }, 'h')[0].kernel?.status).toBe('unavailable');
  });

  it('a drop reason confirms alone only where no other network namespace exists', () => {
    const drops = (otherNamespaces: number): KernelWindow => window({ drops: { status: 'read', drops: [{ reason: 'NETFILTER_DROP', location: 'nft_do_chain', count: 4 }], systemWide: true, otherNamespaces } });
    expect(joinKernelEvidence([fw], { window: drops(0) }, 'h')[0].kernel).toEqual({ status: 'confirmed', evidence: ['NETFILTER_DROP 4 drops in 5 s at nft_do_chain (system-wide: this is the only network namespace)'] });
    const shared = joinKernelEvidence([fw], { window: drops(3) }, 'h')[0].kernel!;
    expect(shared.status).toBe('not-seen');
    expect(shared.evidence[0]).toBe('NETFILTER_DROP 4 drops in 5 s at nft_do_chain (system-wide: 3 other network namespaces on this machine, not attributed)');
  });

  it('route questions not asked, or the ask failed: said, and the finding unavailable', () => {
    const [f] = joinKernelEvidence([{ ...rp, signals: [] }], { routes: { status: 'failed', answers: [], message: 'ip: command not found' } }, 'h');
    expect(f.kernel).toEqual({ status: 'unavailable', evidence: ['ip route get 10.2.0.10 from 10.9.0.5 iif eth1: not asked (ip: command not found)'] });
  });

  it('routeQueriesOf asks each question once', () => {
    expect(routeQueriesOf([rp, rp, info])).toEqual([rp.queries![0].query]);
  });
});

describe('route answers', () => {
  it('the simulator predicts what ip route get says for each route type (kernel 6.18, docs/kernel.md)', () => {
    const r = (type: string, extra: object = {}) => routeGetAnswer({ type, family: 4, ...extra } as never);
    expect(r('blackhole')).toEqual({ kind: 'error', error: 'Invalid argument' });
    expect(r('prohibit')).toEqual({ kind: 'error', error: 'Permission denied' });
    expect(r('unreachable', { route: {} })).toEqual({ kind: 'error', error: 'No route to host' });
    expect(r('unreachable', { rule: {} })).toEqual({ kind: 'error', error: 'Network is unreachable' });
    expect(r('none')).toEqual({ kind: 'error', error: 'Network is unreachable' });
    expect(r('unicast', { dev: 'eth0', via: '10.0.0.1' })).toEqual({ kind: 'route', type: 'unicast', nexthops: [{ dev: 'eth0', via: '10.0.0.1' }] });
  });

  it('agree: same error; same type through one of the predicted nexthops', () => {
    const multipath = { kind: 'route' as const, type: 'unicast', nexthops: [{ dev: 'eth0', via: '10.0.0.1' }, { dev: 'eth1', via: '10.1.0.1' }] };
    expect(answersAgree(multipath, { kind: 'route', type: 'unicast', nexthops: [{ dev: 'eth1', via: '10.1.0.1' }] })).toBe(true);
    expect(answersAgree(multipath, { kind: 'route', type: 'unicast', nexthops: [{ dev: 'eth1', via: '10.0.0.1' }] })).toBe(false);
    expect(answersAgree(multipath, { kind: 'error', error: 'Invalid argument' })).toBe(false);
    expect(answersAgree({ kind: 'error', error: 'Permission denied' }, { kind: 'error', error: 'Permission denied' })).toBe(true);
    expect(answersAgree({ kind: 'route', type: 'local', nexthops: [{ dev: 'lo' }] }, { kind: 'route', type: 'unicast', nexthops: [{ dev: 'lo' }] })).toBe(false);
  });
});

describe('explainDrops', () => {
  it('ties each reason and counter to the findings whose cause moves it; the rest is unexplained', () => {
    const rows = explainDrops(window({
      counters: [{ name: 'TcpExtIPReversePathFilter', delta: 5 }, { name: 'Ip6InNoRoutes', delta: 2 }],
      drops: { status: 'read', systemWide: true, drops: [{ reason: 'IP_RPFILTER', location: 'ip_rcv_finish_core', count: 5 }, { reason: 'IP_RPFILTER', location: 'elsewhere', count: 1 }, { reason: 'NOT_SPECIFIED', location: 'ip6_mc_input', count: 9 }] },
    }), [rp, fw, info]);
    expect(rows.map((r) => [r.what, r.count, r.explainedBy])).toEqual([
      ['IP_RPFILTER at ip_rcv_finish_core', 5, [rp.key]],
      ['IP_RPFILTER at elsewhere', 1, []],
      ['NOT_SPECIFIED at ip6_mc_input', 9, []],
      ['TcpExtIPReversePathFilter', 5, [rp.key]],
      ['Ip6InNoRoutes', 2, []],
    ]);
  });
});
