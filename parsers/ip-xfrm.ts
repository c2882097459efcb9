/**
 * `ip xfrm policy` (IPsec security policies: which traffic the kernel encapsulates) and,
 * through `parseState`, `ip xfrm state` (the security associations).
 *
 * Policy output: a selector line, then indented lines until the next `src`:
 *
 *     src 10.16.0.0/16 dst 10.200.0.0/20 proto tcp dport 443 dev eth0
 *     	dir out priority 375423 ptype main
 *     	mark 0x1/0xff
 *     	tmpl src 1.2.3.4 dst 5.6.7.8
 *     		proto esp spi 0x0000abcd reqid 1 mode tunnel
 *     		level required share any
 *
 * Socket policies print `socket in|out` instead of `dir`. `ip -o xfrm policy` puts a policy on
 * one line with `\` where the newlines were; pasted one-line policies without `\` also parse.
 */
import { formatPrefix, parsePrefix } from '../src/net/address.js';
import type { ParseResult, ParseWarning, Parser } from './types.js';
import { guarded, splitLines } from './types.js';
import type { XfrmMark, XfrmPolicyRecord, XfrmStateRecord, XfrmTemplate } from '../src/model/xfrm.js';

type Phase = 'selector' | 'policy' | 'flag' | 'tmpl' | 'level' | 'lifetime';

interface PolicyBlock {
  rec: XfrmPolicyRecord;
  hasSrc: boolean;
  hasDst: boolean;
  hasDir: boolean;
  hasPriority: boolean;
  phase: Phase;
  tmpl?: XfrmTemplate;
  broken: boolean;
  lineNumber: number;
  text: string;
}

/** Keywords that leave the lifetime/statistics section and start something the parser reads. */
const BLOCK_KEYWORDS = new Set(['tmpl', 'mark', 'if_id', 'security']);

function uint(s: string | undefined): number | null {
  if (s === undefined || s.length === 0 || s.length > 10) return null;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return null;
  }
  return Number(s);
}

/** Numbers printed as decimal or `0x..` hex (marks, if_id). */
function uintOrHex(s: string | undefined): number | null {
  if (s === undefined) return null;
  if (s.startsWith('0x') || s.startsWith('0X')) {
    const h = s.slice(2);
    if (h.length === 0 || h.length > 8 || !/^[0-9a-fA-F]+$/.test(h)) return null;
    return parseInt(h, 16);
  }
  return uint(s);
}

/** `-s` prints `spi 0x00000001(1)` and `reqid 1(0x00000001)`: drop the parenthesised echo. */
function stripEcho(s: string): string {
  const p = s.indexOf('(');
  return p > 0 ? s.slice(0, p) : s;
}

function parseMark(s: string | undefined): XfrmMark | null {
  if (s === undefined) return null;
  const slash = s.indexOf('/');
  const value = uintOrHex(slash >= 0 ? s.slice(0, slash) : s);
  const mask = slash >= 0 ? uintOrHex(s.slice(slash + 1)) : 0xffffffff;
  return value === null || mask === null ? null : { value, mask };
}

function canonicalPrefix(s: string | undefined): { text: string; family: 4 | 6 } | null {
  if (s === undefined) return null;
  const fam = s.includes(':') ? 6 : 4;
  const p = parsePrefix(s, fam, true);
  return p ? { text: formatPrefix(p), family: p.family } : null;
}

/** Tokens of one line; `\` (the one-line form's newline) counts as a space. */
function tokensOf(line: string): string[] {
  const clean = line.includes('\\') ? line.replaceAll('\\', ' ') : line;
  const out: string[] = [];
  for (const t of clean.split(/[ \t]+/)) if (t.length > 0) out.push(t);
  return out;
}

/** Feed one line's tokens into a policy block; returns a reason when a token cannot be read. */
function consumePolicyTokens(b: PolicyBlock, tokens: string[]): string | null {
  const rec = b.rec;
  const sel = rec.selector;
  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i];
    const v = tokens[i + 1];
    if (b.phase === 'lifetime') {
      if (!BLOCK_KEYWORDS.has(t)) { i++; continue; }
      b.phase = 'policy';
    }
    if (b.phase === 'flag') {
      if (t === 'localok' || t === 'icmp' || /^[0-9a-f]+$/.test(t)) { rec.flags.push(t); i++; continue; }
      if (t.startsWith('(0x')) { i++; continue; }
      b.phase = 'policy';
    }
    if (b.phase === 'level' && t.startsWith('(0x')) { i++; continue; }
    switch (t) {
      case 'src':
      case 'dst': {
        if (b.phase === 'tmpl' && b.tmpl) {
          if (v === undefined) return `${t} needs an address`;
          b.tmpl[t] = v;
        } else if (b.phase === 'selector') {
          const p = canonicalPrefix(v);
          if (!p) return `bad selector ${t} ${v ?? ''}`.trimEnd();
          if (t === 'src') { sel.src = p.text; b.hasSrc = true; } else { sel.dst = p.text; b.hasDst = true; }
          rec.family = p.family;
        } else return `unexpected ${t}`;
        i += 2;
        continue;
      }
      case 'proto':
        if (v === undefined) return 'proto needs a value';
        if (b.phase === 'tmpl' && b.tmpl) b.tmpl.proto = v;
        else if (b.phase === 'selector') sel.proto = v;
        else return 'unexpected proto';
        i += 2;
        continue;
      case 'sport': case 'dport': case 'type': case 'code': case 'key': {
        if (b.phase !== 'selector') return `unexpected ${t}`;
        const n = uint(v);
        if (n === null || n > 0xffffffff) return `bad ${t} ${v ?? ''}`.trimEnd();
        if (t === 'sport') sel.sport = n;
        else if (t === 'dport') sel.dport = n;
        else if (t === 'type') sel.icmpType = n;
        else if (t === 'code') sel.icmpCode = n;
        else sel.key = n;
        i += 2;
        continue;
      }
      case 'dev':
        if (b.phase !== 'selector' || v === undefined) return 'unexpected dev';
        sel.dev = v;
        i += 2;
        continue;
      case 'uid':
        if (b.phase !== 'selector' || uint(v) === null) return 'bad uid';
        i += 2;
        continue;
      case 'dir':
      case 'socket': {
        if (b.hasDir) return `second ${t}`;
        if (t === 'dir' && (v === 'in' || v === 'out' || v === 'fwd')) rec.dir = v;
        else if (t === 'socket' && (v === 'in' || v === 'out')) rec.socket = v;
        else return `bad direction ${t} ${v ?? ''}`.trimEnd();
        b.hasDir = true;
        b.phase = 'policy';
        i += 2;
        continue;
      }
      case 'action':
        if (b.phase !== 'policy' || (v !== 'allow' && v !== 'block')) return `bad action ${v ?? ''}`.trimEnd();
        rec.action = v;
        i += 2;
        continue;
      case 'index': case 'priority': {
        const n = uint(v);
        if (b.phase !== 'policy' || n === null) return `bad ${t} ${v ?? ''}`.trimEnd();
        if (t === 'index') rec.index = n; else { rec.priority = n; b.hasPriority = true; }
        i += 2;
        continue;
      }
      case 'ptype':
        if (b.phase !== 'policy' || v === undefined) return 'bad ptype';
        rec.ptype = v;
        i += 2;
        continue;
      case 'share':
        if (v === undefined) return 'share needs a value';
        if (b.phase === 'level' && b.tmpl) b.tmpl.share = v;
        else if (b.phase === 'policy') rec.share = v;
        else return 'unexpected share';
        i += 2;
        continue;
      case 'flag':
        if (b.phase !== 'policy') return 'unexpected flag';
        b.phase = 'flag';
        i += 1;
        continue;
      case 'mark': {
        const m = parseMark(v);
        if (!b.hasDir || !m) return `bad mark ${v ?? ''}`.trimEnd();
        rec.mark = m;
        b.phase = 'policy';
        i += 2;
        continue;
      }
      case 'if_id': {
        const n = uintOrHex(v);
        if (!b.hasDir || n === null) return `bad if_id ${v ?? ''}`.trimEnd();
        rec.ifId = n;
        b.phase = 'policy';
        i += 2;
        continue;
      }
      case 'security':
        if (!b.hasDir || v !== 'context' || tokens[i + 2] === undefined) return 'bad security context';
        rec.securityContext = tokens[i + 2];
        b.phase = 'policy';
        i += 3;
        continue;
      case 'tmpl':
        if (!b.hasDir) return 'tmpl before dir';
        b.tmpl = { src: '', dst: '' };
        rec.templates.push(b.tmpl);
        b.phase = 'tmpl';
        i += 1;
        continue;
      case 'spi': case 'reqid': case 'mode':
        if (b.phase !== 'tmpl' || !b.tmpl) return `unexpected ${t}`;
        if (v === undefined) return `${t} without a value`;
        if (t === 'spi') b.tmpl.spi = stripEcho(v);
        else if (t === 'mode') b.tmpl.mode = v;
        else {
          const n = uint(stripEcho(v));
          if (n === null) return `bad reqid ${v}`;
          b.tmpl.reqid = n;
        }
        i += 2;
        continue;
      case 'level':
        if (!b.tmpl || (v !== 'required' && v !== 'use')) return `bad level ${v ?? ''}`.trimEnd();
        b.tmpl.level = v;
        b.phase = 'level';
        i += 2;
        continue;
      case 'enc-mask': case 'auth-mask': case 'comp-mask':
        if (!b.tmpl || v === undefined) return `unexpected ${t}`;
        i += 2;
        continue;
      case 'lifetime':
        if (!b.hasDir) return 'lifetime before dir';
        b.phase = 'lifetime';
        i += 1;
        continue;
      default:
        if (b.phase === 'policy' && t.startsWith('(0x')) { i++; continue; }
        return `unknown keyword ${t}`;
    }
  }
  return null;
}

function newPolicyBlock(lineNumber: number, text: string): PolicyBlock {
  return {
    rec: {
      family: 4,
      selector: { src: '', dst: '' },
      action: 'allow',
      priority: 0,
      flags: [],
      templates: [],
      origin: { lineNumber, text },
    },
    hasSrc: false,
    hasDst: false,
    hasDir: false,
    hasPriority: false,
    phase: 'selector',
    broken: false,
    lineNumber,
    text,
  };
}

/** The modes iproute2 prints by name (strxf_mode); any other is printed as a number. */
const TEMPLATE_MODES = new Set(['transport', 'tunnel', 'ro', 'in_trigger', 'beet']);

/**
 * Why a policy's templates are not complete: iproute2 prints a mode for every template, so a
 * template without one (a cut-off paste, `mode` without a value) or with a number it had no name
 * for cannot say whether packets are tunnelled. Such a policy is warned about, never recorded
 * as if it were read.
 */
function unreadModeReason(templates: XfrmTemplate[]): string | null {
  const t = templates.find((x) => x.mode === undefined || !TEMPLATE_MODES.has(x.mode));
  if (!t) return null;
  const which = `tmpl src ${t.src} dst ${t.dst}`;
  return t.mode === undefined ? `${which} without a mode (tunnel or transport could not be read)` : `${which} has mode ${t.mode}, which is not tunnel, transport, ro, in_trigger or beet`;
}

function finishPolicy(b: PolicyBlock, records: XfrmPolicyRecord[], warnings: ParseWarning[]): void {
  if (b.broken) return;
  let reason: string | null = null;
  if (!b.hasSrc || !b.hasDst) reason = 'policy without src and dst';
  else if (!b.hasDir) reason = 'policy without dir or socket';
  else if (!b.hasPriority) reason = 'policy without priority';
  else if (b.rec.templates.some((t) => t.src === '' || t.dst === '')) reason = 'tmpl without src and dst';
  else reason = unreadModeReason(b.rec.templates);
  if (reason) {
    warnings.push({ lineNumber: b.lineNumber, text: b.text, reason });
    return;
  }
  const r = b.rec;
  // Rebuilt so every record lists its fields in the same order, whatever order the text had.
  records.push({
    family: r.family,
    selector: r.selector,
    ...(r.dir !== undefined && { dir: r.dir }),
    ...(r.socket !== undefined && { socket: r.socket }),
    action: r.action,
    priority: r.priority,
    ...(r.ptype !== undefined && { ptype: r.ptype }),
    ...(r.index !== undefined && { index: r.index }),
    ...(r.share !== undefined && { share: r.share }),
    flags: r.flags,
    ...(r.mark !== undefined && { mark: r.mark }),
    ...(r.ifId !== undefined && { ifId: r.ifId }),
    ...(r.securityContext !== undefined && { securityContext: r.securityContext }),
    templates: r.templates,
    origin: r.origin,
  });
}

function isIndented(line: string): boolean {
  const c = line.charCodeAt(0);
  return c === 32 || c === 9;
}

function firstToken(line: string): string {
  let s = 0;
  while (s < line.length && (line.charCodeAt(s) === 32 || line.charCodeAt(s) === 9)) s++;
  let e = s;
  while (e < line.length && line.charCodeAt(e) !== 32 && line.charCodeAt(e) !== 9) e++;
  return line.slice(s, e);
}

function parsePolicies(text: string): ParseResult<XfrmPolicyRecord> {
  const records: XfrmPolicyRecord[] = [];
  const warnings: ParseWarning[] = [];
  const lines = splitLines(text);
  let block: PolicyBlock | null = null;
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    const lineNumber = n + 1;
    if (line.trim().length === 0) continue;
    if (!isIndented(line) && firstToken(line) === 'src') {
      if (block) finishPolicy(block, records, warnings);
      block = newPolicyBlock(lineNumber, line);
      const reason = consumePolicyTokens(block, tokensOf(line));
      if (reason) {
        block.broken = true;
        warnings.push({ lineNumber, text: line, reason });
      }
      continue;
    }
    if (!isIndented(line)) {
      if (block) finishPolicy(block, records, warnings);
      block = null;
      warnings.push({ lineNumber, text: line, reason: 'not a policy line (expected src ... dst ...)' });
      continue;
    }
    if (!block) {
      warnings.push({ lineNumber, text: line, reason: 'indented line outside a policy' });
      continue;
    }
    if (block.broken) {
      warnings.push({ lineNumber, text: line, reason: 'belongs to a policy whose first line could not be read' });
      continue;
    }
    const before = block.phase;
    const reason = consumePolicyTokens(block, tokensOf(line));
    if (reason) {
      warnings.push({ lineNumber, text: line, reason });
      // A bad line must not leave the block in a half-read state (e.g. inside a flag list).
      if (block.phase === 'flag' || block.phase === 'lifetime') block.phase = before === 'selector' ? 'policy' : before;
    }
  }
  if (block) finishPolicy(block, records, warnings);
  // A block's own warning (e.g. no dir) is known only at its end: restore line order.
  warnings.sort((a, b) => a.lineNumber - b.lineNumber);
  return { records, warnings };
}

/** Parse `ip xfrm policy` (multi-line or one-line form). */
export function parse(text: string): ParseResult<XfrmPolicyRecord> {
  return guarded(text, parsePolicies);
}

export const parser: Parser<XfrmPolicyRecord> = {
  name: 'ip-xfrm',
  description: 'ip xfrm policy: IPsec policies (selectors, direction, templates)',
  parse,
};

// ---------------------------------------------------------------------------------------------
// ip xfrm state

const ALGORITHM_KEYWORDS = new Set(['enc', 'auth', 'auth-trunc', 'aead', 'comp']);
/** Lines the state parser accepts without reading (statistics, lifetimes, offload details). */
const STATE_SKIPPED = new Set([
  'lifetime', 'limit:', 'expire', 'add', 'stats:', 'replay-window', 'anti-replay', 'crypto',
  'extra_flag', 'output-mark', 'offload', 'tfcpad', 'coa', 'security', 'replay', 'seq', 'oseq',
]);

interface StateBlock {
  rec: XfrmStateRecord;
  ok: boolean;
  inStats: boolean;
}

function stateLine(b: StateBlock, tokens: string[], line: string): string | null {
  const rec = b.rec;
  const t = tokens[0];
  if (ALGORITHM_KEYWORDS.has(t)) {
    if (tokens[1] === undefined) return `${t} needs an algorithm`;
    rec.algorithms[t] = tokens[1];
    return null;
  }
  switch (t) {
    case 'proto':
      for (let i = 0; i < tokens.length; i += 2) {
        const k = tokens[i];
        const v = tokens[i + 1];
        if (v === undefined) return `${k} needs a value`;
        if (k === 'proto') rec.proto = v;
        else if (k === 'spi') rec.spi = stripEcho(v);
        else if (k === 'mode') rec.mode = v;
        else if (k === 'reqid') {
          const n = uint(stripEcho(v));
          if (n === null) return `bad reqid ${v}`;
          rec.reqid = n;
        } else return `unknown keyword ${k}`;
      }
      return null;
    case 'replay-window': {
      const n = uint(tokens[1]);
      if (n !== null && !b.inStats) rec.replayWindow = n;
      const f = tokens.indexOf('flag');
      if (f >= 0) for (let i = f + 1; i < tokens.length && !tokens[i].startsWith('('); i++) rec.flags.push(tokens[i]);
      return null;
    }
    case 'mark': {
      const m = parseMark(tokens[1]);
      if (!m) return 'bad mark';
      rec.mark = m;
      return null;
    }
    case 'if_id': {
      const n = uintOrHex(tokens[1]);
      if (n === null) return 'bad if_id';
      rec.ifId = n;
      return null;
    }
    case 'dir':
      rec.dir = tokens[1];
      return null;
    case 'encap': {
      const encap: NonNullable<XfrmStateRecord['encap']> = { type: '' };
      for (let i = 1; i < tokens.length; i += 2) {
        const v = tokens[i + 1];
        if (tokens[i] === 'type' && v) encap.type = v;
        else if ((tokens[i] === 'sport' || tokens[i] === 'dport') && uint(v) !== null) encap[tokens[i] as 'sport' | 'dport'] = Number(v);
        else if (tokens[i] === 'addr' && v) encap.addr = v;
        else return `bad encap ${tokens[i]}`;
      }
      rec.encap = encap;
      return null;
    }
    case 'sel': {
      const sub = newPolicyBlock(0, line);
      const reason = consumePolicyTokens(sub, tokens.slice(1));
      if (reason) return reason;
      rec.selector = sub.rec.selector;
      return null;
    }
    case 'stats:':
      b.inStats = true;
      return null;
    default:
      if (STATE_SKIPPED.has(t) || /^\d+\(bytes\),?$/.test(t)) return null;
      return `unknown keyword ${t}`;
  }
}

function parseStates(text: string): ParseResult<XfrmStateRecord> {
  const records: XfrmStateRecord[] = [];
  const warnings: ParseWarning[] = [];
  const lines = splitLines(text);
  let block: StateBlock | null = null;
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    const lineNumber = n + 1;
    if (line.trim().length === 0) continue;
    if (!isIndented(line)) {
      if (block?.ok) records.push(block.rec);
      block = null;
      const tokens = tokensOf(line);
      if (tokens[0] !== 'src' || tokens[2] !== 'dst' || tokens.length !== 4) {
        warnings.push({ lineNumber, text: line, reason: 'not a state line (expected src A dst B)' });
        continue;
      }
      block = {
        rec: { family: tokens[1].includes(':') ? 6 : 4, src: tokens[1], dst: tokens[3], flags: [], algorithms: {}, origin: { lineNumber, text: line } },
        ok: true,
        inStats: false,
      };
      continue;
    }
    if (!block) {
      warnings.push({ lineNumber, text: line, reason: 'indented line outside a state' });
      continue;
    }
    const reason = stateLine(block, tokensOf(line), line);
    if (reason) warnings.push({ lineNumber, text: line, reason });
  }
  if (block?.ok) records.push(block.rec);
  return { records, warnings };
}

/** Parse `ip xfrm state`: one record per SA; algorithm keys are dropped. */
export function parseState(text: string): ParseResult<XfrmStateRecord> {
  return guarded(text, parseStates);
}
