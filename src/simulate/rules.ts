/**
 * Policy routing rules compiled for matching, with the kernel's selector semantics
 * (fib_rule_match, fib4_rule_match, fib6_rule_match): every selector a rule names must hold,
 * then `not` inverts the whole answer (so `not iif X [detached]` matches every packet).
 */
import type { RuleRecord } from '../model/records.js';
import { maskV4, maskV6, parsePrefix } from '../net/address.js';
import { parseDsfield, tableKey } from './fib.js';

/** The packet as rule selectors see it. Absent ports and protocol are 0, as in a flowi. */
export interface RuleFlow {
  family: 4 | 6;
  dst4: number;
  dst6: bigint;
  /** Source address; IPv4 without one is 0.0.0.0 (what `ip route get` without `from` uses). */
  src4: number;
  src6: bigint | undefined;
  /** Input interface; locally generated packets carry `lo` (LOOPBACK_IFINDEX). */
  iif: string;
  oif: string | undefined;
  mark: number;
  tos: number;
  ipproto: number;
  sport: number;
  dport: number;
  uid: number;
}

export interface CompiledRule {
  record: RuleRecord;
  /** False when a selector could not be read; such a rule never matches (before `not`). */
  readable: boolean;
  fromLen: number;
  from4: number;
  from6: bigint;
  toLen: number;
  to4: number;
  to6: bigint;
  iifDetached: boolean;
  oifDetached: boolean;
  mark: number;
  mask: number;
  tos: number;
  ipproto: number;
  table: string;
  /** Index of the goto target in the sorted list, or -1 when unresolved. */
  gotoIndex: number;
  /** -1 when the rule has no suppress_prefixlength. */
  suppressPrefixlength: number;
  suppressIfgroup: number | undefined;
}

/** IP protocol names `ip rule` prints (from /etc/protocols). */
const PROTOCOLS: Record<string, number> = {
  icmp: 1, igmp: 2, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, 'ipv6-icmp': 58, icmpv6: 58,
  ipip: 4, ipv6: 41, sctp: 132, udplite: 136, ospf: 89, pim: 103, vrrp: 112, l2tp: 115, mptcp: 262,
};

/** Protocol text or number as a number; NaN when unreadable. */
export function protocolNumber(p: string | number | undefined): number {
  if (p === undefined) return 0;
  if (typeof p === 'number') return p;
  if (/^\d+$/.test(p)) return Number(p);
  const m = /^ipproto-(\d+)$/.exec(p);
  if (m) return Number(m[1]);
  return PROTOCOLS[p.toLowerCase()] ?? NaN;
}

/** Device group names (`/etc/iproute2/group`): only `default` is standard. */
function groupNumber(g: string | undefined): number | undefined {
  if (g === undefined) return undefined;
  if (g === 'default') return 0;
  return /^\d+$/.test(g) ? Number(g) : NaN;
}

function selectorPrefix(text: string | undefined, family: 4 | 6): { len: number; v4: number; v6: bigint } | null {
  if (text === undefined) return { len: 0, v4: 0, v6: 0n };
  const p = parsePrefix(text, family, true);
  if (!p || p.family !== family) return null;
  return p.family === 4
    ? { len: p.len, v4: (p.value & maskV4(p.len)) >>> 0, v6: 0n }
    : { len: p.len, v4: 0, v6: p.value & maskV6(p.len) };
}

/**
 * Rules of one family sorted by priority (ties keep their listed order), with goto targets
 * resolved: the first rule with exactly the target priority, as the kernel links `ctarget`;
 * no such rule (or a backward target) leaves the goto unresolved and it is skipped.
 */
export function compileRules(rules: RuleRecord[], family: 4 | 6, devices: ReadonlySet<string> | undefined): CompiledRule[] {
  const sorted = rules.filter((r) => r.family === family)
    .map((r, i) => ({ r, i }))
    .sort((a, b) => a.r.priority - b.r.priority || a.i - b.i)
    .map((x) => x.r);
  const firstAt = new Map<number, number>();
  sorted.forEach((r, i) => { if (!firstAt.has(r.priority)) firstAt.set(r.priority, i); });
  return sorted.map((r, i): CompiledRule => {
    const from = selectorPrefix(r.from === '' ? undefined : r.from, family);
    const to = selectorPrefix(r.to, family);
    const detached = r.flags.includes('detached');
    const absent = (dev: string | undefined): boolean => dev !== undefined && (detached || (devices !== undefined && !devices.has(dev)));
    const tos = parseDsfield(r.tos);
    const ipproto = protocolNumber(r.ipproto);
    const suppressIfgroup = groupNumber(r.suppressIfgroup);
    const target = r.action === 'goto' && r.goto !== undefined && !r.flags.includes('unresolved') ? firstAt.get(r.goto) : undefined;
    return {
      record: r,
      readable: from !== null && to !== null && !Number.isNaN(tos) && !Number.isNaN(ipproto),
      fromLen: from?.len ?? 0, from4: from?.v4 ?? 0, from6: from?.v6 ?? 0n,
      toLen: to?.len ?? 0, to4: to?.v4 ?? 0, to6: to?.v6 ?? 0n,
      iifDetached: absent(r.iif),
      oifDetached: absent(r.oif),
      mark: r.fwmark !== undefined ? r.fwmark >>> 0 : 0,
      mask: r.fwmark !== undefined || r.fwmask !== undefined ? (r.fwmask ?? 0xffffffff) >>> 0 : 0,
      tos,
      ipproto,
      table: tableKey(r.table),
      gotoIndex: target !== undefined && target > i ? target : -1,
      suppressPrefixlength: r.suppressPrefixlength ?? -1,
      suppressIfgroup: suppressIfgroup === undefined || Number.isNaN(suppressIfgroup) ? undefined : suppressIfgroup,
    };
  });
}

/** True when the rule selects the flow (after `not`). */
export function ruleMatches(c: CompiledRule, f: RuleFlow): boolean {
  if (!c.readable) return false;
  const m = selectorsHold(c, f);
  return c.record.not ? !m : m;
}

function selectorsHold(c: CompiledRule, f: RuleFlow): boolean {
  const r = c.record;
  if (r.iif !== undefined && (c.iifDetached || r.iif !== f.iif)) return false;
  if (r.oif !== undefined && (c.oifDetached || r.oif !== f.oif)) return false;
  if (((c.mark ^ f.mark) & c.mask) !== 0) return false;
  if (r.uidrange !== undefined && (f.uid < r.uidrange.start || f.uid > r.uidrange.end)) return false;
  if (f.family === 4) {
    if (c.fromLen > 0 && ((f.src4 & maskV4(c.fromLen)) >>> 0) !== c.from4) return false;
    if (c.toLen > 0 && ((f.dst4 & maskV4(c.toLen)) >>> 0) !== c.to4) return false;
  } else {
    // IPv6 without a source address fails every `from` selector (no RT6_LOOKUP_F_HAS_SADDR).
    if (c.fromLen > 0 && (f.src6 === undefined || (f.src6 & maskV6(c.fromLen)) !== c.from6)) return false;
    if (c.toLen > 0 && (f.dst6 & maskV6(c.toLen)) !== c.to6) return false;
  }
  if (c.tos !== 0 && c.tos !== f.tos) return false;
  if (c.ipproto !== 0 && c.ipproto !== f.ipproto) return false;
  if (r.sport !== undefined && (f.sport < r.sport.start || f.sport > r.sport.end)) return false;
  if (r.dport !== undefined && (f.dport < r.dport.start || f.dport > r.dport.end)) return false;
  return true;
}
