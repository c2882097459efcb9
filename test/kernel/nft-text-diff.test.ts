/**
 * nft's two listings read alike. Real rulesets are loaded into the kernel in a lab namespace —
 * nft-gen.ts's random ones (sets, concatenations, maps, verdict maps, ct state, marks, fib, NAT,
 * reject), the recorded firewalld and Docker ones (test/lab/nft-rulesets/) and a hand-written one
 * with every statement form nft-text reads — and listed back as `nft -j list ruleset`,
 * `nft -a list ruleset` and `nft list ruleset`. The text parser (parsers/nft-text.ts) must give the
 * JSON parser's NftTable records (origins aside; without `-a`, handles aside), and the nft
 * evaluator the same verdict, reason and trace on a set of packets through both. iptables-nft's
 * tables (loaded with iptables-nft-restore beside a native one) must be told apart alike, with the
 * same chains, hooks, priorities and policies (their rules' `xt` matches are not in the text).
 *
 * HOSTCHECK_KERNEL_NFT_TEXT_SETUPS (random rulesets, default 50; else HOSTCHECK_KERNEL_SETUPS), HOSTCHECK_KERNEL_SEED (first
 * seed, default 1) and HOSTCHECK_KERNEL_PACKETS (packets per ruleset, default 60) run more.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { expect, it } from 'vitest';
import { parseRoutes } from '../../parsers/ip-route.js';
import { parse as parseJson } from '../../parsers/nft.js';
import { parse as parseText } from '../../parsers/nft-text.js';
import type { NftTable } from '../../src/model/nft.js';
import { evaluatePacket, type NetfilterPacket, type NetfilterResult } from '../../src/simulate/netfilter.js';
import { NftEvaluator } from '../../src/simulate/nft-eval.js';
import { buildFib } from '../../src/simulate/route-lookup.js';
import { describeLab, useLab } from '../lab/suite.js';
import { Agent } from './agent.js';
import { LAB, makePackets, prng } from './netfilter-gen.js';
import { toolsMissing, topology } from './netfilter-lab.js';
import { generateNftCase } from './nft-gen.js';

const SETUPS = Number(process.env.HOSTCHECK_KERNEL_NFT_TEXT_SETUPS ?? process.env.HOSTCHECK_KERNEL_SETUPS ?? 50);
const FIRST_SEED = Number(process.env.HOSTCHECK_KERNEL_SEED ?? 1);
const PACKETS = Number(process.env.HOSTCHECK_KERNEL_PACKETS ?? 60);
const rulesets = join(import.meta.dirname, '..', 'lab', 'nft-rulesets');

/**
 * What only one form says, left out: origins; a netdev chain's device and a set's `dynamic` flag
 * (nft 1.0.6's JSON drops both, the text prints them); objects by kind and name (the text keeps
 * the bodies of named limits, quotas ... as lines); handles when the text has none.
 */
function comparable(tables: NftTable[], handles: boolean): unknown {
  return JSON.parse(JSON.stringify(tables, (k, v: unknown) => {
    if (k === 'origin' || k === 'device' || (!handles && k === 'handle')) return undefined;
    if (k === 'flags' && Array.isArray(v)) return v.filter((f) => f !== 'dynamic');
    if (k === 'objects' && Array.isArray(v)) return (v as { kind: string; name?: string }[]).map((o) => `${o.kind} ${o.name ?? ''}`);
    return v;
  }));
}

/** The first place two record lists differ, for the failure message. */
function firstDifference(a: unknown, b: unknown, path = ''): string {
  if (isDeepStrictEqual(a, b)) return '';
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}/${k}`);
      if (d !== '') return d;
    }
  }
  return `${path}: json ${JSON.stringify(a)?.slice(0, 400)}\n  text ${JSON.stringify(b)?.slice(0, 400)}`;
}

/** What the evaluator decided, in a form two runs can be compared by. */
function decision(r: NetfilterResult): string {
  return JSON.stringify({ verdict: r.verdict, reason: r.reason, trace: r.trace.map((t) => [t.hook, t.table, t.chain, t.rule, t.policy, t.matched]) });
}

describeLab('nft list ruleset text reads as nft -j', () => {
  const lab = useLab(topology);

  it(`${SETUPS} random rulesets, the recorded firewalld and Docker ones, every statement form, iptables-nft beside native (× ${PACKETS} packets)`, { timeout: 60_000 + SETUPS * 2_000 }, async () => {
    if (toolsMissing('nft-text-diff', ['python3', 'nft', 'iptables-nft-restore'])) return;
    const rx = new Agent(lab().ns('rx'));
    const tx = new Agent(lab().ns('tx'));
    const started = Date.now();
    const failures: string[] = [];
    let rules = 0;
    let decisions = 0;
    const verdicts = new Map<string, number>();
    let relisted = 0;
    try {
      // tx's own kernel stays quiet (router solicitations, MLD reports): a packet counted between the two listings would differ.
      await tx.run(['nft', '-f', '-'], 'table inet hctx {\n  chain out {\n    type filter hook output priority 0; policy drop;\n  }\n}\n');
      const routes = parseRoutes(await rx.run(['ip', '-4', 'route', 'show', 'table', 'all']), { family: 4 }).routes;
      const fib = buildFib(routes, []);
      const cases: { name: string; text: string; packets: NetfilterPacket[] }[] = [];
      for (let s = 0; s < SETUPS; s++) {
        const gen = generateNftCase(FIRST_SEED + s, PACKETS);
        cases.push({ name: `seed ${gen.seed}`, text: gen.text, packets: gen.packets });
      }
      const packets = makePackets(prng(0x7e47), PACKETS);
      // Docker's recorded ruleset names its output chain's priority dstnat, which this nft refuses for the output hook of an ip table.
      const docker = readFileSync(join(rulesets, 'docker-bridges.nft'), 'utf8').replace('hook output priority dstnat', 'hook output priority -100');
      cases.push({ name: 'docker-bridges', text: `flush ruleset\n${docker}`, packets });
      for (const name of ['firewalld-public', 'written-statements']) cases.push({ name, text: `flush ruleset\n${readFileSync(join(rulesets, `${name}.nft`), 'utf8')}`, packets });

      for (const c of cases) {
        await rx.run(['nft', '-f', '-'], c.text).catch((error: Error) => {
          throw new Error(`${c.name}: loading the ruleset failed: ${error.message}`, { cause: error });
        });
        const listings = async () => {
          const json = parseJson(await rx.run(['nft', '-j', 'list', 'ruleset']));
          const withHandles = parseText(await rx.run(['nft', '-a', 'list', 'ruleset']));
          const plain = parseText(await rx.run(['nft', 'list', 'ruleset']));
          const problems: string[] = [];
          for (const [form, parsed, handles] of [['nft -a', withHandles, true], ['nft', plain, false]] as const) {
            if (parsed.warnings.length > 0) problems.push(`${c.name} (${form} list ruleset): warnings ${JSON.stringify(parsed.warnings.slice(0, 3))}`);
            const diff = firstDifference(comparable(json.records, handles), comparable(parsed.records, handles));
            if (diff !== '') problems.push(`${c.name} (${form} list ruleset): records differ at ${diff}`);
          }
          return { json, withHandles, problems };
        };
        // A packet the kernel counted between the listings changes a counter: listed again (a parser's difference stays).
        let listed = await listings();
        if (listed.problems.length > 0) {
          relisted++;
          listed = await listings();
        }
        failures.push(...listed.problems);
        const { json, withHandles } = listed;
        rules += json.records.reduce((n, t) => n + t.chains.reduce((m, ch) => m + ch.rules.length, 0), 0);
        // Fresh evaluators: each compiles its own records.
        const byJson = new NftEvaluator({ fib });
        const byText = new NftEvaluator({ fib });
        for (const [index, packet] of c.packets.entries()) {
          for (const path of ['input', 'forward'] as const) {
            const run = (tables: NftTable[], evaluator: NftEvaluator): string => decision(evaluatePacket({ tables: [], nftTables: tables }, { ...packet, ...(path === 'forward' && { outIf: 'eth1' }) }, { path, localAddresses: LAB.rxAddresses, traceLimit: 100_000, nftEvaluator: evaluator }));
            const a = run(json.records, byJson);
            const b = run(withHandles.records, byText);
            decisions++;
            const v = (JSON.parse(a) as { verdict: string }).verdict;
            verdicts.set(v, (verdicts.get(v) ?? 0) + 1);
            if (a !== b && failures.length < 20) failures.push(`${c.name} packet ${index} (${path}): ${JSON.stringify(packet)}\n  json ${a.slice(0, 600)}\n  text ${b.slice(0, 600)}`);
          }
        }
      }

      // iptables-nft's tables beside a native table of the same family.
      await rx.run(['nft', '-f', '-'], 'flush ruleset\ntable ip native {\n  chain input {\n    type filter hook input priority 5; policy accept;\n    ip saddr 172.18.0.0/16 drop\n  }\n}\n');
      await rx.run(['iptables-nft-restore', '--noflush'], [
        '*filter', ':INPUT DROP [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':DOCKER - [0:0]',
        '-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT', '-A INPUT -s 10.0.0.0/8 -p tcp --dport 22 -j ACCEPT',
        '-A INPUT -m comment --comment "lab" -j REJECT', '-A FORWARD -i eth0 -j DOCKER', 'COMMIT',
        '*nat', ':PREROUTING ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', '-A POSTROUTING -o eth0 -j MASQUERADE', 'COMMIT', '',
      ].join('\n'));
      const shape = (tables: NftTable[]): unknown => tables.map((t) => ({
        table: `${t.family} ${t.name} ${t.managedBy}`,
        chains: t.chains.map((ch) => [ch.name, ch.type, ch.hook, ch.priority, ch.priorityName, ch.policy, ch.rules.length]),
      }));
      const json = parseJson(await rx.run(['nft', '-j', 'list', 'ruleset']));
      const text = parseText(await rx.run(['nft', '-a', 'list', 'ruleset']));
      expect(shape(text.records)).toEqual(shape(json.records));
      expect(text.records.map((t) => `${t.family} ${t.name} ${t.managedBy}`)).toEqual(['ip native native', 'ip filter iptables-nft', 'ip nat iptables-nft']);
      // The native table's rules are equal too.
      expect(comparable([text.records[0]], true)).toEqual(comparable([json.records[0]], true));
    } finally {
      rx.close();
      tx.close();
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`[nft-text-diff] ${SETUPS + 3} rulesets (${rules} rules), ${decisions} packet paths evaluated through both, ${failures.length} differences, ${relisted} listed twice, ${seconds} s; verdicts ${JSON.stringify(Object.fromEntries(verdicts))}`);
    expect(failures, failures.join('\n\n')).toEqual([]);
    // The packets reach rules that decide both ways (the comparison is not over empty chains).
    expect(verdicts.get('accept') ?? 0).toBeGreaterThan(0);
    expect((verdicts.get('drop') ?? 0) + (verdicts.get('reject') ?? 0)).toBeGreaterThan(0);
  });
});
