/**
 * The netfilter evaluator against the kernel. Random rulesets (netfilter-gen.ts) are loaded with
 * iptables-restore (and ipset restore) into a receiver namespace; a sender namespace writes raw
 * frames (any source, ports, TCP flags, ICMP type) on one of two veth links. Per packet the
 * receiver's conntrack table is flushed, then `iptables-save -c` counters before and after are
 * compared with the evaluator's trace on the saved ruleset: every rule's and every
 * PREROUTING/INPUT policy's packet count, and delivery (the security table's INPUT counter
 * rule, which only packets that passed filter INPUT reach) against an `accept` verdict. An
 * `undecided` verdict is a disagreement. A failure prints the ruleset shrunk to the rules that
 * still disagree, the ipsets and the packet.
 *
 * HOSTCHECK_KERNEL_SETUPS (rulesets, default 50), HOSTCHECK_KERNEL_SEED (first seed, default 1)
 * and HOSTCHECK_KERNEL_PACKETS (packets per ruleset, default 60) run more.
 */
import { expect, it } from 'vitest';
import { parse as parseIpset } from '../../parsers/ipset.js';
import { parse as parseIptables } from '../../parsers/iptables-save.js';
import { evaluatePacket, type NetfilterPacket, type NetfilterResult, type NetfilterRuleset } from '../../src/simulate/netfilter.js';
import { describeLab, useLab } from '../lab/suite.js';
import { Agent } from './agent.js';
import { generateCase, LAB, type GeneratedCase, type GeneratedRule } from './netfilter-gen.js';
import { Coverage, evaluatorCounts, frameOf, sameCounts, show, toolsMissing, topology } from './netfilter-lab.js';

const SETUPS = Number(process.env.HOSTCHECK_KERNEL_SETUPS ?? 50);
const FIRST_SEED = Number(process.env.HOSTCHECK_KERNEL_SEED ?? 1);
const PACKETS = Number(process.env.HOSTCHECK_KERNEL_PACKETS ?? 60);

/** Packet counters of every rule (`table/chain/position`) and every chain's policy (`table/chain`). */
interface Counters {
  rules: Map<string, number>;
  policies: Map<string, number>;
}

function counters(saveText: string): Counters {
  const out: Counters = { rules: new Map(), policies: new Map() };
  for (const table of parseIptables(saveText).records) {
    for (const c of table.chains) out.policies.set(`${table.name}/${c.name}`, c.counters?.packets ?? 0);
    for (const r of table.rules) out.rules.set(`${table.name}/${r.chain}/${r.position}`, r.counters?.packets ?? 0);
  }
  return out;
}

/** What the kernel counted for one packet: non-zero deltas only. */
function kernelCounts(before: Counters, after: Counters): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after.rules) if (v !== (before.rules.get(k) ?? 0)) out.set(k, v - (before.rules.get(k) ?? 0));
  for (const [k, v] of after.policies) {
    const chain = k.slice(k.indexOf('/') + 1);
    if ((chain === 'PREROUTING' || chain === 'INPUT') && v !== (before.policies.get(k) ?? 0)) out.set(`${k}/policy`, v - (before.policies.get(k) ?? 0));
  }
  return out;
}

interface Outcome {
  agree: boolean;
  kernel: Map<string, number>;
  delivered: boolean;
  result: NetfilterResult;
  why: string;
}

describeLab('netfilter evaluator agrees with the kernel', () => {
  const lab = useLab(topology);

  it(`${SETUPS} random rulesets × ${PACKETS} packets (seeds ${FIRST_SEED}..${FIRST_SEED + SETUPS - 1})`, { timeout: 120_000 + SETUPS * PACKETS * 200 }, async () => {
    if (toolsMissing('netfilter-diff', ['python3', 'ipset', 'iptables-save', 'iptables-restore'])) return;
    const rx = new Agent(lab().ns('rx'));
    const tx = new Agent(lab().ns('tx'));
    const started = Date.now();
    const coverage = new Coverage();
    const failures: string[] = [];
    let packets = 0;
    let frameId = 1;
    /** The counters after the last packet: the next packet's "before" while the ruleset stays. */
    let last: Counters | undefined;
    /** Packets tx's own kernel tried to send during the run (dropped, see below). */
    let txOwn = 0;
    try {
      // tx's own kernel stays quiet (an answer of its own would count at rx in the next packet's
      // window, as its RSTs did in the nft differential); raw frames bypass this hook.
      await tx.run(['iptables-restore'], TX_QUIET);
      const load = async (rules: string, ipsets: string): Promise<NetfilterRuleset> => {
        await rx.run(['iptables-restore'], EMPTY_RULESET);
        await rx.run(['ipset', 'destroy']);
        if (ipsets !== '') await rx.run(['ipset', 'restore'], ipsets);
        await rx.run(['iptables-restore'], rules);
        last = undefined;
        const saved = await rx.run(['iptables-save']);
        return { tables: parseIptables(saved).records, ipsets: parseIpset(await rx.run(['ipset', 'save'])).records };
      };
      /** Sends one packet and compares the kernel's counter deltas with the evaluator's trace. */
      const probe = async (ruleset: NetfilterRuleset, packet: NetfilterPacket, generated: NetfilterRuleset): Promise<Outcome> => {
        const before = last ?? counters(await rx.run(['iptables-save', '-c']));
        const flushed = await rx.request({ op: 'flush' });
        if (!flushed.ok) throw new Error(flushed.stderr);
        const sent = await tx.request(frameOf(packet, frameId++ & 0xffff));
        if (!sent.ok) throw new Error(`sending failed: ${sent.stderr}`);
        last = counters(await rx.run(['iptables-save', '-c']));
        const kernel = kernelCounts(before, last);
        const opts = { path: 'input' as const, localAddresses: LAB.rxAddresses, traceLimit: 100_000 };
        const result = evaluatePacket(ruleset, packet, opts);
        const fromGenerated = evaluatePacket(generated, packet, opts);
        const expected = evaluatorCounts(result);
        const delivered = kernel.get('security/INPUT/1') === 1;
        let why = '';
        if (result.verdict === 'undecided') why = `evaluator undecided: ${result.reason}`;
        else if (delivered !== (result.verdict === 'accept')) why = `kernel ${delivered ? 'delivered' : 'did not deliver'}, evaluator says ${result.verdict}`;
        else if (!sameCounts(kernel, expected)) why = 'counters differ';
        else if (fromGenerated.verdict !== result.verdict || !sameCounts(evaluatorCounts(fromGenerated), expected)) why = `the generated text evaluates differently from the saved one (${fromGenerated.verdict}: ${fromGenerated.reason ?? show(evaluatorCounts(fromGenerated))})`;
        return { agree: why === '', kernel, delivered, result, why };
      };

      for (let s = 0; s < SETUPS; s++) {
        const seed = FIRST_SEED + s;
        const gen = generateCase(seed, PACKETS);
        const ruleset = await load(gen.rules, gen.ipsets).catch((error: Error) => {
          throw new Error(`seed ${seed}: loading the ruleset failed: ${error.message}\n${gen.rules}\n${gen.ipsets}`, { cause: error });
        });
        const generated: NetfilterRuleset = { tables: parseIptables(gen.rules).records, ipsets: parseIpset(gen.ipsets).records };
        const hitRules = new Set<string>();
        for (const [index, packet] of gen.packets.entries()) {
          packets++;
          const outcome = await probe(ruleset, packet, generated);
          for (const k of outcome.kernel.keys()) hitRules.add(k);
          if (outcome.agree) continue;
          if (failures.length < 3) failures.push(await reproduce(gen, index, packet, outcome, load, probe));
          else failures.push(`seed ${seed} packet ${index}: ${outcome.why}`);
        }
        for (const rule of gen.ruleList) {
          coverage.add(rule.features, hitRules.has(`${rule.table}/${rule.chain}/${rule.position}`));
        }
      }
      txOwn = counters(await tx.run(['iptables-save', '-c', '-t', 'filter'])).policies.get('filter/OUTPUT') ?? 0;
    } finally {
      rx.close();
      tx.close();
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const lines = coverage.lines();
    console.log(`[netfilter-diff] ${SETUPS} rulesets, ${packets} packets, ${failures.length} disagreements, ${seconds} s; tx's own kernel sent ${txOwn} packets (dropped)\n[netfilter-diff] coverage by feature:\n${lines.join('\n')}`);
    expect(failures, failures.join('\n\n')).toEqual([]);
  });
});

/** tx's filter OUTPUT drops everything its own kernel sends. */
const TX_QUIET = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT DROP [0:0]\nCOMMIT\n';

const EMPTY_RULESET = ['raw', 'mangle', 'nat', 'filter', 'security'].map((t) => `*${t}\nCOMMIT\n`).join('');

type Load = (rules: string, ipsets: string) => Promise<NetfilterRuleset>;
type Probe = (ruleset: NetfilterRuleset, packet: NetfilterPacket, generated: NetfilterRuleset) => Promise<Outcome>;

/** Shrinks the ruleset to the rules the disagreement needs (one rule out at a time) and prints it. */
async function reproduce(gen: GeneratedCase, index: number, packet: NetfilterPacket, first: Outcome, load: Load, probe: Probe): Promise<string> {
  let rules: GeneratedRule[] = gen.ruleList;
  let outcome = first;
  for (let i = rules.length - 1; i >= 0; i--) {
    const fewer = rules.filter((_, j) => j !== i);
    const text = gen.render(fewer);
    const attempt = await probe(await load(text, gen.ipsets), packet, { tables: parseIptables(text).records, ipsets: parseIpset(gen.ipsets).records });
    if (!attempt.agree) {
      rules = fewer;
      outcome = attempt;
    }
  }
  const ruleset = gen.render(rules);
  await load(gen.rules, gen.ipsets);
  return [
    `seed ${gen.seed} packet ${index}: ${outcome.why}`,
    `packet: ${JSON.stringify(packet)}`,
    `kernel:    delivered=${outcome.delivered} ${show(outcome.kernel)}`,
    `evaluator: ${outcome.result.verdict} ${show(evaluatorCounts(outcome.result))}${outcome.result.reason ? ` (${outcome.result.reason})` : ''}`,
    `ruleset (shrunk from ${gen.ruleList.length} to ${rules.length} rules):\n${ruleset}`,
    gen.ipsets ? `ipsets:\n${gen.ipsets}` : 'ipsets: none',
  ].join('\n');
}
