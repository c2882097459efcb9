/**
 * `traceroute` / `traceroute6` (Linux, BSD, macOS; also `tracert` on Windows and, partly,
 * `tracepath`): one record per hop with one probe per reply or `*`; the header line goes into
 * `result.header`.
 *
 *     traceroute to 10.200.1.15 (10.200.1.15), 30 hops max, 60 byte packets
 *      1  gw (10.100.1.18) [AS64512]  0.412 ms !H  0.380 ms *
 *         10.100.1.19  0.371 ms                         (another responder for hop 1)
 *          MPLS Label=100 CoS=0 TTL=1 S=1               (BSD -e label stack)
 *
 * `traceroute:` messages (e.g. "Warning: multiple addresses") go into `result.messages`.
 */
import { parseAddress } from '../src/net/address.js';
import type { ParseResult, ParseWarning, Parser } from './types.js';
import { guarded, splitLines } from './types.js';
import type { TracerouteHeader, TracerouteHop, TracerouteMplsLabel, TracerouteProbe, TracerouteRecords } from '../src/model/traceroute.js';

export interface TracerouteResult extends ParseResult<TracerouteHop>, TracerouteRecords {}

function isDigits(s: string): boolean {
  if (s.length === 0 || s.length > 6) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** A time like `0.412` (digits with at most one dot); returns NaN otherwise. */
function decimal(s: string): number {
  let dots = 0;
  if (s.length === 0) return NaN;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) { if (++dots > 1) return NaN; } else if (c < 48 || c > 57) return NaN;
  }
  return s.charCodeAt(0) === 46 || s.charCodeAt(s.length - 1) === 46 ? NaN : Number(s);
}

function tokensOf(line: string): string[] {
  const out: string[] = [];
  for (const t of line.split(/[ \t]+/)) if (t.length > 0) out.push(t);
  return out;
}

function isAddress(s: string): boolean {
  return parseAddress(s) !== null;
}

function parseHeader(line: string, lineNumber: number): TracerouteHeader | null {
  const to = line.indexOf(' to ');
  if (to < 0) return null;
  const parts = line.slice(to + 4).split(',');
  const target = tokensOf(parts[0]);
  if (target.length === 0) return null;
  const header: Omit<TracerouteHeader, 'origin'> = { destination: target[0] };
  let i = 1;
  const t1 = target[1];
  if (t1 !== undefined && t1.length > 2 && t1.charCodeAt(0) === 40 && t1.charCodeAt(t1.length - 1) === 41) {
    header.address = t1.slice(1, -1);
    i = 2;
  }
  if (target[i] === 'from' && target[i + 1] !== undefined) {
    header.source = target[i + 1];
    i += 2;
  }
  if (i !== target.length) return null;
  for (let p = 1; p < parts.length; p++) {
    const words = tokensOf(parts[p]);
    if (words.length === 3 && words[1] === 'hops' && words[2] === 'max' && isDigits(words[0])) header.maxHops = Number(words[0]);
    else if (words.length === 3 && words[1] === 'byte' && words[2] === 'packets' && isDigits(words[0])) header.packetSize = Number(words[0]);
    else return null;
  }
  return { ...header, origin: { lineNumber, text: line } };
}

/** `MPLS Label=100 CoS=0 TTL=1 S=1` (BSD) or `L=100,E=0,S=1,T=1` (Linux `<MPLS:...>`). */
function parseMplsEntry(pairs: string[]): TracerouteMplsLabel | null {
  let label: number | undefined;
  const entry: Partial<TracerouteMplsLabel> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 0) return null;
    const k = pair.slice(0, eq);
    const vText = pair.slice(eq + 1);
    if (!isDigits(vText) && !(vText.length > 6 && /^\d+$/.test(vText))) return null;
    const v = Number(vText);
    if (k === 'Label' || k === 'L') label = v;
    else if (k === 'CoS' || k === 'Exp' || k === 'E' || k === 'TC') entry.cos = v;
    else if (k === 'TTL' || k === 'T') entry.ttl = v;
    else if (k === 'S') entry.s = v;
    else return null;
  }
  return label === undefined ? null : { label, ...entry };
}

function addMpls(hop: TracerouteHop, labels: TracerouteMplsLabel[]): void {
  if (!hop.mpls) hop.mpls = [];
  hop.mpls.push(...labels);
}

interface Responder {
  address?: string;
  name?: string;
  asn?: string;
}

/** A reply probe with its fields in one fixed order, so goldens diff cleanly. */
function probeFrom(r: Responder, rttMs: number): TracerouteProbe {
  const p: TracerouteProbe = {};
  if (r.address !== undefined) p.address = r.address;
  if (r.name !== undefined) p.name = r.name;
  if (r.asn !== undefined) p.asn = r.asn;
  p.rttMs = rttMs;
  return p;
}

/**
 * Read the probes of a traceroute hop line (Linux or BSD) from `tokens[start]` on.
 * `state.responder` carries the last responder across continuation lines of the same hop.
 */
function readProbes(tokens: string[], start: number, hop: TracerouteHop, state: { responder: Responder | null }): string | null {
  let fresh = false; // the current responder has not had a time yet
  let pendingAsn: string | undefined;
  let hasPendingAsn = false;
  let last: TracerouteProbe | null = null;
  let hadParen = false;
  for (let i = start; i < tokens.length; i++) {
    const t = tokens[i];
    const c0 = t.charCodeAt(0);
    if (t === '*') {
      if (fresh) return 'responder without a time';
      last = {};
      hop.probes.push(last);
      continue;
    }
    if (c0 === 33 /* ! */) {
      if (!last || last.rttMs === undefined) return `annotation ${t} without a time`;
      last.annotation = last.annotation ? `${last.annotation} ${t}` : t;
      continue;
    }
    if (c0 === 91 /* [ */ && t.charCodeAt(t.length - 1) === 93) {
      const asn = t.slice(1, -1);
      const value = asn === '*' || asn === '' ? undefined : asn;
      if (fresh && state.responder) {
        if (value !== undefined) state.responder.asn = value;
      } else {
        pendingAsn = value;
        hasPendingAsn = true;
      }
      continue;
    }
    if (c0 === 40 /* ( */ && t.charCodeAt(t.length - 1) === 41) {
      const r = state.responder;
      if (!fresh || !r || hadParen) return `unexpected ${t}`;
      hadParen = true;
      const inner = t.slice(1, -1);
      if (isAddress(inner)) {
        // `1.2.3.4 (1.2.3.4)` is an unresolved name: keep the address only.
        if (r.address !== undefined && r.address !== inner) { r.name = r.address; }
        r.address = inner;
      } else if (inner !== r.name) return `bad address ${t}`;
      continue;
    }
    if (c0 === 60 /* < */ && t.charCodeAt(t.length - 1) === 62) {
      if (!last || last.rttMs === undefined) return `extension ${t} without a time`;
      if (t.startsWith('<MPLS:')) {
        const labels: TracerouteMplsLabel[] = [];
        for (const entry of t.slice(6, -1).split('/')) {
          const l = parseMplsEntry(entry.split(','));
          if (!l) return `bad MPLS extension ${t}`;
          labels.push(l);
        }
        addMpls(hop, labels);
      } else {
        last.annotation = last.annotation ? `${last.annotation} ${t}` : t;
      }
      continue;
    }
    let rtt = decimal(t);
    let step = 0;
    if (!Number.isNaN(rtt) && tokens[i + 1] === 'ms') step = 1;
    else if (t.endsWith('ms') && !Number.isNaN((rtt = decimal(t.slice(0, -2))))) step = 0;
    else rtt = NaN;
    if (!Number.isNaN(rtt)) {
      if (!state.responder) return 'time without a responder';
      last = probeFrom(state.responder, rtt);
      hop.probes.push(last);
      fresh = false;
      i += step;
      continue;
    }
    if (t === 'ms') return 'ms without a time';
    if (isDigits(t)) return `number ${t} without ms`;
    // A responder: name or address, maybe followed by (address) and [ASN].
    if (fresh) return 'responder without a time';
    const r: Responder = isAddress(t) ? { address: t } : { name: t };
    if (hasPendingAsn) {
      if (pendingAsn !== undefined) r.asn = pendingAsn;
      hasPendingAsn = false;
      pendingAsn = undefined;
    }
    state.responder = r;
    fresh = true;
    hadParen = false;
    last = null;
  }
  if (fresh) return 'responder without a time';
  if (hasPendingAsn) return 'AS number without a responder';
  return null;
}

/** Windows `tracert`: `  1    <1 ms    <1 ms    <1 ms  name [addr]`, or `Request timed out.`. */
function readTracertProbes(tokens: string[], hop: TracerouteHop): string | null {
  let i = 1;
  const times: Array<number | undefined> = [];
  while (i < tokens.length) {
    const t = tokens[i];
    if (t === '*') { times.push(undefined); i++; continue; }
    const below = t.charCodeAt(0) === 60; // `<1 ms`: under the timer's resolution
    const v = below ? decimal(t.slice(1)) : decimal(t);
    if (!Number.isNaN(v) && tokens[i + 1] === 'ms') { times.push(below ? -v : v); i += 2; continue; }
    break;
  }
  if (times.length === 0) return 'no times';
  const rest = tokens.slice(i);
  const r: Responder = {};
  let annotation: string | undefined;
  if (rest.join(' ') === 'Request timed out.') {
    // nothing answered
  } else if (rest.length >= 1) {
    const first = rest[0].endsWith(':') ? rest[0].slice(0, -1) : rest[0];
    const bracket = rest[1];
    if (bracket && bracket.charCodeAt(0) === 91 && bracket.charCodeAt(bracket.length - 1) === 93 && isAddress(bracket.slice(1, -1))) {
      r.name = first;
      r.address = bracket.slice(1, -1);
      if (rest.length > 2) annotation = rest.slice(2).join(' ');
    } else if (isAddress(first)) {
      r.address = first;
      if (rest.length > 1) annotation = rest.slice(1).join(' ');
    } else return `bad responder ${rest[0]}`;
  } else return 'no responder';
  for (const t of times) {
    // A negative time marks `<N ms`: kept as N with the annotation `<N ms`.
    const p: TracerouteProbe = t === undefined ? {} : probeFrom(r, Math.abs(t));
    if (t !== undefined && t < 0) p.annotation = `<${-t} ms`;
    if (t !== undefined && annotation) p.annotation = p.annotation ? `${p.annotation} ${annotation}` : annotation;
    hop.probes.push(p);
  }
  return null;
}

/** What iputils tracepath prints after a hop's time: ETIMEDOUT prints nothing, the others one word or two. */
const TRACEPATH_ENDINGS = new Set(['reached', '!H', '!N', '!A', '!P']);
const BROKEN_ROUTER = ['(This', 'broken', 'router', 'returned', 'corrupted', 'payload)'];

/**
 * tracepath's notes after the time: `asymm N` (the reply came back over N hops; a `N?:` guessed hop
 * has no time before it), then `pmtu N`, `reached` or `!H` `!N` `!A` `!P` (older iputils print
 * `asymm` before those too). '' when all was read, else the reason.
 */
function readTracepathNotes(rest: string[], p: TracerouteProbe): string {
  let i = 0;
  const notes: string[] = [];
  if (rest[i] === 'asymm') {
    if (!isDigits(rest[i + 1] ?? '')) return `tracepath 'asymm' without a hop count`;
    notes.push(`asymm ${Number(rest[i + 1])}`);
    i += 2;
  }
  if (rest[i] === 'pmtu') {
    if (!isDigits(rest[i + 1] ?? '')) return `tracepath 'pmtu' without a size`;
    notes.push(`pmtu ${Number(rest[i + 1])}`);
    i += 2;
  } else if (rest[i] !== undefined && TRACEPATH_ENDINGS.has(rest[i])) {
    notes.push(rest[i++]);
  }
  if (i < rest.length) return `unknown tracepath note ${rest.slice(i).join(' ')}`;
  if (notes.length > 0) p.annotation = notes.join(' ');
  return '';
}

/** tracepath: ` 3:  host (addr)  12.3ms asymm  4` / ` 4?: host  asymm  5` / ` 5:  no reply`. */
function readTracepathProbe(tokens: string[]): TracerouteProbe | string {
  if (tokens.length === 3 && tokens[1] === 'no' && tokens[2] === 'reply') return {};
  let i = 1;
  const t = tokens[i];
  if (t === undefined) return 'no responder';
  if (t === 'send' && tokens[2] === 'failed') return 'tracepath could not send the probe (send failed)';
  const p: TracerouteProbe = isAddress(t) ? { address: t } : { name: t };
  i++;
  const paren = tokens[i];
  if (paren && paren.charCodeAt(0) === 40 && paren.charCodeAt(paren.length - 1) === 41 && isAddress(paren.slice(1, -1))) {
    p.address = paren.slice(1, -1);
    i++;
  }
  const time = tokens[i];
  const hasTime = time !== undefined && time.endsWith('ms') && !Number.isNaN(decimal(time.slice(0, -2)));
  if (hasTime) {
    p.rttMs = decimal(time.slice(0, -2));
    i++;
    if (tokens[i] === BROKEN_ROUTER[0] && BROKEN_ROUTER.every((w, k) => tokens[i + k] === w)) i += BROKEN_ROUTER.length;
  }
  const reason = readTracepathNotes(tokens.slice(i), p);
  if (reason) return reason;
  // A hop without a time says something after it (a guessed `N?:` hop's asymm, an ending).
  if (!hasTime && p.annotation === undefined) return 'tracepath line without a time';
  return p;
}

function pushWarning(warnings: ParseWarning[], lineNumber: number, text: string, reason: string): void {
  warnings.push({ lineNumber, text, reason });
}

function parseText(text: string): TracerouteResult {
  const records: TracerouteHop[] = [];
  const warnings: ParseWarning[] = [];
  const messages: string[] = [];
  let header: TracerouteHeader | undefined;
  let hop: TracerouteHop | null = null;
  const state: { responder: Responder | null } = { responder: null };
  let form = 'traceroute';
  const lines = splitLines(text);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    const lineNumber = n + 1;
    const tokens = tokensOf(line);
    if (tokens.length === 0) continue;
    const first = tokens[0];
    if (isDigits(first)) {
      hop = { hop: Number(first), probes: [], origin: { lineNumber, text: line } };
      state.responder = null;
      const second = tokens[1];
      const windows = form === 'tracert' || (second !== undefined && tokens[2] === 'ms' && (second.charCodeAt(0) === 60 || !Number.isNaN(decimal(second))));
      const reason = windows ? readTracertProbes(tokens, hop) : readProbes(tokens, 1, hop, state);
      if (reason) { pushWarning(warnings, lineNumber, line, reason); hop = null; continue; }
      if (hop.probes.length === 0) { pushWarning(warnings, lineNumber, line, 'hop without probes'); hop = null; continue; }
      records.push(hop);
      continue;
    }
    // ` 3:  host ...`, and ` 3?: host ...` where tracepath could not tell the probe's TTL (not [LOCALHOST]).
    const guessedHop = first.endsWith('?:') && isDigits(first.slice(0, -2)) && tokens[1] !== '[LOCALHOST]' && !(tokens[1] === 'reply' && tokens[2] === 'received');
    if (guessedHop || (first.length >= 2 && first.endsWith(':') && isDigits(first.slice(0, -1)))) {
      form = 'tracepath';
      const number = Number(first.slice(0, guessedHop ? -2 : -1));
      const probe = readTracepathProbe(tokens);
      if (typeof probe === 'string') { pushWarning(warnings, lineNumber, line, probe); continue; }
      const current = hop as TracerouteHop | null;
      if (current !== null && current.hop === number && records[records.length - 1] === current) current.probes.push(probe);
      else {
        hop = { hop: number, probes: [probe], origin: { lineNumber, text: line } };
        records.push(hop);
      }
      continue;
    }
    if (first === 'MPLS' && hop) {
      const label = parseMplsEntry(tokens.slice(1));
      if (!label) pushWarning(warnings, lineNumber, line, 'bad MPLS label line');
      else addMpls(hop, [label]);
      continue;
    }
    if ((first === 'traceroute' || first === 'traceroute6') && tokens[1] === 'to') {
      const h = parseHeader(line, lineNumber);
      if (!h) pushWarning(warnings, lineNumber, line, 'unreadable traceroute header');
      else if (header) pushWarning(warnings, lineNumber, line, 'second traceroute header');
      else header = h;
      hop = null;
      continue;
    }
    if (first === 'traceroute:' || first === 'traceroute6:') {
      messages.push(line.trim());
      continue;
    }
    if (first === 'Tracing' && tokens[1] === 'route' && tokens[2] === 'to') {
      form = 'tracert';
      const target = tokens[3];
      const bracket = tokens[4];
      if (target === undefined || header) { pushWarning(warnings, lineNumber, line, 'unreadable tracert header'); continue; }
      header = {
        destination: target,
        ...(bracket && bracket.startsWith('[') && bracket.endsWith(']') && { address: bracket.slice(1, -1) }),
        origin: { lineNumber, text: line },
      };
      continue;
    }
    if (form === 'tracert' && first === 'over' && tokens[1] === 'a' && tokens[2] === 'maximum' && header) {
      if (isDigits(tokens[4] ?? '')) {
        const { origin, ...rest } = header;
        header = { ...rest, maxHops: Number(tokens[4]), origin };
      }
      continue;
    }
    if (form === 'tracert' && line.trim() === 'Trace complete.') continue;
    if (first.endsWith('?:') && isDigits(first.slice(0, -2))) {
      form = 'tracepath';
      pushWarning(warnings, lineNumber, line, tokens[1] === 'reply' ? 'tracepath got a reply to its probe, not a hop' : 'tracepath path-MTU line, not a hop');
      continue;
    }
    if (form === 'tracepath' && (first === 'Resume:' || (first === 'Too' && tokens[1] === 'many'))) {
      pushWarning(warnings, lineNumber, line, 'tracepath summary line, not a hop');
      continue;
    }
    const indented = line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9;
    if (indented && hop && form === 'traceroute') {
      const before = hop.probes.length;
      const reason = readProbes(tokens, 0, hop, state);
      if (reason) { hop.probes.length = before; pushWarning(warnings, lineNumber, line, reason); }
      continue;
    }
    pushWarning(warnings, lineNumber, line, indented ? 'continuation line without a hop' : 'not a traceroute line');
  }
  const result: TracerouteResult = { records, warnings, form };
  if (header) result.header = header;
  if (messages.length > 0) result.messages = messages;
  return result;
}

/** Parse traceroute output; the header (if any) is `result.header`. */
export function parse(text: string): TracerouteResult {
  return guarded(text, parseText) as TracerouteResult;
}

export const parser: Parser<TracerouteHop> = {
  name: 'traceroute',
  description: 'traceroute/traceroute6 (Linux, BSD, macOS), tracert, tracepath: hops and probes',
  parse,
};
