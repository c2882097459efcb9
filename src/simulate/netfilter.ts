/**
 * The netfilter evaluator: what iptables (legacy or nft) does with one packet. It walks the
 * hooks of the packet's path (input: PREROUTING, INPUT; output: OUTPUT, POSTROUTING; forward and
 * bridge: PREROUTING, FORWARD, POSTROUTING), on each hook every ruleset of the hook model in the
 * kernel's priority order (raw -300, conntrack -200, mangle -150, nat/dstnat -100, filter 0,
 * security 50, nat/srcnat 100; nat only for the first packet of a connection), and within a
 * table the base chain with jumps, gotos, RETURN and the policy. A match or target it cannot
 * decide makes the verdict `undecided` naming the rule; it never guesses. Native nft base chains
 * on a crossed hook run through the nft evaluator (nft-eval.ts, or `opts.nftEvaluator`).
 * Documented in docs/netfilter.md.
 *
 * `NetfilterRun` keeps one packet's state across hooks so the packet walk (walk.ts) can route
 * between them; `evaluatePacket` runs a whole path at once.
 */
import type { IptablesRule, IptablesTable } from '../model/netfilter.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../net/address.js';
import { compileTable, rulesOf, type CompiledChain, type CompiledTable, type CompiledRule } from './netfilter-compile.js';
import { compileIpsets } from './netfilter-ipset.js';
import { nftEvaluator } from './nft-eval.js';
import { addressTypeLookup } from './netfilter-addrtype.js';
import {
  CONNTRACK_PRIORITY, NAT_DST_PRIORITY, NAT_SRC_PRIORITY, PATH_HOOKS, entryName, hookEntries,
  type ChainOutcome, type HookDevices, type HookEntry,
} from './netfilter-hooks.js';
import { CT_STATES, protocolNumber } from './netfilter-names.js';
import type { Action, NatRewrite } from './netfilter-targets.js';
import {
  NO,
  UNKNOWN,
  YES,
  type Decision,
  type NetfilterBranch,
  type EvaluateOptions,
  type Hook,
  type ChainContext,
  type NatAction,
  type NatRecord,
  type NetfilterPacket,
  type NetfilterResult,
  type NetfilterRuleset,
  type PacketState,
  type TraceEntry,
  type Verdict,
} from './netfilter-types.js';

export type * from './netfilter-types.js';
export type { ChainEvaluator, ChainOutcome, HookDevices, HookEntry } from './netfilter-hooks.js';

/** Deepest chain nesting followed before giving up (the kernel refuses loops at load time). */
const MAX_DEPTH = 64;

const NAT_NOTE = 'NAT changed the destination before routing: the route (and so the path) may differ from the one evaluated';

/** What the rulesets of one hook decided. */
export interface HookResult {
  hook: Hook;
  verdict: Verdict;
  decidedBy?: NetfilterResult['decidedBy'];
  reason?: string;
  rejectWith?: string;
  /** The decisions of this hook, one per ruleset crossed. */
  decisions: Decision[];
}

/** A rule that changed the packet or its connection (a mark, a connection mark, an address). */
export interface PacketChange {
  hook: Hook;
  table: string;
  chain: string;
  rule: IptablesRule;
  /** What changed, e.g. "mark 0x0 → 0x66", "destination 203.0.113.5:80 → 10.0.0.5:8080". */
  what: string;
}

/** The packet's addresses, ports and marks as the next stage sees them. */
export interface PacketView {
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  mark: number;
  ctmark: number;
  srcUncertain?: boolean;
  dstUncertain?: boolean;
  /** The packet was exempted from connection tracking (raw table NOTRACK / CT --notrack). */
  untracked?: boolean;
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
  const run = new NetfilterRun(ruleset, packet, opts, assume);
  const devices: HookDevices = { inIf: packet.inIf, outIf: packet.outIf };
  let r: NetfilterResult | undefined;
  for (const hook of PATH_HOOKS[opts.path]) {
    const h = run.runHook(hook, devices);
    if (h.verdict !== 'accept') {
      r = run.result(h);
      break;
    }
  }
  r ??= run.result();
  const rule = run.forkRule;
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

/** One packet's way through the hooks: state (marks, NAT, conntrack) carries from hook to hook. */
export class NetfilterRun {
  private readonly p: PacketState | undefined;
  private readonly error: string | undefined;
  private readonly trace: TraceEntry[] = [];
  private readonly decisions: Decision[] = [];
  private readonly nat: NatRecord[] = [];
  private readonly changes: PacketChange[] = [];
  private truncated = false;
  private readonly limit: number;
  /** The rule whose undecidable match (not its target) ended a hook undecided: the fork can try both answers. */
  forkRule: IptablesRule | undefined;

  /** `assume`: undecidable matches of these rules taken as matching (true) or not (false). */
  constructor(
    private readonly ruleset: NetfilterRuleset,
    private readonly packet: NetfilterPacket,
    private readonly opts: EvaluateOptions,
    private readonly assume: Map<IptablesRule, boolean> = new Map(),
  ) {
    this.limit = opts.traceLimit ?? 1000;
    const p = initialState(ruleset, packet, opts);
    if (typeof p === 'string') this.error = p;
    else this.p = p;
  }

  /** The packet now. */
  view(): PacketView {
    const p = this.p;
    if (p === undefined) return { src: this.packet.src, dst: this.packet.dst, mark: this.packet.mark ?? 0, ctmark: this.packet.ctmark ?? 0 };
    const f = finalAddresses(p);
    const v: PacketView = { ...f, mark: p.mark, ctmark: p.ctmark };
    if (p.srcUncertain) v.srcUncertain = true;
    if (p.dstUncertain) v.dstUncertain = true;
    if (p.notrack) v.untracked = true;
    return v;
  }

  /** The NAT records so far. */
  natRecords(): readonly NatRecord[] {
    return this.nat;
  }

  /** The rules that changed the packet so far. */
  packetChanges(): readonly PacketChange[] {
    return this.changes;
  }

  /**
   * Every ruleset on `hook`, in order, until one does not accept. `afterEntry` runs after each
   * ruleset that accepted (the walk reroutes there); an answer from it ends the hook.
   * `skipNat`: the connection's NAT was already set up (a locally generated packet looping back
   * in through lo meets no nat chain).
   */
  runHook(hook: Hook, devices: HookDevices, opts: { afterEntry?: (entry: HookEntry, before: PacketView) => { verdict: Verdict; reason: string } | undefined; skipNat?: boolean } = {}): HookResult {
    const decisions: Decision[] = [];
    const p = this.p;
    if (p === undefined) return { hook, verdict: 'undecided', reason: this.error, decisions };
    const entries = hookEntries(this.ruleset, hook, p.family, this.opts.path, devices, this.opts);
    const manip = conntrackManip(this.packet, hook);
    let manipDone = manip === undefined;
    const finish = (verdict: Verdict, extra: Partial<HookResult>): HookResult => {
      this.decisions.push(...decisions);
      return { hook, verdict, decisions, ...extra };
    };
    for (const entry of entries) {
      if (!manipDone && entry.priority > manip!.priority) {
        // An untracked packet (raw NOTRACK) meets no conntrack, so no NAT mapping either.
        if (!p.notrack) applyConntrackManip(p, manip!);
        manipDone = true;
      }
      enterHook(p, hook, devices);
      const beforeConntrack = (hook === 'PREROUTING' || hook === 'OUTPUT') && entry.priority < CONNTRACK_PRIORITY;
      p.ctBit = p.notrack ? CT_STATES.UNTRACKED : beforeConntrack ? CT_STATES.INVALID : p.ctGiven;
      const isNat = entry.kind === 'nft' ? entry.chain.type === 'nat' : entry.name === 'nat';
      if (isNat && (p.ctBit !== CT_STATES.NEW || opts.skipNat)) continue;
      const name = entryName(entry);
      if (isNat && p.ctUnknown !== undefined && hasRules(entry, hook)) {
        decisions.push({ hook, table: name, chain: hook, verdict: 'undecided' });
        return finish('undecided', { decidedBy: { hook, table: name, chain: hook }, reason: `the nat table's ${hook} chain runs only for a connection's first packet: ${p.ctUnknown}` });
      }
      p.table = entry.kind === 'nft' ? name : entry.name;
      const before = opts.afterEntry !== undefined ? this.view() : undefined;
      const outcome = this.runEntry(entry, hook);
      if (outcome === undefined) continue;
      const decision: Decision = { hook, table: name, chain: outcome.chain, verdict: outcome.verdict };
      if (outcome.rule !== undefined) decision.rule = outcome.rule;
      if (outcome.policy) decision.policy = true;
      if (entry.kind === 'nft') decision.nft = true;
      else if (entry.backend !== 'unknown') decision.backend = entry.backend;
      decisions.push(decision);
      if (outcome.verdict !== 'accept') {
        const decidedBy: NetfilterResult['decidedBy'] = { hook, table: name, chain: outcome.chain };
        if (outcome.rule !== undefined) decidedBy.rule = outcome.rule;
        if (outcome.policy) decidedBy.policy = true;
        if (entry.kind === 'nft') decidedBy.nft = true;
        else if (entry.backend === 'legacy') decidedBy.backend = 'legacy';
        const extra: Partial<HookResult> = { decidedBy };
        if (outcome.reason !== undefined) extra.reason = outcome.reason;
        if (outcome.verdict === 'reject') extra.rejectWith = outcome.rejectWith ?? (p.family === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable');
        if (outcome.undecidedMatch && outcome.rule !== undefined) this.forkRule = outcome.rule;
        return finish(outcome.verdict, extra);
      }
      const stop = opts.afterEntry?.(entry, before!);
      if (stop !== undefined) return finish(stop.verdict, { reason: stop.reason });
    }
    if (!manipDone && !p.notrack) applyConntrackManip(p, manip!);
    return finish('accept', {});
  }

  /** The evaluator's answer so far: `last` is the hook that ended the packet, if any. */
  result(last?: HookResult): NetfilterResult {
    const p = this.p;
    if (p === undefined) {
      return { verdict: 'undecided', reason: this.error, decisions: [], trace: [], mark: this.packet.mark ?? 0, ctmark: this.packet.ctmark ?? 0, final: { src: this.packet.src, dst: this.packet.dst } };
    }
    const verdict = last?.verdict ?? 'accept';
    const out: NetfilterResult = { verdict, decisions: this.decisions, trace: this.trace, mark: p.mark, ctmark: p.ctmark, final: finalAddresses(p) };
    const decidedBy = last?.decidedBy ?? (verdict === 'accept' ? acceptedBy(this.decisions) : undefined);
    if (decidedBy !== undefined) out.decidedBy = decidedBy;
    if (last?.reason !== undefined) out.reason = last.reason;
    if (last?.rejectWith !== undefined) out.rejectWith = last.rejectWith;
    if (this.truncated) out.traceTruncated = true;
    if (this.nat.length > 0) out.nat = this.nat;
    if (p.notes.size > 0) out.notes = [...p.notes];
    if (p.srcUncertain) out.srcUncertain = true;
    if (p.dstUncertain) out.dstUncertain = true;
    return out;
  }

  private runEntry(entry: HookEntry, hook: Hook): ChainOutcome | undefined {
    const p = this.p!;
    if (entry.kind === 'nft') {
      const table = entryName(entry);
      const ctx: ChainContext = {
        assumed: (rule) => this.assume.get(rule),
        record: (t, important) => this.record(t, important),
        nat: (action, rule) => {
          const before = this.view();
          const reason = this.applyNat(action, hook, table, entry.chain.name, rule);
          if (reason === undefined) this.noteChange(before, hook, table, rule.chain, rule);
          return reason;
        },
        changed: (rule, what) => this.changes.push({ hook, table, chain: rule.chain, rule, what }),
      };
      return (this.opts.nftEvaluator ?? nftEvaluator).run(entry.table, entry.chain, p, hook, ctx);
    }
    if (entry.table.incompatible) return { verdict: 'undecided', chain: hook, reason: `iptables-nft could not list table ${entry.name} (it holds rules made by nft)` };
    const compiled = compileTable(entry.table);
    const base = compiled.chains.get(hook);
    if (base === undefined || !base.builtin) return undefined;
    return this.runChain(compiled, base, hook);
  }

  /** Keeps a trace entry: non-matching rules up to the limit, matches and policies up to ten times it. */
  private record(entry: TraceEntry, important: boolean): void {
    if (this.trace.length < (important ? this.limit * 10 : this.limit)) this.trace.push(entry);
    else this.truncated = true;
  }

  private policyOutcome(base: CompiledChain, hook: Hook, table: string): ChainOutcome {
    const policy = base.policy ?? 'ACCEPT';
    this.record({ hook, table, chain: base.name, policy, matched: true }, true);
    if (policy === 'ACCEPT') return { verdict: 'accept', chain: base.name, policy: true };
    if (policy === 'DROP') return { verdict: 'drop', chain: base.name, policy: true };
    return { verdict: 'undecided', chain: base.name, policy: true, reason: `policy ${policy} is not evaluated` };
  }

  /** Walks one base chain (and the user chains it jumps to) to the table's verdict. */
  private runChain(compiled: CompiledTable, base: CompiledChain, hook: Hook): ChainOutcome {
    const p = this.p!;
    const table = compiled.table.name;
    const stack: { chain: CompiledChain; rules: CompiledRule[]; i: number }[] = [];
    let chain = base;
    let rules = rulesOf(compiled, base);
    let i = 0;
    for (;;) {
      if (i >= rules.length) {
        const frame = stack.pop();
        if (frame === undefined) return this.policyOutcome(base, hook, table);
        ({ chain, rules, i } = frame);
        continue;
      }
      const cr = rules[i++];
      let m = cr.test === undefined ? YES : cr.test(p);
      if (m === UNKNOWN) {
        const assumed = this.assume.get(cr.rule);
        if (assumed !== undefined) m = assumed ? YES : NO;
      }
      if (m === NO) {
        this.record({ hook, table, chain: chain.name, rule: cr.rule.position, matched: false }, false);
        continue;
      }
      this.record({ hook, table, chain: chain.name, rule: cr.rule.position, matched: m === UNKNOWN ? 'undecided' : true }, true);
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
          const out: ChainOutcome = { verdict: 'reject', chain: chain.name, rule: cr.rule };
          if (action.with !== undefined) out.rejectWith = action.with;
          return out;
        }
        case 'return': {
          const frame = stack.pop();
          if (frame === undefined) return this.policyOutcome(base, hook, table);
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
        case 'nat': {
          const before = this.view();
          const undecided = this.applyNat(action, hook, table, chain.name, cr.rule);
          if (undecided !== undefined) return { verdict: 'undecided', chain: chain.name, rule: cr.rule, reason: undecided };
          this.noteChange(before, hook, table, chain.name, cr.rule);
          return { verdict: 'accept', chain: chain.name, rule: cr.rule };
        }
        default: {
          const mark = p.mark;
          const ctmark = p.ctmark;
          applyMarks(p, action);
          if (p.mark !== mark) this.changes.push({ hook, table, chain: chain.name, rule: cr.rule, what: `mark ${hex(mark)} → ${hex(p.mark)}` });
          if (p.ctmark !== ctmark) this.changes.push({ hook, table, chain: chain.name, rule: cr.rule, what: `connection mark ${hex(ctmark)} → ${hex(p.ctmark)}` });
        }
      }
    }
  }

  private noteChange(before: PacketView, hook: Hook, table: string, chain: string, rule: IptablesRule): void {
    const after = this.view();
    const ep = (a: string, port: number | undefined, uncertain: boolean | undefined): string => (uncertain ? '(one of several)' : `${a}${port !== undefined ? `:${port}` : ''}`);
    if (before.dst !== after.dst || before.dport !== after.dport || after.dstUncertain !== before.dstUncertain) {
      this.changes.push({ hook, table, chain, rule, what: `destination ${ep(before.dst, before.dport, false)} → ${ep(after.dst, after.dport, after.dstUncertain)}` });
    }
    if (before.src !== after.src || before.sport !== after.sport || after.srcUncertain !== before.srcUncertain) {
      this.changes.push({ hook, table, chain, rule, what: `source ${ep(before.src, before.sport, false)} → ${ep(after.src, after.sport, after.srcUncertain)}` });
    }
  }

  /** Records a NAT target and rewrites the address it translates; a reason when that cannot be done. */
  private applyNat(action: NatAction, hook: Hook, table: string, chain: string, rule: NatRecord['rule']): string | undefined {
    const p = this.p!;
    const rec: NatRecord = { hook, table, chain, rule, target: action.target };
    if (action.to !== undefined) rec.to = action.to;
    this.nat.push(rec);
    const destination = hook === 'PREROUTING' || hook === 'OUTPUT';
    const w = action.rewrite;
    if (!destination) {
      if (action.target === 'DNAT' || action.target === 'REDIRECT') return `-j ${action.target} is only valid in PREROUTING and OUTPUT`;
      p.natBits |= CT_STATES.SNAT;
      if (w !== undefined) this.rewriteSource(w);
      return undefined;
    }
    if (action.target === 'SNAT' || action.target === 'MASQUERADE') return `-j ${action.target} is only valid in POSTROUTING and INPUT`;
    if (w === undefined) return undefined;
    const before = p.family === 4 ? p.dst4 : p.dst6;
    const beforePort = p.dport;
    if (w.port !== undefined && hasPorts(p)) p.dport = w.port;
    if (w.portUncertain && hasPorts(p)) p.dstUncertain = true;
    if (w.uncertain) p.dstUncertain = true;
    else if (w.redirect) {
      const addr = hook === 'OUTPUT' ? (p.family === 4 ? '127.0.0.1' : '::1') : this.redirectAddress(p.inDev, p.family === 6 ? p.dst6 : undefined);
      if (addr === undefined) p.dstUncertain = true;
      else setAddress(p, addr, true);
    } else rewriteAddress(p, w, true);
    const after = p.family === 4 ? p.dst4 : p.dst6;
    if (w.uncertain || w.portUncertain || after !== before || p.dport !== beforePort || (w.redirect && p.dstUncertain)) {
      p.natBits |= CT_STATES.DNAT;
      if (w.uncertain || after !== before || p.dstUncertain) p.notes.add(NAT_NOTE);
    }
    return undefined;
  }

  private rewriteSource(w: NatRewrite): void {
    const p = this.p!;
    if (w.port !== undefined && hasPorts(p)) p.sport = w.port;
    if (w.portUncertain && hasPorts(p)) p.sport = -1;
    if (w.uncertain) {
      p.srcUncertain = true;
      return;
    }
    if (w.masquerade) {
      const dev = p.outDev;
      const dst = p.family === 4 ? formatIPv4(p.dst4) : formatIPv6(p.dst6);
      const addr = dev === undefined || dev === '' ? undefined : this.opts.masqueradeSource?.(dev, this.opts.nexthop ?? dst, p.family);
      if (addr === undefined) p.srcUncertain = true;
      else setAddress(p, addr, false);
      return;
    }
    rewriteAddress(p, w, false);
  }

  /**
   * REDIRECT's address for a packet arriving on `dev`: the caller's answer, else the first local
   * address on it. IPv6 (nf_nat_redirect_ipv6): the first of the device's addresses — the kernel
   * keeps them by scope, global first, as `ip -6 addr` lists them — whose scope suits the
   * destination `dst6` (link-local only for a link-local destination); none is undecided.
   */
  private redirectAddress(dev: string | undefined, dst6?: bigint): string | undefined {
    if (dev === undefined || dev === '') return undefined;
    const family = this.packet.family;
    if (this.opts.redirectAddress !== undefined) return this.opts.redirectAddress(dev, family);
    const linkLocal = (v: bigint): boolean => (v >> 118n) === 0x3fan;
    for (const a of this.opts.localAddresses ?? []) {
      if (typeof a === 'string' || a.dev !== dev) continue;
      const ip = a.cidr.split('/')[0];
      if (family === 4 && ip.indexOf(':') < 0) return ip;
      if (family !== 6 || dst6 === undefined || ip.indexOf(':') < 0) continue;
      const v = parseIPv6(ip);
      if (v !== null && linkLocal(v) === linkLocal(dst6)) return ip;
    }
    return undefined;
  }
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

function hasPorts(p: PacketState): boolean {
  return p.proto === 6 || p.proto === 17 || p.proto === 132 || p.proto === 33 || p.proto === 136;
}

function setAddress(p: PacketState, text: string, dst: boolean): void {
  if (p.family === 4) {
    const v = parseIPv4(text);
    if (v === null) return;
    if (dst) p.dst4 = v;
    else p.src4 = v;
  } else {
    const v = parseIPv6(text);
    if (v === null) return;
    if (dst) p.dst6 = v;
    else p.src6 = v;
  }
}

function rewriteAddress(p: PacketState, w: NatRewrite, dst: boolean): void {
  if (w.netmap !== undefined && p.family === 4) {
    const cur = dst ? p.dst4 : p.src4;
    const next = ((cur & ~w.netmap.mask) | (w.netmap.value & w.netmap.mask)) >>> 0;
    if (dst) p.dst4 = next;
    else p.src4 = next;
  } else if (w.addr4 !== undefined && p.family === 4) {
    if (dst) p.dst4 = w.addr4;
    else p.src4 = w.addr4;
  } else if (w.addr6 !== undefined && p.family === 6) {
    if (dst) p.dst6 = w.addr6;
    else p.src6 = w.addr6;
  }
}

/** True when a nat entry's base chain for `hook` could translate something (has rules). */
function hasRules(entry: HookEntry, hook: Hook): boolean {
  if (entry.kind === 'nft') return entry.chain.rules.length > 0;
  return entry.table.rules.some((r) => r.chain === hook);
}

interface Manip {
  priority: number;
  dst: boolean;
  addr: string;
  port?: number;
}

/** Conntrack's rewrite of a non-first packet of a translated connection on `hook`, if any. */
function conntrackManip(packet: NetfilterPacket, hook: Hook): Manip | undefined {
  const m = packet.ctNat;
  if (m === undefined) return undefined;
  if ((hook === 'PREROUTING' || hook === 'OUTPUT') && m.dst !== undefined) return { priority: NAT_DST_PRIORITY, dst: true, ...m.dst };
  if ((hook === 'POSTROUTING' || hook === 'INPUT') && m.src !== undefined) return { priority: NAT_SRC_PRIORITY, dst: false, ...m.src };
  return undefined;
}

function applyConntrackManip(p: PacketState, m: Manip): void {
  setAddress(p, m.addr, m.dst);
  if (m.port !== undefined && hasPorts(p)) {
    if (m.dst) p.dport = m.port;
    else p.sport = m.port;
  }
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

function enterHook(p: PacketState, hook: Hook, devices: HookDevices): void {
  p.hook = hook;
  const hasIn = hook === 'PREROUTING' || hook === 'INPUT' || hook === 'FORWARD';
  const hasOut = hook === 'FORWARD' || hook === 'OUTPUT' || hook === 'POSTROUTING';
  // POSTROUTING sees a forwarded packet's input device too (ip_output passes skb->dev as indev): nft's iifname reads it.
  p.inDev = hasIn ? devices.inIf : hook === 'POSTROUTING' ? devices.inIf ?? '' : '';
  p.outDev = hasOut ? devices.outIf : '';
  if (devices.physdev !== undefined) p.physdev = devices.physdev;
}

function initialState(ruleset: NetfilterRuleset, packet: NetfilterPacket, opts: EvaluateOptions): PacketState | string {
  const proto = typeof packet.proto === 'number' ? packet.proto : protocolNumber(packet.proto);
  if (proto === null) return `unknown protocol ${String(packet.proto)}`;
  const ctGiven = CT_STATES[packet.ctstate ?? 'NEW'];
  const p: PacketState = {
    family: packet.family, src4: 0, dst4: 0, src6: 0n, dst6: 0n, proto,
    sport: packet.sport ?? -1, dport: packet.dport ?? -1,
    icmpType: packet.icmpType ?? -1, icmpCode: packet.icmpCode ?? -1,
    tcpFlags: packet.tcpFlags ?? 0x02, fragment: packet.fragment ?? false,
    inDev: undefined, outDev: undefined,
    ctBit: 0, natBits: 0, ctGiven, notrack: false,
    ctReply: packet.ctReply ?? false, ctOrigKnown: ctGiven === CT_STATES.NEW || packet.ctOrig !== undefined,
    ctUnknown: packet.ctUnknown,
    mark: (packet.mark ?? 0) >>> 0, ctmark: (packet.ctmark ?? 0) >>> 0,
    physdev: packet.physdev, hook: 'PREROUTING', table: '', dstUncertain: false, srcUncertain: false,
    origSrc4: 0, origDst4: 0, origSrc6: 0n, origDst6: 0n, origSport: packet.sport ?? -1, origDport: packet.dport ?? -1,
    why: '', notes: new Set(), rateLimits: opts.rateLimits ?? 'match', sets: compileIpsets(ruleset.ipsets),
    addressType: addressTypeLookup(opts),
  };
  const orig = packet.ctOrig ?? packet;
  if (packet.ctOrig !== undefined) {
    p.origSport = packet.ctOrig.sport ?? -1;
    p.origDport = packet.ctOrig.dport ?? -1;
  }
  if (packet.family === 4) {
    const s = parseIPv4(packet.src);
    const d = parseIPv4(packet.dst);
    const os = parseIPv4(orig.src);
    const od = parseIPv4(orig.dst);
    if (s === null || d === null || os === null || od === null) return `cannot read the packet's IPv4 addresses ${packet.src} → ${packet.dst}`;
    p.src4 = s;
    p.dst4 = d;
    p.origSrc4 = os;
    p.origDst4 = od;
  } else {
    const s = parseIPv6(packet.src);
    const d = parseIPv6(packet.dst);
    const os = parseIPv6(orig.src);
    const od = parseIPv6(orig.dst);
    if (s === null || d === null || os === null || od === null) return `cannot read the packet's IPv6 addresses ${packet.src} → ${packet.dst}`;
    p.src6 = s;
    p.dst6 = d;
    p.origSrc6 = os;
    p.origDst6 = od;
  }
  if (p.ctGiven === undefined) return `unknown conntrack state ${String(packet.ctstate)}`;
  // A translated connection's later packets carry its NAT status both ways (--ctstate SNAT/DNAT).
  const m = packet.ctNat;
  if (m !== undefined) {
    const reply = packet.ctReply ?? false;
    if (m.dst !== undefined) p.natBits |= reply ? CT_STATES.SNAT : CT_STATES.DNAT;
    if (m.src !== undefined) p.natBits |= reply ? CT_STATES.DNAT : CT_STATES.SNAT;
  }
  return p;
}

function finalAddresses(p: PacketState): NetfilterResult['final'] {
  const fmt = (v4: number, v6: bigint): string => (p.family === 4 ? formatIPv4(v4) : formatIPv6(v6));
  const out: NetfilterResult['final'] = { src: fmt(p.src4, p.src6), dst: fmt(p.dst4, p.dst6) };
  if (p.sport >= 0) out.sport = p.sport;
  if (p.dport >= 0) out.dport = p.dport;
  return out;
}

function applyMarks(p: PacketState, action: Action): void {
  switch (action.kind) {
    case 'mark':
      p.mark = ((p.mark & action.and) ^ action.xor) >>> 0;
      break;
    case 'notrack':
      p.notrack = true;
      p.ctBit = CT_STATES.UNTRACKED;
      p.natBits = 0;
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

export type { IptablesRule, IptablesTable };
