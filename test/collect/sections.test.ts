/**
 * Sections (src/collect/sections.ts): a big host's routes, iptables rules, nft tables and ipsets
 * as the agent sends them, read back by the aggregator's side into the same records; digests
 * that ignore counters and see a rule change; the reader's limits and refusals.
 */
import { describe, expect, it } from 'vitest';
import { prepareSnapshot } from '../../src/agent/report.js';
import { decodeSection, encodeSections, SectionError, type EncodedSection, type SectionLimits } from '../../src/collect/sections.js';
import { buildSnapshot } from '../../src/collect/snapshot.js';
import { bigBundle } from '../helpers/big-host.js';

const LIMITS: SectionLimits = { maxRoutes: 100_000, maxRules: 250_000, maxDepth: 64 };

const byKind = (sections: EncodedSection[]) => Object.fromEntries(sections.map((s) => [s.kind, s]));
const json = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

describe('sections', () => {
  it('hold a big host\'s routes, rules, nft tables and ipsets, read back into the same records (counters zeroed)', async () => {
    const bundle = await bigBundle({ counters: 7 });
    const snapshot = buildSnapshot(bundle);
    const sections = byKind(encodeSections(snapshot, { maxRoutes: 50_000, dumps: bundle.files }));
    expect(Object.keys(sections).sort()).toEqual(['ipsets', 'netfilter', 'nft', 'routes']);
    // What the records are with every counter at zero: the same bundle collected with no traffic.
    const quiet = buildSnapshot(await bigBundle({ counters: 0 }));

    const routes = decodeSection('routes', sections.routes.content, LIMITS);
    expect(routes.kind === 'routes' && json(routes.routes)).toEqual(json(snapshot.routes));

    const netfilter = decodeSection('netfilter', sections.netfilter.content, LIMITS);
    if (netfilter.kind !== 'netfilter') throw new Error('kind');
    expect(json(netfilter.netfilter)).toEqual(json(quiet.netfilter));
    const hidden = netfilter.netfilter.v4.flatMap((t) => t.rules).filter((r) => r.nftHidden);
    expect(hidden.map((r) => r.origin.text)).toEqual(['[0:0] -A INPUT -j DROP']);
    expect(netfilter.netfilter.notices.some((n) => n.kind === 'nft-hidden-match')).toBe(true);
    expect(netfilter.netfilter.v4.reduce((n, t) => n + t.rules.length, 0)).toBeGreaterThan(2000);

    const nft = decodeSection('nft', sections.nft.content, LIMITS);
    expect(nft.kind === 'nft' && json(nft.nft)).toEqual(json(quiet.nft));
    // iptables-nft's own rules are the iptables rules: not sent twice.
    expect(nft.kind === 'nft' && nft.nft.find((t) => t.name === 'filter')!.chains[0].rules).toEqual([]);

    const ipsets = decodeSection('ipsets', sections.ipsets.content, LIMITS);
    expect(ipsets.kind === 'ipsets' && json(ipsets.ipsets)).toEqual(json(snapshot.ipsets));
  });

  it('leave rules read from an iptables -nvL listing inline (the aggregator reads a netfilter section as iptables-save)', () => {
    const rules = Array.from({ length: 300 }, (_, i) => `    0     0 DROP       6    --  *      *       10.0.${i >> 8}.${i & 255}          0.0.0.0/0            tcp dpt:22`);
    const listing = ['Chain INPUT (policy ACCEPT 0 packets, 0 bytes)', ' pkts bytes target     prot opt in     out     source               destination', ...rules, ''].join('\n');
    const source = { name: 'iptables-save', file: 'sos_commands/networking/iptables_-vnxL', kind: 'command', status: 'collected' as const, durationMs: 0, required: true, format: 'iptables-list' };
    const bundle = { meta: { bundleFormat: 1, hostcheckVersion: 't', argv: [], hostname: 'h', startedAt: '', durationMs: 0, toolVersions: {}, sources: [source] }, files: new Map([['iptables-save', listing]]) };
    const snapshot = buildSnapshot(bundle);
    expect(snapshot.netfilter.v4[0].rules).toHaveLength(300);
    expect(encodeSections(snapshot, { maxRoutes: 50_000, dumps: bundle.files }).map((x) => x.kind)).toEqual([]);
  });

  it('are far smaller than the records: a rule about its line, not ~1.3 KB of JSON', async () => {
    const bundle = await bigBundle();
    const snapshot = buildSnapshot(bundle);
    const netfilter = encodeSections(snapshot, { maxRoutes: 50_000, dumps: bundle.files }).find((s) => s.kind === 'netfilter')!;
    const rules = snapshot.netfilter.v4.reduce((n, t) => n + t.rules.length, 0);
    expect(netfilter.content.length / rules).toBeLessThan(200);
    expect(JSON.stringify(snapshot.netfilter).length / netfilter.content.length).toBeGreaterThan(3);
  });

  it('keep their digests when only counters, times and durations change, and a rule change changes only its own', async () => {
    const a = await bigBundle({ counters: 1 });
    const b = await bigBundle({ counters: 99 });
    const pa = prepareSnapshot(buildSnapshot(a), a);
    const pb = prepareSnapshot(buildSnapshot(b), b);
    expect(pb.digest).toBe(pa.digest);
    expect(pb.sections.map((s) => s.digest)).toEqual(pa.sections.map((s) => s.digest));
    const c = await bigBundle({ counters: 1, extraRule: '[0:0] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT' });
    const pc = prepareSnapshot(buildSnapshot(c), c);
    expect(pc.digest).not.toBe(pa.digest);
    const changed = pc.sections.filter((s, i) => s.digest !== pa.sections[i].digest).map((s) => s.kind);
    expect(changed).toEqual(['netfilter']);
    // The report carries the rest of the snapshot and names the sections instead of carrying them.
    expect(pa.skeleton).not.toHaveProperty('netfilter');
    expect(pa.skeleton).not.toHaveProperty('routes');
    expect(JSON.stringify(pa.skeleton).length).toBeLessThan(64 * 1024);
  });

  it('are refused with a reason: over the route or rule limit, a wrong header, a body that does not add up, deep nesting', async () => {
    const bundle = await bigBundle();
    const s = byKind(encodeSections(buildSnapshot(bundle), { maxRoutes: 50_000, dumps: bundle.files }));
    const reason = (f: () => unknown): string => {
      try {
        f();
      } catch (err) {
        if (err instanceof SectionError) return `${err.reason}: ${err.message}`;
        throw err;
      }
      return 'accepted';
    };
    expect(reason(() => decodeSection('routes', s.routes.content, { ...LIMITS, maxRoutes: 500 }))).toMatch(/^too_many_routes: section routes: more than 500 routes/);
    expect(reason(() => decodeSection('netfilter', s.netfilter.content, { ...LIMITS, maxRules: 100 }))).toMatch(/^too_many_rules: /);
    expect(reason(() => decodeSection('nft', s.nft.content, { ...LIMITS, maxRules: 100 }))).toMatch(/^too_many_rules: section nft: 300 rules/);
    expect(reason(() => decodeSection('routes', s.netfilter.content, LIMITS))).toMatch(/^schema: section routes: header names kind "netfilter"/);
    expect(reason(() => decodeSection('routes', `${s.routes.content}x`, LIMITS))).toMatch(/^schema: section routes: parts add up to/);
    expect(reason(() => decodeSection('routes', 'no header', LIMITS))).toMatch(/^schema: section routes: no header line/);
    const deep = `${'['.repeat(6000)}${']'.repeat(6000)}`;
    expect(reason(() => decodeSection('nft', `${JSON.stringify({ kind: 'nft', parts: [{ source: 'nft', length: deep.length }] })}\n${deep}`, LIMITS))).toMatch(/^schema: section nft: nested deeper than 64 levels/);
    expect(reason(() => decodeSection('ipsets', `${JSON.stringify({ kind: 'ipsets', parts: [{ source: 'ipsets', length: 4 }] })}\n[42]`, LIMITS))).toMatch(/^schema: section ipsets: expected an array of objects/);
  });
});
