/**
 * `ipset save` output (and `ipset list`).
 *
 * Save form: `create NAME TYPE [options]` then `add NAME MEMBER [options]`, e.g.
 * `create kube-svc hash:ip,port family inet hashsize 1024 maxelem 65536` and
 * `add kube-svc 10.96.0.10,udp:53 timeout 300`.
 * List form: blocks of `Name:`, `Type:`, `Revision:`, `Header: family inet hashsize 1024 ...`,
 * `Size in memory:`, `References:`, `Number of entries:`, `Members:` and one member a line.
 *
 * One record per set: name, type, family, options, members (text, options, and the member split
 * along the type's dimensions where it reads: address/prefix, port with protocol, interface, mac ...).
 */
import { guarded, splitLines, type ParseResult, type ParseWarning, type Parser } from './types.js';
import type { IpsetMember, IpsetPart, IpsetSet } from '../src/model/ipset.js';

const FLAGS = new Set(['counters', 'comment', 'skbinfo', 'forceadd', 'nomatch', 'bucketsize-auto']);

/** Read `key value` pairs and flags; `comment "a b"` keeps its quoted text. */
function readOptions(words: string[], from: number): Record<string, string | true> | string {
  const out: Record<string, string | true> = {};
  for (let i = from; i < words.length; i++) {
    const k = words[i];
    if (FLAGS.has(k) && (k !== 'comment' || i + 1 >= words.length || !words[i + 1].startsWith('"'))) {
      out[k] = true;
      continue;
    }
    if (i + 1 >= words.length) return `option ${k} needs a value`;
    out[k] = words[++i];
  }
  return out;
}

/** Split on blanks; "..." keeps blanks (comments), quotes kept so options can tell. */
function words(line: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
    if (i >= n) break;
    if (line.charCodeAt(i) === 34) {
      const end = line.indexOf('"', i + 1);
      if (end < 0) return null;
      out.push(line.slice(i, end + 1));
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < n && line.charCodeAt(j) !== 32 && line.charCodeAt(j) !== 9) j++;
    out.push(line.slice(i, j));
    i = j;
  }
  return out;
}

function unquote(v: string | true): string | true {
  return typeof v === 'string' && v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

/** Parse one dimension by the type's word for it (ip, net, port, iface, mac, mark, set). */
function readPart(dim: string, s: string): IpsetPart | null {
  if (s.length === 0) return null;
  switch (dim) {
    case 'ip':
    case 'net':
      // Addresses, prefixes and ranges; a digit or hex/colon start is enough here.
      return /^[0-9a-fA-F:.]+(\/\d{1,3})?(-[0-9a-fA-F:.]+)?$/.test(s) ? { kind: dim, value: s } : null;
    case 'port': {
      const colon = s.indexOf(':');
      const proto = colon >= 0 ? s.slice(0, colon) : undefined;
      const port = colon >= 0 ? s.slice(colon + 1) : s;
      if (port.length === 0 || (proto !== undefined && proto.length === 0)) return null;
      return proto !== undefined ? { kind: 'port', proto, port } : { kind: 'port', port };
    }
    case 'iface':
      return s.startsWith('physdev:') ? { kind: 'iface', value: s.slice(8), physdev: true } : { kind: 'iface', value: s, physdev: false };
    case 'mac':
      return /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s) ? { kind: 'mac', value: s } : null;
    case 'mark':
      return { kind: 'mark', value: s };
    case 'set':
      return { kind: 'set', value: s };
    default:
      return null;
  }
}

function readMember(type: string, text: string): IpsetPart[] | undefined {
  const colon = type.indexOf(':');
  if (colon < 0) return undefined;
  const dims = type.slice(colon + 1).split(',');
  const values = text.split(',');
  if (dims.length !== values.length) return undefined;
  const parts: IpsetPart[] = [];
  for (let i = 0; i < dims.length; i++) {
    const p = readPart(dims[i], values[i]);
    if (p === null) return undefined;
    parts.push(p);
  }
  return parts;
}

function familyFor(type: string, options: Record<string, string | true>): 'inet' | 'inet6' | undefined {
  const f = options.family;
  if (f === 'inet6') return 'inet6';
  if (f === 'inet') return 'inet';
  return type.includes('ip') || type.includes('net') ? 'inet' : undefined;
}

export function parse(text: string): ParseResult<IpsetSet> {
  return guarded(text, parseBody);
}

function parseBody(text: string): ParseResult<IpsetSet> {
  const lines = splitLines(text);
  const records: IpsetSet[] = [];
  const warnings: ParseWarning[] = [];
  const byName = new Map<string, IpsetSet>();
  let sawSave = false;
  let sawList = false;
  // List form state: the block being read, and whether its Members: line was seen.
  let block: IpsetSet | null = null;
  let inMembers = false;

  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln];
    const lineNumber = ln + 1;
    const trimmed = line.trim();
    const warn = (reason: string): void => {
      warnings.push({ lineNumber, text: line, reason });
    };
    if (trimmed === '') {
      inMembers = false;
      continue;
    }
    if (trimmed.startsWith('Name: ')) {
      sawList = true;
      inMembers = false;
      const name = trimmed.slice(6).trim();
      block = { name, type: '', options: {}, members: [], origin: { lineNumber, text: line } };
      records.push(block);
      byName.set(name, block);
      continue;
    }
    if (block !== null && inMembers) {
      const w = words(trimmed);
      if (w === null || w.length === 0) {
        warn('unterminated quote in member');
        continue;
      }
      const opts = readOptions(w, 1);
      if (typeof opts === 'string') {
        warn(opts);
        continue;
      }
      block.members.push(member(block.type, w[0], opts, lineNumber));
      continue;
    }
    if (block !== null && !inMembers) {
      const colon = trimmed.indexOf(':');
      const key = colon > 0 ? trimmed.slice(0, colon) : '';
      const value = colon > 0 ? trimmed.slice(colon + 1).trim() : '';
      switch (key) {
        case 'Type': block.type = value; block.family = familyFor(value, block.options); continue;
        case 'Revision': block.revision = Number(value); continue;
        case 'References': block.references = Number(value); continue;
        case 'Size in memory': case 'Number of entries': continue;
        case 'Members': inMembers = true; continue;
        case 'Header': {
          const w = words(value);
          const opts = w === null ? 'unterminated quote' : readOptions(w, 0);
          if (typeof opts === 'string') {
            warn(opts);
            continue;
          }
          block.options = opts;
          block.family = familyFor(block.type, opts);
          continue;
        }
        default:
          break;
      }
    }
    const w = words(trimmed);
    if (w === null) {
      warn('unterminated quote');
      continue;
    }
    if (w[0] === 'create' || w[0] === '-N') {
      if (w.length < 3) {
        warn('create needs a name and a type');
        continue;
      }
      const opts = readOptions(w, 3);
      if (typeof opts === 'string' || w[2].indexOf(':') < 0) {
        warn(typeof opts === 'string' ? opts : `unknown set type ${w[2]}`);
        continue;
      }
      sawSave = true;
      block = null;
      const set: IpsetSet = { name: w[1], type: w[2], options: opts, members: [], origin: { lineNumber, text: line } };
      const family = familyFor(w[2], opts);
      if (family !== undefined) set.family = family;
      records.push(set);
      byName.set(w[1], set);
      continue;
    }
    if (w[0] === 'add' || w[0] === '-A') {
      const set = w.length >= 3 ? byName.get(w[1]) : undefined;
      if (set === undefined) {
        warn(w.length < 3 ? 'add needs a set and a member' : `add to a set not created: ${w[1]}`);
        continue;
      }
      const opts = readOptions(w, 3);
      if (typeof opts === 'string') {
        warn(opts);
        continue;
      }
      sawSave = true;
      set.members.push(member(set.type, w[2], opts, lineNumber));
      continue;
    }
    warn('not an ipset line');
  }
  return { records, warnings, form: sawList && !sawSave ? 'list' : 'save' };
}

function member(type: string, text: string, opts: Record<string, string | true>, lineNumber: number): IpsetMember {
  const m: IpsetMember = { text, lineNumber };
  const parts = readMember(type, text);
  if (parts !== undefined) m.parts = parts;
  const keys = Object.keys(opts);
  if (keys.length > 0) {
    for (const k of keys) opts[k] = unquote(opts[k]);
    m.options = opts;
  }
  return m;
}

export const parser: Parser<IpsetSet> = {
  name: 'ipset',
  description: 'ipset save (or ipset list) → sets with type, family, options and members',
  parse,
};
