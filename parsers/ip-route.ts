/**
 * ip-route: `ip route show table all`, `ip -6 route show table all`, `ip route get ADDR`, and the
 * same commands with `-j` (JSON). Text is one route per line; a multipath route is followed by
 * tab-indented `nexthop ...` lines, a cloned route (`ip route get`, old IPv6 cache entries) by an
 * indented `cache ...` line. JSON is an array of iproute2's objects (dst, gateway, dev, ...).
 *
 *   10.1.2.0/24 via 10.0.0.1 dev eth0 table 100 proto static metric 100
 */
import type { Nexthop, RouteRecord, RouteType } from '../src/model/records.js';
import { RouteList, type RouteTail } from '../src/model/route-list.js';
import { parseIPv4, parseIPv6 } from '../src/net/address.js';
import { jsonArrayOf, guard, type ParseResult, type ParseWarning, type Parser } from './types.js';

export interface IpRouteOptions {
  /** Family for lines that name no address at all (`unreachable default dev lo ...`). */
  family?: 4 | 6;
  /**
   * Keep only routes of this family and drop the others without a warning: `ip route show` without
   * `-4` (iproute2 6.1, bundles captured before hostcheck passed it) prints IPv6 routes too, which
   * the `-6` source already holds.
   */
  only?: 4 | 6;
  /**
   * Table of routes whose line names none: `ip route list table NAME` leaves out `table NAME`
   * (default "main", as `ip route show` prints main's routes).
   */
  table?: string;
}

/** Parse `ip route` text or `ip -j route` JSON (detected by a leading `[`), every route a record. */
export function parse(text: string, opts?: IpRouteOptions): ParseResult<RouteRecord> {
  const r = parseRoutes(text, opts);
  return { records: r.routes.toArray(), warnings: r.warnings, form: r.form };
}

/** What parseRoutes gives: the routes as a RouteList (records made on demand), and the warnings. */
export interface RouteParse {
  routes: RouteList;
  warnings: ParseWarning[];
  form?: string;
}

/**
 * Parse into a RouteList, the form the snapshot keeps: plain IPv4 routes stay columns over
 * `text` until a record is asked for (src/model/route-list.ts). `source` names the bundle file
 * for the records' origins.
 */
export function parseRoutes(text: string, opts?: IpRouteOptions & { source?: string }): RouteParse {
  const hint = opts?.family === 4 || opts?.family === 6 ? opts.family : undefined;
  defaultTable = opts?.table ?? 'main';
  try {
    return guard(text, (t): RouteParse => {
      if (firstNonSpace(t) !== 91) return parseText(t, hint, opts?.source, opts?.only);
      const json = parseJson(t, hint);
      const routes = RouteList.fromRecords(opts?.only === undefined ? json.records : json.records.filter((r) => r.family === opts.only));
      if (opts?.source !== undefined) routes.stampSource(opts.source);
      return { routes, warnings: json.warnings, form: 'json' };
    }, (w) => ({ routes: new RouteList(16), warnings: [w] }));
  } finally {
    defaultTable = 'main';
  }
}

/** The table of a route whose line names none, for the parse under way (IpRouteOptions.table). */
let defaultTable = 'main';

export const parser: Parser<RouteRecord> = {
  name: 'ip-route',
  description: 'ip route show table all / ip route get (text or ip -j JSON)',
  parse: (text: string, opts?: { family?: 4 | 6; table?: string }) => parse(text, opts),
};

const ROUTE_TYPES = new Set<string>([
  'unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat',
]);
const ROUTE_FLAGS = new Set<string>([
  'dead', 'onlink', 'pervasive', 'offload', 'trap', 'notify', 'linkdown', 'unresolved',
  'rt_offload', 'rt_trap', 'rt_offload_failed',
]);
/** Route metrics (RTA_METRICS) other than mtu, kept in `extra` under their printed name. */
const ROUTE_METRICS = new Set<string>([
  'window', 'rtt', 'rttvar', 'ssthresh', 'cwnd', 'advmss', 'reordering', 'hoplimit', 'initcwnd',
  'rto_min', 'initrwnd', 'quickack', 'fastopen_no_cookie', 'congctl', 'features',
]);
/** Single-value attributes kept in `extra` as printed (route get, cache info, realms ...). */
const EXTRA_KEYS = new Set<string>([
  'from', 'mark', 'uid', 'iif', 'error', 'users', 'age', 'used', 'ipid', 'ts', 'tsage',
  'ttl-propagate', 'ipproto', 'sport', 'dport',
]);
/** Words that end an `encap ...` run: encap is printed before via/dev, so these belong to the route. */
const ENCAP_END = new Set<string>(['via', 'dev', 'table', 'proto', 'scope', 'metric', 'pref', 'onlink', 'nhid']);

function firstNonSpace(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return c;
  }
  return -1;
}

/** Shared, frozen lists for the common cases; a record that gains a flag or nexthop gets its own copy. */
const NO_FLAGS: string[] = Object.freeze([]) as unknown as string[];
const NO_NEXTHOPS: Nexthop[] = Object.freeze([]) as unknown as Nexthop[];
const FLAGS_ONLINK: string[] = Object.freeze(['onlink']) as unknown as string[];
const FLAGS_LINKDOWN: string[] = Object.freeze(['linkdown']) as unknown as string[];
const FLAGS_ONLINK_LINKDOWN: string[] = Object.freeze(['onlink', 'linkdown']) as unknown as string[];

function pushFlag(holder: { flags: string[] }, flag: string): void {
  if (Object.isFrozen(holder.flags)) holder.flags = [...holder.flags, flag];
  else holder.flags.push(flag);
}

function pushNexthop(r: RouteRecord, nh: Nexthop): void {
  if (Object.isFrozen(r.nexthops)) r.nexthops = [...r.nexthops, nh];
  else r.nexthops.push(nh);
}

function newRoute(lineNumber: number, text: string): RouteRecord {
  return {
    family: 4, type: 'unicast', dst: '', table: defaultTable,
    via: undefined, dev: undefined, src: undefined, proto: undefined, scope: undefined,
    metric: undefined, tos: undefined, pref: undefined, flags: NO_FLAGS, nexthops: NO_NEXTHOPS,
    nhid: undefined, mtu: undefined, expires: undefined, extra: undefined,
    origin: { lineNumber, text },
  };
}

function setExtra(r: RouteRecord, key: string, value: string): void {
  if (r.extra === undefined) r.extra = {};
  r.extra[key] = value;
}

function addLock(r: RouteRecord, name: string): void {
  const prev = r.extra?.lock;
  setExtra(r, 'lock', prev === undefined ? name : `${prev} ${name}`);
}

/** Family of an address token, or 0 when it is not an address. */
function addressFamily(s: string): 0 | 4 | 6 {
  if (s.indexOf(':') >= 0) return parseIPv6(s) === null ? 0 : 6;
  return parseIPv4(s) === null ? 0 : 4;
}

/** Canonical prefix text ("10.1.2.3" -> "10.1.2.3/32"), or null when `s` is not a prefix. */
function canonicalPrefix(s: string): string | null {
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const fam = addressFamily(addr);
  if (fam === 0) return null;
  const max = fam === 4 ? 32 : 128;
  if (slash < 0) return `${s}/${max}`;
  const lenText = s.slice(slash + 1);
  if (!isUint(lenText) || lenText.length > 3 || Number(lenText) > max) return null;
  return s;
}

function isUint(s: string): boolean {
  if (s.length === 0 || s.length > 10) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

// ---- text form -------------------------------------------------------------------------------

/** Scratch token buffer reused across lines (the parser is synchronous, so no sharing issues). */
const toks: string[] = [];

/** Split a line on spaces and tabs into `toks`; returns the token count. */
function tokenize(line: string): number {
  let n = 0;
  let start = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 32 || c === 9) {
      if (start >= 0) { toks[n++] = line.slice(start, i); start = -1; }
    } else if (start < 0) {
      start = i;
    }
  }
  if (start >= 0) toks[n++] = line.slice(start);
  return n;
}

/** Why the last attribute failed; set by readAttrs when it returns false. */
let failure = '';
/** True when readAttrs met an attribute it does not know (kept in extra.unparsed). */
let unknownSeen = '';

/**
 * Lines are read in place from `text` (no `split`): a line string is sliced only for the records
 * and warnings that quote it. `\n` ends a line and one `\r` before it is dropped, like splitLines.
 */
function parseText(text: string, hint: 4 | 6 | undefined, source: string | undefined, only: 4 | 6 | undefined): RouteParse {
  resetWords();
  const list = new RouteList();
  list.addText(text, source);
  const warnings: ParseWarning[] = [];
  /** The last route (for its `nexthop` and `cache` lines), -1 before the first. */
  let last = -1;
  let lastGuessed = false;
  /** True while the lines belong to a route of the family `only` drops (its nexthop and cache lines too). */
  let dropping = false;
  let prevFamily: 4 | 6 | undefined;
  const len = text.length;
  let pos = 0;
  let lineNumber = 0;
  while (pos < len) {
    let end = text.indexOf('\n', pos);
    let next = end + 1;
    if (end < 0) { end = len; next = len; }
    lineNumber++;
    if (end > pos && text.charCodeAt(end - 1) === 13) end--;
    const lineStart = pos;
    pos = next;
    const c0 = text.charCodeAt(lineStart);
    if (c0 >= 48 && c0 <= 57 && only !== 6) {
      if (fastRoute(list, text, lineStart, end, lineNumber)) {
        dropping = false;
        prevFamily = 4;
        last = list.length - 1;
        lastGuessed = false;
        continue;
      }
    }
    const line = text.slice(lineStart, end);
    const n = tokenize(line);
    if (n === 0) continue;
    const first = toks[0];
    failure = '';
    unknownSeen = '';
    if (first === 'nexthop' || first === 'cache') {
      if (dropping) continue;
      if (last < 0) {
        warnings.push({ lineNumber, text: line, reason: `'${first}' line without a route before it` });
        continue;
      }
      if (first === 'nexthop') {
        const nh = readNexthop(n);
        if (nh === null) { warnings.push({ lineNumber, text: line, reason: failure }); continue; }
        const lastRoute = list.mutable(last);
        pushNexthop(lastRoute, nh);
        if (lastGuessed && nh.via !== undefined) {
          const fam = addressFamily(nh.via);
          if (fam !== 0) { setFamily(lastRoute, fam); lastGuessed = false; prevFamily = fam; }
        }
      } else {
        const lastRoute = list.mutable(last);
        pushFlag(lastRoute, 'cache');
        if (!readAttrs(lastRoute, 1, n, true)) warnings.push({ lineNumber, text: line, reason: failure });
        else if (unknownSeen) warnings.push({ lineNumber, text: line, reason: `unknown route attribute '${unknownSeen}'` });
      }
      continue;
    }
    const r = newRoute(lineNumber, line);
    dropping = false;
    let j = 0;
    if (ROUTE_TYPES.has(first)) {
      r.type = first as RouteType;
      j = 1;
    }
    if (j >= n) {
      warnings.push({ lineNumber, text: line, reason: 'route type without a destination' });
      continue;
    }
    const dstTok = toks[j++];
    let family: 0 | 4 | 6 = 0;
    if (dstTok === 'default') {
      r.dst = 'default';
    } else {
      const dst = canonicalPrefix(dstTok);
      if (dst === null) {
        warnings.push({ lineNumber, text: line, reason: `not a route: '${dstTok}' is not a destination prefix` });
        continue;
      }
      r.dst = dst;
      family = dst.indexOf(':') >= 0 ? 6 : 4;
    }
    if (!readAttrs(r, j, n, false)) {
      warnings.push({ lineNumber, text: line, reason: failure });
      continue;
    }
    let guessed = false;
    if (family === 0) {
      family = familyOfRoute(r);
      if (family === 0) {
        // After IPv6 routes (a mixed listing prints them last) a line without an address is IPv6 too.
        family = (prevFamily === 6 ? prevFamily : hint) ?? prevFamily ?? 4;
        guessed = hint === undefined;
      }
    }
    setFamily(r, family);
    if (!guessed) prevFamily = family;
    if (only !== undefined && family !== only) {
      dropping = true;
      continue;
    }
    list.addRecord(r, true);
    if (unknownSeen) warnings.push({ lineNumber, text: line, reason: `unknown route attribute '${unknownSeen}'` });
    last = list.length - 1;
    lastGuessed = guessed;
  }
  // The caches hold slices of `text`: drop them so they do not keep it alive after the parse.
  resetWords();
  if (source !== undefined) list.stampSource(source);
  return { routes: list, warnings, form: 'text' };
}


// ---- shared words --------------------------------------------------------------------------------

/**
 * A million routes name a handful of gateways, devices, tables and protocols. Each field keeps a
 * few recent values; a value equal to one of them is found in place in the text (no slice), so
 * every route shares one string instead of keeping its own copy.
 */
const WORDS_PER_FIELD = 8;

class Words {
  readonly list: string[] = [];
  private nextSlot = 0;
  /** The kept word equal to text[from, to), or undefined. */
  find(text: string, from: number, to: number): string | undefined {
    const list = this.list;
    const n = to - from;
    for (let k = 0; k < list.length; k++) {
      const w = list[k];
      if (w.length === n && text.startsWith(w, from)) return w;
    }
    return undefined;
  }
  /** Keep `w` (replacing the oldest when full) and return it. */
  add(w: string): string {
    if (this.list.length < WORDS_PER_FIELD) this.list.push(w);
    else {
      this.list[this.nextSlot] = w;
      this.nextSlot = (this.nextSlot + 1) % WORDS_PER_FIELD;
    }
    return w;
  }
  /** The shared copy of `w` (for tokens the general path already sliced). */
  get(w: string): string {
    const list = this.list;
    for (let k = 0; k < list.length; k++) if (list[k] === w) return list[k];
    return this.add(w);
  }
  reset(): void {
    this.list.length = 0;
    this.nextSlot = 0;
  }
}

const viaWords = new Words();
const devWords = new Words();
const tableWords = new Words();
const protoWords = new Words();
const scopeWords = new Words();
const srcWords = new Words();

function resetWords(): void {
  tails.length = 0;
  tailSlot = 0;
  viaWords.reset();
  devWords.reset();
  tableWords.reset();
  protoWords.reset();
  scopeWords.reset();
  srcWords.reset();
}

// ---- fast path: plain IPv4 routes, the bulk of a big table ---------------------------------------

/** The value of the dotted quad scanV4 read last (a typed array: a module variable would box it). */
const scannedV4 = new Float64Array(1);

/**
 * End of a dotted quad starting at `p` (each octet 0-255 without leading zeros), or -1; its
 * value is left in scannedV4. The character after it is not checked.
 */
function scanV4(text: string, p: number, e: number): number {
  let value = 0;
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (p >= e || text.charCodeAt(p) !== 46) return -1;
      p++;
    }
    const d0 = p < e ? text.charCodeAt(p) - 48 : -1;
    if (d0 < 0 || d0 > 9) return -1;
    p++;
    let v = d0;
    if (d0 !== 0) {
      for (let k = 0; k < 2 && p < e; k++) {
        const d = text.charCodeAt(p) - 48;
        if (d < 0 || d > 9) break;
        v = v * 10 + d;
        p++;
      }
      if (v > 255) return -1;
    }
    value = value * 256 + v;
  }
  scannedV4[0] = value;
  return p;
}

/** Offset of the next space (or `e`) from `p`; -1 when a tab, control or non-ASCII character comes first. */
function wordEnd(text: string, p: number, e: number): number {
  while (p < e) {
    const c = text.charCodeAt(p);
    if (c === 32) return p;
    if (c < 33 || c > 126) return -1;
    p++;
  }
  return p;
}

/** True when text[p, e) starts with `word` followed by one space. */
function keyword(text: string, p: number, e: number, word: string): boolean {
  const n = word.length;
  if (p + n >= e || text.charCodeAt(p + n) !== 32) return false;
  for (let k = 0; k < n; k++) if (text.charCodeAt(p + k) !== word.charCodeAt(k)) return false;
  return true;
}

/** True when text[p, e) is exactly `word` up to a space or the end. */
function bareWord(text: string, p: number, e: number, word: string): boolean {
  const n = word.length;
  if (p + n > e || (p + n < e && text.charCodeAt(p + n) !== 32)) return false;
  for (let k = 0; k < n; k++) if (text.charCodeAt(p + k) !== word.charCodeAt(k)) return false;
  return true;
}

/** The word text[p, q) as a shared string of `words`. */
function wordAt(words: Words, text: string, p: number, q: number): string {
  return words.find(text, p, q) ?? words.add(text.slice(p, q));
}

/** A tail (what a fast-path line carries after its destination) and its number in the list. */
interface Tail extends RouteTail {
  id: number;
}

/** Longest tail kept (iproute2's plain routes print well under this). */
const MAX_TAIL = 256;
const tailCodes: number[] = [];

/**
 * text[from, to) as a string of its own: `startsWith` compares a sliced string (what `slice`
 * returns for 13 characters or more) through a slow runtime path.
 */
function copyOf(text: string, from: number, to: number): string {
  tailCodes.length = to - from;
  for (let k = from; k < to; k++) tailCodes[k - from] = text.charCodeAt(k);
  return String.fromCharCode.apply(null, tailCodes);
}

/** True when text[p, p + w.length) is `w` (a plain loop: cheaper than startsWith for short words). */
function sameAt(text: string, p: number, w: string): boolean {
  for (let k = w.length - 1; k >= 0; k--) if (text.charCodeAt(p + k) !== w.charCodeAt(k)) return false;
  return true;
}

/** Recently read tails; a line whose tail equals one of them takes its values without reading it. */
const TAILS = 16;
const tails: Tail[] = [];
let tailSlot = 0;

// Attribute order of the fast path: iproute2 prints them in this order, each at most once.
const K_VIA = 1;
const K_DEV = 2;
const K_TABLE = 3;
const K_PROTO = 4;
const K_SCOPE = 5;
const K_SRC = 6;
const K_METRIC = 7;
const K_ONLINK = 8;
const K_LINKDOWN = 9;

/**
 * A plain IPv4 route in iproute2's print order, read in place from text[s, e):
 * `PREFIX [via V4] [dev D] [table T] [proto P] [scope S] [src V4] [metric N] [onlink] [linkdown]`,
 * single spaces after each keyword, ASCII words. Anything else (types, default, IPv6, other
 * keywords, another order, host bits set) returns false and takes the general path, which gives
 * the same record for the lines this one reads. A line read here is added to `list` as a plain
 * route: offsets into `text` and the number of its tail, no strings of its own.
 */
function fastRoute(list: RouteList, text: string, s: number, e: number, lineNumber: number): boolean {
  let p = scanV4(text, s, e);
  if (p < 0) return false;
  const value = scannedV4[0];
  let len = 32;
  const slashless = !(p < e && text.charCodeAt(p) === 47);
  if (!slashless) {
    // "/len": 0-32 without leading zeros.
    const d0 = p + 1 < e ? text.charCodeAt(p + 1) - 48 : -1;
    if (d0 < 0 || d0 > 9) return false;
    p += 2;
    len = d0;
    if (d0 !== 0 && p < e) {
      const d1 = text.charCodeAt(p) - 48;
      if (d1 >= 0 && d1 <= 9) {
        len = d0 * 10 + d1;
        if (len > 32) return false;
        p++;
      }
    }
    // Host bits set: the kernel never prints that; the general path keeps the text as it is.
    if (len < 32 && (value & (0xffffffff >>> len)) !== 0) return false;
  }
  // The destination as two small integers: a number above 2^30 passed to a call is boxed.
  const keyHigh = value >>> 8;
  const keyLow = (value & 255) * 64 + len;
  // Most lines of a big table end the same way as an earlier one: reuse what that one read.
  const tailLength = e - p;
  for (let k = 0; k < tails.length; k++) {
    const t = tails[k];
    if (t.text.length === tailLength && sameAt(text, p, t.text)) {
      list.addPlain(s, lineNumber, keyHigh, keyLow, t.id);
      return true;
    }
  }
  const tailStart = p;
  let via: string | undefined;
  let dev: string | undefined;
  let table = defaultTable;
  let proto: string | undefined;
  let scope: string | undefined;
  let src: string | undefined;
  let metric: number | undefined;
  let flags = NO_FLAGS;
  let stage = 0;
  while (p < e) {
    if (text.charCodeAt(p) !== 32) return false;
    while (p < e && text.charCodeAt(p) === 32) p++;
    if (p === e) break;
    let kind = 0;
    let wordLen = 0;
    switch (text.charCodeAt(p)) {
      case 118: if (keyword(text, p, e, 'via')) { kind = K_VIA; wordLen = 3; } break;
      case 100: if (keyword(text, p, e, 'dev')) { kind = K_DEV; wordLen = 3; } break;
      case 116: if (keyword(text, p, e, 'table')) { kind = K_TABLE; wordLen = 5; } break;
      case 112: if (keyword(text, p, e, 'proto')) { kind = K_PROTO; wordLen = 5; } break;
      case 115:
        if (keyword(text, p, e, 'scope')) { kind = K_SCOPE; wordLen = 5; }
        else if (keyword(text, p, e, 'src')) { kind = K_SRC; wordLen = 3; }
        break;
      case 109: if (keyword(text, p, e, 'metric')) { kind = K_METRIC; wordLen = 6; } break;
      case 111: if (bareWord(text, p, e, 'onlink')) { kind = K_ONLINK; wordLen = 6; } break;
      case 108: if (bareWord(text, p, e, 'linkdown')) { kind = K_LINKDOWN; wordLen = 8; } break;
      default: break;
    }
    if (kind <= stage) return false;
    stage = kind;
    p += wordLen;
    if (kind === K_ONLINK) { flags = FLAGS_ONLINK; continue; }
    if (kind === K_LINKDOWN) { flags = flags === FLAGS_ONLINK ? FLAGS_ONLINK_LINKDOWN : FLAGS_LINKDOWN; continue; }
    p++; // the one space after the keyword
    const v = p;
    const q = wordEnd(text, v, e);
    if (q <= v) return false;
    p = q;
    switch (kind) {
      case K_VIA: {
        via = viaWords.find(text, v, q);
        if (via === undefined) {
          if (scanV4(text, v, q) !== q) return false;
          via = viaWords.add(text.slice(v, q));
        }
        break;
      }
      case K_DEV: dev = wordAt(devWords, text, v, q); break;
      case K_TABLE: table = wordAt(tableWords, text, v, q); break;
      case K_PROTO: proto = wordAt(protoWords, text, v, q); break;
      case K_SCOPE: scope = wordAt(scopeWords, text, v, q); break;
      case K_SRC: {
        src = srcWords.find(text, v, q);
        if (src === undefined) {
          if (scanV4(text, v, q) !== q) return false;
          src = srcWords.add(text.slice(v, q));
        }
        break;
      }
      default: { // K_METRIC: 1-10 digits
        if (q - v > 10) return false;
        let m = 0;
        for (let k = v; k < q; k++) {
          const d = text.charCodeAt(k) - 48;
          if (d < 0 || d > 9) return false;
          m = m * 10 + d;
        }
        metric = m;
        break;
      }
    }
  }
  const short = e - tailStart <= MAX_TAIL;
  const tail: Tail = { text: short ? copyOf(text, tailStart, e) : '', via, dev, table, proto, scope, src, metric, flags, id: -1 };
  tail.id = list.addTail(tail);
  if (short) {
    if (tails.length < TAILS) tails.push(tail);
    else {
      tails[tailSlot] = tail;
      tailSlot = (tailSlot + 1) % TAILS;
    }
  }
  list.addPlain(s, lineNumber, keyHigh, keyLow, tail.id);
  return true;
}

/** The family a route's own addresses show (via, src, from, a nexthop's via; `pref` is IPv6 only), or 0. */
function familyOfRoute(r: RouteRecord): 0 | 4 | 6 {
  let family: 0 | 4 | 6 = 0;
  if (r.via !== undefined) family = addressFamily(r.via);
  if (family === 0 && r.src !== undefined) family = addressFamily(r.src);
  if (family === 0 && r.extra?.from !== undefined) family = addressFamily(r.extra.from.split('/')[0]);
  for (let k = 0; family === 0 && k < r.nexthops.length; k++) {
    const via = r.nexthops[k].via;
    if (via !== undefined) family = addressFamily(via);
  }
  if (family === 0 && r.pref !== undefined) family = 6;
  return family;
}

function setFamily(r: RouteRecord, family: 4 | 6): void {
  r.family = family;
  if (r.dst === 'default' || r.dst === '0.0.0.0/0' || r.dst === '::/0') r.dst = family === 4 ? '0.0.0.0/0' : '::/0';
}

/** Read `toks[j..n)` as route attributes into `r`; false (with `failure` set) on a malformed value. */
function readAttrs(r: RouteRecord, j: number, n: number, cacheLine: boolean): boolean {
  while (j < n) {
    const key = toks[j++];
    if (ROUTE_FLAGS.has(key)) { pushFlag(r, key); continue; }
    if (cacheLine && key.charCodeAt(0) === 60 && key.charCodeAt(key.length - 1) === 62) {
      setExtra(r, 'cache', key.slice(1, -1));
      continue;
    }
    if (j >= n) { failure = `'${key}' without a value`; return false; }
    const value = toks[j++];
    switch (key) {
      case 'via': {
        let addr = value;
        if (value === 'inet' || value === 'inet6') {
          if (j >= n) { failure = `'via ${value}' without an address`; return false; }
          addr = toks[j++];
        }
        if (addressFamily(addr) === 0) { failure = `gateway '${addr}' is not an address`; return false; }
        r.via = addr;
        break;
      }
      case 'dev': case 'oif': r.dev = value; break;
      case 'table': r.table = value; break;
      case 'proto': r.proto = value; break;
      case 'scope': r.scope = value; break;
      case 'src':
        if (addressFamily(value) === 0) { failure = `source '${value}' is not an address`; return false; }
        r.src = value;
        break;
      case 'metric': case 'preference': case 'priority':
        if (!isUint(value)) { failure = `metric '${value}' is not a number`; return false; }
        r.metric = Number(value);
        break;
      case 'tos': case 'dsfield': r.tos = value; break;
      case 'pref': r.pref = value; break;
      case 'expires': r.expires = value; break;
      case 'nhid':
        if (!isUint(value)) { failure = `nhid '${value}' is not a number`; return false; }
        r.nhid = Number(value);
        break;
      case 'realm': case 'realms': setExtra(r, 'realms', value); break;
      case 'mtu': {
        let v = value;
        if (v === 'lock') {
          if (j >= n) { failure = `'mtu lock' without a value`; return false; }
          v = toks[j++];
          addLock(r, 'mtu');
        }
        if (!isUint(v)) { failure = `mtu '${v}' is not a number`; return false; }
        r.mtu = Number(v);
        break;
      }
      case 'as':
        if (value === 'to') {
          if (j >= n) { failure = `'as to' without an address`; return false; }
          setExtra(r, 'as', toks[j++]);
        } else {
          setExtra(r, 'as', value);
        }
        break;
      case 'encap': {
        let e = value;
        while (j < n && !ENCAP_END.has(toks[j])) e += ' ' + toks[j++];
        setExtra(r, 'encap', e);
        break;
      }
      default:
        if (ROUTE_METRICS.has(key)) {
          let v = value;
          if (v === 'lock') {
            if (j >= n) { failure = `'${key} lock' without a value`; return false; }
            v = toks[j++];
            addLock(r, key);
          }
          setExtra(r, key, v);
        } else if (EXTRA_KEYS.has(key)) {
          setExtra(r, key, value);
        } else {
          // Unknown attribute: keep the route, record the rest of the line, warn once.
          unknownSeen = key;
          let rest = key;
          for (let k = j - 1; k < n; k++) rest += ' ' + toks[k];
          setExtra(r, 'unparsed', rest);
          return true;
        }
    }
  }
  return true;
}

/** Read a `nexthop [encap ...] [via [inet6] X] [dev D] [weight W] [flags]` line from `toks`. */
function readNexthop(n: number): Nexthop | null {
  const nh: Nexthop = { via: undefined, dev: undefined, weight: undefined, flags: NO_FLAGS };
  let j = 1;
  while (j < n) {
    const key = toks[j++];
    if (ROUTE_FLAGS.has(key)) { pushFlag(nh, key); continue; }
    if (j >= n) { failure = `nexthop '${key}' without a value`; return null; }
    const value = toks[j++];
    switch (key) {
      case 'via': {
        let addr = value;
        if ((value === 'inet' || value === 'inet6') && j < n) addr = toks[j++];
        if (addressFamily(addr) === 0) { failure = `nexthop gateway '${addr}' is not an address`; return null; }
        nh.via = addr;
        break;
      }
      case 'dev': nh.dev = value; break;
      case 'weight':
        if (!isUint(value)) { failure = `nexthop weight '${value}' is not a number`; return null; }
        nh.weight = Number(value);
        break;
      case 'realm': case 'realms': break;
      case 'as': if (value === 'to' && j < n) j++; break;
      case 'encap':
        while (j < n && toks[j] !== 'via' && toks[j] !== 'dev') j++;
        break;
      default:
        failure = `unknown nexthop attribute '${key}'`;
        return null;
    }
  }
  return nh;
}

// ---- JSON form -------------------------------------------------------------------------------

type Json = Record<string, unknown>;

function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** iproute2 prints rtt/rttvar/rto_min as "10ms" or "1.5s" in text and as milliseconds in JSON. */
function msText(v: unknown): string | undefined {
  if (typeof v !== 'number') return str(v);
  return v >= 1000 ? `${v / 1000}s` : `${v}ms`;
}

/**
 * `ip -j` prints an encap route's own dst and then the tunnel's "dst" in one object, so
 * JSON.parse keeps only the tunnel's. Recover each encap route's first dst from the raw text.
 */
function encapDsts(text: string): string[] {
  const re = /"dst"\s*:\s*"([^"]*)"\s*,\s*(?:"from"\s*:\s*"[^"]*"\s*,\s*)?(?:"nhid"\s*:\s*\d+\s*,\s*)?"encap"\s*:/g;
  const out: string[] = [];
  for (let m = re.exec(text); m !== null; m = re.exec(text)) out.push(m[1]);
  return out;
}

function parseJson(text: string, hint: 4 | 6 | undefined): ParseResult<RouteRecord> {
  const records: RouteRecord[] = [];
  const warnings: ParseWarning[] = [];
  const top = jsonArrayOf(text, 'routes');
  if ('warning' in top) {
    warnings.push(top.warning);
    return { records, warnings, form: 'json' };
  }
  const data = top.items;
  let encap: string[] | undefined;
  let encapIndex = 0;
  let prevFamily: 4 | 6 | undefined;
  for (let i = 0; i < data.length; i++) {
    const el = data[i] as unknown;
    const elText = JSON.stringify(el) ?? String(el);
    if (el === null || typeof el !== 'object' || Array.isArray(el)) {
      warnings.push({ lineNumber: i + 1, text: elText, reason: 'route is not a JSON object' });
      continue;
    }
    const o = el as Json;
    let dstText = str(o.dst);
    if (o.encap !== undefined) {
      encap ??= encapDsts(text);
      dstText = encap[encapIndex++];
    }
    if (dstText === undefined) {
      warnings.push({ lineNumber: i + 1, text: elText, reason: 'route without a dst' });
      continue;
    }
    const r = newRoute(i + 1, elText);
    const typeText = o.type === undefined ? 'unicast' : str(o.type);
    if (typeText === undefined || !ROUTE_TYPES.has(typeText)) {
      warnings.push({ lineNumber: i + 1, text: elText, reason: `unknown route type '${String(o.type)}'` });
      continue;
    }
    r.type = typeText as RouteType;
    let family: 0 | 4 | 6 = 0;
    if (dstText === 'default') {
      r.dst = 'default';
    } else {
      const dst = canonicalPrefix(dstText);
      if (dst === null) {
        warnings.push({ lineNumber: i + 1, text: elText, reason: `'${dstText}' is not a destination prefix` });
        continue;
      }
      r.dst = dst;
      family = dst.indexOf(':') >= 0 ? 6 : 4;
    }
    const reason = readJsonAttrs(r, o);
    if (reason !== '') {
      warnings.push({ lineNumber: i + 1, text: elText, reason });
      continue;
    }
    let guessed = false;
    if (family === 0) {
      if (o.family === 2 || o.family === 'inet') family = 4;
      else if (o.family === 10 || o.family === 'inet6') family = 6;
      else family = familyOfRoute(r);
      if (family === 0) {
        family = hint ?? prevFamily ?? 4;
        guessed = hint === undefined;
      }
    }
    setFamily(r, family);
    if (!guessed) prevFamily = family;
    records.push(r);
  }
  return { records, warnings, form: 'json' };
}

/** Copy iproute2's JSON keys into `r` using the text form's names; returns a reason or ''. */
function readJsonAttrs(r: RouteRecord, o: Json): string {
  const gateway = o.gateway !== undefined ? str(o.gateway) : str((o.via as Json | undefined)?.host);
  if (gateway !== undefined) {
    if (addressFamily(gateway) === 0) return `gateway '${gateway}' is not an address`;
    r.via = gateway;
  }
  r.dev = str(o.dev);
  if (o.table !== undefined) r.table = str(o.table) ?? 'main';
  r.proto = str(o.protocol);
  r.scope = str(o.scope);
  r.src = str(o.prefsrc);
  if (o.metric !== undefined) {
    if (typeof o.metric !== 'number') return `metric '${String(o.metric)}' is not a number`;
    r.metric = o.metric;
  }
  // Route tos is text ("0x10"); a number is an `encap ip` tunnel's tos printed into the same object.
  if (typeof o.tos === 'string') r.tos = o.tos;
  r.pref = str(o.pref);
  if (o.expires !== undefined) r.expires = typeof o.expires === 'number' ? `${o.expires}sec` : str(o.expires);
  if (typeof o.nhid === 'number') r.nhid = o.nhid;
  if (Array.isArray(o.flags)) for (const f of o.flags) if (typeof f === 'string') pushFlag(r, f);
  if (o.encap !== undefined) setExtra(r, 'encap', str(o.encap) ?? '');
  if (o.flow !== null && typeof o.flow === 'object') {
    const flow = o.flow as Json;
    const to = str(flow.to);
    const from = str(flow.from);
    if (to !== undefined) setExtra(r, 'realms', from !== undefined ? `${from}/${to}` : to);
  }
  if (o.as !== null && typeof o.as === 'object') {
    const to = str((o.as as Json).to);
    if (to !== undefined) setExtra(r, 'as', to);
  }
  for (const key of EXTRA_KEYS) {
    const v = key === 'mark' && typeof o.mark === 'number' ? `0x${o.mark.toString(16)}` : str(o[key]);
    if (v !== undefined) setExtra(r, key, v);
  }
  if (Array.isArray(o.metrics)) {
    for (const m of o.metrics) {
      if (m === null || typeof m !== 'object') continue;
      for (const [k, v] of Object.entries(m as Json)) {
        if (k === 'mtu') { if (typeof v === 'number') r.mtu = v; }
        else if (k === 'rtt' || k === 'rttvar' || k === 'rto_min') setExtra(r, k, msText(v) ?? '');
        else if (k === 'congestion') setExtra(r, 'congctl', str(v) ?? '');
        else if (k === 'ecn') setExtra(r, 'features', 'ecn');
        else setExtra(r, k, str(v) ?? '');
      }
    }
  }
  if (Array.isArray(o.cache)) {
    pushFlag(r, 'cache');
    const cacheFlags = o.cache.filter((f): f is string => typeof f === 'string');
    if (cacheFlags.length > 0) setExtra(r, 'cache', cacheFlags.join(','));
  }
  if (Array.isArray(o.nexthops)) {
    for (const h of o.nexthops) {
      if (h === null || typeof h !== 'object') return 'nexthop is not a JSON object';
      const hj = h as Json;
      const via = hj.gateway !== undefined ? str(hj.gateway) : str((hj.via as Json | undefined)?.host);
      if (via !== undefined && addressFamily(via) === 0) return `nexthop gateway '${via}' is not an address`;
      const nh: Nexthop = { via, dev: str(hj.dev), weight: typeof hj.weight === 'number' ? hj.weight : undefined, flags: NO_FLAGS };
      if (Array.isArray(hj.flags)) for (const f of hj.flags) if (typeof f === 'string') pushFlag(nh, f);
      pushNexthop(r, nh);
    }
  }
  return '';
}
