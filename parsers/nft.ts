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
import type { NftChain, NftRule, NftSet, NftTable } from '../src/model/nft.js';

export interface NftParseResult extends ParseResult<NftTable> {
  /** The `metainfo` element: nft version and JSON schema version. */
  metainfo?: { version?: string; releaseName?: string; jsonSchemaVersion?: number };
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
function priorityName(family: string, prio: number): string | undefined {
  if (family === 'bridge') {
    switch (prio) {
      case -300: return 'dstnat';
      case -200: return 'filter';
      case 0: return 'out';
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
    default:
      return key;
  }
}

export function parse(text: string): NftParseResult {
  return guarded(text, parseBody) as NftParseResult;
}

/** Line number (1-based) of a character offset, for JSON syntax errors. */
function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * The elements of `{"nftables": [ ... ]}` parsed one at a time, so a big ruleset (a kube-proxy
 * host's 40 MB) is never one JSON tree; undefined when the text is not exactly that shape (the
 * whole-document path then gives the same records, or says what is wrong).
 */
function elementsOf(text: string): unknown[] | undefined {
  const head = /^\s*\{\s*"nftables"\s*:\s*\[/.exec(text);
  if (!head) return undefined;
  const out: unknown[] = [];
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
      try {
        out.push(JSON.parse(text.slice(start, i)));
      } catch {
        return undefined;
      }
      if (text.charCodeAt(i) === 93) { i++; break; }
      i++;
    }
  }
  skipSpace();
  if (text.charCodeAt(i) !== 125) return undefined;
  i++;
  skipSpace();
  return i === n ? out : undefined;
}

function parseBody(text: string): NftParseResult {
  const records: NftTable[] = [];
  const warnings: ParseWarning[] = [];
  if (text.trim() === '') return { records, warnings, form: 'json' };
  let list = elementsOf(text);
  if (list === undefined) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      const m = /position (\d+)/.exec((err as Error).message);
      const lineNumber = m ? lineOf(text, Number(m[1])) : 1;
      const lines = text.split('\n');
      return { records, warnings: [{ lineNumber, text: lines[lineNumber - 1] ?? '', reason: `not JSON: ${(err as Error).message}` }], form: 'json' };
    }
    const l = isObject(doc) ? doc.nftables : undefined;
    if (!Array.isArray(l)) {
      const first = text.split('\n')[0];
      return { records, warnings: [{ lineNumber: 1, text: first, reason: 'no "nftables" array' }], form: 'json' };
    }
    list = l;
  }
  const tables = new Map<string, NftTable>();
  const chains = new Map<string, NftChain>();
  const xtTables = new Set<NftTable>();
  let metainfo: NftParseResult['metainfo'];

  for (let i = 0; i < list.length; i++) {
    const el = list[i];
    const origin: Origin = { lineNumber: i + 1, text: JSON.stringify(el) ?? String(el) };
    const warn = (reason: string): void => {
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
      const table: NftTable = { family, name, handle: num(body.handle), managedBy: 'native', chains: [], sets: [], objects: [], origin };
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
      const chain: NftChain = { name, handle: num(body.handle), rules: [], origin };
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
      let counters: NftRule['counters'];
      const parts: string[] = [];
      for (const e of expr) {
        parts.push(renderStatement(e));
        if (isObject(e) && isObject(e.counter)) {
          const p = num(e.counter.packets) ?? 0;
          const b = num(e.counter.bytes) ?? 0;
          counters = { packets: (counters?.packets ?? 0) + p, bytes: (counters?.bytes ?? 0) + b };
        }
        if (isObject(e) && 'xt' in e) xtTables.add(table);
      }
      const rule: NftRule = { handle: num(body.handle), expr, text: parts.join(' '), origin };
      if (typeof body.comment === 'string') rule.comment = body.comment;
      if (counters !== undefined) rule.counters = counters;
      chain.rules.push(rule);
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
        origin,
      };
      if (kind === 'map') set.map = str(body.map);
      table.sets.push(set);
      continue;
    }
    // counter, quota, ct helper, limit, flowtable, element ...: kept as JSON.
    table.objects.push({ kind, name: str(body.name), json: body, origin });
  }

  for (const table of records) table.managedBy = isIptablesNft(table, xtTables.has(table)) ? 'iptables-nft' : 'native';
  const result: NftParseResult = { records, warnings, form: 'json' };
  if (metainfo !== undefined) result.metainfo = metainfo;
  return result;
}

/** iptables-nft's tables: ip/ip6, an iptables table name, and xt statements or base chains named HOOK in capitals. */
function isIptablesNft(table: NftTable, hasXt: boolean): boolean {
  if ((table.family !== 'ip' && table.family !== 'ip6') || !IPTABLES_TABLES.has(table.name)) return false;
  if (hasXt) return true;
  const base = table.chains.filter((c) => c.hook !== undefined);
  return base.length > 0 && base.every((c) => c.name === c.hook!.toUpperCase());
}

export const parser: Parser<NftTable> = {
  name: 'nft',
  description: 'nft -j list ruleset (JSON) → tables with chains, rules and sets; iptables-nft tables marked',
  parse,
};
