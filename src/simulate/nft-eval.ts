/**
 * The nft evaluator: what the kernel's nf_tables does with one packet in one native base chain
 * (`nft -j list ruleset`), plugged into the hook model as a `ChainEvaluator` (netfilter-hooks.ts
 * orders every base chain of every table, iptables-nft's included, by hook and priority; an
 * accept ends only its own base chain, a drop ends the hook).
 *
 * Rules run statement by statement: matches (payload, meta, ct, fib, concatenations, bit
 * operations) against values, prefixes, ranges, anonymous and named sets and maps; verdicts
 * (accept, drop, reject, jump, goto, return, continue), verdict maps, NAT statements (terminal,
 * applied by the run), `meta mark set` / `ct mark set`, notrack; counters, logs and set updates
 * do nothing to the verdict. A statement or expression it cannot decide (limit, quota, an
 * unknown key) makes the chain undecided with that expression quoted; it never guesses. A
 * match it cannot tell is forked by the run (both answers tried, like iptables rules).
 * Documented in docs/walk.md ("Native nftables").
 */
import type { IptablesRule } from '../model/netfilter.js';
import type { NftChain, NftRule, NftSet, NftTable } from '../model/nft.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../net/address.js';
import { CT_STATES } from './netfilter-names.js';
import type { Action, NatRewrite } from './netfilter-targets.js';
import { NO, UNKNOWN, YES, type ChainContext, type ChainEvaluator, type ChainOutcome, type Hook, type PacketState, type Tri } from './netfilter-types.js';
import { lookup, type Fib } from './route-lookup.js';
import {
  ABSENT, UNK, compileReader, constNumber, constOf, constValue, within,
  type Const, type FibReader, type Got, type Kind, type Reader, type Val,
} from './nft-values.js';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What a verdict statement (or a verdict map's value) does. */
type VerdictSpec =
  | { kind: 'accept' | 'drop' | 'return' | 'continue' }
  | { kind: 'jump' | 'goto'; target: string }
  | { kind: 'reject'; with?: string }
  | { kind: 'undecided'; reason: string };

type Step =
  | { k: 'match'; test: (p: PacketState) => Tri }
  | { k: 'verdict'; v: VerdictSpec }
  | { k: 'vmap'; key: Reader; map: (v: Val | Val[]) => unknown; text: string; table: CompiledTable }
  | { k: 'nat'; make: (p: PacketState) => Action | string | null }
  | { k: 'mangle'; ct: boolean; value: (p: PacketState) => number | typeof UNK }
  | { k: 'notrack' }
  | { k: 'nop' };

interface CompiledRule {
  rule: NftRule;
  /** The record decisions, traces and findings carry for this rule. */
  standIn: IptablesRule;
  steps: Step[];
  /** Only matches and statements that change nothing: an undecidable match can be skipped. */
  inert: boolean;
}

interface CompiledTable {
  table: NftTable;
  name: string;
  chains: Map<string, NftChain>;
  rules: Map<NftChain, CompiledRule[]>;
  sets: Map<string, NftSet>;
  lookups: Map<string, SetLookup>;
}

/** A compiled set or map: data of the element `v` is in (true for a set), undefined when none. */
type SetLookup = (v: Val | Val[]) => unknown;

/** Deepest jump nesting followed (the kernel refuses deeper at load time). */
const MAX_DEPTH = 16;

/** How `nft -a list ruleset` places a rule: `table inet filter chain input: ip saddr 10.0.0.0/8 drop # handle 4`. */
export function nftRuleText(table: NftTable, chain: NftChain, rule: NftRule): string {
  return `table ${table.family} ${table.name} chain ${chain.name}: ${rule.text}${rule.handle !== undefined ? ` # handle ${rule.handle}` : ''}`;
}

/** A base chain as `nft list ruleset` heads it: `table inet filter chain input { type filter hook input priority 0; policy drop; }`. */
export function nftChainText(table: NftTable, chain: NftChain): string {
  const head = chain.hook !== undefined ? ` type ${chain.type ?? 'filter'} hook ${chain.hook}${chain.device !== undefined ? ` device "${chain.device}"` : ''} priority ${chain.priorityName ?? String(chain.priority ?? 0)}; policy ${chain.policy ?? 'accept'};` : '';
  return `table ${table.family} ${table.name} chain ${chain.name} {${head} }`;
}

/**
 * The shell command that deletes an nft rule. A rule read from `nft list ruleset` without `-a`
 * has no handle: the command then says where to find it (`nft -a` prints it after the rule).
 */
export function nftDeleteCommand(rule: IptablesRule): string | undefined {
  const n = rule.nft;
  if (n === undefined) return undefined;
  if (n.handle === undefined) return `nft delete rule ${n.family} ${n.table} ${n.chain} handle HANDLE  # HANDLE: the number after "# handle" that \`nft -a list chain ${n.family} ${n.table} ${n.chain}\` prints on the line of: ${n.text}`;
  return `nft delete rule ${n.family} ${n.table} ${n.chain} handle ${n.handle}`;
}

/** Route lookups for `fib` from a host's FIB. */
export function fibReaderOf(fib: Fib): FibReader {
  const addr = (p: PacketState, dst: boolean): string => (p.family === 4 ? formatIPv4(dst ? p.dst4 : p.src4) : formatIPv6(dst ? p.dst6 : p.src6));
  return {
    saddrOif(p, useIif, useMark) {
      const iif = p.inDev;
      if (useIif && iif === undefined) {
        p.why = 'fib saddr . iif: the input device is not known';
        return UNK;
      }
      // The kernel passes a packet from loopback (nft_fib_is_loopback) and, for IPv4, DHCP's 0.0.0.0 → 255.255.255.255.
      if (useIif && iif === 'lo') return 'lo';
      if (p.family === 4 && p.src4 === 0 && p.dst4 === 0xffffffff) return iif ?? '';
      const r = lookup(fib, { dst: addr(p, false), iif: 'lo', mark: useMark ? p.mark : 0 });
      if (r.type !== 'unicast') return '';
      const devs = [r.dev, ...(r.nexthops ?? []).map((n) => n.dev)].filter((d): d is string => d !== undefined);
      if (!useIif) return devs[0] ?? '';
      return devs.includes(iif!) ? iif! : '';
    },
    daddrType(p, useIif) {
      const t = p.addressType(p, true, useIif ? p.inDev : undefined);
      if (t !== undefined) return t;
      const r = lookup(fib, { dst: addr(p, true) });
      return r.type === 'none' ? 7 : ({ unicast: 1, local: 2, broadcast: 3, anycast: 4, multicast: 5, blackhole: 6, unreachable: 7, prohibit: 8 } as Record<string, number>)[r.type] ?? 1;
    },
  };
}

/** The evaluator; `fib` answers `fib` expressions (without it they are undecided). */
export class NftEvaluator implements ChainEvaluator {
  private readonly fib: FibReader | undefined;
  /**
   * Compiled tables of this evaluator (their `fib` reads its routes): instance state that lives as
   * long as the evaluator, which the host context keeps through memo() (src/model/memo.ts).
   */
  private readonly tables = new Map<NftTable, CompiledTable>();

  constructor(opts: { fib?: Fib | FibReader } = {}) {
    const f = opts.fib;
    this.fib = f === undefined ? undefined : 'saddrOif' in f ? f : fibReaderOf(f);
  }

  run(table: NftTable, chain: NftChain, p: PacketState, hook: Hook, ctx?: ChainContext): ChainOutcome {
    const t = this.compiled(table);
    const name = t.name;
    const stack: { chain: NftChain; rules: CompiledRule[]; i: number }[] = [];
    let cur = chain;
    let rules = this.rulesOf(t, cur);
    let i = 0;
    const policy = (): ChainOutcome => {
      const pol = (chain.policy ?? 'accept').toLowerCase();
      ctx?.record({ hook, table: name, chain: chain.name, policy: pol.toUpperCase(), matched: true }, true);
      return { verdict: pol === 'drop' ? 'drop' : 'accept', chain: chain.name, policy: true };
    };
    outer: for (;;) {
      if (i >= rules.length) {
        const frame = stack.pop();
        if (frame === undefined) return policy();
        ({ chain: cur, rules, i } = frame);
        continue;
      }
      const cr = rules[i++];
      let verdict: VerdictSpec | undefined;
      let matched: boolean | 'undecided' = true;
      for (const step of cr.steps) {
        if (step.k === 'match') {
          let m = step.test(p);
          if (m === UNKNOWN) {
            const assumed = ctx?.assumed(cr.standIn);
            if (assumed !== undefined) m = assumed ? YES : NO;
          }
          if (m === NO) {
            matched = false;
            break;
          }
          if (m === UNKNOWN) {
            ctx?.record({ hook, table: name, chain: cur.name, rule: cr.standIn.position, matched: 'undecided' }, true);
            if (cr.inert) continue outer;
            return { verdict: 'undecided', chain: cur.name, rule: cr.standIn, reason: p.why, undecidedMatch: true };
          }
          continue;
        }
        if (step.k === 'vmap') {
          // The rule's matches held; a key the packet lacks stops the rule at its verdict map.
          const v = step.key.read(p);
          if (v === ABSENT) break;
          if (v === UNK) return this.undecided(ctx, hook, name, cur, cr, `${step.text}: ${p.why}`);
          // A key the map does not hold: the rule's matches held, its verdict map gives none (the next rule runs).
          const data = step.map(v);
          if (data !== undefined) verdict = verdictOf(data);
          break;
        }
        if (step.k === 'verdict') {
          verdict = step.v;
          break;
        }
        if (step.k === 'nat') {
          const action = step.make(p);
          if (action === null) continue;
          if (typeof action === 'string') return this.undecided(ctx, hook, name, cur, cr, action);
          ctx?.record({ hook, table: name, chain: cur.name, rule: cr.standIn.position, matched: true }, true);
          const reason = ctx?.nat(action as Extract<Action, { kind: 'nat' }>, cr.standIn);
          if (reason !== undefined) return { verdict: 'undecided', chain: cur.name, rule: cr.standIn, reason };
          return { verdict: 'accept', chain: cur.name, rule: cr.standIn };
        }
        if (step.k === 'mangle') {
          const v = step.value(p);
          if (v === UNK) return this.undecided(ctx, hook, name, cur, cr, p.why);
          if (step.ct) {
            // Without a connection the statement does nothing.
            if (p.ctBit === CT_STATES.INVALID || p.ctBit === CT_STATES.UNTRACKED) continue;
            if (p.ctmark !== v) ctx?.changed(cr.standIn, `connection mark ${hex(p.ctmark)} → ${hex(v)}`);
            p.ctmark = v >>> 0;
          } else {
            if (p.mark !== v) ctx?.changed(cr.standIn, `mark ${hex(p.mark)} → ${hex(v)}`);
            p.mark = v >>> 0;
          }
          continue;
        }
        if (step.k === 'notrack') {
          p.notrack = true;
          p.ctBit = CT_STATES.UNTRACKED;
          p.natBits = 0;
        }
      }
      ctx?.record({ hook, table: name, chain: cur.name, rule: cr.standIn.position, matched }, matched !== false);
      if (matched === false || verdict === undefined) continue;
      switch (verdict.kind) {
        case 'accept': return { verdict: 'accept', chain: cur.name, rule: cr.standIn };
        case 'drop': return { verdict: 'drop', chain: cur.name, rule: cr.standIn };
        case 'reject': {
          const out: ChainOutcome = { verdict: 'reject', chain: cur.name, rule: cr.standIn };
          out.rejectWith = verdict.with ?? (p.family === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable');
          return out;
        }
        case 'undecided': return { verdict: 'undecided', chain: cur.name, rule: cr.standIn, reason: verdict.reason };
        case 'continue': break;
        case 'return': {
          const frame = stack.pop();
          if (frame === undefined) return policy();
          ({ chain: cur, rules, i } = frame);
          break;
        }
        case 'jump': case 'goto': {
          const next = t.chains.get(verdict.target);
          if (next === undefined) return { verdict: 'undecided', chain: cur.name, rule: cr.standIn, reason: `${verdict.kind} ${verdict.target}: no such chain in table ${name}` };
          if (verdict.kind === 'jump') {
            if (stack.length >= MAX_DEPTH) return { verdict: 'undecided', chain: cur.name, rule: cr.standIn, reason: `chains nest deeper than ${MAX_DEPTH}` };
            stack.push({ chain: cur, rules, i });
          }
          cur = next;
          rules = this.rulesOf(t, next);
          i = 0;
          break;
        }
      }
    }
  }

  private undecided(ctx: ChainContext | undefined, hook: Hook, table: string, chain: NftChain, cr: CompiledRule, reason: string): ChainOutcome {
    ctx?.record({ hook, table, chain: chain.name, rule: cr.standIn.position, matched: 'undecided' }, true);
    return { verdict: 'undecided', chain: chain.name, rule: cr.standIn, reason };
  }

  private compiled(table: NftTable): CompiledTable {
    let c = this.tables.get(table);
    if (c === undefined) {
      c = {
        table,
        name: `${table.family} ${table.name}`,
        chains: new Map(table.chains.map((x) => [x.name, x])),
        rules: new Map(),
        sets: new Map(table.sets.map((x) => [x.name, x])),
        lookups: new Map(),
      };
      this.tables.set(table, c);
    }
    return c;
  }

  private rulesOf(t: CompiledTable, chain: NftChain): CompiledRule[] {
    let list = t.rules.get(chain);
    if (list === undefined) {
      list = chain.rules.map((r, k) => compileRule(t, chain, r, k + 1, this.fib));
      t.rules.set(chain, list);
    }
    return list;
  }
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

/** The default evaluator (no routes: `fib` expressions are undecided). */
export const nftEvaluator = new NftEvaluator();

function compileRule(t: CompiledTable, chain: NftChain, rule: NftRule, position: number, fib: FibReader | undefined): CompiledRule {
  const text = nftRuleText(t.table, chain, rule);
  const standIn: IptablesRule = {
    table: t.name, chain: chain.name, position, matches: [],
    origin: { ...rule.origin, text },
    nft: { family: t.table.family, table: t.table.name, chain: chain.name, text: rule.text, ...(rule.handle !== undefined && { handle: rule.handle }) },
  };
  const steps = rule.expr.map((e) => compileStatement(t, e, fib));
  const inert = steps.every((s) => s.k === 'match' || s.k === 'nop');
  return { rule, standIn, steps, inert };
}

/** Renders an expression for a reason ("limit rate 10/second is not evaluated"). */
function exprText(e: unknown): string {
  try {
    const s = JSON.stringify(e);
    return s.length > 120 ? `${s.slice(0, 117)}...` : s;
  } catch {
    return String(e);
  }
}

function compileStatement(t: CompiledTable, e: unknown, fib: FibReader | undefined): Step {
  if (!isObject(e)) return { k: 'verdict', v: { kind: 'undecided', reason: `statement ${exprText(e)} is not evaluated` } };
  const [key] = Object.keys(e);
  const o = isObject(e[key]) ? (e[key] as Json) : {};
  switch (key) {
    case 'match': return { k: 'match', test: compileMatch(t, o, fib) };
    case 'accept': case 'drop': case 'return': case 'continue':
      return { k: 'verdict', v: { kind: key } };
    case 'jump': case 'goto':
      return { k: 'verdict', v: { kind: key, target: String(o.target ?? '') } };
    case 'reject': return { k: 'verdict', v: rejectOf(o) };
    case 'queue': return { k: 'verdict', v: { kind: 'undecided', reason: 'queue: a userspace program decides' } };
    case 'counter': case 'log': case 'set': case 'map': case 'ct helper': case 'ct timeout': case 'ct expectation': case 'synproxy': case 'flow': case 'dup': case 'fwd':
      return key === 'dup' || key === 'fwd' || key === 'synproxy' ? { k: 'verdict', v: { kind: 'undecided', reason: `${key} is not evaluated` } } : { k: 'nop' };
    case 'limit':
      return {
        k: 'match', test: (p) => {
          const over = o.inv === true;
          if (p.rateLimits === 'match') {
            p.notes.add('an nft limit is taken as under its rate (true for a first packet)');
            return over ? NO : YES;
          }
          p.why = `limit rate ${over ? 'over ' : ''}${String(o.rate)}/${String(o.per ?? 'second')} depends on the traffic rate`;
          return UNKNOWN;
        },
      };
    case 'quota':
      return { k: 'match', test: (p) => { p.why = `quota ${exprText(e[key])} depends on the bytes seen before`; return UNKNOWN; } };
    case 'vmap': {
      const reader = compileReader(o.key, fib, exprText);
      const map = lookupOf(t, o.data, reader.kinds);
      const text = `${exprText(o.key)} vmap ${typeof o.data === 'string' ? o.data : '{ ... }'}`;
      if (map === undefined) return { k: 'verdict', v: { kind: 'undecided', reason: `${text}: the map cannot be read` } };
      return { k: 'vmap', key: reader, map, text, table: t };
    }
    case 'mangle': {
      const k = o.key;
      const isMeta = isObject(k) && isObject(k.meta) && k.meta.key === 'mark';
      const isCt = isObject(k) && isObject(k.ct) && k.ct.key === 'mark' && k.ct.dir === undefined;
      if (!isMeta && !isCt) return { k: 'nop' };
      return { k: 'mangle', ct: isCt, value: compileNumber(t, o.value, fib) };
    }
    case 'notrack': return { k: 'notrack' };
    case 'snat': case 'dnat': case 'masquerade': case 'redirect':
      return { k: 'nat', make: compileNat(t, key, o, fib) };
    default:
      return { k: 'verdict', v: { kind: 'undecided', reason: `statement ${exprText(e)} is not evaluated` } };
  }
}

function rejectOf(o: Json): VerdictSpec {
  const type = typeof o.type === 'string' ? o.type : undefined;
  const expr = typeof o.expr === 'string' ? o.expr : undefined;
  if (type === 'tcp reset') return { kind: 'reject', with: 'tcp-reset' };
  if (type === undefined) return { kind: 'reject' };
  return { kind: 'reject', with: `${type === 'icmpv6' ? 'icmp6' : type}-${expr ?? 'port-unreachable'}` };
}

function verdictOf(data: unknown): VerdictSpec {
  if (!isObject(data)) return { kind: 'undecided', reason: `verdict ${exprText(data)} is not evaluated` };
  const [key] = Object.keys(data);
  const o = isObject(data[key]) ? (data[key] as Json) : {};
  switch (key) {
    case 'accept': case 'drop': case 'return': case 'continue': return { kind: key };
    case 'jump': case 'goto': return { kind: key, target: String(o.target ?? '') };
    default: return { kind: 'undecided', reason: `verdict ${exprText(data)} is not evaluated` };
  }
}

/** A match statement `{op, left, right}` as a test. */
function compileMatch(t: CompiledTable, o: Json, fib: FibReader | undefined): (p: PacketState) => Tri {
  const reader = compileReader(o.left, fib, exprText);
  const op = typeof o.op === 'string' ? o.op : '==';
  const right = o.right;
  const negate = op === '!=';
  const undecidable = (why: string) => (p: PacketState): Tri => {
    p.why = why;
    return UNKNOWN;
  };
  const wrap = (test: (v: Val | Val[]) => boolean) => (p: PacketState): Tri => {
    const v = reader.read(p);
    if (v === ABSENT) return NO;
    if (v === UNK) return UNKNOWN;
    return test(v as Val | Val[]) !== negate ? YES : NO;
  };
  // Sets and maps: `@name` or an anonymous `{ ... }`.
  if ((typeof right === 'string' && right.startsWith('@')) || (isObject(right) && 'set' in right)) {
    const set = lookupOf(t, right, reader.kinds);
    if (set === undefined) return undecidable(`the set ${typeof right === 'string' ? right : exprText(right)} cannot be read`);
    return wrap((v) => set(v) !== undefined);
  }
  const kind = reader.kinds[0];
  if (kind === 'fiboif' && typeof right === 'boolean') return wrap((v) => (v !== '') === right);
  if (reader.bitmask && op !== '<' && op !== '>' && op !== '<=' && op !== '>=') {
    const n = constNumber(right, kind);
    if (n === undefined) return undecidable(`${exprText(right)} cannot be read as ${kind}`);
    if (op === 'in') return wrap((v) => ((v as number) & n) !== 0);
    return wrap((v) => v === n);
  }
  if (Array.isArray(right) && op === 'in') {
    const consts = right.map((r) => constOf(r, kind));
    if (consts.some((c) => c === undefined)) return undecidable(`${exprText(right)} cannot be read as ${kind}`);
    return wrap((v) => consts.some((c) => within(v as Val, c!)));
  }
  if (isObject(right) && Array.isArray(right.concat)) {
    const parts = right.concat.map((r, k) => constOf(r, reader.kinds[k] ?? 'unknown'));
    if (parts.some((c) => c === undefined)) return undecidable(`${exprText(right)} cannot be read`);
    return wrap((v) => Array.isArray(v) && v.every((x, k) => parts[k] !== undefined && within(x, parts[k]!)));
  }
  if (op === '<' || op === '>' || op === '<=' || op === '>=') {
    const c = constValue(right, kind);
    if (c === undefined) return undecidable(`${exprText(right)} cannot be read as ${kind}`);
    return wrap((v) => (op === '<' ? v < c : op === '>' ? v > c : op === '<=' ? v <= c : v >= c));
  }
  const c = constOf(right, kind);
  if (c === undefined) return undecidable(`${exprText(right)} cannot be read as ${kind}`);
  return wrap((v) => within(v as Val, c));
}

/** A named (`@name`) or anonymous (`{set: [...]}`) set or map as a lookup, read with the key's kinds. */
function lookupOf(t: CompiledTable, ref: unknown, kinds: Kind[]): SetLookup | undefined {
  if (typeof ref === 'string' && ref.startsWith('@')) {
    const key = `${ref} ${kinds.join(',')}`;
    const cached = t.lookups.get(key);
    if (cached !== undefined) return cached;
    const set = t.sets.get(ref.slice(1));
    if (set === undefined) return undefined;
    const made = buildLookup(set.elements, kinds, set.kind === 'map');
    if (made !== undefined) t.lookups.set(key, made);
    return made;
  }
  if (isObject(ref) && 'set' in ref) {
    const elems = Array.isArray(ref.set) ? ref.set : [ref.set];
    return buildLookup(elems, kinds, elems.length > 0 && elems.every((x) => Array.isArray(x) && x.length === 2));
  }
  return undefined;
}

function buildLookup(elements: unknown[], kinds: Kind[], isMap: boolean): SetLookup | undefined {
  const exact = new Map<Val, unknown>();
  const intervals: { parts: Const[]; data: unknown }[] = [];
  const concat = kinds.length > 1;
  for (const raw of elements) {
    let el = raw;
    let data: unknown = true;
    if (isMap && Array.isArray(el) && el.length === 2) {
      data = el[1];
      el = el[0];
    }
    if (isObject(el) && isObject(el.elem)) el = el.elem.val;
    const comps = concat ? (isObject(el) && Array.isArray(el.concat) ? el.concat : undefined) : [el];
    if (comps === undefined || comps.length !== kinds.length) return undefined;
    const parts: Const[] = [];
    for (let k = 0; k < comps.length; k++) {
      const c = constOf(comps[k], kinds[k]);
      if (c === undefined) return undefined;
      parts.push(c);
    }
    if (parts.every((c) => !('prefix' in c) && c.lo === c.hi)) {
      const key = concat ? parts.map((c) => String((c as { lo: Val }).lo)).join('\u0000') : (parts[0] as { lo: Val }).lo;
      if (!exact.has(key)) exact.set(key, data);
    } else intervals.push({ parts, data });
  }
  const index = concat ? undefined : intervalIndex(intervals);
  return (v) => {
    const key = Array.isArray(v) ? (concat ? v.map(String).join('\u0000') : undefined) : v;
    if (key !== undefined) {
      const hit = exact.get(key);
      if (hit !== undefined) return hit;
    }
    if (index !== undefined) return Array.isArray(v) ? undefined : index(v);
    for (const iv of intervals) {
      if (concat) {
        if (Array.isArray(v) && v.every((x, k) => within(x, iv.parts[k]))) return iv.data;
      } else if (!Array.isArray(v) && within(v, iv.parts[0])) return iv.data;
    }
    return undefined;
  };
}

/**
 * Intervals of one kind sorted by their low end, with the highest high end so far: a lookup
 * finds the last interval starting at or below the value by binary search and walks back only
 * while an interval could still reach it. Undefined when the elements are name prefixes.
 */
function intervalIndex(intervals: { parts: Const[]; data: unknown }[]): ((v: Val) => unknown) | undefined {
  const list: { lo: Val; hi: Val; data: unknown }[] = [];
  for (const iv of intervals) {
    const c = iv.parts[0];
    if ('prefix' in c) return undefined;
    list.push({ lo: c.lo, hi: c.hi, data: iv.data });
  }
  list.sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
  const maxHi: Val[] = [];
  for (let i = 0; i < list.length; i++) maxHi.push(i === 0 || list[i].hi > maxHi[i - 1] ? list[i].hi : maxHi[i - 1]);
  return (v) => {
    let lo = 0;
    let hi = list.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].lo <= v) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    for (let i = at; i >= 0 && maxHi[i] >= v; i--) if (typeof list[i].lo === typeof v && list[i].hi >= v) return list[i].data;
    return undefined;
  };
}

/** A number-valued expression (`meta mark set` values): constants, meta mark, ct mark, bit operations, maps. */
function compileNumber(t: CompiledTable, e: unknown, fib: FibReader | undefined): (p: PacketState) => number | typeof UNK {
  const fail = (p: PacketState): typeof UNK => {
    p.why = `the value ${exprText(e)} is not evaluated`;
    return UNK;
  };
  const n = constNumber(e, 'num');
  if (n !== undefined) return () => n;
  if (!isObject(e)) return fail;
  if (isObject(e.meta) && e.meta.key === 'mark') return (p) => p.mark;
  if (isObject(e.ct) && e.ct.key === 'mark') return (p) => p.ctmark;
  for (const op of ['&', '|', '^'] as const) {
    const args = e[op];
    if (Array.isArray(args) && args.length === 2) {
      const a = compileNumber(t, args[0], fib);
      const b = compileNumber(t, args[1], fib);
      return (p) => {
        const x = a(p);
        const y = b(p);
        if (x === UNK || y === UNK) return UNK;
        return (op === '&' ? x & y : op === '|' ? x | y : x ^ y) >>> 0;
      };
    }
  }
  if (isObject(e.map)) {
    const reader = compileReader(e.map.key, fib, exprText);
    const map = lookupOf(t, e.map.data, reader.kinds);
    if (map === undefined) return fail;
    return (p) => {
      const v = reader.read(p);
      if (v === ABSENT || v === UNK) return fail(p);
      const d = map(v as Val | Val[]);
      const out = d === undefined ? undefined : constNumber(d, 'num');
      return out === undefined ? fail(p) : out;
    };
  }
  return fail;
}

/** A NAT statement as the run's NAT action; a reason when it cannot be told; null when it does nothing to this packet. */
function compileNat(t: CompiledTable, key: string, o: Json, fib: FibReader | undefined): (p: PacketState) => Action | string | null {
  const target = key === 'snat' ? 'SNAT' : key === 'dnat' ? 'DNAT' : key === 'masquerade' ? 'MASQUERADE' : 'REDIRECT';
  const fam = typeof o.family === 'string' ? o.family : undefined;
  const addrExpr = o.addr;
  const portExpr = o.port;
  let addrMap: { reader: Reader; map: SetLookup } | undefined;
  if (isObject(addrExpr) && isObject(addrExpr.map)) {
    const reader = compileReader(addrExpr.map.key, fib, exprText);
    const map = lookupOf(t, addrExpr.map.data, reader.kinds);
    if (map !== undefined) addrMap = { reader, map };
  }
  return (p) => {
    // In an inet table a NAT statement for the other family does nothing (nft_nat_inet_eval).
    if ((fam === 'ip' && p.family !== 4) || (fam === 'ip6' && p.family !== 6)) return null;
    const rw: NatRewrite = { uncertain: false };
    const to: string[] = [];
    if (key === 'masquerade') rw.masquerade = true;
    if (key === 'redirect') rw.redirect = true;
    let addr: unknown = addrExpr;
    if (addrMap !== undefined) {
      const v = addrMap.reader.read(p);
      if (v === UNK) return `${target.toLowerCase()} to a map: ${p.why}`;
      addr = v === ABSENT ? undefined : addrMap.map(v as Val | Val[]);
      if (addr === undefined) return `${target.toLowerCase()} to a map that has no element for this packet (the kernel drops it)`;
    }
    if (addr !== undefined && key !== 'masquerade' && key !== 'redirect') {
      if (typeof addr === 'string') {
        to.push(addr);
        if (p.family === 4) {
          const v = parseIPv4(addr);
          if (v === null) return `${target.toLowerCase()} to ${addr}: not an IPv4 address`;
          rw.addr4 = v;
        } else {
          const v = parseIPv6(addr);
          if (v === null) return `${target.toLowerCase()} to ${addr}: not an IPv6 address`;
          rw.addr6 = v;
        }
      } else {
        rw.uncertain = true;
        to.push(exprText(addr));
      }
    }
    if (portExpr !== undefined) {
      if (typeof portExpr === 'number') rw.port = portExpr;
      else rw.portUncertain = true;
      to.push(`:${typeof portExpr === 'number' ? portExpr : exprText(portExpr)}`);
    }
    const action: Action = { kind: 'nat', target, rewrite: rw };
    if (to.length > 0) action.to = to.join('');
    return action;
  };
}

export type { Got };
