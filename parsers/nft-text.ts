/**
 * `nft list ruleset` and `nft -a list ruleset` TEXT (older nft without JSON, sosreports'
 * `sos_commands/nftables/nft_list_ruleset`), read into the same records as `nft -j list ruleset`
 * (parsers/nft.ts): every statement and expression becomes the libnftables JSON object nft -j
 * prints for it (`man libnftables-json`), so src/simulate/nft-eval.ts runs on either unchanged.
 * Example:
 *
 *     table inet filter { # handle 3
 *     	set blocked { # handle 4
 *     		type ipv4_addr
 *     		flags interval
 *     		elements = { 172.18.0.0/16 }
 *     	}
 *     	chain input { # handle 1
 *     		type filter hook input priority filter; policy accept;
 *     		ip saddr @blocked counter packets 0 bytes 0 drop # handle 5
 *     	}
 *     }
 *
 * `# handle N` (printed by `nft -a`) become handles; without `-a` there are none. A statement it
 * cannot translate stays in its rule as `{"unparsed": "<the rest of the line>"}`, which the
 * evaluator treats as undecided with that text quoted, plus a warning with the line number.
 * What the text does not carry: `xt` expressions (nft prints iptables-nft's matches translated
 * or not at all), so iptables-nft's tables are told by their `# Warning: table ip filter is
 * managed by iptables-nft` line or their chains named after their hooks.
 */
import type { Origin } from '../src/model/records.js';
import type { NftChain, NftSet, NftTable } from '../src/model/nft.js';
import { isIptablesNft, priorityName, ruleOf, type NftParseResult } from './nft.js';
import { guarded, splitLines, type Parser, type ParseWarning } from './types.js';

type Json = Record<string, unknown>;

interface Tok {
  /** w: word, s: quoted string, p: punctuation. */
  k: 'w' | 's' | 'p';
  v: string;
  /** Character offset in the line. */
  at: number;
}

class Fail extends Error {
  constructor(reason: string, readonly tok?: Tok) {
    super(reason);
  }
}

const PUNCT_WORDS = new Set(['.', ':', '/', '!=', '==', '<', '>', '<=', '>=', '&', '|', '^', '<<', '>>', ',']);

/** Words and quoted strings of a line; braces, parentheses and `, ` set separators apart. */
export function tokenize(line: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    const c = line[i];
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      let v = '';
      while (j < n && line[j] !== '"') {
        if (line[j] === '\\' && j + 1 < n) {
          v += line[j + 1] === '"' ? '"' : line[j] + line[j + 1];
          j += 2;
          continue;
        }
        v += line[j++];
      }
      if (j >= n) throw new Fail('a quoted string does not end');
      out.push({ k: 's', v, at: i });
      i = j + 1;
      continue;
    }
    if (c === '{' || c === '}' || c === '(' || c === ')') {
      out.push({ k: 'p', v: c, at: i });
      i++;
      continue;
    }
    let j = i;
    while (j < n && !' \t{}()"'.includes(line[j])) j++;
    let w = line.slice(i, j);
    let comma = false;
    if (w.length > 1 && w.endsWith(',')) {
      w = w.slice(0, -1);
      comma = true;
    }
    out.push({ k: PUNCT_WORDS.has(w) ? 'p' : 'w', v: w, at: i });
    if (comma) out.push({ k: 'p', v: ',', at: j - 1 });
    i = j;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Values

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const IPV6 = /^[0-9a-f:]*:[0-9a-f:.]*$/i;

function isNumber(s: string): boolean {
  return /^\d+$/.test(s) || /^0x[0-9a-f]+$/i.test(s);
}

function isAddress(s: string): boolean {
  return IPV4.test(s) || (IPV6.test(s) && s.includes(':') && !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(s));
}

/** One constant as nft -j prints it: numbers as numbers, prefixes, ranges, names as strings. */
function atom(s: string): unknown {
  if (isNumber(s)) return s.startsWith('0x') || s.startsWith('0X') ? parseInt(s, 16) : Number(s);
  if (s === 'exists') return true;
  if (s === 'missing') return false;
  const slash = s.lastIndexOf('/');
  if (slash > 0 && /^\d+$/.test(s.slice(slash + 1)) && isAddress(s.slice(0, slash))) {
    return { prefix: { addr: s.slice(0, slash), len: Number(s.slice(slash + 1)) } };
  }
  for (let k = s.indexOf('-'); k > 0; k = s.indexOf('-', k + 1)) {
    const lo = s.slice(0, k);
    const hi = s.slice(k + 1);
    if ((isNumber(lo) && isNumber(hi)) || (isAddress(lo) && isAddress(hi))) return { range: [atom(lo), atom(hi)] };
  }
  return s;
}

/**
 * Service names nft before 0.9 printed for ports without `-nn` (`tcp dport ssh`), as the numbers
 * nft -j gives (/etc/services); a name not here stays a name (undecided where it is compared).
 */
const SERVICES: Record<string, number> = {
  ftp: 21, ssh: 22, telnet: 23, smtp: 25, domain: 53, bootps: 67, bootpc: 68, tftp: 69, http: 80, kerberos: 88, pop3: 110,
  sunrpc: 111, ntp: 123, 'netbios-ns': 137, 'netbios-dgm': 138, 'netbios-ssn': 139, imap2: 143, snmp: 161, 'snmp-trap': 162, bgp: 179,
  ldap: 389, https: 443, 'microsoft-ds': 445, isakmp: 500, syslog: 514, submission: 587, ldaps: 636, imaps: 993, pop3s: 995,
  openvpn: 1194, 'ms-sql-s': 1433, l2tp: 1701, nfs: 2049, mysql: 3306, 'ipsec-nat-t': 4500, postgresql: 5432, 'http-alt': 8080,
};

/** Whether an expression reads a port (`tcp dport`, `th sport` ...). */
function isPortField(left: unknown): boolean {
  const p = (left as { payload?: { protocol?: string; field?: string } } | null)?.payload;
  return p !== undefined && (p.field === 'dport' || p.field === 'sport') && p.protocol !== undefined;
}

/** Service names in a port value (a name, a range, a set, a set's elements) as numbers. */
function portNumbers(v: unknown): unknown {
  if (typeof v === 'string') {
    if (SERVICES[v] !== undefined) return SERVICES[v];
    // A range with a name at either end: `8000-http-alt`.
    const port = (x: string): number | undefined => (/^\d+$/.test(x) ? Number(x) : SERVICES[x]);
    for (let k = v.indexOf('-'); k > 0; k = v.indexOf('-', k + 1)) {
      const [lo, hi] = [port(v.slice(0, k)), port(v.slice(k + 1))];
      if (lo !== undefined && hi !== undefined) return { range: [lo, hi] };
    }
    return v;
  }
  if (Array.isArray(v)) return v.map(portNumbers);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  if (Array.isArray(o.range)) return { range: o.range.map(portNumbers) };
  if ('set' in o) return { set: portNumbers(o.set) };
  if (o.elem !== null && typeof o.elem === 'object') return { elem: { ...(o.elem as object), val: portNumbers((o.elem as { val: unknown }).val) } };
  return v;
}

/** A verdict word as JSON, or undefined. */
function verdictJson(p: Reader): unknown {
  const t = p.peek();
  if (t?.k !== 'w') return undefined;
  if (['accept', 'drop', 'continue', 'return'].includes(t.v)) {
    p.i++;
    return { [t.v]: null };
  }
  if (t.v === 'jump' || t.v === 'goto') {
    p.i++;
    return { [t.v]: { target: p.name() } };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Expressions and statements

const PAYLOAD_PROTOCOLS = new Set([
  'ip', 'ip6', 'tcp', 'udp', 'udplite', 'sctp', 'dccp', 'icmp', 'icmpv6', 'th', 'ether', 'vlan', 'arp', 'ah', 'esp', 'comp', 'igmp', 'gre',
]);
/** Meta keys nft prints without `meta`. */
const BARE_META = new Set(['iif', 'oif', 'iifname', 'oifname', 'iifgroup', 'oifgroup']);
/** Left sides whose type is a bitmask: a bare value or a comma list is `in` (nft -j). */
const BITMASK = (left: unknown): boolean => {
  const s = JSON.stringify(left);
  return s === '{"ct":{"key":"state"}}' || s === '{"ct":{"key":"status"}}' || s === '{"payload":{"protocol":"tcp","field":"flags"}}';
};
const EXPR_START = new Set([...PAYLOAD_PROTOCOLS, ...BARE_META, 'meta', 'ct', 'fib', 'socket', 'rt']);

class Reader {
  i = 0;
  constructor(readonly toks: Tok[]) {}

  peek(k = 0): Tok | undefined {
    return this.toks[this.i + k];
  }

  isP(v: string, k = 0): boolean {
    const t = this.peek(k);
    return t?.k === 'p' && t.v === v;
  }

  isW(v: string, k = 0): boolean {
    const t = this.peek(k);
    return t?.k === 'w' && t.v === v;
  }

  next(what: string): Tok {
    const t = this.toks[this.i];
    if (t === undefined) throw new Fail(`${what} expected at the end of the line`);
    this.i++;
    return t;
  }

  word(what: string): string {
    const t = this.next(what);
    if (t.k !== 'w') throw new Fail(`${what} expected`, t);
    return t.v;
  }

  expectP(v: string): void {
    const t = this.next(`"${v}"`);
    if (t.k !== 'p' || t.v !== v) throw new Fail(`"${v}" expected`, t);
  }

  /** A chain, set or object name: a word or a quoted string. */
  name(): string {
    const t = this.next('a name');
    if (t.k === 'p') throw new Fail('a name expected', t);
    return t.v;
  }

  number(what: string): number {
    const w = this.word(what);
    if (!isNumber(w)) throw new Fail(`${what} is not a number`, this.toks[this.i - 1]);
    return Number(w);
  }

  /** A left-hand expression: payload, meta, ct, fib ..., bit operations, concatenations. */
  expr(): unknown {
    const parts = [this.binop()];
    while (this.isP('.')) {
      this.i++;
      parts.push(this.binop());
    }
    return parts.length === 1 ? parts[0] : { concat: parts };
  }

  private binop(): unknown {
    let e = this.primary();
    while (this.isP('&') || this.isP('|') || this.isP('^') || this.isP('<<') || this.isP('>>')) {
      const op = this.next('an operator').v;
      e = { [op]: [e, this.operand()] };
    }
    return e;
  }

  /** The right side of a bit operation: a value or `(a | b)`. */
  private operand(): unknown {
    if (this.isP('(')) {
      this.i++;
      const flags: unknown[] = [];
      while (!this.isP(')')) {
        const t = this.next('a flag');
        if (t.k === 'p' && t.v === '|') continue;
        flags.push(atom(t.v));
      }
      this.i++;
      return flags;
    }
    return this.value();
  }

  primary(): unknown {
    const t = this.next('an expression');
    if (t.k !== 'w') throw new Fail('an expression expected', t);
    const w = t.v;
    if (w.startsWith('@') && w.includes(',')) {
      const [base, offset, len] = w.slice(1).split(',');
      if (!isNumber(offset ?? '') || !isNumber(len ?? '')) throw new Fail('a raw payload expected', t);
      return { payload: { base, offset: Number(offset), len: Number(len) } };
    }
    if (PAYLOAD_PROTOCOLS.has(w)) {
      const f = this.peek();
      if (f?.k !== 'w' || ['option', 'exthdr', 'to'].includes(f.v)) throw new Fail(`${w} ${f?.v ?? ''}: not a payload field hostcheck reads`, t);
      this.i++;
      return { payload: { protocol: w, field: f.v } };
    }
    if (BARE_META.has(w)) return { meta: { key: w } };
    if (w === 'meta') return { meta: { key: this.word('a meta key') } };
    if (w === 'ct') {
      let dir: string | undefined;
      if (this.isW('original') || this.isW('reply')) dir = this.word('a direction');
      let key = this.word('a ct key');
      if ((key === 'ip' || key === 'ip6') && this.peek()?.k === 'w') key = `${key} ${this.word('a field')}`;
      return { ct: dir === undefined ? { key } : { key, dir } };
    }
    if (w === 'fib') {
      const flags = [this.word('a fib flag')];
      while (this.isP('.')) {
        this.i++;
        flags.push(this.word('a fib flag'));
      }
      return { fib: { result: this.word('a fib result'), flags } };
    }
    if (w === 'socket') return { socket: { key: this.word('a socket key') } };
    if (w === 'rt') {
      const family = this.isW('ip') || this.isW('ip6') ? this.word('a family') : undefined;
      const key = this.word('an rt key');
      return { rt: family === undefined ? { key } : { key, family } };
    }
    throw new Fail(`"${w}" is not an expression hostcheck reads`, t);
  }

  /** One constant: a word, a quoted string, a comma list of flags. */
  value(): unknown {
    const t = this.next('a value');
    if (t.k === 's') return t.v;
    if (t.k !== 'w') throw new Fail('a value expected', t);
    if (t.v.includes(',') && !t.v.startsWith('@')) return t.v.split(',').map(atom);
    return atom(t.v);
  }

  /** A value or a concatenation of values (`10.0.0.1 . 22`). */
  valueConcat(): unknown {
    const parts = [this.value()];
    while (this.isP('.')) {
      this.i++;
      parts.push(this.value());
    }
    return parts.length === 1 ? parts[0] : { concat: parts };
  }

  /** `{ a, b . c, d : accept }` (the `{` read): elements, map elements as [key, value]. */
  setBody(): unknown[] {
    const elems: unknown[] = [];
    while (!this.isP('}')) {
      if (this.isP(',')) {
        this.i++;
        continue;
      }
      let key = this.valueConcat();
      const opts = this.elemOptions();
      if (opts !== undefined) key = { elem: { val: key, ...opts } };
      if (this.isP(':')) {
        this.i++;
        const v = verdictJson(this) ?? this.valueConcat();
        elems.push([key, v]);
      } else elems.push(key);
      if (this.peek() === undefined) throw new Fail('a set does not end');
    }
    this.i++;
    return elems;
  }

  /** `timeout 30s expires 29s counter packets 1 bytes 2 comment "x"` after an element. */
  private elemOptions(): Json | undefined {
    let out: Json | undefined;
    for (;;) {
      if (this.isW('timeout') || this.isW('expires')) {
        const k = this.word('timeout');
        (out ??= {})[k] = seconds(this.word('a time'));
      } else if (this.isW('counter') && this.isW('packets', 1)) {
        this.i += 2;
        const packets = this.number('packets');
        if (this.isW('bytes')) this.i++;
        (out ??= {}).counter = { packets, bytes: this.number('bytes') };
      } else if (this.isW('comment')) {
        this.i++;
        (out ??= {}).comment = this.name();
      } else return out;
    }
  }

  /** The data of a set lookup, map or verdict map: `@name` or `{ ... }`. */
  data(): unknown {
    const t = this.next('a set');
    if (t.k === 'w' && t.v.startsWith('@')) return t.v;
    if (t.k === 'p' && t.v === '{') return { set: this.setBody() };
    throw new Fail('a set or map expected', t);
  }

  /** The right side of a match. */
  right(): unknown {
    if (this.isP('{')) {
      this.i++;
      return { set: this.setBody() };
    }
    const t = this.peek();
    if (t?.k === 'w' && t.v.startsWith('@') && !t.v.includes(',')) {
      this.i++;
      return t.v;
    }
    return this.valueConcat();
  }

  /** A value a statement sets: a constant, an expression, or an expression looked up in a map. */
  setValue(): unknown {
    const t = this.peek();
    if (t?.k === 'w' && (EXPR_START.has(t.v) || (t.v.startsWith('@') && t.v.includes(',')))) {
      const e = this.expr();
      if (this.isW('map')) {
        this.i++;
        return { map: { key: e, data: this.data() } };
      }
      return e;
    }
    const v = this.valueConcat();
    if (this.isP('&') || this.isP('|') || this.isP('^')) {
      const op = this.next('an operator').v;
      return { [op]: [v, this.value()] };
    }
    return v;
  }

  statement(family: string): unknown {
    const t = this.peek()!;
    if (t.k !== 'w') throw new Fail('a statement expected', t);
    const verdict = verdictJson(this);
    if (verdict !== undefined) return verdict;
    switch (t.v) {
      case 'counter': {
        this.i++;
        if (this.isW('packets')) {
          this.i++;
          const packets = this.number('packets');
          if (!this.isW('bytes')) throw new Fail('bytes expected', this.peek());
          this.i++;
          return { counter: { packets, bytes: this.number('bytes') } };
        }
        if (this.isW('name')) {
          this.i++;
          return { counter: this.name() };
        }
        return { counter: null };
      }
      case 'notrack':
        this.i++;
        return { notrack: null };
      case 'reject': {
        this.i++;
        // A bare `reject` is nft -j's port-unreachable of the table's family.
        if (!this.isW('with')) return { reject: { type: family === 'ip' ? 'icmp' : family === 'ip6' ? 'icmpv6' : 'icmpx', expr: 'port-unreachable' } };
        this.i++;
        const type = this.word('a reject type');
        if (type === 'tcp') {
          this.word('reset');
          return { reject: { type: 'tcp reset' } };
        }
        // nft before 0.9.1 printed `reject with icmp type host-unreachable`.
        if (this.isW('type')) this.i++;
        return { reject: { type, expr: this.word('a reject code') } };
      }
      case 'log': {
        this.i++;
        const o: Json = {};
        for (;;) {
          const k = this.peek();
          if (k?.k !== 'w' || !['prefix', 'level', 'flags', 'group', 'snaplen', 'queue-threshold'].includes(k.v)) break;
          this.i++;
          if (k.v === 'prefix') o.prefix = this.name();
          else if (k.v === 'level') o.level = this.word('a level');
          else if (k.v === 'flags') {
            const f = this.word('flags').split(',');
            o.flags = f.length === 1 ? f[0] : f;
          } else o[k.v] = this.number(k.v);
        }
        return { log: Object.keys(o).length === 0 ? null : o };
      }
      case 'limit': return this.limit();
      case 'quota': return this.quota();
      case 'snat': case 'dnat': return this.nat(t.v, family);
      case 'masquerade': case 'redirect': {
        this.i++;
        const o: Json = {};
        if (this.isW('to')) {
          this.i++;
          const w = this.word('a port');
          if (!w.startsWith(':')) throw new Fail('":port" expected', this.toks[this.i - 1]);
          o.port = atom(w.slice(1));
        }
        this.natFlags(o);
        return { [t.v]: Object.keys(o).length === 0 ? null : o };
      }
      case 'queue': {
        this.i++;
        const o: Json = {};
        for (;;) {
          if (this.isW('num')) {
            this.i++;
            o.num = atom(this.word('a queue number'));
          } else if (this.isW('flags') || this.isW('bypass') || this.isW('fanout')) {
            if (this.isW('flags')) this.i++;
            const f = this.word('flags').split(',');
            o.flags = f.length === 1 ? f[0] : f;
          } else break;
        }
        return { queue: Object.keys(o).length === 0 ? null : o };
      }
      case 'add': case 'update': case 'delete': {
        if (!this.peek(1)?.v.startsWith('@')) break;
        this.i++;
        const set = this.word('a set');
        this.expectP('{');
        let elem = this.expr();
        const o: Json = {};
        while (this.isW('timeout') || this.isW('expires')) {
          const k = this.word('timeout');
          o[k] = seconds(this.word('a time'));
        }
        if (Object.keys(o).length > 0) elem = { elem: { val: elem, ...o } };
        this.expectP('}');
        return { set: { op: t.v, elem, set } };
      }
      case 'xt': {
        this.i++;
        const type = this.word('match or target');
        return { xt: { type, name: this.name() } };
      }
      case 'flow': {
        this.i++;
        const op = this.isW('add') || this.isW('offload') ? this.word('add') : 'add';
        return { flow: { op: op === 'offload' ? 'add' : op, flowtable: this.word('a flowtable') } };
      }
      default:
        break;
    }
    if (!EXPR_START.has(t.v) && !(t.v.startsWith('@') && t.v.includes(','))) throw new Fail(`"${t.v}" is not a statement hostcheck reads`, t);
    const left = this.expr();
    if (this.isW('vmap')) {
      this.i++;
      const data = this.data();
      return { vmap: { key: left, data: isPortField(left) ? portNumbers(data) : data } };
    }
    if (this.isW('set')) {
      this.i++;
      return { mangle: { key: left, value: this.setValue() } };
    }
    let op: string | undefined;
    const o = this.peek();
    if (o?.k === 'p' && ['!=', '==', '<', '>', '<=', '>='].includes(o.v)) {
      op = o.v;
      this.i++;
    }
    const right = this.right();
    let l = left;
    if (this.isP('/')) {
      // `tcp flags syn / syn,ack`: the value under a mask.
      this.i++;
      const mask = this.value();
      l = { '&': [left, mask] };
    } else if (op === undefined && BITMASK(left) && (typeof right === 'string' || (Array.isArray(right) && right.every((x) => typeof x === 'string')))) {
      op = 'in';
    }
    return { match: { op: op ?? '==', left: l, right: isPortField(left) ? portNumbers(right) : right } };
  }

  private limit(): unknown {
    this.i++;
    if (this.isW('name')) {
      this.i++;
      return { limit: this.name() };
    }
    if (!this.isW('rate')) throw new Fail('rate expected', this.peek());
    this.i++;
    const o: Json = {};
    if (this.isW('over')) {
      this.i++;
      o.inv = true;
    }
    const first = this.word('a rate');
    let unit: string | undefined;
    let per: string;
    if (first.includes('/')) {
      const [rate, p] = first.split('/');
      o.rate = Number(rate);
      per = p;
    } else {
      o.rate = Number(first);
      const [u, p] = this.word('a rate unit').split('/');
      unit = u;
      per = p;
    }
    o.per = per;
    let burst: number | undefined;
    let burstUnit: string | undefined;
    if (this.isW('burst')) {
      this.i++;
      burst = this.number('burst');
      const u = this.peek();
      if (u?.k === 'w' && /^(packets|bytes|kbytes|mbytes)$/.test(u.v)) {
        this.i++;
        burstUnit = u.v;
      }
    }
    if (unit === undefined || unit === 'packets') o.burst = burst ?? 5;
    else {
      o.burst = burst ?? 0;
      o.rate_unit = unit;
      o.burst_unit = burstUnit ?? 'bytes';
    }
    return { limit: o };
  }

  private quota(): unknown {
    this.i++;
    if (this.isW('name')) {
      this.i++;
      return { quota: this.name() };
    }
    const o: Json = {};
    if (this.isW('over')) {
      this.i++;
      o.inv = true;
    } else if (this.isW('until')) this.i++;
    o.val = this.number('a quota');
    o.val_unit = this.word('a unit');
    if (this.isW('used')) {
      this.i++;
      o.used = this.number('used');
      o.used_unit = this.word('a unit');
    }
    return { quota: o };
  }

  private natFlags(o: Json): void {
    const t = this.peek();
    if (t?.k === 'w' && /^(random|fully-random|persistent|netmap|prefix)(,(random|fully-random|persistent|netmap|prefix))*$/.test(t.v)) {
      this.i++;
      o.flags = t.v.includes(',') ? t.v.split(',') : t.v;
    }
  }

  private nat(key: string, family: string): unknown {
    this.i++;
    const o: Json = {};
    if (this.isW('ip') || this.isW('ip6')) {
      // `dnat ip to ...` (inet tables); `dnat ip saddr map ...` has no `to`.
      if (this.isW('to', 1)) o.family = this.word('a family');
    }
    if (this.isW('to')) this.i++;
    const t = this.peek();
    if (t?.k === 'w' && (EXPR_START.has(t.v) || t.v.startsWith('@'))) {
      const e = this.expr();
      if (!this.isW('map')) throw new Fail('map expected', this.peek());
      this.i++;
      o.addr = { map: { key: e, data: this.data() } };
    } else if (t?.k === 'w') {
      this.i++;
      let w = t.v;
      let port: string | undefined;
      const v6 = family === 'ip6' || o.family === 'ip6';
      if (w.startsWith('[')) {
        const end = w.indexOf(']');
        if (end < 0) throw new Fail('"]" expected', t);
        port = w.slice(end + 1).startsWith(':') ? w.slice(end + 2) : undefined;
        w = w.slice(1, end);
      } else if (w.startsWith(':')) {
        port = w.slice(1);
        w = '';
      } else if (!v6 && (w.match(/:/g) ?? []).length === 1) {
        [w, port] = w.split(':');
      }
      if (w !== '') o.addr = atom(w);
      if (port !== undefined) o.port = atom(port);
    } else throw new Fail('an address expected', t);
    this.natFlags(o);
    return { [key]: o };
  }
}

/** `1h2m3s`, `29s984ms`, `30s` → whole seconds (as nft -j prints). */
function seconds(s: string): number {
  let total = 0;
  for (const m of s.matchAll(/(\d+)(ms|d|h|m|s)/g)) {
    const n = Number(m[1]);
    total += m[2] === 'd' ? n * 86400 : m[2] === 'h' ? n * 3600 : m[2] === 'm' ? n * 60 : m[2] === 's' ? n : n / 1000;
  }
  return Math.floor(total);
}

/** A rule line (its `# handle` taken off) as nft -j's rule body; `bad` says where translation stopped. */
export function ruleBody(text: string, family: string): { body: Json; bad?: { reason: string; text: string } } {
  let toks: Tok[];
  try {
    toks = tokenize(text);
  } catch (err) {
    return { body: { expr: [{ unparsed: text.trim() }] }, bad: { reason: (err as Error).message, text: text.trim() } };
  }
  const r = new Reader(toks);
  const expr: unknown[] = [];
  let comment: string | undefined;
  let bad: { reason: string; text: string } | undefined;
  while (r.peek() !== undefined) {
    if (r.isW('comment') && r.peek(1)?.k === 's' && r.peek(2) === undefined) {
      comment = r.peek(1)!.v;
      break;
    }
    const start = r.i;
    try {
      expr.push(r.statement(family));
    } catch (err) {
      if (!(err instanceof Fail)) throw err;
      const from = toks[start].at;
      // The untranslated rest, without a trailing comment (kept as the rule's).
      let rest = text.slice(from).trim();
      const c = /\s+comment\s+"((?:[^"\\]|\\.)*)"\s*$/.exec(rest);
      if (c) {
        comment = c[1];
        rest = rest.slice(0, c.index);
      }
      expr.push({ unparsed: rest });
      bad = { reason: err.message, text: rest };
      break;
    }
  }
  const body: Json = { expr };
  if (comment !== undefined) body.comment = comment;
  return bad === undefined ? { body } : { body, bad };
}

// ---------------------------------------------------------------------------------------------
// Blocks

const STANDARD_PRIORITIES: Record<string, number> = { raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100 };
const BRIDGE_PRIORITIES: Record<string, number> = { dstnat: -300, filter: -200, out: 100, srcnat: 300 };

/** `filter + 10`, `dstnat`, `-90` → a number, as nft -j prints it. */
export function priorityNumber(family: string, text: string): number | undefined {
  const m = /^\s*([a-z]+|-?\d+)\s*(?:([+-])\s*(\d+))?\s*$/.exec(text);
  if (!m) return undefined;
  const base = /^-?\d+$/.test(m[1]) ? Number(m[1]) : (family === 'bridge' ? BRIDGE_PRIORITIES : STANDARD_PRIORITIES)[m[1]];
  if (base === undefined) return undefined;
  return m[2] === undefined ? base : m[2] === '+' ? base + Number(m[3]) : base - Number(m[3]);
}

/** Datatypes of `typeof` expressions (nft -j prints the type). */
const TYPEOF: Record<string, string> = {
  'ip saddr': 'ipv4_addr', 'ip daddr': 'ipv4_addr', 'ip6 saddr': 'ipv6_addr', 'ip6 daddr': 'ipv6_addr',
  'meta iifname': 'ifname', 'meta oifname': 'ifname', iifname: 'ifname', oifname: 'ifname',
  'meta iif': 'iface_index', 'meta oif': 'iface_index', iif: 'iface_index', oif: 'iface_index',
  'meta mark': 'mark', 'ct mark': 'mark', 'ip protocol': 'inet_proto', 'meta l4proto': 'inet_proto', 'ip6 nexthdr': 'inet_proto',
  'ct state': 'ct_state', 'ether saddr': 'ether_addr', 'ether daddr': 'ether_addr', 'meta nfproto': 'nf_proto',
  'icmp type': 'icmp_type', 'icmpv6 type': 'icmpv6_type', 'ip dscp': 'dscp', 'meta pkttype': 'pkt_type',
};

function typeofType(expr: string): string {
  return expr.split(' . ').map((part) => {
    const p = part.trim();
    if (TYPEOF[p] !== undefined) return TYPEOF[p];
    if (/^(tcp|udp|th|sctp|udplite|dccp) (sport|dport)$/.test(p)) return 'inet_service';
    return p;
  }).join(' . ');
}

const HANDLE = /\s#\s*handle\s+(\d+)\s*$/;

interface Line {
  text: string;
  lineNumber: number;
}

/** Strips a trailing `# handle N` (outside quotes). */
function takeHandle(text: string): { text: string; handle?: number } {
  const m = HANDLE.exec(text);
  if (!m) return { text };
  const before = text.slice(0, m.index);
  if (((before.match(/"/g) ?? []).length & 1) === 1) return { text };
  return { text: before, handle: Number(m[1]) };
}

/** Whether a line's braces (outside quotes) are balanced. */
function braceDepth(text: string): number {
  let depth = 0;
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"' && text[i - 1] !== '\\') q = !q;
    else if (!q && c === '{') depth++;
    else if (!q && c === '}') depth--;
  }
  return depth;
}

export function parse(text: string): NftParseResult {
  return guarded(text, parseBody) as NftParseResult;
}

const OBJECT_KINDS = ['counter', 'quota', 'limit', 'flowtable', 'secmark', 'synproxy', 'ct helper', 'ct timeout', 'ct expectation'];

function parseBody(text: string): NftParseResult {
  const records: NftTable[] = [];
  const warnings: ParseWarning[] = [];
  const lines = splitLines(text);
  const managed = new Set<string>();
  let table: NftTable | undefined;
  let chain: NftChain | undefined;
  let set: NftSet | undefined;
  /** A table-level object's block being skipped to its `}`. */
  let object: { depth: number } | undefined;
  const warn = (l: Line, reason: string): void => {
    warnings.push({ lineNumber: l.lineNumber, text: l.text, reason });
  };
  const origin = (l: Line): Origin => ({ lineNumber: l.lineNumber, text: l.text.trim() });

  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n];
    const line: Line = { text: raw, lineNumber: n + 1 };
    let t = raw.trim();
    if (t === '') continue;
    if (t.startsWith('#')) {
      // iptables-nft (1.8.8+ with nft 1.0.7+) says which tables are its own.
      const m = /^#\s*Warning: table (\w+) (\S+) is managed by iptables-nft/.exec(t);
      if (m) managed.add(`${m[1]} ${m[2]}`);
      continue;
    }
    if (object !== undefined) {
      object.depth += braceDepth(t);
      if (object.depth <= 0) object = undefined;
      continue;
    }
    // A statement whose braces span lines (long element lists): joined up to its closing brace.
    // Outside chains and sets a line ending with `{` opens a block (a table, chain, set, object).
    if (braceDepth(t) > 0 && (chain !== undefined || set !== undefined || !/\{\s*(#.*)?$/.test(t))) {
      let depth = braceDepth(t);
      while (depth > 0 && n + 1 < lines.length) {
        n++;
        t += ` ${lines[n].trim()}`;
        depth += braceDepth(lines[n]);
      }
      if (depth > 0) {
        warn(line, 'a brace does not close before the end');
        continue;
      }
    }
    const { text: body, handle } = takeHandle(t);
    const stmt = body.trim();

    if (set !== undefined) {
      if (stmt === '}') {
        set = undefined;
        continue;
      }
      readSetLine(set, stmt, line, warn);
      continue;
    }
    if (chain !== undefined) {
      if (stmt === '}') {
        chain = undefined;
        continue;
      }
      if (/^type \S+ hook /.test(stmt)) {
        readChainHead(table!, chain, stmt, line, warn);
        continue;
      }
      if (/^comment "/.test(stmt)) continue;
      if (/^policy \w+;?$/.test(stmt)) {
        chain.policy = stmt.replace(/^policy (\w+);?$/, '$1');
        continue;
      }
      const { body: json, bad } = ruleBody(stmt, table!.family);
      if (bad !== undefined) warn(line, `not translated from "${bad.text}": ${bad.reason}`);
      if (handle !== undefined) json.handle = handle;
      chain.rules.push(ruleOf(json, origin(line)));
      continue;
    }
    if (table !== undefined) {
      if (stmt === '}') {
        table = undefined;
        continue;
      }
      const c = /^chain ("[^"]+"|\S+) \{\s*(.*)$/.exec(stmt);
      if (c) {
        chain = { name: c[1].replace(/^"|"$/g, ''), rules: [], origin: origin(line) };
        if (handle !== undefined) chain.handle = handle;
        table.chains.push(chain);
        // One-line forms: `chain x { type filter hook input priority 0; policy accept; }`.
        const rest = c[2].trim();
        if (rest !== '') {
          const inner = rest.replace(/\}\s*$/, '').trim();
          if (/^type \S+ hook /.test(inner)) readChainHead(table, chain, inner, line, warn);
          else if (inner !== '') warn(line, 'chain contents on its head line are not read');
          if (rest.endsWith('}')) chain = undefined;
        }
        continue;
      }
      const s = /^(set|map) ("[^"]+"|\S+) \{\s*(.*)$/.exec(stmt);
      if (s) {
        set = { kind: s[1] as 'set' | 'map', name: s[2].replace(/^"|"$/g, ''), flags: [], elements: [], origin: origin(line) };
        if (handle !== undefined) set.handle = handle;
        table.sets.push(set);
        const rest = s[3].trim();
        if (rest !== '') {
          for (const part of rest.replace(/\}\s*$/, '').split(';')) if (part.trim() !== '') readSetLine(set, part.trim(), line, warn);
          if (rest.endsWith('}')) set = undefined;
        }
        continue;
      }
      const kind = OBJECT_KINDS.find((k) => stmt.startsWith(`${k} `));
      if (kind !== undefined) {
        const m = /^(?:ct )?\S+ ("[^"]+"|\S+) \{/.exec(stmt);
        const name = m ? m[1].replace(/^"|"$/g, '') : undefined;
        const json: Json = { family: table.family, name, table: table.name };
        if (handle !== undefined) json.handle = handle;
        // The object's body lines: counters and quotas as nft -j gives them; others kept as text.
        const bodyLines: string[] = [];
        let depth = braceDepth(stmt);
        let k = n;
        while (depth > 0 && k + 1 < lines.length) {
          k++;
          depth += braceDepth(lines[k]);
          if (depth > 0) bodyLines.push(lines[k].trim());
        }
        n = k;
        const joined = bodyLines.join(' ');
        const cm = /packets (\d+) bytes (\d+)/.exec(joined);
        if (kind === 'counter' && cm) Object.assign(json, { packets: Number(cm[1]), bytes: Number(cm[2]) });
        else json.text = bodyLines;
        table.objects.push({ kind, name, json, origin: origin(line) });
        continue;
      }
      if (/^(flags|comment) /.test(stmt)) continue;
      warn(line, 'not a chain, set, map or object of the table');
      if (braceDepth(stmt) > 0) object = { depth: braceDepth(stmt) };
      continue;
    }
    const tm = /^table (ip|ip6|inet|arp|bridge|netdev) ("[^"]+"|\S+) \{$/.exec(stmt);
    if (tm) {
      table = { family: tm[1], name: tm[2].replace(/^"|"$/g, ''), managedBy: 'native', chains: [], sets: [], objects: [], origin: origin(line) };
      if (handle !== undefined) table.handle = handle;
      records.push(table);
      continue;
    }
    warn(line, 'not a table');
    if (braceDepth(stmt) > 0) object = { depth: braceDepth(stmt) };
  }
  if (table !== undefined) warnings.push({ lineNumber: lines.length, text: lines[lines.length - 1] ?? '', reason: `table ${table.family} ${table.name} does not end` });
  for (const tb of records) {
    tb.managedBy = isIptablesNft(tb, managed.has(`${tb.family} ${tb.name}`) || tb.chains.some((c) => c.rules.some((r) => r.expr.some((e) => typeof e === 'object' && e !== null && 'xt' in e)))) ? 'iptables-nft' : 'native';
  }
  return { records, warnings, form: 'text' };
}

function readChainHead(table: NftTable, chain: NftChain, stmt: string, line: Line, warn: (l: Line, reason: string) => void): void {
  const m = /^type (\S+) hook (\S+)(?: device "?([^";\s]+)"?| devices = \{[^}]*\})? priority ([^;]+);(?:\s*policy (\w+);)?/.exec(stmt);
  if (!m) {
    warn(line, 'a base chain head that is not read');
    return;
  }
  chain.type = m[1];
  chain.hook = m[2];
  if (m[3] !== undefined) chain.device = m[3];
  const prio = priorityNumber(table.family, m[4]);
  if (prio === undefined) {
    chain.priority = m[4].trim();
    warn(line, `priority "${m[4].trim()}" is not a number or a standard name`);
  } else {
    chain.priority = prio;
    const named = priorityName(table.family, prio);
    if (named !== undefined) chain.priorityName = named;
  }
  chain.policy = m[5] ?? 'accept';
}

function readSetLine(set: NftSet, stmt: string, line: Line, warn: (l: Line, reason: string) => void): void {
  const s = stmt.replace(/;\s*$/, '');
  const kv = /^(type|typeof) (.+)$/.exec(s);
  if (kv) {
    const [key, value] = s.split(' : ').length === 2 ? s.slice(kv[1].length + 1).split(' : ') : [kv[2], undefined];
    set.type = kv[1] === 'typeof' ? typeofType(key) : key.trim();
    if (value !== undefined) set.map = kv[1] === 'typeof' && value.trim() !== 'verdict' ? typeofType(value) : value.trim();
    return;
  }
  const fl = /^flags (.+)$/.exec(s);
  if (fl) {
    set.flags = fl[1].split(',').map((x) => x.trim());
    return;
  }
  const el = /^elements = \{(.*)\}$/.exec(s);
  if (el) {
    try {
      const r = new Reader(tokenize(el[1]));
      r.toks.push({ k: 'p', v: '}', at: el[1].length });
      set.elements = r.setBody();
      // `type inet_service` (alone or first of a concatenation): service names as numbers.
      if (set.type === 'inet_service') set.elements = portNumbers(set.elements) as unknown[];
    } catch (err) {
      if (!(err instanceof Fail)) throw err;
      warn(line, `elements not read: ${err.message}`);
    }
    return;
  }
  if (/^(size|timeout|gc-interval|policy|counter|auto-merge|comment)\b/.test(s)) return;
  warn(line, 'not a set attribute hostcheck reads');
}

export const parser: Parser<NftTable> = {
  name: 'nft-text',
  description: 'nft list ruleset / nft -a list ruleset (text) → the same tables, chains, rules and sets as nft -j',
  parse: (text) => parse(text),
};
