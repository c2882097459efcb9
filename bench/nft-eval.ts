/**
 * nft-eval: 100,000 packets through a 10,001-rule native nft ruleset (named address sets, a
 * verdict map, 100 regular chains), against the iptables evaluator on an iptables ruleset with
 * the same matches (ipsets for the sets, two bitmap:port sets for the verdict map), same packets,
 * both evaluated through `evaluatePacket` on the input path. Both rulesets go through their
 * parsers (nft -j JSON, iptables-save and ipset save text). Target: nft at most 2x iptables.
 */
import { parse as parseIpset } from '../parsers/ipset.js';
import { parse as parseIptables } from '../parsers/iptables-save.js';
import { parse as parseNft } from '../parsers/nft.js';
import { evaluatePacket, type NetfilterPacket, type NetfilterRuleset } from '../src/simulate/netfilter.js';
import { NftEvaluator } from '../src/simulate/nft-eval.js';
import { prng } from '../test/helpers/prng.js';
import { bestOf, type BenchRow, type SectionOptions } from './netns.js';

const TARGET = 2;
const CHAINS = 100;
const PER_CHAIN = 99;
const SETS = 20;
const SVC = 200;

/** The two rulesets and the packets. */
function build(packetCount: number): { nft: NetfilterRuleset; ipt: NetfilterRuleset; packets: NetfilterPacket[]; rules: number } {
  const nft: unknown[] = [{ table: { family: 'inet', name: 'bench' } }];
  const chain = (name: string, base: boolean): void => {
    nft.push({ chain: { family: 'inet', table: 'bench', name, ...(base && { type: 'filter', hook: 'input', prio: 0, policy: 'accept' }) } });
  };
  const rule = (c: string, expr: unknown[]): void => {
    nft.push({ rule: { family: 'inet', table: 'bench', chain: c, expr } });
  };
  const match = (left: unknown, right: unknown, op = '=='): unknown => ({ match: { op, left, right } });
  const payload = (protocol: string, field: string): unknown => ({ payload: { protocol, field } });
  const save = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]'];
  const ipset: string[] = [];
  for (let s = 0; s < SETS; s++) {
    const elem: unknown[] = [];
    ipset.push(`create dst${s} hash:net family inet hashsize 1024 maxelem 65536`);
    for (let e = 0; e < 50; e++) {
      elem.push({ prefix: { addr: `172.${16 + s}.${e}.0`, len: 24 } });
      ipset.push(`add dst${s} 172.${16 + s}.${e}.0/24`);
    }
    nft.push({ set: { family: 'inet', table: 'bench', name: `dst${s}`, type: 'ipv4_addr', flags: ['interval'], elem } });
  }
  const svc: unknown[] = [];
  ipset.push('create svc-accept bitmap:port range 0-65535', 'create svc-drop bitmap:port range 0-65535');
  for (let p = 0; p < SVC; p++) {
    const accept = p % 2 === 0;
    svc.push([20000 + p, accept ? { accept: null } : { drop: null }]);
    ipset.push(`add svc-${accept ? 'accept' : 'drop'} ${20000 + p}`);
  }
  nft.push({ map: { family: 'inet', table: 'bench', name: 'svc', type: 'inet_service', map: 'verdict', elem: svc } });
  for (let k = 0; k < CHAINS; k++) {
    chain(`c${k}`, false);
    save.push(`:c${k} - [0:0]`);
  }
  chain('input', true);
  rule('input', [{ vmap: { key: payload('tcp', 'dport'), data: '@svc' } }]);
  save.push('-A INPUT -p tcp -m set --match-set svc-accept dst -j ACCEPT', '-A INPUT -p tcp -m set --match-set svc-drop dst -j DROP');
  for (let k = 0; k < CHAINS; k++) {
    rule('input', [match(payload('ip', 'daddr'), `@dst${k % SETS}`), { jump: { target: `c${k}` } }]);
    save.push(`-A INPUT -m set --match-set dst${k % SETS} dst -j c${k}`);
  }
  for (let k = 0; k < CHAINS; k++) {
    for (let j = 0; j < PER_CHAIN; j++) {
      rule(`c${k}`, [match(payload('ip', 'saddr'), { prefix: { addr: `10.${k}.${j}.0`, len: 24 } }), match(payload('tcp', 'dport'), 1000 + j), { drop: null }]);
      save.push(`-A c${k} -s 10.${k}.${j}.0/24 -p tcp -m tcp --dport ${1000 + j} -j DROP`);
    }
  }
  save.push('COMMIT', '');
  const rand = prng(17);
  const int = (n: number): number => Math.floor(rand() * n);
  const packets: NetfilterPacket[] = [];
  for (let i = 0; i < packetCount; i++) {
    const dport = rand() < 0.2 ? 20000 + int(SVC) : 1000 + int(PER_CHAIN + 20);
    packets.push({ family: 4, src: `10.${int(CHAINS)}.${int(PER_CHAIN + 5)}.${1 + int(250)}`, dst: `172.${16 + int(SETS + 2)}.${int(55)}.${1 + int(250)}`, proto: 'tcp', sport: 40000, dport, tcpFlags: 2, inIf: 'eth0', ctstate: 'NEW' });
  }
  return {
    nft: { tables: [], nftTables: parseNft(JSON.stringify({ nftables: nft })).records },
    ipt: { tables: parseIptables(save.join('\n')).records, ipsets: parseIpset(ipset.join('\n')).records },
    packets,
    rules: nft.filter((x) => typeof x === 'object' && x !== null && 'rule' in x).length,
  };
}

export async function benchNftEval(options: SectionOptions): Promise<BenchRow[]> {
  const count = options.quick ? 10_000 : 100_000;
  options.log(`nft-eval: building the rulesets and ${count.toLocaleString('en')} packets ...`);
  const { nft, ipt, packets, rules } = build(count);
  const evaluator = new NftEvaluator();
  const verdicts = { nft: new Map<string, number>(), ipt: new Map<string, number>() };
  const run = (rs: NetfilterRuleset, tally: Map<string, number>, nftEvaluator?: NftEvaluator): void => {
    tally.clear();
    for (const p of packets) {
      const v = evaluatePacket(rs, p, { path: 'input', traceLimit: 10, ...(nftEvaluator && { nftEvaluator }) }).verdict;
      tally.set(v, (tally.get(v) ?? 0) + 1);
    }
  };
  options.log('nft-eval: iptables evaluator (warm-up + best of 3) ...');
  run(ipt, verdicts.ipt);
  const iptTime = await bestOf(3, () => run(ipt, verdicts.ipt));
  options.log('nft-eval: nft evaluator (warm-up + best of 3) ...');
  run(nft, verdicts.nft, evaluator);
  const nftTime = await bestOf(3, () => run(nft, verdicts.nft, evaluator));
  const same = [...verdicts.nft].every(([k, v]) => verdicts.ipt.get(k) === v) && verdicts.nft.size === verdicts.ipt.size;
  const ratio = nftTime.best / iptTime.best;
  const r3 = (x: number): number => Math.round(x * 1000) / 1000;
  return [
    { name: `iptables evaluator, ${count.toLocaleString('en')} packets`, value: r3(iptTime.best), unit: 's', note: `${(ipt.tables[0].rules.length).toLocaleString('en')} rules, ${SETS + 2} ipsets; best of 3` },
    {
      name: `nft evaluator, ${count.toLocaleString('en')} packets`, value: r3(nftTime.best), unit: 's',
      reference: { name: 'iptables evaluator', value: r3(iptTime.best), unit: 's' },
      ratio: Math.round(ratio * 100) / 100, target: `ratio <= ${TARGET}`, pass: ratio <= TARGET && same,
      note: `${rules.toLocaleString('en')} rules, ${SETS} named sets, a ${SVC}-entry verdict map; best of 3; verdicts ${same ? 'equal' : 'DIFFER'}: ${[...verdicts.nft].map(([k, v]) => `${k} ${v}`).join(', ')}`,
    },
  ];
}
