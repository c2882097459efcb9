/**
 * ip-rule: `ip rule show` / `ip -6 rule show` text and `ip -j rule show` JSON. Text is one rule
 * per line, `PRIO:<tab>[not] from X [to Y] [selectors ...] ACTION [options]`; JSON is an array of
 * iproute2's objects (priority, src/srclen, dst/dstlen, fwmark/fwmask, table, action ...).
 *
 *   200:	not from 10.1.0.0/16 to 10.2.0.0/16 fwmark 0x1/0xff iif eth0 lookup 200
 */
import type { RuleAction, RuleRecord } from '../src/model/records.js';
import { parseIPv4, parseIPv6 } from '../src/net/address.js';
import { jsonArrayOf, guarded, splitLines, type ParseResult, type ParseWarning, type Parser } from './types.js';

export interface IpRuleOptions {
  /** Family of rules that name no address (`from all lookup main`); else taken from the input's addresses, else 4. */
  family?: 4 | 6;
}

/**
 * A rule record plus what RuleRecord has no field for: `proto`, `realms`, `map-to` (old NAT rules),
 * `tun_id`, `dscp`, `flowlabel`, as printed.
 */
export type IpRuleRecord = RuleRecord & { extra?: Record<string, string> };

/** Parse `ip rule` text or `ip -j rule` JSON (detected by a leading `[`). */
export function parse(text: string, opts?: IpRuleOptions): ParseResult<IpRuleRecord> {
  return guarded(text, (t) => {
    const hint = opts?.family === 4 || opts?.family === 6 ? opts.family : undefined;
    const state: FamilyState = { hint, sawV4: false, sawV6: false, unknown: [] };
    const result = firstNonSpace(t) === 91 ? parseJson(t, state) : parseText(t, state);
    // One `ip rule` run is one family: rules without addresses follow the addresses seen elsewhere.
    const fallback = hint ?? (state.sawV6 && !state.sawV4 ? 6 : 4);
    for (const r of state.unknown) setFamily(r, fallback);
    return result;
  });
}

export const parser: Parser<IpRuleRecord> = {
  name: 'ip-rule',
  description: 'ip rule / ip -6 rule (text or ip -j JSON)',
  parse: (text: string, opts?: { family?: 4 | 6 }) => parse(text, opts),
};

interface FamilyState {
  hint: 4 | 6 | undefined;
  sawV4: boolean;
  sawV6: boolean;
  /** Rules whose family no address decided, fixed once the whole input is read. */
  unknown: IpRuleRecord[];
}

const ACTIONS = new Set<string>(['nop', 'blackhole', 'unreachable', 'prohibit']);
/** Single-value keywords kept in `extra` as printed. */
const EXTRA_KEYS = new Set<string>(['proto', 'realms', 'map-to', 'tun_id', 'dscp', 'flowlabel']);

function firstNonSpace(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return c;
  }
  return -1;
}

function newRule(lineNumber: number, text: string): IpRuleRecord {
  return {
    family: 4, priority: 0, not: false, from: '', to: undefined, iif: undefined, oif: undefined,
    fwmark: undefined, fwmask: undefined, tos: undefined, uidrange: undefined, ipproto: undefined,
    sport: undefined, dport: undefined, action: 'lookup', table: undefined, goto: undefined,
    suppressPrefixlength: undefined, suppressIfgroup: undefined, flags: [], extra: undefined,
    origin: { lineNumber, text },
  };
}

function isUint(s: string): boolean {
  if (s.length === 0 || s.length > 10) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function addressFamily(s: string): 0 | 4 | 6 {
  if (s.indexOf(':') >= 0) return parseIPv6(s) === null ? 0 : 6;
  return parseIPv4(s) === null ? 0 : 4;
}

/**
 * Canonical selector prefix: "all" stays "all" (family decided later), "10.0.0.5" -> "10.0.0.5/32",
 * iproute2's "0/8" (no address, only a length) -> "0.0.0.0/8" or "::/8". Null when not a prefix.
 */
function selectorPrefix(s: string): { text: string; family: 0 | 4 | 6 } | null {
  if (s === 'all') return { text: 'all', family: 0 };
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const lenText = slash < 0 ? '' : s.slice(slash + 1);
  if (slash >= 0 && (!isUint(lenText) || lenText.length > 3)) return null;
  if (addr === '0' && slash >= 0) return { text: `0/${lenText}`, family: 0 };
  const fam = addressFamily(addr);
  if (fam === 0) return null;
  const max = fam === 4 ? 32 : 128;
  if (slash < 0) return { text: `${s}/${max}`, family: fam };
  if (Number(lenText) > max) return null;
  return { text: s, family: fam };
}

/** Resolve "all" and "0/N" once the family is known. */
function familyPrefix(text: string, family: 4 | 6): string {
  if (text === 'all') return family === 4 ? '0.0.0.0/0' : '::/0';
  if (text.startsWith('0/')) return `${family === 4 ? '0.0.0.0' : '::'}${text.slice(1)}`;
  return text;
}

function setFamily(r: IpRuleRecord, family: 4 | 6): void {
  r.family = family;
  r.from = familyPrefix(r.from, family);
  if (r.to !== undefined) r.to = familyPrefix(r.to, family);
}

/** Parse "A-B" or "A" as an inclusive range of unsigned numbers. */
function range(s: string): { start: number; end: number } | null {
  const dash = s.indexOf('-');
  const a = dash < 0 ? s : s.slice(0, dash);
  const b = dash < 0 ? s : s.slice(dash + 1);
  if (!isUint(a) || !isUint(b)) return null;
  return { start: Number(a), end: Number(b) };
}

/** Parse a number printed in decimal or 0x-hex (fwmark), or null. */
function markNumber(s: string): number | null {
  if (s.length > 2 && s.charCodeAt(0) === 48 && (s.charCodeAt(1) === 120 || s.charCodeAt(1) === 88)) {
    const hex = s.slice(2);
    if (hex.length > 8 || !/^[0-9a-fA-F]+$/.test(hex)) return null;
    return parseInt(hex, 16);
  }
  return isUint(s) && Number(s) <= 0xffffffff ? Number(s) : null;
}

function setExtra(r: IpRuleRecord, key: string, value: string): void {
  if (r.extra === undefined) r.extra = {};
  r.extra[key] = value;
}

/** Decide the record's family from its addresses, or queue it for the input-wide fallback. */
function settleFamily(r: IpRuleRecord, fromFam: 0 | 4 | 6, toFam: 0 | 4 | 6, state: FamilyState): string {
  if (fromFam !== 0 && toFam !== 0 && fromFam !== toFam) return 'from and to are of different families';
  const fam = fromFam || toFam;
  if (fam === 4) state.sawV4 = true;
  else if (fam === 6) state.sawV6 = true;
  if (fam !== 0) setFamily(r, fam);
  else if (state.hint !== undefined) setFamily(r, state.hint);
  else state.unknown.push(r);
  return '';
}

// ---- text form -------------------------------------------------------------------------------

function tokenize(line: string): string[] {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 32 || c === 9) {
      if (start >= 0) { out.push(line.slice(start, i)); start = -1; }
    } else if (start < 0) {
      start = i;
    }
  }
  if (start >= 0) out.push(line.slice(start));
  return out;
}

function parseText(text: string, state: FamilyState): ParseResult<IpRuleRecord> {
  const lines = splitLines(text);
  const records: IpRuleRecord[] = [];
  const warnings: ParseWarning[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const toks = tokenize(line);
    if (toks.length === 0) continue;
    const r = newRule(i + 1, line);
    const reason = readRule(r, toks, state);
    if (reason !== '') warnings.push({ lineNumber: i + 1, text: line, reason });
    else records.push(r);
  }
  return { records, warnings, form: 'text' };
}

/** Fill `r` from a tokenized rule line; returns why the line is not a rule, or ''. */
function readRule(r: IpRuleRecord, toks: string[], state: FamilyState): string {
  const head = toks[0];
  if (head.charCodeAt(head.length - 1) !== 58 || !isUint(head.slice(0, -1))) {
    return `not a rule: '${head}' is not a priority followed by ':'`;
  }
  r.priority = Number(head.slice(0, -1));
  let j = 1;
  if (toks[j] === 'not') { r.not = true; j++; }
  let fromFam: 0 | 4 | 6 = 0;
  let toFam: 0 | 4 | 6 = 0;
  let action: RuleAction | undefined;
  const n = toks.length;
  while (j < n) {
    const key = toks[j++];
    switch (key) {
      case '[detached]': if (!r.flags.includes('detached')) r.flags.push('detached'); continue;
      case '[unresolved]': r.flags.push('unresolved'); continue;
      case 'l3mdev': r.flags.push('l3mdev'); continue;
      case 'nop': case 'blackhole': case 'unreachable': case 'prohibit': action = key; continue;
    }
    if (j >= n) return `'${key}' without a value`;
    const value = toks[j++];
    switch (key) {
      case 'from': case 'to': {
        const p = selectorPrefix(value);
        if (p === null) return `'${key} ${value}' is not a prefix`;
        if (key === 'from') { r.from = p.text; fromFam = p.family; } else { r.to = p.text; toFam = p.family; }
        break;
      }
      case 'tos': case 'dsfield': r.tos = value; break;
      case 'fwmark': {
        const slash = value.indexOf('/');
        const mark = markNumber(slash < 0 ? value : value.slice(0, slash));
        const mask = slash < 0 ? 0xffffffff : markNumber(value.slice(slash + 1));
        if (mark === null || mask === null) return `fwmark '${value}' is not a mark[/mask]`;
        r.fwmark = mark;
        r.fwmask = mask;
        break;
      }
      case 'iif': r.iif = value; break;
      case 'oif': r.oif = value; break;
      case 'uidrange': case 'sport': case 'dport': {
        const rg = range(value);
        if (rg === null) return `${key} '${value}' is not a number range`;
        if (key === 'uidrange') r.uidrange = rg; else if (key === 'sport') r.sport = rg; else r.dport = rg;
        break;
      }
      case 'ipproto': r.ipproto = value; break;
      case 'lookup': case 'table': r.table = value; break;
      case 'goto':
        if (!isUint(value)) return `goto target '${value}' is not a priority`;
        r.goto = Number(value);
        action = 'goto';
        break;
      case 'suppress_prefixlength':
        if (!isUint(value)) return `suppress_prefixlength '${value}' is not a number`;
        r.suppressPrefixlength = Number(value);
        break;
      case 'suppress_ifgroup': r.suppressIfgroup = value; break;
      default:
        if (!EXTRA_KEYS.has(key)) return `unknown rule selector '${key}'`;
        setExtra(r, key, value);
    }
  }
  if (r.from === '') return 'rule without a from selector';
  if (action === undefined) {
    if (r.table === undefined) return 'rule without an action (lookup, goto, nop, blackhole, ...)';
    action = 'lookup';
  }
  r.action = action;
  return settleFamily(r, fromFam, toFam, state);
}

// ---- JSON form -------------------------------------------------------------------------------

type Json = Record<string, unknown>;

function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return undefined;
}

function parseJson(text: string, state: FamilyState): ParseResult<IpRuleRecord> {
  const records: IpRuleRecord[] = [];
  const warnings: ParseWarning[] = [];
  const top = jsonArrayOf(text, 'rules');
  if ('warning' in top) {
    warnings.push(top.warning);
    return { records, warnings, form: 'json' };
  }
  const data = top.items;
  for (let i = 0; i < data.length; i++) {
    const el = data[i] as unknown;
    const elText = JSON.stringify(el) ?? String(el);
    if (el === null || typeof el !== 'object' || Array.isArray(el)) {
      warnings.push({ lineNumber: i + 1, text: elText, reason: 'rule is not a JSON object' });
      continue;
    }
    const r = newRule(i + 1, elText);
    const reason = readJsonRule(r, el as Json, state);
    if (reason !== '') warnings.push({ lineNumber: i + 1, text: elText, reason });
    else records.push(r);
  }
  return { records, warnings, form: 'json' };
}

/** Turn iproute2's JSON address + length pair into the text form's selector. */
function jsonSelector(addr: unknown, len: unknown): string | undefined {
  const a = str(addr);
  if (a === undefined) return undefined;
  return typeof len === 'number' && a !== 'all' ? `${a}/${len}` : a;
}

function jsonRange(o: Json, key: string, startKey: string, endKey: string): { start: number; end: number } | undefined {
  if (typeof o[key] === 'number') return { start: o[key] as number, end: o[key] as number };
  if (typeof o[startKey] === 'number' && typeof o[endKey] === 'number') {
    return { start: o[startKey] as number, end: o[endKey] as number };
  }
  return undefined;
}

function readJsonRule(r: IpRuleRecord, o: Json, state: FamilyState): string {
  if (typeof o.priority !== 'number') return 'rule without a numeric priority';
  r.priority = o.priority;
  r.not = 'not' in o;
  const fromText = jsonSelector(o.src, o.srclen) ?? 'all';
  const from = selectorPrefix(fromText);
  if (from === null) return `'from ${fromText}' is not a prefix`;
  r.from = from.text;
  let toFam: 0 | 4 | 6 = 0;
  const toText = jsonSelector(o.dst, o.dstlen);
  if (toText !== undefined) {
    const to = selectorPrefix(toText);
    if (to === null) return `'to ${toText}' is not a prefix`;
    r.to = to.text;
    toFam = to.family;
  }
  r.tos = str(o.tos) ?? str(o.dsfield);
  if (o.fwmark !== undefined) {
    const mark = markNumber(str(o.fwmark) ?? '');
    const mask = o.fwmask === undefined ? 0xffffffff : markNumber(str(o.fwmask) ?? '');
    if (mark === null || mask === null) return `fwmark '${String(o.fwmark)}' is not a mark`;
    r.fwmark = mark;
    r.fwmask = mask;
  }
  r.iif = str(o.iif);
  r.oif = str(o.oif);
  if ('iif_detached' in o || 'oif_detached' in o) r.flags.push('detached');
  if ('l3mdev' in o) r.flags.push('l3mdev');
  r.uidrange = jsonRange(o, 'uid', 'uid_start', 'uid_end');
  r.ipproto = str(o.ipproto);
  r.sport = jsonRange(o, 'sport', 'sport_start', 'sport_end');
  r.dport = jsonRange(o, 'dport', 'dport_start', 'dport_end');
  r.table = str(o.table);
  if (typeof o.suppress_prefixlen === 'number') r.suppressPrefixlength = o.suppress_prefixlen;
  r.suppressIfgroup = str(o.suppress_ifgroup);
  if (typeof o.goto === 'number') { r.goto = o.goto; r.action = 'goto'; }
  if ('unresolved' in o) r.flags.push('unresolved');
  if ('nop' in o) r.action = 'nop';
  const actionText = str(o.action);
  if (actionText !== undefined) {
    if (!ACTIONS.has(actionText)) return `unknown rule action '${actionText}'`;
    r.action = actionText as RuleAction;
  }
  if (r.action === 'lookup' && r.table === undefined) return 'rule without an action (lookup, goto, nop, blackhole, ...)';
  if (o.flow_to !== undefined) {
    const to = str(o.flow_to) ?? '';
    setExtra(r, 'realms', o.flow_from !== undefined ? `${str(o.flow_from) ?? ''}/${to}` : to);
  }
  const proto = str(o.protocol);
  if (proto !== undefined) setExtra(r, 'proto', proto);
  for (const key of ['tun_id', 'dscp', 'flowlabel'] as const) {
    const v = str(o[key]);
    if (v !== undefined) setExtra(r, key, v);
  }
  const mapTo = str(o['nat']) ?? str(o['map-to']);
  if (mapTo !== undefined) setExtra(r, 'map-to', mapTo);
  return settleFamily(r, from.family, toFam, state);
}
