/**
 * Random native nft rulesets for the differential test against the kernel (nft-diff.test.ts),
 * deterministic from a seed, in the lab of netfilter-gen.ts (same addresses and packets).
 *
 * - `table inet hca`: a prerouting filter chain (marks, ct marks, fib, accept/drop), an input
 *   base chain and up to three regular chains (jump, goto, return, verdict maps), with named
 *   interval sets of addresses and ports, a concatenation set and a verdict map;
 * - `table ip hcb`: an input base chain at another priority (an accept there does not end the hook);
 * - `table ip hcnat`: a dstnat chain (DNAT to rx's own addresses, which input then sees);
 * - `table ip hcz`: an input chain at priority 1000 that counts delivered packets.
 * Every rule carries a counter after its matches, so the kernel's counters say which rules'
 * matches held; each rule records its features for the coverage report.
 */
import type { NetfilterPacket } from '../../src/simulate/netfilter.js';
import { LAB, TCP_PORTS, UDP_PORTS, chance, choose, int, makePackets, pick, prefixAround, prng } from './netfilter-gen.js';

export interface NftGenRule {
  /** "inet hca" */
  table: string;
  chain: string;
  text: string;
  features: string[];
}

export interface NftGenCase {
  seed: number;
  /** `nft -f` input (after `flush ruleset`). */
  text: string;
  rules: NftGenRule[];
  /** The `nft -f` text of a subset of `rules` (for shrinking a failure). */
  render: (rules: NftGenRule[]) => string;
  packets: NetfilterPacket[];
}

type R = () => number;

function addr(r: R): string {
  return chance(r, 0.6) ? pick(r, LAB.sources) : pick(r, LAB.destinations);
}

function prefix(r: R): string {
  return prefixAround(r, addr(r)).replace(/\/32$/, '');
}

function ports(r: R, n: number): number[] {
  const out = new Set<number>();
  for (let i = 0; i < n; i++) out.add(chance(r, 0.5) ? pick(r, TCP_PORTS) : pick(r, UDP_PORTS));
  return [...out];
}

interface Names {
  chains: string[];
  /** The regular chain this rule's chain may jump to (higher numbers only: no loops). */
  after: (chain: string) => string[];
}

/** One rule's matches (in a table of `family`, on `hook`). */
function matches(r: R, family: 'inet' | 'ip', hook: 'prerouting' | 'input'): { text: string[]; features: string[]; proto?: string[] } {
  const text: string[] = [];
  const features: string[] = [];
  let proto: string[] | undefined;
  const n = choose(r, [[0, 1], [1, 4], [2, 3], [3, 1]]);
  for (let i = 0; i < n; i++) {
    const [t, f] = choose<[string, string]>(r, [
      [[`ip saddr ${prefix(r)}`, 'ip saddr'], 4],
      [[`ip saddr != ${prefix(r)}`, 'ip saddr !='], 1],
      [['ip saddr @addrs', 'named interval set'], 3],
      [[`ip daddr { ${[...new Set([addr(r), addr(r)])].join(', ')} }`, 'anonymous set'], 2],
      [['ip daddr 10.9.0.1-10.9.0.2', 'range'], 1],
      [[`tcp dport ${pick(r, TCP_PORTS)}`, 'tcp dport'], 3],
      [[`tcp dport { ${ports(r, 3).join(', ')} }`, 'anonymous set'], 2],
      [[`udp dport ${pick(r, ['1-100', '100-600', '4000-5000'])}`, 'port range'], 1],
      [['meta l4proto { tcp, udp } th dport @ports', 'named port set'], 2],
      [['meta l4proto { tcp, udp }', 'meta l4proto'], 1],
      [[`meta l4proto ${pick(r, ['icmp', 'tcp', 'udp'])}`, 'meta l4proto'], 1],
      [[`icmp type ${pick(r, ['echo-request', '{ echo-request, timestamp-request }', 'echo-reply'])}`, 'icmp type'], 2],
      [['tcp flags & (syn | ack) == syn', 'tcp flags'], 1],
      [['tcp flags syn', 'tcp flags'], 1],
      [[`iifname ${pick(r, ['"eth0"', '"eth1"', '"eth*"', '!= "eth0"'])}`, 'iifname'], 2],
      [[`iif ${pick(r, ['"eth0"', '"eth1"'])}`, 'iif'], 1],
      [[`ct state ${pick(r, ['new', 'invalid', '{ new, established }', 'established,related', 'new,invalid'])}`, 'ct state'], 3],
      [[hook === 'input' ? `meta mark ${pick(r, ['0x10', '0x0', '0x1'])}` : `meta mark 0x0`, 'meta mark'], hook === 'input' ? 2 : 0.3],
      [[hook === 'input' ? 'ct mark 0x5' : 'ct mark 0x0', 'ct mark'], 1],
      [['ip saddr . tcp dport @pairs', 'concatenation'], 1.5],
      [['meta pkttype broadcast', 'pkttype'], 1],
      [['fib daddr type local', 'fib daddr type'], 1],
      [['fib saddr . iif oif missing', 'fib saddr . iif'], 1],
      [['limit rate 10000/second', 'limit'], 0.5],
      [[family === 'inet' ? 'meta nfproto ipv4' : 'ip protocol tcp', family === 'inet' ? 'meta nfproto' : 'ip protocol'], 0.5],
    ]);
    // One transport protocol a rule (nft refuses `tcp flags syn icmp type ...`).
    const wants = /\{ tcp, udp \}/.test(t) ? ['tcp|udp'] : /\btcp\b/.test(t) ? ['tcp'] : /\budp\b/.test(t) ? ['udp'] : /\bicmp\b/.test(t) ? ['icmp'] : /\bth\b/.test(t) ? ['tcp', 'udp', 'tcp|udp'] : undefined;
    if (wants !== undefined) {
      const both = proto === undefined ? wants : proto.filter((x) => wants.includes(x));
      if (both.length === 0) continue;
      proto = both;
    }
    text.push(t);
    features.push(f);
  }
  return { text, features, ...(proto !== undefined && { proto }) };
}

function statement(r: R, family: 'inet' | 'ip', hook: 'prerouting' | 'input', chain: string, names: Names, base: boolean): { text: string[]; features: string[] } {
  const jumps = names.after(chain);
  if (hook === 'prerouting') {
    return choose<{ text: string[]; features: string[] }>(r, [
      [{ text: ['meta mark set 0x10'], features: ['meta mark set'] }, 3],
      [{ text: ['ct mark set 0x5'], features: ['ct mark set'] }, 2],
      [{ text: ['drop'], features: ['drop'] }, 1],
      [{ text: ['accept'], features: ['accept'] }, 1],
      [{ text: [], features: ['no statement'] }, 1],
    ]);
  }
  const options: [{ text: string[]; features: string[] }, number][] = [
    [{ text: ['accept'], features: ['accept'] }, 4],
    [{ text: ['drop'], features: ['drop'] }, 3],
    [{ text: [pick(r, ['reject', family === 'inet' ? 'reject with icmpx admin-prohibited' : 'reject with icmp admin-prohibited', 'reject with icmp host-prohibited'])], features: ['reject'] }, 1.5],
    [{ text: [], features: ['no statement'] }, 1],
    [{ text: ['continue'], features: ['continue'] }, 0.3],
    // The map jumps to the last regular chain only: no chain reaches itself.
    [{ text: ['th dport vmap @verdicts'], features: ['named verdict map'] }, base || (names.chains.length > 0 && chain !== names.chains[names.chains.length - 1]) ? 1.5 : 0],
    [{ text: [`ip saddr vmap { ${pick(r, LAB.sources.slice(0, 5))} : accept, ${pick(r, LAB.sources.slice(5))} : drop }`], features: ['anonymous verdict map'] }, 1],
    [{ text: ['ct state vmap { invalid : drop, established : accept }'], features: ['ct state vmap'] }, 1],
  ];
  if (!base) options.push([{ text: ['return'], features: ['return'] }, 1.5]);
  if (jumps.length > 0) {
    options.push([{ text: [`jump ${pick(r, jumps)}`], features: ['jump'] }, 3]);
    options.push([{ text: [`goto ${pick(r, jumps)}`], features: ['goto'] }, 1]);
  }
  return choose(r, options);
}

/** A ruleset as described in the file comment. */
export function generateNftCase(seed: number, packetCount: number): NftGenCase {
  const r = prng(seed ^ 0x6e667400);
  const regular = Array.from({ length: int(r, 0, 3) }, (_, i) => `c${i + 1}`);
  const inet: Names = { chains: regular, after: (chain) => regular.filter((c) => c > chain || !chain.startsWith('c')) };
  const rules: NftGenRule[] = [];
  const none: Names = { chains: [], after: () => [] };
  const add = (table: string, chain: string, hook: 'prerouting' | 'input', n: number, base: boolean, names: Names = table === 'inet hca' ? inet : none): void => {
    for (let i = 0; i < n; i++) {
      const family = table.startsWith('inet') ? 'inet' : 'ip';
      const m = matches(r, family, hook);
      let s = statement(r, family, hook, chain, names, base);
      // `th` has no protocol dependency: it reads an ICMP header's checksum too (hostcheck cannot tell that).
      if (s.text.some((x) => x.startsWith('th '))) {
        if (m.proto?.includes('icmp')) s = { text: ['accept'], features: ['accept'] };
        else if (m.proto === undefined) m.text.unshift('meta l4proto { tcp, udp }');
      }
      const text = [...m.text, 'counter', ...s.text].join(' ');
      rules.push({ table, chain, text, features: [...m.features, ...s.features] });
    }
  };
  add('inet hca', 'pre', 'prerouting', int(r, 0, 3), true);
  add('inet hca', 'in', 'input', int(r, 2, 8), true);
  for (const c of regular) add('inet hca', c, 'input', int(r, 1, 4), false);
  add('ip hcb', 'in', 'input', int(r, 1, 4), true);
  const nat = int(r, 0, 2);
  for (let i = 0; i < nat; i++) {
    const [text, f] = pick<[string, string]>(r, [
      ['tcp dport 8080 counter dnat to 10.9.0.1:80', 'dnat'], ['ip daddr 10.1.0.2 counter dnat to 10.9.0.2', 'dnat'], ['udp dport 53 counter dnat to 10.9.0.1', 'dnat'],
    ]);
    rules.push({ table: 'ip hcnat', chain: 'pre', text, features: [f] });
  }
  // Priorities: the two input chains differ (one of them may come before the other).
  const prioA = pick(r, [-5, 0, 5]);
  const prioB = pick(r, [-10, -3, 3, 10].filter((p) => p !== prioA));
  const policyA = chance(r, 0.5) ? 'drop' : 'accept';
  const policyB = chance(r, 0.2) ? 'drop' : 'accept';
  const sets = {
    addrs: [...new Set(Array.from({ length: int(r, 1, 4) }, () => prefix(r)))],
    ports: [...new Set([...ports(r, int(r, 1, 3)).map(String), ...(chance(r, 0.5) ? ['1000-2000'] : [])])],
    pairs: [...new Set(Array.from({ length: int(r, 1, 3) }, () => `${addr(r)} . ${pick(r, TCP_PORTS)}`))],
    verdicts: [...new Set(ports(r, int(r, 1, 3)))].map((p) => `${p} : ${regular.length > 0 && chance(r, 0.4) ? `jump ${regular[regular.length - 1]}` : pick(r, ['accept', 'drop'])}`),
  };
  const render = (list: NftGenRule[]): string => {
    const of = (table: string, chain: string): string => list.filter((x) => x.table === table && x.chain === chain).map((x) => `    ${x.text}\n`).join('');
    return [
      'flush ruleset',
      'table inet hca {',
      `  set addrs { type ipv4_addr; flags interval; auto-merge; elements = { ${sets.addrs.join(', ')} } }`,
      `  set ports { type inet_service; flags interval; auto-merge; elements = { ${sets.ports.join(', ')} } }`,
      `  set pairs { type ipv4_addr . inet_service; elements = { ${sets.pairs.join(', ')} } }`,
      `  map verdicts { type inet_service : verdict; elements = { ${sets.verdicts.join(', ')} } }`,
      ...regular.map((c) => `  chain ${c} {\n${of('inet hca', c)}  }`),
      `  chain pre {\n    type filter hook prerouting priority mangle; policy accept;\n${of('inet hca', 'pre')}  }`,
      `  chain in {\n    type filter hook input priority ${prioA}; policy ${policyA};\n${of('inet hca', 'in')}  }`,
      '}',
      'table ip hcb {',
      `  set addrs { type ipv4_addr; flags interval; auto-merge; elements = { ${sets.addrs.join(', ')} } }`,
      `  set ports { type inet_service; flags interval; auto-merge; elements = { ${sets.ports.join(', ')} } }`,
      `  set pairs { type ipv4_addr . inet_service; elements = { ${sets.pairs.join(', ')} } }`,
      `  map verdicts { type inet_service : verdict; elements = { ${sets.verdicts.filter((v) => !v.includes('jump')).join(', ') || '1 : accept'} } }`,
      `  chain in {\n    type filter hook input priority ${prioB}; policy ${policyB};\n${of('ip hcb', 'in')}  }`,
      '}',
      `table ip hcnat {\n  chain pre {\n    type nat hook prerouting priority dstnat; policy accept;\n${of('ip hcnat', 'pre')}  }\n}`,
      'table ip hcz {\n  chain in {\n    type filter hook input priority 1000; policy accept;\n    counter comment "delivered"\n  }\n}',
      '',
    ].join('\n');
  };
  return { seed, text: render(rules), rules, render, packets: makePackets(r, packetCount) };
}
