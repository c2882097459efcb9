/**
 * Compiled targets: verdicts, jumps, RETURN, the packet- and connection-mark writers, NAT
 * (recorded; a DNAT to one address is applied to later matches), CT --notrack, and targets
 * that only log or rewrite fields no decided match reads (they continue).
 */
import type { IptablesOption, IptablesTarget } from '../model/netfilter.js';
import { parseIPv4, parseIPv6 } from '../net/address.js';
import { parseMarkMask } from './netfilter-core.js';
import { parseUint } from './netfilter-names.js';
import type { NatRewrite } from './netfilter-types.js';

export type { NatRewrite };

/** What a matching rule does. `mark`: mark = (mark & and) ^ xor. */
export type Action =
  | { kind: 'accept' | 'drop' | 'return' | 'continue' | 'notrack' }
  | { kind: 'reject'; with?: string }
  | { kind: 'jump' | 'goto'; chain: string }
  | { kind: 'mark'; and: number; xor: number }
  | { kind: 'connmark'; op: 'set'; and: number; xor: number }
  | { kind: 'connmark'; op: 'save' | 'restore'; nfmask: number; ctmask: number }
  | { kind: 'nat'; target: string; to?: string; rewrite?: NatRewrite }
  | { kind: 'undecided'; reason: string };


/** Targets that neither end the chain nor change anything a decided match reads. */
const CONTINUING = new Set([
  'LOG', 'NFLOG', 'ULOG', 'TRACE', 'AUDIT', 'TCPMSS', 'CHECKSUM', 'CLASSIFY', 'DSCP', 'TOS', 'TTL', 'HL',
  'ECN', 'SECMARK', 'CONNSECMARK', 'IDLETIMER', 'LED', 'RATEEST', 'TEE',
]);

const ALL = 0xffffffff;

/** Compiles a rule's target; `hasChain` says whether a user chain of that name exists in the table. */
export function compileTarget(target: IptablesTarget | undefined, hasChain: (name: string) => boolean): Action {
  if (target === undefined) return { kind: 'continue' };
  const name = target.name;
  if (hasChain(name)) return { kind: target.kind, chain: name };
  if (target.kind === 'goto') return { kind: 'undecided', reason: `-g ${name}: no such chain` };
  switch (name) {
    case 'ACCEPT': return { kind: 'accept' };
    case 'DROP': return { kind: 'drop' };
    case 'RETURN': return { kind: 'return' };
    case 'REJECT': {
      const w = option(target.options, 'reject-with');
      return w?.args[0] !== undefined ? { kind: 'reject', with: w.args[0] } : { kind: 'reject' };
    }
    case 'MARK': return compileMark(target);
    case 'CONNMARK': return compileConnmark(target);
    case 'DNAT':
    case 'SNAT':
    case 'MASQUERADE':
    case 'REDIRECT':
    case 'NETMAP':
      return compileNat(target);
    case 'CT':
    case 'NOTRACK':
      if (name === 'NOTRACK' || option(target.options, 'notrack') !== undefined) return { kind: 'notrack' };
      return { kind: 'undecided', reason: `-j CT ${optionsText(target.options)} is not evaluated` };
    default:
      if (CONTINUING.has(name)) return { kind: 'continue' };
      return { kind: 'undecided', reason: `target ${name} is not evaluated` };
  }
}

function option(options: IptablesOption[], name: string): IptablesOption | undefined {
  for (const o of options) if (o.name === name) return o;
  return undefined;
}

function optionsText(options: IptablesOption[]): string {
  return options.map((o) => `${o.negated ? '! ' : ''}--${o.name}${o.args.length > 0 ? ` ${o.args.join(' ')}` : ''}`).join(' ');
}

/** The (and, xor) pair of a MARK/CONNMARK value option, as libxt_MARK/libxt_CONNMARK compute it. */
function markOp(o: IptablesOption): { and: number; xor: number } | null {
  if (o.name === 'set-xmark' || o.name === 'set-mark') {
    const mm = parseMarkMask(o.args[0] ?? '');
    if (mm === null) return null;
    const mask = o.name === 'set-mark' ? (mm.mask | mm.value) >>> 0 : mm.mask;
    return { and: ~mask >>> 0, xor: mm.value };
  }
  const v = parseUint(o.args[0] ?? '', ALL);
  if (v === null) return null;
  switch (o.name) {
    case 'and-mark': return { and: v, xor: 0 };
    case 'or-mark': return { and: ~v >>> 0, xor: v };
    case 'xor-mark': return { and: ALL, xor: v };
    default: return null;
  }
}

function compileMark(target: IptablesTarget): Action {
  if (target.options.length !== 1) return { kind: 'undecided', reason: `-j MARK ${optionsText(target.options)} is not evaluated` };
  const op = markOp(target.options[0]);
  return op === null ? { kind: 'undecided', reason: `-j MARK ${optionsText(target.options)}: cannot read the mark` } : { kind: 'mark', ...op };
}

function compileConnmark(target: IptablesTarget): Action {
  const save = option(target.options, 'save-mark');
  const restore = option(target.options, 'restore-mark');
  const fail: Action = { kind: 'undecided', reason: `-j CONNMARK ${optionsText(target.options)} is not evaluated` };
  if (save !== undefined || restore !== undefined) {
    let nfmask = ALL;
    let ctmask = ALL;
    for (const o of target.options) {
      if (o === save || o === restore) continue;
      const v = parseUint(o.args[0] ?? '', ALL);
      if (v === null) return fail;
      if (o.name === 'nfmask') nfmask = v;
      else if (o.name === 'ctmask') ctmask = v;
      else if (o.name === 'mask') nfmask = ctmask = v;
      else return fail;
    }
    return { kind: 'connmark', op: save !== undefined ? 'save' : 'restore', nfmask, ctmask };
  }
  if (target.options.length !== 1) return fail;
  const op = markOp(target.options[0]);
  return op === null ? fail : { kind: 'connmark', op: 'set', ...op };
}

function compileNat(target: IptablesTarget): Action {
  const name = target.name;
  const toOption = target.options.filter((o) => o.name === 'to-destination' || o.name === 'to-source' || o.name === 'to-ports' || o.name === 'to');
  const to = toOption.map((o) => o.args.join(' ')).join(' ') || undefined;
  const action: Action = to === undefined ? { kind: 'nat', target: name } : { kind: 'nat', target: name, to };
  if (name === 'DNAT' || name === 'SNAT') action.rewrite = toOption.length === 1 ? parseDestination(toOption[0].args[0] ?? '') : { uncertain: true };
  else if (name === 'REDIRECT' || name === 'MASQUERADE') {
    const ports = toOption[0]?.args[0];
    const port = ports === undefined ? undefined : parseUint(ports, 65535);
    // A port range: one of several ports, so the port (and what matches it later) is not known.
    const rewrite: NatRewrite = { uncertain: false, ...(name === 'REDIRECT' ? { redirect: true } : { masquerade: true }) };
    if (port === null) {
      if (/^\d{1,5}-\d{1,5}$/.test(ports ?? '')) rewrite.portUncertain = true;
      else rewrite.uncertain = true;
    }
    if (port !== null && port !== undefined) rewrite.port = port;
    action.rewrite = rewrite;
  } else if (name === 'NETMAP') {
    const slash = (to ?? '').indexOf('/');
    const value = parseIPv4(slash >= 0 ? to!.slice(0, slash) : (to ?? ''));
    const len = slash >= 0 ? parseUint(to!.slice(slash + 1), 32) : 32;
    action.rewrite = value === null || len === null ? { uncertain: true } : { uncertain: false, netmap: { value, mask: len === 0 ? 0 : (ALL << (32 - len)) >>> 0 } };
  }
  return action;
}

/** `--to-destination` forms: `a`, `a:p`, `a-b`, `a:p-q`, `[v6]:p`, `:p`. */
function parseDestination(text: string): NatRewrite {
  let addrText = text;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    addrText = text.slice(1, close);
    if (text.charCodeAt(close + 1) === 58) portText = text.slice(close + 2);
  } else if (text.indexOf(':') === text.lastIndexOf(':') && text.indexOf(':') >= 0) {
    addrText = text.slice(0, text.indexOf(':'));
    portText = text.slice(text.indexOf(':') + 1);
  }
  const out: NatRewrite = { uncertain: false };
  if (portText !== undefined) {
    const port = parseUint(portText, 65535);
    if (port !== null) out.port = port;
    else if (/^\d{1,5}-\d{1,5}$/.test(portText)) out.portUncertain = true;
    else out.uncertain = true;
  }
  if (addrText === '') return out;
  if (addrText.indexOf('-') >= 0) {
    const [lo, hi] = addrText.split('-');
    if (lo !== hi) {
      out.uncertain = true;
      return out;
    }
    addrText = lo;
  }
  const v4 = parseIPv4(addrText);
  if (v4 !== null) out.addr4 = v4;
  else {
    const v6 = parseIPv6(addrText);
    if (v6 === null) out.uncertain = true;
    else out.addr6 = v6;
  }
  return out;
}
