/**
 * The netfilter evaluator: what iptables (legacy or nft) does with one packet. It walks the
 * hooks of the packet's path (input: PREROUTING, INPUT; output: OUTPUT, POSTROUTING; forward:
 * PREROUTING, FORWARD, POSTROUTING), on each hook the tables in the kernel's priority order
 * (raw -300, conntrack -200, mangle -150, nat/dstnat -100, filter 0, security 50, nat/srcnat
 * 100; nat only for the first packet of a connection), and within a table the base chain with
 * jumps, gotos, RETURN and the policy. A match or target it cannot decide makes the verdict
 * `undecided` naming the rule; it never guesses. Native nft chains on a crossed hook make the
 * verdict undecided too (unless ignored). Documented in docs/netfilter.md.
 */
import type { IptablesTable } from '../model/netfilter.js';
import type { NftChain, NftTable } from '../model/nft.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../net/address.js';
import { compileTable, rulesOf, type CompiledChain, type CompiledTable } from './netfilter-compile.js';
import { compileIpsets } from './netfilter-ipset.js';
import { addressTypeLookup } from './netfilter-addrtype.js';
import { CT_STATES, protocolNumber } from './netfilter-names.js';
import type { CompiledRule } from './netfilter-compile.js';
import type { Action } from './netfilter-targets.js';
import {
  NO,
  UNKNOWN,
  YES,
  type Decision,
  type IptablesRule,
  type NetfilterBranch,
  type EvaluateOptions,
  type Hook,
  type NatRecord,
  type NetfilterPacket,
  type NetfilterResult,
  type NetfilterRuleset,
  type PacketState,
  type TraceEntry,
  type Verdict,
} from './netfilter-types.js';

export type * from './netfilter-types.js';

const HOOKS: Record<EvaluateOptions['path'], Hook[]> = {
  input: ['PREROUTING', 'INPUT'],
  output: ['OUTPUT', 'POSTROUTING'],
  forward: ['PREROUTING', 'FORWARD', 'POSTROUTING'],
};

/** Each iptables table's priority on the hooks it registers (nat differs per hook). */
const TABLE_PRIORITIES: Record<string, Partial<Record<Hook, number>>> = {
  raw: { PREROUTING: -300, OUTPUT: -300 },
  mangle: { PREROUTING: -150, INPUT: -150, FORWARD: -150, OUTPUT: -150, POSTROUTING: -150 },
  nat: { PREROUTING: -100, OUTPUT: -100, INPUT: 100, POSTROUTING: 100 },
  filter: { INPUT: 0, FORWARD: 0, OUTPUT: 0 },
  security: { INPUT: 50, FORWARD: 50, OUTPUT: 50 },
};

/** Connection tracking runs at this priority on PREROUTING and OUTPUT. */
const CONNTRACK_PRIORITY = -200;
/** Deepest chain nesting followed before giving up (the kernel refuses loops at load time). */
const MAX_DEPTH = 64;

const NAT_NOTE = 'NAT changed the destination before routing: the route (and so the path) may differ from the one evaluated';

type Step =
  | { kind: 'iptables'; priority: number; name: string; table: IptablesTable }
  | { kind: 'nft'; priority: number; table: NftTable; chain: NftChain };

interface Outcome {
  verdict: Verdict;
  chain: string;
  rule?: IptablesRule;
  policy?: boolean;
  reason?: string;
  rejectWith?: string;
  /** Undecided because a match of `rule` could not be told (not its target): the fork can try both answers. */
  undecidedMatch?: boolean;
}

/** Undecidable matches assumed one way or the other in one evaluation; past this many the verdict stays undecided. */
const MAX_ASSUMPTIONS = 4;

/**
 * Evaluates `packet` against `ruleset` along `opts.path`. A match it cannot tell (a missing set,
 * -m recent, a rate) is tried both ways: when both give the same verdict it stands (with a note),
 * else the verdict is undecided with both outcomes in `branches`.
 */
export function evaluatePacket(ruleset: NetfilterRuleset, packet: NetfilterPacket, opts: EvaluateOptions): NetfilterResult {
  return evaluateAssuming(ruleset, packet, opts, new Map());
}

function evaluateAssuming(ruleset: NetfilterRuleset, packet: NetfilterPacket, opts: EvaluateOptions, assume: Map<IptablesRule, boolean>): NetfilterResult {
  // The rule whose match left the walk undecided, kept out of the result (and its JSON).
  const fork: { rule?: IptablesRule } = {};
  const r = evaluateOnce(ruleset, packet, opts, assume, fork);
  const rule = fork.rule;
  if (rule === undefined || assume.size >= MAX_ASSUMPTIONS) return r;
  const ifMatches = evaluateAssuming(ruleset, packet, opts, new Map(assume).set(rule, true));
  const ifNot = evaluateAssuming(ruleset, packet, opts, new Map(assume).set(rule, false));
  if (ifNot.verdict !== 'undecided' && ifNot.verdict === ifMatches.verdict && ifNot.rejectWith === ifMatches.rejectWith) {
    const where = `${r.decidedBy?.table}/${r.decidedBy?.chain} rule ${rule.position}`;
    return { ...ifNot, notes: [...(ifNot.notes ?? []), `${where} cannot be decided (${r.reason}), but the verdict is ${ifNot.verdict} whether it matches or not`] };
  }
  return { ...r, branches: { ifMatches: branchOf(ifMatches), ifNot: branchOf(ifNot) } };
}

function branchOf(r: NetfilterResult): NetfilterBranch {
  const b: NetfilterBranch = { verdict: r.verdict };
  if (r.decidedBy !== undefined) b.decidedBy = r.decidedBy;
  if (r.rejectWith !== undefined) b.rejectWith = r.rejectWith;
  if (r.reason !== undefined) b.reason = r.reason;
  return b;
}

/** One walk of the hooks, with undecidable matches of the rules in `assume` taken as given; `fork.rule` is set when a match left it undecided. */
function evaluateOnce(ruleset: NetfilterRuleset, packet: NetfilterPacket, opts: EvaluateOptions, assume: Map<IptablesRule, boolean>, fork: { rule?: IptablesRule }): NetfilterResult {
  const p = initialState(ruleset, packet, opts);
  const trace: TraceEntry[] = [];
  const limit = opts.traceLimit ?? 1000;
  const run: Run = { p, trace, limit, truncated: false, nat: [], assume };
  const decisions: Decision[] = [];
  const finish = (verdict: Verdict, extra: Partial<NetfilterResult> = {}): NetfilterResult => result(run, decisions, verdict, extra);
  if (typeof p === 'string') {
    return { verdict: 'undecided', reason: p, decisions, trace, mark: packet.mark ?? 0, final: { src: packet.src, dst: packet.dst } };
  }
  const tables = tablesFor(ruleset.tables, packet.family);
  for (const hook of HOOKS[opts.path]) {
    for (const step of stepsFor(hook, tables, ruleset.nftTables, packet, opts)) {
      enterHook(p, hook, packet);
      const beforeConntrack = (hook === 'PREROUTING' || hook === 'OUTPUT') && step.priority < CONNTRACK_PRIORITY;
      p.ctBit = p.notrack ? CT_STATES.UNTRACKED : beforeConntrack ? CT_STATES.INVALID : p.ctGiven;
      if (step.kind === 'nft') {
        if (step.chain.type === 'nat' && p.ctBit !== CT_STATES.NEW) continue;
        const table = `${step.table.family} ${step.table.name}`;
        decisions.push({ hook, table, chain: step.chain.name, verdict: 'undecided', nft: true });
        return finish('undecided', {
          decidedBy: { hook, table, chain: step.chain.name, nft: true },
          reason: `native nft chain ${step.chain.name} of table ${table} is attached to the ${hook.toLowerCase()} hook (nft rules are not evaluated)`,
        });
      }
      if (step.name === 'nat' && p.ctBit !== CT_STATES.NEW) continue;
      p.table = step.name;
      if (step.table.incompatible) {
        decisions.push({ hook, table: step.name, chain: hook, verdict: 'undecided' });
        return finish('undecided', {
          decidedBy: { hook, table: step.name, chain: hook },
          reason: `iptables-nft could not list table ${step.name} (it holds rules made by nft)`,
        });
      }
      const compiled = compileTable(step.table);
      const base = compiled.chains.get(hook);
      if (base === undefined || !base.builtin) continue;
      const outcome = runChain(run, compiled, base, hook);
      const decision: Decision = { hook, table: step.name, chain: outcome.chain, verdict: outcome.verdict };
      if (outcome.rule !== undefined) decision.rule = outcome.rule;
      if (outcome.policy) decision.policy = true;
      decisions.push(decision);
      if (outcome.verdict !== 'accept') {
        const decidedBy: NetfilterResult['decidedBy'] = { hook, table: step.name, chain: outcome.chain };
        if (outcome.rule !== undefined) decidedBy.rule = outcome.rule;
        if (outcome.policy) decidedBy.policy = true;
        const extra: Partial<NetfilterResult> = { decidedBy };
        if (outcome.reason !== undefined) extra.reason = outcome.reason;
        if (outcome.verdict === 'reject') extra.rejectWith = outcome.rejectWith ?? (packet.family === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable');
        if (outcome.undecidedMatch && outcome.rule !== undefined) fork.rule = outcome.rule;
        return finish(outcome.verdict, extra);
      }
    }
  }
  return finish('accept', { decidedBy: acceptedBy(decisions) });
}

interface Run {
  p: PacketState | string;
  trace: TraceEntry[];
  limit: number;
  truncated: boolean;
  nat: NatRecord[];
  /** Undecidable matches taken as matching (true) or not (false) in this walk. */
  assume: Map<IptablesRule, boolean>;
}

function result(run: Run, decisions: Decision[], verdict: Verdict, extra: Partial<NetfilterResult>): NetfilterResult {
  const p = run.p as PacketState;
  const out: NetfilterResult = { verdict, ...extra, decisions, trace: run.trace, mark: p.mark, final: finalAddresses(p) };
  if (out.decidedBy === undefined) delete out.decidedBy;
  if (run.truncated) out.traceTruncated = true;
  if (run.nat.length > 0) out.nat = run.nat;
  if (p.notes.size > 0) out.notes = [...p.notes];
  return out;
}

/** For an accepted packet: the filter table's decision on the last hook it has one, else the last rule that accepted. */
function acceptedBy(decisions: Decision[]): NetfilterResult['decidedBy'] {
  let pick: Decision | undefined;
  for (const d of decisions) if (d.table === 'filter') pick = d;
  if (pick === undefined) for (const d of decisions) if (d.rule !== undefined) pick = d;
  pick ??= decisions[decisions.length - 1];
  if (pick === undefined) return undefined;
  const by: NetfilterResult['decidedBy'] = { hook: pick.hook, table: pick.table, chain: pick.chain };
  if (pick.rule !== undefined) by.rule = pick.rule;
  if (pick.policy) by.policy = true;
  return by;
}

function tablesFor(tables: IptablesTable[], family: 4 | 6): Map<string, IptablesTable> {
  const byName = new Map<string, IptablesTable>();
  for (const t of tables) if ((t.family ?? 4) === family && !byName.has(t.name)) byName.set(t.name, t);
  return byName;
}

/** The iptables tables and native nft chains on `hook`, in priority order (nft first on a tie). */
function stepsFor(hook: Hook, tables: Map<string, IptablesTable>, nft: NftTable[] | undefined, packet: NetfilterPacket, opts: EvaluateOptions): Step[] {
  const steps: Step[] = [];
  for (const [name, table] of tables) {
    const priority = TABLE_PRIORITIES[name]?.[hook];
    if (priority !== undefined) steps.push({ kind: 'iptables', priority, name, table });
  }
  if (!opts.ignoreNativeNft) for (const s of nativeSteps(hook, nft, packet, opts)) steps.push(s);
  return steps.sort((a, b) => a.priority - b.priority || (a.kind === b.kind ? 0 : a.kind === 'nft' ? -1 : 1));
}

const NFT_PRIORITY_NAMES: Record<string, number> = { raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100 };

function nftPriority(priority: number | string | undefined): number {
  if (typeof priority === 'number') return priority;
  if (priority === undefined) return 0;
  const m = /^\s*([a-z]+|-?\d+)\s*(?:([+-])\s*(\d+))?\s*$/.exec(priority);
  if (m === null) return 0;
  const base = NFT_PRIORITY_NAMES[m[1]] ?? Number(m[1]);
  const offset = m[3] === undefined ? 0 : Number(m[3]) * (m[2] === '-' ? -1 : 1);
  return (Number.isFinite(base) ? base : 0) + offset;
}

function nativeSteps(hook: Hook, nft: NftTable[] | undefined, packet: NetfilterPacket, opts: EvaluateOptions): Step[] {
  const steps: Step[] = [];
  for (const table of nft ?? []) {
    if (table.managedBy !== 'native') continue;
    const fam = table.family;
    const sameFamily = fam === 'inet' || (fam === 'ip' && packet.family === 4) || (fam === 'ip6' && packet.family === 6);
    for (const chain of table.chains) {
      if (chain.hook === undefined) continue;
      if (chain.rules.length === 0 && (chain.policy ?? 'accept') === 'accept') continue;
      let onHook = false;
      let priority = nftPriority(chain.priority);
      if (fam === 'netdev') {
        // ingress runs before PREROUTING on the input device, egress after POSTROUTING.
        const first = HOOKS[opts.path][0];
        const last = HOOKS[opts.path][HOOKS[opts.path].length - 1];
        onHook = (chain.hook === 'ingress' && hook === first && first === 'PREROUTING') || (chain.hook === 'egress' && hook === last && last === 'POSTROUTING');
        const dev = chain.hook === 'ingress' ? packet.inIf : packet.outIf;
        if (chain.device !== undefined && dev !== undefined && chain.device !== dev) onHook = false;
        priority = chain.hook === 'ingress' ? -1_000_000 : 1_000_000;
      } else if (sameFamily) onHook = chain.hook.toUpperCase() === hook;
      if (onHook) steps.push({ kind: 'nft', priority, table, chain });
    }
  }
  return steps;
}

function enterHook(p: PacketState, hook: Hook, packet: NetfilterPacket): void {
  p.hook = hook;
  const hasIn = hook === 'PREROUTING' || hook === 'INPUT' || hook === 'FORWARD';
  const hasOut = hook === 'FORWARD' || hook === 'OUTPUT' || hook === 'POSTROUTING';
  p.inDev = hasIn ? packet.inIf : '';
  p.outDev = hasOut ? packet.outIf : '';
}

function initialState(ruleset: NetfilterRuleset, packet: NetfilterPacket, opts: EvaluateOptions): PacketState | string {
  const proto = typeof packet.proto === 'number' ? packet.proto : protocolNumber(packet.proto);
  if (proto === null) return `unknown protocol ${String(packet.proto)}`;
  const p: PacketState = {
    family: packet.family, src4: 0, dst4: 0, src6: 0n, dst6: 0n, proto,
    sport: packet.sport ?? -1, dport: packet.dport ?? -1,
    icmpType: packet.icmpType ?? -1, icmpCode: packet.icmpCode ?? -1,
    tcpFlags: packet.tcpFlags ?? 0x02, fragment: packet.fragment ?? false,
    inDev: undefined, outDev: undefined,
    ctBit: 0, natBits: 0, ctGiven: CT_STATES[packet.ctstate ?? 'NEW'], notrack: false,
    mark: (packet.mark ?? 0) >>> 0, ctmark: (packet.ctmark ?? 0) >>> 0,
    physdev: packet.physdev, hook: 'PREROUTING', table: '', dstUncertain: false,
    origSrc4: 0, origDst4: 0, origSrc6: 0n, origDst6: 0n, origSport: packet.sport ?? -1, origDport: packet.dport ?? -1,
    why: '', notes: new Set(), rateLimits: opts.rateLimits ?? 'match', sets: compileIpsets(ruleset.ipsets),
    addressType: addressTypeLookup(opts),
  };
  if (packet.family === 4) {
    const s = parseIPv4(packet.src);
    const d = parseIPv4(packet.dst);
    if (s === null || d === null) return `cannot read the packet's IPv4 addresses ${packet.src} → ${packet.dst}`;
    p.src4 = p.origSrc4 = s;
    p.dst4 = p.origDst4 = d;
  } else {
    const s = parseIPv6(packet.src);
    const d = parseIPv6(packet.dst);
    if (s === null || d === null) return `cannot read the packet's IPv6 addresses ${packet.src} → ${packet.dst}`;
    p.src6 = p.origSrc6 = s;
    p.dst6 = p.origDst6 = d;
  }
  if (p.ctGiven === undefined) return `unknown conntrack state ${String(packet.ctstate)}`;
  return p;
}

function finalAddresses(p: PacketState): NetfilterResult['final'] {
  const fmt = (v4: number, v6: bigint): string => (p.family === 4 ? formatIPv4(v4) : formatIPv6(v6));
  const out: NetfilterResult['final'] = { src: fmt(p.src4, p.src6), dst: fmt(p.dst4, p.dst6) };
  if (p.sport >= 0) out.sport = p.sport;
  if (p.dport >= 0) out.dport = p.dport;
  return out;
}

/** Keeps a trace entry: non-matching rules up to the limit, matches and policies up to ten times it. */
function record(run: Run, entry: TraceEntry, important: boolean): void {
  if (run.trace.length < (important ? run.limit * 10 : run.limit)) run.trace.push(entry);
  else run.truncated = true;
}

function policyOutcome(run: Run, base: CompiledChain, hook: Hook, table: string): Outcome {
  const policy = base.policy ?? 'ACCEPT';
  record(run, { hook, table, chain: base.name, policy, matched: true }, true);
  if (policy === 'ACCEPT') return { verdict: 'accept', chain: base.name, policy: true };
  if (policy === 'DROP') return { verdict: 'drop', chain: base.name, policy: true };
  return { verdict: 'undecided', chain: base.name, policy: true, reason: `policy ${policy} is not evaluated` };
}

/** Walks one base chain (and the user chains it jumps to) to the table's verdict. */
function runChain(run: Run, compiled: CompiledTable, base: CompiledChain, hook: Hook): Outcome {
  const p = run.p as PacketState;
  const table = compiled.table.name;
  const stack: { chain: CompiledChain; rules: CompiledRule[]; i: number }[] = [];
  let chain = base;
  let rules = rulesOf(compiled, base);
  let i = 0;
  for (;;) {
    if (i >= rules.length) {
      const frame = stack.pop();
      if (frame === undefined) return policyOutcome(run, base, hook, table);
      ({ chain, rules, i } = frame);
      continue;
    }
    const cr = rules[i++];
    let m = cr.test === undefined ? 1 : cr.test(p);
    if (m === UNKNOWN) {
      const assumed = run.assume.get(cr.rule);
      if (assumed !== undefined) m = assumed ? YES : NO;
    }
    if (m === NO) {
      record(run, { hook, table, chain: chain.name, rule: cr.rule.position, matched: false }, false);
      continue;
    }
    record(run, { hook, table, chain: chain.name, rule: cr.rule.position, matched: m === UNKNOWN ? 'undecided' : true }, true);
    const action = cr.action;
    if (m === UNKNOWN) {
      if (action.kind === 'continue') continue;
      return { verdict: 'undecided', chain: chain.name, rule: cr.rule, reason: p.why, undecidedMatch: true };
    }
    switch (action.kind) {
      case 'accept':
        return { verdict: 'accept', chain: chain.name, rule: cr.rule };
      case 'drop':
        return { verdict: 'drop', chain: chain.name, rule: cr.rule };
      case 'reject': {
        const out: Outcome = { verdict: 'reject', chain: chain.name, rule: cr.rule };
        if (action.with !== undefined) out.rejectWith = action.with;
        return out;
      }
      case 'return': {
        const frame = stack.pop();
        if (frame === undefined) return policyOutcome(run, base, hook, table);
        ({ chain, rules, i } = frame);
        break;
      }
      case 'jump':
      case 'goto': {
        const next = compiled.chains.get(action.chain)!;
        if (action.kind === 'jump') {
          if (stack.length >= MAX_DEPTH) return { verdict: 'undecided', chain: chain.name, rule: cr.rule, reason: `chains nest deeper than ${MAX_DEPTH} (a loop?)` };
          stack.push({ chain, rules, i });
        }
        chain = next;
        rules = rulesOf(compiled, next);
        i = 0;
        break;
      }
      case 'continue':
        break;
      case 'undecided':
        return { verdict: 'undecided', chain: chain.name, rule: cr.rule, reason: action.reason };
      case 'nat':
        applyNat(run, action, hook, table, chain.name, cr.rule);
        return { verdict: 'accept', chain: chain.name, rule: cr.rule };
      default:
        applyMarks(p, action);
    }
  }
}

function applyMarks(p: PacketState, action: Action): void {
  switch (action.kind) {
    case 'mark':
      p.mark = ((p.mark & action.and) ^ action.xor) >>> 0;
      break;
    case 'notrack':
      p.notrack = true;
      p.ctBit = CT_STATES.UNTRACKED;
      break;
    case 'connmark':
      // Without a connection the target does nothing.
      if (p.ctBit === CT_STATES.INVALID || p.ctBit === CT_STATES.UNTRACKED) break;
      if (action.op === 'set') p.ctmark = ((p.ctmark & action.and) ^ action.xor) >>> 0;
      else if (action.op === 'save') p.ctmark = ((p.ctmark & ~action.ctmask) ^ (p.mark & action.nfmask)) >>> 0;
      else p.mark = ((p.mark & ~action.nfmask) ^ (p.ctmark & action.ctmask)) >>> 0;
      break;
    default:
      break;
  }
}

function applyNat(run: Run, action: Extract<Action, { kind: 'nat' }>, hook: Hook, table: string, chain: string, rule: NatRecord['rule']): void {
  const p = run.p as PacketState;
  const rec: NatRecord = { hook, table, chain, rule, target: action.target };
  if (action.to !== undefined) rec.to = action.to;
  run.nat.push(rec);
  const destination = hook === 'PREROUTING' || hook === 'OUTPUT';
  if (!destination) {
    if (action.target !== 'DNAT' && action.target !== 'REDIRECT') p.natBits |= CT_STATES.SNAT;
    return;
  }
  const w = action.rewrite;
  if (w === undefined) return;
  const before = p.family === 4 ? p.dst4 : p.dst6;
  const beforePort = p.dport;
  if (w.port !== undefined && (p.proto === 6 || p.proto === 17 || p.proto === 132 || p.proto === 33 || p.proto === 136)) p.dport = w.port;
  if (w.uncertain) p.dstUncertain = true;
  else if (w.netmap !== undefined && p.family === 4) p.dst4 = ((p.dst4 & ~w.netmap.mask) | (w.netmap.value & w.netmap.mask)) >>> 0;
  else if (w.addr4 !== undefined && p.family === 4) p.dst4 = w.addr4;
  else if (w.addr6 !== undefined && p.family === 6) p.dst6 = w.addr6;
  const after = p.family === 4 ? p.dst4 : p.dst6;
  if (w.uncertain || after !== before || p.dport !== beforePort) {
    p.natBits |= CT_STATES.DNAT;
    if (w.uncertain || after !== before) p.notes.add(NAT_NOTE);
  }
}
