/**
 * The nft evaluator against the kernel. Random native rulesets (nft-gen.ts: named interval sets,
 * concatenations, verdict maps, ct state, marks, fib, DNAT, an inet and an ip table on the input
 * hook at different priorities) are loaded with `nft -f` into the receiver namespace; the sender
 * writes raw frames. Per packet the receiver's conntrack table is flushed, and every rule's
 * counter before and after (`nft -j list ruleset`) is compared with the evaluator's trace on the
 * listed ruleset; delivery (the counter of a chain at priority 1000, which only packets every
 * other input chain accepted reach) against an `accept` verdict. An `undecided` verdict is a
 * disagreement. A planted bug (interval set elements read as their first address) must show on
 * the same observations. A failure prints the ruleset shrunk to the rules that still disagree.
 *
 * HOSTCHECK_KERNEL_NFT_SETUPS (rulesets, default 50; else HOSTCHECK_KERNEL_SETUPS), HOSTCHECK_KERNEL_SEED (first seed,
 * default 1) and HOSTCHECK_KERNEL_PACKETS (packets per ruleset, default 60) run more.
 */
import { expect, it } from 'vitest';
import { parse as parseNft } from '../../parsers/nft.js';
import { parseRoutes } from '../../parsers/ip-route.js';
import type { NftTable } from '../../src/model/nft.js';
import { evaluatePacket, type NetfilterPacket, type NetfilterResult, type NetfilterRuleset } from '../../src/simulate/netfilter.js';
import { NftEvaluator } from '../../src/simulate/nft-eval.js';
import { buildFib } from '../../src/simulate/route-lookup.js';
import { describeLab, useLab } from '../lab/suite.js';
import { Agent } from './agent.js';
import { LAB } from './netfilter-gen.js';
import { Coverage, evaluatorCounts as traceCounts, frameOf, sameCounts, show, toolsMissing, topology } from './netfilter-lab.js';

/** The counts the evaluator's trace predicts: rules whose matches held (nft counts no policy). */
const evaluatorCounts = (r: NetfilterResult): Map<string, number> => traceCounts(r, false);
import { generateNftCase, type NftGenCase, type NftGenRule } from './nft-gen.js';

const SETUPS = Number(process.env.HOSTCHECK_KERNEL_NFT_SETUPS ?? process.env.HOSTCHECK_KERNEL_SETUPS ?? 50);
const FIRST_SEED = Number(process.env.HOSTCHECK_KERNEL_SEED ?? 1);
const PACKETS = Number(process.env.HOSTCHECK_KERNEL_PACKETS ?? 60);
const DELIVERED = 'ip hcz/in/1';

/** Every rule's counter by `family table/chain/position`. */
function counters(tables: NftTable[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of tables) for (const c of t.chains) c.rules.forEach((r, k) => out.set(`${t.family} ${t.name}/${c.name}/${k + 1}`, r.counters?.packets ?? 0));
  return out;
}

function deltas(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) if (v !== (before.get(k) ?? 0)) out.set(k, v - (before.get(k) ?? 0));
  return out;
}

/** A JSON value with every prefix and range replaced by its first address (the planted bug). */
function pointsOnly(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(pointsOnly);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  const prefix = o.prefix as { addr?: unknown } | undefined;
  if (prefix && typeof prefix === 'object' && 'addr' in prefix) return prefix.addr;
  if (Array.isArray(o.range) && o.range.length === 2) return o.range[0];
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, pointsOnly(x)]));
}

const PLANTED = {
  /** Interval set elements and prefixes read as their first address only. */
  intervalsAsPoints: (tables: NftTable[]): NftTable[] => tables.map((t) => ({
    ...t,
    sets: t.sets.map((s) => ({ ...s, elements: pointsOnly(s.elements) as unknown[] })),
    chains: t.chains.map((c) => ({ ...c, rules: c.rules.map((r) => ({ ...r, expr: pointsOnly(r.expr) as unknown[] })) })),
  })),
};

interface Outcome {
  why: string;
  kernel: Map<string, number>;
  delivered: boolean;
  result: NetfilterResult;
}

describeLab('nft evaluator agrees with the kernel', () => {
  const lab = useLab(topology);

  it(`${SETUPS} random nft rulesets × ${PACKETS} packets (seeds ${FIRST_SEED}..${FIRST_SEED + SETUPS - 1})`, { timeout: 120_000 + SETUPS * PACKETS * 200 }, async () => {
    if (toolsMissing('nft-diff', ['python3', 'nft'])) return;
    const rx = new Agent(lab().ns('rx'));
    const tx = new Agent(lab().ns('tx'));
    const started = Date.now();
    const coverage = new Coverage();
    const failures: string[] = [];
    let packets = 0;
    let planted = 0;
    let frameId = 1;
    let last: Map<string, number> | undefined;
    try {
      // tx's own kernel stays quiet (its RSTs to rx's SYN-ACKs would count in the next packet's window); raw frames bypass this hook.
      await tx.run(['nft', '-f', '-'], 'table inet hctx {\n  chain out {\n    type filter hook output priority 0; policy drop;\n  }\n}\n');
      const routes = parseRoutes(await rx.run(['ip', '-4', 'route', 'show', 'table', 'all']), { family: 4 }).routes;
      const evaluator = new NftEvaluator({ fib: buildFib(routes, []) });
      const list = async (): Promise<NftTable[]> => parseNft(await rx.run(['nft', '-j', 'list', 'ruleset'])).records;
      const load = async (text: string): Promise<NftTable[]> => {
        await rx.run(['nft', '-f', '-'], text);
        last = undefined;
        return list();
      };
      const evaluate = (tables: NftTable[], packet: NetfilterPacket): NetfilterResult => {
        const ruleset: NetfilterRuleset = { tables: [], nftTables: tables };
        return evaluatePacket(ruleset, packet, { path: 'input', localAddresses: LAB.rxAddresses, traceLimit: 100_000, nftEvaluator: evaluator });
      };
      const disagreement = (result: NetfilterResult, kernel: Map<string, number>): string => {
        const delivered = kernel.get(DELIVERED) === 1;
        if (result.verdict === 'undecided') return `evaluator undecided: ${result.reason}`;
        if (delivered !== (result.verdict === 'accept')) return `kernel ${delivered ? 'delivered' : 'did not deliver'}, evaluator says ${result.verdict}`;
        if (!sameCounts(kernel, evaluatorCounts(result))) return 'counters differ';
        return '';
      };
      const probe = async (tables: NftTable[], packet: NetfilterPacket): Promise<Outcome> => {
        const before = last ?? counters(await list());
        const flushed = await rx.request({ op: 'flush' });
        if (!flushed.ok) throw new Error(flushed.stderr);
        const sent = await tx.request(frameOf(packet, frameId++ & 0xffff));
        if (!sent.ok) throw new Error(`sending failed: ${sent.stderr}`);
        last = counters(await list());
        const kernel = deltas(before, last);
        const result = evaluate(tables, packet);
        if (disagreement(evaluate(PLANTED.intervalsAsPoints(tables), packet), kernel) !== '') planted++;
        return { why: disagreement(result, kernel), kernel, delivered: kernel.get(DELIVERED) === 1, result };
      };

      for (let s = 0; s < SETUPS; s++) {
        const seed = FIRST_SEED + s;
        const gen = generateNftCase(seed, PACKETS);
        const tables = await load(gen.text).catch((error: Error) => {
          throw new Error(`seed ${seed}: loading the ruleset failed: ${error.message}\n${gen.text}`, { cause: error });
        });
        const hit = new Set<string>();
        for (const [index, packet] of gen.packets.entries()) {
          packets++;
          const outcome = await probe(tables, packet);
          for (const k of outcome.kernel.keys()) hit.add(k);
          if (outcome.why === '') continue;
          if (failures.length < 3) failures.push(await reproduce(gen, index, packet, outcome, load, probe));
          else failures.push(`seed ${seed} packet ${index}: ${outcome.why}`);
        }
        const position = new Map<string, number>();
        for (const rule of gen.rules) {
          const chainKey = `${rule.table}/${rule.chain}`;
          const n = (position.get(chainKey) ?? 0) + 1;
          position.set(chainKey, n);
          coverage.add(rule.features, hit.has(`${chainKey}/${n}`));
        }
      }
    } finally {
      rx.close();
      tx.close();
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const lines = coverage.lines();
    console.log(`[nft-diff] ${SETUPS} rulesets, ${packets} packets, ${failures.length} disagreements, ${seconds} s; planted bug (intervals as points) caught ${planted} times\n[nft-diff] coverage by feature:\n${lines.join('\n')}`);
    expect(failures, failures.join('\n\n')).toEqual([]);
    if (SETUPS * PACKETS >= 600) expect(planted, 'planted bug: interval set elements read as points').toBeGreaterThan(0);
  });
});

type Load = (text: string) => Promise<NftTable[]>;
type Probe = (tables: NftTable[], packet: NetfilterPacket) => Promise<Outcome>;

/** Shrinks the ruleset to the rules the disagreement needs (one rule out at a time) and prints it. */
async function reproduce(gen: NftGenCase, index: number, packet: NetfilterPacket, first: Outcome, load: Load, probe: Probe): Promise<string> {
  let rules: NftGenRule[] = gen.rules;
  let outcome = first;
  for (let i = rules.length - 1; i >= 0; i--) {
    const fewer = rules.filter((_, j) => j !== i);
    const attempt = await probe(await load(gen.render(fewer)), packet);
    if (attempt.why !== '') {
      rules = fewer;
      outcome = attempt;
    }
  }
  await load(gen.text);
  return [
    `seed ${gen.seed} packet ${index}: ${outcome.why}`,
    `packet: ${JSON.stringify(packet)}`,
    `kernel:    delivered=${outcome.delivered} ${show(outcome.kernel)}`,
    `evaluator: ${outcome.result.verdict} ${show(evaluatorCounts(outcome.result))}${outcome.result.reason ? ` (${outcome.result.reason})` : ''}`,
    `ruleset (shrunk from ${gen.rules.length} to ${rules.length} rules):\n${gen.render(rules)}`,
  ].join('\n');
}
