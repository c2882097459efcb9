import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse as parseJson } from '../../parsers/nft.js';
import { parse, priorityNumber } from '../../parsers/nft-text.js';
import { evaluatePacket, type NetfilterPacket } from '../../src/simulate/netfilter.js';
import { NftEvaluator } from '../../src/simulate/nft-eval.js';
import { repoRoot } from '../helpers/samples.js';

const rulesets = join(repoRoot, 'test', 'lab', 'nft-rulesets');
/** Records without what only one form carries: origins and (for text without -a) handles. */
const strip = (v: unknown, handles: boolean): unknown => JSON.parse(JSON.stringify(v, (k, x) => (k === 'origin' || (!handles && k === 'handle') ? undefined : x)));

describe('nft-text: the recorded rulesets read as their nft -j', () => {
  // The recorded .nft files are `nft list ruleset` text (no handles); their .json the kernel's nft -j of the same ruleset.
  for (const name of ['firewalld-public', 'docker-bridges']) {
    it(name, () => {
      const text = parse(readFileSync(join(rulesets, `${name}.nft`), 'utf8'));
      const json = parseJson(readFileSync(join(rulesets, `${name}.json`), 'utf8'));
      expect(text.warnings).toEqual([]);
      expect(text.form).toBe('text');
      expect(strip(text.records, false)).toEqual(strip(json.records, false));
    });
  }
});

describe('nft-text: examples', () => {
  it('reads handles, priorities by name, sets over several lines, maps, comments', () => {
    const r = parse([
      'table inet fw { # handle 7',
      '\tset blocked { # handle 3',
      '\t\ttype ipv4_addr . inet_service',
      '\t\telements = { 10.0.0.1 . 22,',
      '\t\t\t     10.0.0.2 . 80 }',
      '\t}',
      '\tmap ports { # handle 4',
      '\t\ttype inet_service : verdict',
      '\t\telements = { 22 : accept, 80 : jump web }',
      '\t}',
      '\tchain web { # handle 1',
      '\t}',
      '\tchain input { # handle 2',
      '\t\ttype filter hook input priority filter - 10; policy drop;',
      '\t\tip saddr . tcp dport @blocked counter packets 2 bytes 120 drop comment "no #1" # handle 5',
      '\t\ttcp dport vmap @ports # handle 6',
      '\t}',
      '}',
    ].join('\n'));
    expect(r.warnings).toEqual([]);
    const t = r.records[0];
    expect([t.family, t.name, t.handle, t.managedBy]).toEqual(['inet', 'fw', 7, 'native']);
    expect(t.sets.map((s) => [s.kind, s.name, s.handle, s.type, s.map, s.elements.length])).toEqual([
      ['set', 'blocked', 3, 'ipv4_addr . inet_service', undefined, 2], ['map', 'ports', 4, 'inet_service', 'verdict', 2],
    ]);
    expect(t.sets[1].elements).toEqual([[22, { accept: null }], [80, { jump: { target: 'web' } }]]);
    const input = t.chains[1];
    expect([input.hook, input.priority, input.priorityName, input.policy]).toEqual(['input', -10, undefined, 'drop']);
    expect(input.rules.map((x) => [x.handle, x.comment, x.counters, x.origin.lineNumber])).toEqual([
      [5, 'no #1', { packets: 2, bytes: 120 }, 15], [6, undefined, undefined, 16],
    ]);
    expect(input.rules[0].text).toBe('ip saddr . tcp dport @blocked counter packets 2 bytes 120 drop');
  });

  it('priority names by family', () => {
    expect(priorityNumber('inet', 'mangle + 10')).toBe(-140);
    expect(priorityNumber('ip', 'dstnat')).toBe(-100);
    expect(priorityNumber('bridge', 'filter')).toBe(-200);
    // nft 1.0.6 loads `priority out` in a bridge table as 100 (nft -j "prio": 100), and lists it as out.
    expect(priorityNumber('bridge', 'out')).toBe(100);
    expect(parse('table bridge b {\n\tchain o {\n\t\ttype filter hook output priority out; policy accept;\n\t}\n}\n').records[0].chains[0]).toMatchObject({ priority: 100, priorityName: 'out' });
    expect(priorityNumber('ip', '-90')).toBe(-90);
    expect(priorityNumber('ip', 'sideways')).toBeUndefined();
  });

  it('garbage lines are warnings with their line numbers; an untranslated statement keeps its rule, undecided, quoted', () => {
    const text = readFileSync(join(repoRoot, 'fixtures', 'nft-text', 'written-garbage-and-iptables-nft.txt'), 'utf8');
    const r = parse(text);
    const lines = text.split('\n');
    expect(r.warnings.map((w) => w.lineNumber)).toEqual([8, 11, 23, 24, 25, 27, 32]);
    for (const w of r.warnings.slice(0, -1)) expect(lines[w.lineNumber - 1]).toBe(w.text);
    expect(r.records.map((t) => `${t.family} ${t.name} ${t.managedBy}`)).toEqual(['ip filter iptables-nft', 'inet fw native', 'inet broken native']);
    const fw = r.records[1];
    expect(fw.sets[0].elements).toEqual([{ prefix: { addr: '172.18.0.0', len: 16 } }, { prefix: { addr: '10.99.0.0', len: 16 } }]);
    const osf = fw.chains[0].rules[1];
    expect(osf.expr).toEqual([{ unparsed: 'osf name "Linux" drop' }]);
    expect(osf.text).toBe('osf name "Linux" drop');
    // The evaluator: a drop for the blocked source, undecided (the rule quoted) for any other.
    const evaluator = new NftEvaluator();
    const packet = (src: string): NetfilterPacket => ({ family: 4, src, dst: '10.0.0.9', proto: 'tcp', dport: 22, sport: 40000, inIf: 'eth0' });
    const run = (src: string) => evaluatePacket({ tables: [], nftTables: [fw] }, packet(src), { path: 'input', localAddresses: ['10.0.0.9'], nftEvaluator: evaluator });
    expect(run('172.18.3.4').verdict).toBe('drop');
    const other = run('192.0.2.1');
    expect(other.verdict).toBe('undecided');
    expect(other.reason).toContain('osf name \\"Linux\\" drop');
  });

  it('never throws, whatever the lines', () => {
    const pieces = ['table inet t {', 'chain c {', '}', 'set s {', 'elements = { 1.2.3.4,', 'type filter hook input priority x;', 'ip saddr { 1', '"', 'tcp dport vmap {', '# handle x', 'ct state', 'dnat to [::1', 'limit rate', ':', ' . '];
    fc.assert(fc.property(fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string()), { maxLength: 30 }), (parts) => {
      const r = parse(parts.join('\n'));
      expect(Array.isArray(r.records)).toBe(true);
      for (const w of r.warnings) expect(w.lineNumber).toBeGreaterThanOrEqual(0);
    }), { numRuns: 300 });
  });
});

describe('nft-text: forms older nft printed', () => {
  it('reject with icmp type ..., numeric priorities, tcp flags & (syn | ack) == syn', () => {
    const r = parse([
      'table ip filter {',
      '\tchain input {',
      '\t\ttype filter hook input priority 0; policy accept;',
      '\t\tip saddr 10.0.0.1 reject with icmp type host-unreachable',
      '\t\ttcp flags & (syn | ack) == syn drop',
      '\t}',
      '}',
    ].join('\n'));
    expect(r.warnings).toEqual([]);
    expect(r.records[0].chains[0].rules.map((x) => x.expr)).toEqual([
      [{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '10.0.0.1' } }, { reject: { type: 'icmp', expr: 'host-unreachable' } }],
      [{ match: { op: '==', left: { '&': [{ payload: { protocol: 'tcp', field: 'flags' } }, ['syn', 'ack']] }, right: 'syn' } }, { drop: null }],
    ]);
    expect(r.records[0].chains[0].priorityName).toBe('filter');
  });
});

describe('nft-text: a rule or set whose braces span lines', () => {
  it('is joined up to its closing brace, inside a chain even when a line ends with {', () => {
    const r = parse(['table inet t {', '\tset s {', '\t\ttype ipv4_addr', '\t\telements = {', '\t\t\t10.0.0.1, 10.0.0.2 }', '\t}', '\tchain c {', '\t\tip saddr {', '\t\t\t10.0.0.3, 10.0.0.4 } drop', '\t\taccept', '\t}', '}'].join('\n'));
    expect(r.warnings).toEqual([]);
    expect(r.records[0].sets[0].elements).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(r.records[0].chains[0].rules.map((x) => [x.text, x.origin.lineNumber])).toEqual([['ip saddr { 10.0.0.3, 10.0.0.4 } drop', 8], ['accept', 10]]);
  });
});

describe('nft-text: service names (nft before 0.9 printed ports so without -nn)', () => {
  it('are numbers where a port is compared, in ranges, sets, verdict maps and inet_service sets', () => {
    const r = parse(['table ip filter {', '\tset web {', '\t\ttype inet_service', '\t\telements = { http, https, 8000-http-alt }', '\t}',
      '\tchain input {', '\t\ttype filter hook input priority 0; policy drop;', '\t\ttcp dport ssh accept', '\t\tudp dport { domain, ntp } accept',
      '\t\ttcp dport vmap { smtp : drop }', '\t\tiifname "ssh" accept', '\t\ttcp dport nosuchservice accept', '\t}', '}'].join('\n'));
    expect(r.warnings).toEqual([]);
    const t = r.records[0];
    expect(t.sets[0].elements).toEqual([80, 443, { range: [8000, 8080] }]);
    expect(t.chains[0].rules.map((x) => (x.expr[0] as { match?: { right: unknown }; vmap?: { data: unknown } }))).toEqual([
      { match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 22 } },
      { match: { op: '==', left: { payload: { protocol: 'udp', field: 'dport' } }, right: { set: [53, 123] } } },
      { vmap: { key: { payload: { protocol: 'tcp', field: 'dport' } }, data: { set: [[25, { drop: null }]] } } },
      { match: { op: '==', left: { meta: { key: 'iifname' } }, right: 'ssh' } },
      { match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 'nosuchservice' } },
    ]);
  });
});
