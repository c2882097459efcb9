/**
 * The nft evaluator on a ruleset nft 1.0.6 printed (test/simulate/nft/eval-sample.json is
 * `nft -j list ruleset` after `nft -f eval-sample.nft` in a fresh network namespace): sets with
 * intervals, concatenations, verdict maps, ct state, limit, reject variants, marks, fib, NAT, and
 * two tables on the input hook at different priorities. test/kernel/nft-diff.test.ts holds the
 * same semantics against the kernel's counters.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from '../../parsers/nft.js';
import { parseRoutes } from '../../parsers/ip-route.js';
import { buildFib } from '../../src/simulate/route-lookup.js';
import { evaluatePacket, type EvaluateOptions, type NetfilterPacket, type NetfilterResult } from '../../src/simulate/netfilter.js';
import { NftEvaluator, nftDeleteCommand } from '../../src/simulate/nft-eval.js';

const dir = join(import.meta.dirname, 'nft');
const sample = parse(readFileSync(join(dir, 'eval-sample.json'), 'utf8'));
const ruleset = { tables: [], nftTables: sample.records };
const LOCALS = [{ cidr: '10.0.0.1/24', dev: 'eth0' }, { cidr: 'fd00::1/64', dev: 'eth0' }];

const tcp = (over: Partial<NetfilterPacket> = {}): NetfilterPacket => ({ family: 4, src: '10.5.0.9', dst: '10.0.0.1', proto: 'tcp', sport: 40000, dport: 22, inIf: 'eth0', ...over });

function run(packet: NetfilterPacket, opts: Partial<EvaluateOptions> = {}): NetfilterResult {
  return evaluatePacket(ruleset, packet, { path: 'input', localAddresses: LOCALS, ...opts });
}

/** The verdict and the deciding rule as nft prints it (or "policy"). */
function decide(packet: NetfilterPacket, opts: Partial<EvaluateOptions> = {}): string {
  const r = run(packet, opts);
  const d = r.decidedBy;
  const where = d?.rule?.nft ? d.rule.nft.text : d?.policy ? `${d.table}/${d.chain} policy` : '-';
  return `${r.verdict}${r.rejectWith ? ` ${r.rejectWith}` : ''}: ${where}`;
}

describe('nft evaluator', () => {
  it('parses the recorded ruleset without warnings, all tables native', () => {
    expect(sample.warnings).toEqual([]);
    expect(sample.records.map((t) => `${t.family} ${t.name} ${t.managedBy}`)).toEqual(['inet filter native', 'ip nat native', 'ip early native']);
  });

  it('interval sets, concatenations, verdict maps, jumps and the policy', () => {
    expect(decide(tcp({ src: '172.18.3.4' }))).toBe('drop: ip saddr @blocked counter packets 0 bytes 0 drop');
    expect(decide(tcp({ src: '192.168.1.5' }))).toMatch(/^drop: ip saddr @blocked/);
    expect(decide(tcp({ src: '192.168.1.10' }))).toBe('drop: inet filter/input policy');
    expect(decide(tcp({ src: '10.1.1.1', dport: 22 }))).toBe('accept: ip saddr . tcp dport @svc accept');
    expect(decide(tcp({ src: '10.1.1.1', dport: 21 }))).toBe('drop: inet filter/input policy');
    expect(decide(tcp({ dport: 80 }))).toBe('accept: tcp dport vmap @ports');
    expect(decide(tcp({ dport: 82 }))).toBe('drop: tcp dport vmap @ports');
    // 81 jumps to web: 10.2/16 returns (and falls to the policy), anything else is dropped there.
    expect(decide(tcp({ dport: 81, src: '10.2.3.4' }))).toBe('drop: inet filter/input policy');
    expect(decide(tcp({ dport: 81 }))).toBe('drop: drop');
    expect(decide(tcp({ dport: 53, proto: 'udp' }))).toBe('accept: meta l4proto { tcp, udp } th dport 53 accept');
    expect(decide(tcp({ dport: 53 }))).toMatch(/^accept: meta l4proto/);
    expect(decide(tcp({ dport: 54, proto: 'udp' }))).toBe('drop: inet filter/input policy');
  });

  it('ct state through a verdict map, iif, reject variants, marks set in an earlier chain', () => {
    expect(decide(tcp({ dport: 9, ctstate: 'ESTABLISHED' }))).toMatch(/^accept: ct state vmap/);
    expect(decide(tcp({ dport: 9, ctstate: 'INVALID' }))).toMatch(/^drop: ct state vmap/);
    expect(decide(tcp({ dport: 9, inIf: 'lo' }))).toBe('accept: iif "lo" accept');
    expect(decide(tcp({ dport: 443 }))).toBe('reject tcp-reset: tcp dport 443 reject with tcp reset');
    expect(decide(tcp({ dport: 444 }))).toBe('reject icmpx-admin-prohibited: tcp dport 444 reject with icmpx admin-prohibited');
    // prerouting (mangle priority) marks 8080, input accepts mark 0x10.
    const r = run(tcp({ dport: 8080 }));
    expect(r.verdict).toBe('accept');
    expect(r.mark).toBe(0x10);
  });

  it('an accept in one base chain does not end the hook; a drop does', () => {
    // ip early (priority -10) accepts 23, then inet filter's policy drops it.
    const r = run(tcp({ dport: 23 }));
    expect(r.verdict).toBe('drop');
    expect(r.decisions.filter((d) => d.hook === 'INPUT').map((d) => `${d.table}/${d.chain} ${d.verdict}`)).toEqual(['ip early/input accept', 'inet filter/input drop']);
    expect(decide(tcp({ dport: 24 }))).toBe('drop: tcp dport 24 drop');
    expect(run(tcp({ dport: 24 })).decisions.filter((d) => d.hook === 'INPUT').map((d) => d.table)).toEqual(['ip early']);
  });

  it('limit is taken as matching for a first packet, and is undecided when asked', () => {
    const ping: NetfilterPacket = { family: 4, src: '10.5.0.9', dst: '10.0.0.1', proto: 'icmp', icmpType: 8, icmpCode: 0, inIf: 'eth0' };
    expect(run(ping).verdict).toBe('accept');
    const u = run(ping, { rateLimits: 'undecided' });
    expect(u.verdict).toBe('undecided');
    expect(u.reason).toContain('limit rate 5/second');
    expect(u.branches?.ifMatches.verdict).toBe('accept');
    expect(u.branches?.ifNot.verdict).toBe('drop');
  });

  it('DNAT in an ip nat table changes what inet filter sees; the rule names its table, chain and handle', () => {
    const r = run(tcp({ dport: 2222 }));
    expect(r.final).toMatchObject({ dst: '10.0.0.1', dport: 22 });
    expect(r.nat?.[0]).toMatchObject({ table: 'ip nat', chain: 'prerouting', target: 'DNAT', to: '10.0.0.1:22' });
    const d = run(tcp({ src: '172.18.0.1' })).decidedBy!.rule!;
    expect(d.origin.text).toBe('table inet filter chain input: ip saddr @blocked counter packets 0 bytes 0 drop # handle 12');
    expect(nftDeleteCommand(d)).toBe('nft delete rule inet filter input handle 12');
  });

  it('masquerade on the way out takes the address of the output device', () => {
    const out: NetfilterPacket = { family: 4, src: '10.0.0.1', dst: '198.51.100.7', proto: 'udp', sport: 5000, dport: 53, outIf: 'eth1' };
    const r = evaluatePacket(ruleset, out, { path: 'output', localAddresses: LOCALS, masqueradeSource: () => '203.0.113.2' });
    expect(r.verdict).toBe('accept');
    expect(r.final.src).toBe('203.0.113.2');
  });

  it('IPv6: fib saddr . mark . iif oif missing (firewalld rpfilter) with the routes, undecided without', () => {
    const routes = parseRoutes('fd00::/64 dev eth0 proto kernel metric 256\nfd01::/64 via fd00::99 dev eth1\n', { family: 6 }).routes;
    const fib = buildFib(routes, []);
    const v6 = (src: string): NetfilterPacket => ({ family: 6, src, dst: 'fd00::1', proto: 'tcp', sport: 1, dport: 9, inIf: 'eth0' });
    const opts = { nftEvaluator: new NftEvaluator({ fib }) };
    // fe80::/10 is accepted at the end of input; a source routed back by eth1 is dropped by rpfilter first.
    expect(decide(v6('fe80::5'), opts)).toMatch(/^drop: meta nfproto ipv6 fib/);
    expect(decide(v6('fd00::5'), opts)).toBe('drop: inet filter/input policy');
    expect(decide(v6('fd01::5'), opts)).toMatch(/^drop: meta nfproto ipv6 fib/);
    // Without routes: undecided where the answer matters, decided (with a note) where it does not.
    const u = run(v6('fe80::5'));
    expect(u.verdict).toBe('undecided');
    expect(u.reason).toContain('fib');
    const same = run(v6('fd00::5'));
    expect(same.verdict).toBe('drop');
    expect(same.notes?.join(' ')).toContain('whether it matches or not');
  });
});
