/**
 * `nft -j list ruleset` output: one JSON document
 * `{"nftables": [{"metainfo": {...}}, {"table": {...}}, {"chain": {...}}, {"rule": {...}}, {"set": {...}}, ...]}`.
 * Example element: `{"chain": {"family": "inet", "table": "firewalld", "name": "filter_INPUT",
 * "handle": 1, "type": "filter", "hook": "input", "prio": 10, "policy": "accept"}}`.
 *
 * One record per table, holding its chains (with their rules, expressions kept as JSON plus a
 * short text rendering), its sets and maps, and other named objects. Each table is marked
 * `managedBy: 'iptables-nft'` (made by iptables-nft: family ip/ip6, an iptables table name, `xt`
 * expressions or chains named after their hooks in capitals) or `'native'`. An element's origin
 * is its position in the array (index + 1) and its JSON text.
 */
import { guarded, type ParseResult, type ParseWarning, type Parser } from './types.js';
import type { Origin } from '../src/model/records.js';
import type { NftChain, NftLookupRule, NftRule, NftRuleSummary, NftSet, NftTable } from '../src/model/nft.js';

export interface NftParseResult extends ParseResult<NftTable> {
  /** The `metainfo` element: nft version and JSON schema version. */
  metainfo?: { version?: string; releaseName?: string; jsonSchemaVersion?: number };
  /** With `summarizeIptablesNft`: by "family table" of iptables-nft's tables and chain name, what their rules were. */
  iptablesNftRules?: Map<string, Map<string, NftRuleSummary>>;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Standard priority names by family and number (nft(8) "PRIORITY"). */
export function priorityName(family: string, prio: number): string | undefined {
  if (family === 'bridge') {
    switch (prio) {
      case -300: return 'dstnat';
      case -200: return 'filter';
      case 100: return 'out';
      case 300: return 'srcnat';
      default: return undefined;
    }
  }
  switch (prio) {
    case -300: return 'raw';
    case -150: return 'mangle';
    case -100: return 'dstnat';
    case 0: return 'filter';
    case 50: return 'security';
    case 100: return 'srcnat';
    default: return undefined;
  }
}

const IPTABLES_TABLES = new Set(['filter', 'nat', 'mangle', 'raw', 'security']);

/** Render an expression's value the way nft's text output roughly does. */
export function renderValue(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(renderValue).join(',');
  if (!isObject(v)) return '';
  const [key] = Object.keys(v);
  const inner = v[key];
  const o = isObject(inner) ? inner : {};
  switch (key) {
    case 'payload':
      return o.protocol !== undefined ? `${renderValue(o.protocol)} ${renderValue(o.field)}` : `@${renderValue(o.base)},${renderValue(o.offset)},${renderValue(o.len)}`;
    case 'meta': {
      const k = renderValue(o.key);
      return ['iifname', 'oifname', 'iif', 'oif', 'mark', 'l4proto', 'nfproto', 'skuid', 'skgid'].includes(k) ? (k === 'l4proto' || k === 'nfproto' ? `meta ${k}` : k) : `meta ${k}`;
    }
    case 'ct':
      return `ct ${o.dir !== undefined ? `${renderValue(o.dir)} ` : ''}${renderValue(o.key)}`;
    case 'prefix':
      return `${renderValue(o.addr)}/${renderValue(o.len)}`;
    case 'range':
      return Array.isArray(inner) ? inner.map(renderValue).join('-') : '';
    case 'set':
      // A map's elements are [key, value]: `{ 80 : accept, 81 : jump web }`.
      return Array.isArray(inner) ? `{ ${inner.map((x) => (Array.isArray(x) && x.length === 2 ? `${renderValue(x[0])} : ${renderValue(x[1])}` : renderValue(x))).join(', ')} }` : renderValue(inner);
    case 'jump': case 'goto':
      return `${key} ${renderValue(o.target)}`;
    case 'concat':
      return Array.isArray(inner) ? inner.map(renderValue).join(' . ') : '';
    case '&': case '|': case '^': case '<<': case '>>':
      return Array.isArray(inner) ? inner.map(renderValue).join(` ${key} `) : '';
    case 'fib':
      return `fib ${renderValue(o.flags)} ${renderValue(o.result)}`;
    case 'socket':
      return `socket ${renderValue(o.key)}`;
    case 'rt':
      return `rt ${renderValue(o.key)}`;
    case 'elem':
      return renderValue(o.val);
    default:
      return key;
  }
}

/** Render one statement of a rule; unknown ones by their key. */
export function renderStatement(e: unknown): string {
  if (!isObject(e)) return '?';
  const [key] = Object.keys(e);
  const inner = e[key];
  const o = isObject(inner) ? inner : {};
  switch (key) {
    case 'match': {
      const op = str(o.op) ?? '==';
      // nft quotes interface names: `iifname "eth0"`.
      const left = isObject(o.left) && isObject(o.left.meta) ? str(o.left.meta.key) : undefined;
      const quoted = left !== undefined && ['iif', 'oif', 'iifname', 'oifname'].includes(left);
      const right = quoted && typeof o.right === 'string' ? `"${o.right}"` : renderValue(o.right);
      return `${renderValue(o.left)} ${op === '==' || op === 'in' ? '' : `${op} `}${right}`;
    }
    case 'counter':
      return isObject(inner) ? `counter packets ${renderValue(o.packets)} bytes ${renderValue(o.bytes)}` : `counter ${renderValue(inner)}`;
    case 'accept': case 'drop': case 'return': case 'continue': case 'notrack': case 'masquerade': case 'queue':
      return isObject(inner) && key === 'masquerade' && o.flags !== undefined ? `masquerade ${renderValue(o.flags)}` : key;
    case 'jump': case 'goto':
      return `${key} ${renderValue(o.target)}`;
    case 'snat': case 'dnat': case 'redirect': {
      const addr = o.addr !== undefined ? renderValue(o.addr) : '';
      const port = o.port !== undefined ? `:${renderValue(o.port)}` : '';
      return addr === '' && port === '' ? key : `${key} to ${addr}${port}`;
    }
    case 'reject':
      return o.type !== undefined ? `reject with ${renderValue(o.type)} ${renderValue(o.expr)}`.trimEnd() : 'reject';
    case 'log':
      return o.prefix !== undefined ? `log prefix "${renderValue(o.prefix)}"` : 'log';
    case 'limit':
      return `limit rate ${renderValue(o.rate)}/${renderValue(o.per)}`;
    case 'mangle':
      return `${renderValue(o.key)} set ${renderValue(o.value)}`;
    case 'vmap':
      return `${renderValue(o.key)} vmap ${renderValue(o.data)}`;
    case 'xt':
      return `xt ${renderValue(o.type)} ${renderValue(o.name)}`;
    case 'set':
      return `${renderValue(o.op)} @${renderValue(o.set)}`;
    case 'unparsed':
      // parsers/nft-text.ts: a statement of `nft list ruleset` text it could not translate, as printed.
      return str(inner) ?? key;
    default:
      return key;
  }
}

export function parse(text: string, opts: NftParseOptions = {}): NftParseResult {
  return guarded(text, (t) => parseBody(t, opts)) as NftParseResult;
}

/** Line number (1-based) of a character offset, for JSON syntax errors. */
function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * Where each element of `{"nftables": [ ... ]}` starts and ends, so a big ruleset (a kube-proxy
 * host's 40 MB) is never one JSON tree: each element is parsed when it is read; undefined when
 * the text is not exactly that shape (the whole-document path then gives the same records, or
 * says what is wrong).
 */
function elementSpans(text: string): { start: number[]; end: number[] } | undefined {
  const head = /^\s*\{\s*"nftables"\s*:\s*\[/.exec(text);
  if (!head) return undefined;
  const spans = { start: [] as number[], end: [] as number[] };
  let i = head[0].length;
  const n = text.length;
  const skipSpace = (): void => {
    while (i < n && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 10 || text.charCodeAt(i) === 13 || text.charCodeAt(i) === 9)) i++;
  };
  skipSpace();
  if (text.charCodeAt(i) === 93) i++;
  else {
    for (;;) {
      skipSpace();
      const start = i;
      let depth = 0;
      let inString = false;
      for (; i < n; i++) {
        const c = text.charCodeAt(i);
        if (inString) {
          if (c === 92) i++;
          else if (c === 34) inString = false;
        } else if (c === 34) inString = true;
        else if (c === 123 || c === 91) depth++;
        else if (c === 125 || c === 93) {
          if (depth === 0) break;
          depth--;
        } else if (c === 44 && depth === 0) break;
      }
      if (i >= n) return undefined;
      spans.start.push(start);
      spans.end.push(i);
      if (text.charCodeAt(i) === 93) { i++; break; }
      i++;
    }
  }
  skipSpace();
  if (text.charCodeAt(i) !== 125) return undefined;
  i++;
  skipSpace();
  return i === n ? spans : undefined;
}

/** The elements of the ruleset: parsed one by one from their spans, or taken from the whole document's array. */
interface Elements {
  length: number;
  /** Element `i`; throws on an element that is not JSON (the spans' caller then reads the whole document). */
  at(i: number): unknown;
}

class BadElement extends Error {}

function spanElements(text: string, spans: { start: number[]; end: number[] }): Elements {
  return {
    length: spans.start.length,
    at: (i) => {
      try {
        return JSON.parse(text.slice(spans.start[i], spans.end[i])) as unknown;
      } catch {
        throw new BadElement();
      }
    },
  };
}

export interface NftParseOptions {
  /**
   * Keep no records of the rules of iptables-nft's tables (their chains come with `rules: []`):
   * `iptablesNftRules` says instead how many each chain has and which look a set up. A
   * kube-proxy host's 100,000 rules are then never 100,000 JSON trees at once.
   */
  summarizeIptablesNft?: boolean;
}

/**
 * The set or map a rule's match looks up (JSON of its expressions), which iptables-save cannot
 * print: `@name` or an anonymous set on a match's right side, a map or a verdict map. An `xt`
 * expression is iptables' own. A string that merely starts with "@" elsewhere (a log prefix) is
 * not a lookup, nor is a set statement (`add @s { ... }`), which does not decide the verdict.
 */
export function setLookupOf(expr: unknown, depth = 0): string | undefined {
  if (depth > 12 || expr === null || typeof expr !== 'object') return undefined;
  if (Array.isArray(expr)) {
    for (const e of expr) {
      const found = setLookupOf(e, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  const o = expr as Record<string, unknown>;
  if ('xt' in o) return undefined;
  if ('vmap' in o) return 'a verdict map';
  if ('map' in o) return 'a map';
  const match = o.match as { right?: unknown } | undefined;
  if (match && typeof match === 'object') {
    const right = match.right;
    if (typeof right === 'string' && right.startsWith('@')) return right;
    if (right && typeof right === 'object' && 'set' in right) return 'an anonymous set';
  }
  for (const key in o) {
    if (key === 'set') continue;
    const found = setLookupOf(o[key], depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** A rule's record from its element's body (its chain known). */
export function ruleOf(body: Json, origin: Origin): NftRule {
  const expr = Array.isArray(body.expr) ? body.expr : [];
  let counters: NftRule['counters'];
  const parts: string[] = [];
  for (const e of expr) {
    parts.push(renderStatement(e));
    if (isObject(e) && isObject(e.counter)) {
      const p = num(e.counter.packets) ?? 0;
      const b = num(e.counter.bytes) ?? 0;
      counters = { packets: (counters?.packets ?? 0) + p, bytes: (counters?.bytes ?? 0) + b };
    }
  }
  const rule: NftRule = { handle: num(body.handle), expr, text: parts.join(' '), origin };
  if (typeof body.comment === 'string') rule.comment = body.comment;
  if (counters !== undefined) rule.counters = counters;
  return rule;
}

const originOf = (el: unknown, i: number): Origin => ({ lineNumber: i + 1, text: JSON.stringify(el) ?? String(el) });

/**
 * Rules of a chain whose table may turn out iptables-nft's (known only once every element is
 * read): by element index, with what a set-looking rule is already read for.
 */
type Pending = (number | { index: number; lookup: NftLookupRule })[];

function parseBody(text: string, opts: NftParseOptions): NftParseResult {
  const records: NftTable[] = [];
  const warnings: ParseWarning[] = [];
  if (text.trim() === '') return { records, warnings, form: 'json' };
  const spans = elementSpans(text);
  if (spans !== undefined) {
    try {
      return build(spanElements(text, spans), opts);
    } catch (err) {
      if (!(err instanceof BadElement)) throw err;
    }
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const m = /position (\d+)/.exec((err as Error).message);
    const lineNumber = m ? lineOf(text, Number(m[1])) : 1;
    const lines = text.split('\n');
    return { records, warnings: [{ lineNumber, text: lines[lineNumber - 1] ?? '', reason: `not JSON: ${(err as Error).message}` }], form: 'json' };
  }
  const list = isObject(doc) ? doc.nftables : undefined;
  if (!Array.isArray(list)) {
    const first = text.split('\n')[0];
    return { records, warnings: [{ lineNumber: 1, text: first, reason: 'no "nftables" array' }], form: 'json' };
  }
  return build({ length: list.length, at: (i) => list[i] as unknown }, opts);
}

function build(list: Elements, opts: NftParseOptions): NftParseResult {
  const records: NftTable[] = [];
  const warnings: ParseWarning[] = [];
  const tables = new Map<string, NftTable>();
  const chains = new Map<string, NftChain>();
  const xtTables = new Set<NftTable>();
  const pending = new Map<NftChain, Pending>();
  let metainfo: NftParseResult['metainfo'];

  for (let i = 0; i < list.length; i++) {
    const el = list.at(i);
    const warn = (reason: string): void => {
      const origin = originOf(el, i);
      warnings.push({ lineNumber: origin.lineNumber, text: origin.text, reason });
    };
    if (!isObject(el)) {
      warn('element is not an object');
      continue;
    }
    const keys = Object.keys(el);
    if (keys.length !== 1 || !isObject(el[keys[0]])) {
      warn('element is not {kind: {...}}');
      continue;
    }
    const kind = keys[0];
    const body = el[kind] as Json;
    if (kind === 'metainfo') {
      metainfo = { version: str(body.version), releaseName: str(body.release_name), jsonSchemaVersion: num(body.json_schema_version) };
      continue;
    }
    const family = str(body.family);
    if (kind === 'table') {
      const name = str(body.name);
      if (family === undefined || name === undefined) {
        warn('table without family or name');
        continue;
      }
      const table: NftTable = { family, name, handle: num(body.handle), managedBy: 'native', chains: [], sets: [], objects: [], origin: originOf(el, i) };
      tables.set(`${family} ${name}`, table);
      records.push(table);
      continue;
    }
    const tableName = str(body.table);
    const table = family !== undefined && tableName !== undefined ? tables.get(`${family} ${tableName}`) : undefined;
    if (table === undefined) {
      warn(`${kind} of an unknown table`);
      continue;
    }
    if (kind === 'chain') {
      const name = str(body.name);
      if (name === undefined) {
        warn('chain without name');
        continue;
      }
      const chain: NftChain = { name, handle: num(body.handle), rules: [], origin: originOf(el, i) };
      if (body.type !== undefined) chain.type = str(body.type);
      if (body.hook !== undefined) chain.hook = str(body.hook);
      const prio = body.prio;
      if (typeof prio === 'number' || typeof prio === 'string') {
        chain.priority = prio;
        const named = typeof prio === 'number' ? priorityName(table.family, prio) : undefined;
        if (named !== undefined) chain.priorityName = named;
      }
      if (body.policy !== undefined) chain.policy = str(body.policy);
      if (body.dev !== undefined) chain.device = str(body.dev);
      table.chains.push(chain);
      chains.set(`${family} ${tableName} ${name}`, chain);
      continue;
    }
    if (kind === 'rule') {
      const chain = chains.get(`${family} ${tableName} ${str(body.chain)}`);
      if (chain === undefined) {
        warn('rule of an unknown chain');
        continue;
      }
      const expr = Array.isArray(body.expr) ? body.expr : [];
      for (const e of expr) if (isObject(e) && 'xt' in e) xtTables.add(table);
      if (!opts.summarizeIptablesNft || !mayBeIptablesNft(table)) {
        chain.rules.push(ruleOf(body, originOf(el, i)));
        continue;
      }
      let list = pending.get(chain);
      if (!list) pending.set(chain, (list = []));
      const set = setLookupOf(expr);
      list.push(set === undefined ? i : { index: i, lookup: { set, text: ruleOf(body, originOf(el, i)).text, origin: originOf(el, i) } });
      continue;
    }
    if (kind === 'set' || kind === 'map') {
      const name = str(body.name);
      if (name === undefined) {
        warn(`${kind} without name`);
        continue;
      }
      const set: NftSet = {
        kind,
        name,
        handle: num(body.handle),
        type: Array.isArray(body.type) ? body.type.map(renderValue).join(' . ') : str(body.type),
        flags: Array.isArray(body.flags) ? body.flags.map(renderValue) : typeof body.flags === 'string' ? [body.flags] : [],
        elements: Array.isArray(body.elem) ? body.elem : [],
        origin: originOf(el, i),
      };
      if (kind === 'map') set.map = str(body.map);
      table.sets.push(set);
      continue;
    }
    // counter, quota, ct helper, limit, flowtable, element ...: kept as JSON.
    table.objects.push({ kind, name: str(body.name), json: body, origin: originOf(el, i) });
  }

  for (const table of records) table.managedBy = isIptablesNft(table, xtTables.has(table)) ? 'iptables-nft' : 'native';
  const result: NftParseResult = { records, warnings, form: 'json' };
  if (opts.summarizeIptablesNft) result.iptablesNftRules = settle(records, pending, list);
  if (metainfo !== undefined) result.metainfo = metainfo;
  return result;
}

/**
 * The pending rules once each table's maker is known: an iptables-nft table's chains get their
 * summary, a native one's (an `ip filter` made with nft) their records, read again.
 */
function settle(records: NftTable[], pending: Map<NftChain, Pending>, list: Elements): NonNullable<NftParseResult['iptablesNftRules']> {
  const out: NonNullable<NftParseResult['iptablesNftRules']> = new Map();
  for (const table of records) {
    if (table.managedBy === 'iptables-nft') {
      const summaries = new Map<string, NftRuleSummary>();
      for (const chain of table.chains) {
        const rules = pending.get(chain) ?? [];
        const lookups = new Map<number, NftLookupRule>();
        rules.forEach((r, k) => typeof r !== 'number' && lookups.set(k, r.lookup));
        summaries.set(chain.name, { count: rules.length, lookups });
      }
      out.set(`${table.family} ${table.name}`, summaries);
      continue;
    }
    for (const chain of table.chains) {
      for (const r of pending.get(chain) ?? []) {
        const i = typeof r === 'number' ? r : r.index;
        const el = list.at(i) as Json;
        chain.rules.push(ruleOf(el.rule as Json, originOf(el, i)));
      }
    }
  }
  return out;
}

/** Only these can be iptables-nft's (isIptablesNft decides once the whole ruleset is read). */
function mayBeIptablesNft(table: NftTable): boolean {
  return (table.family === 'ip' || table.family === 'ip6') && IPTABLES_TABLES.has(table.name);
}

/** iptables-nft's tables: ip/ip6, an iptables table name, and xt statements or base chains named HOOK in capitals. */
export function isIptablesNft(table: NftTable, hasXt: boolean): boolean {
  if ((table.family !== 'ip' && table.family !== 'ip6') || !IPTABLES_TABLES.has(table.name)) return false;
  if (hasXt) return true;
  const base = table.chains.filter((c) => c.hook !== undefined);
  return base.length > 0 && base.every((c) => c.name === c.hook!.toUpperCase());
}

export const parser: Parser<NftTable> = {
  name: 'nft',
  description: 'nft -j list ruleset (JSON) → tables with chains, rules and sets; iptables-nft tables marked',
  parse: (text) => parse(text),
};
