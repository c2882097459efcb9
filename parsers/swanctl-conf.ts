/**
 * strongSwan's `/etc/swanctl/swanctl.conf` (the vici configuration `swanctl --load-conns` reads):
 * nested sections of `key = value` settings. What hostcheck reads is each CHILD_SA's traffic
 * selectors, the "interesting traffic" an IPsec connection protects:
 *
 *     connections {
 *         vpc-to-cloud {
 *             local_addrs = 10.100.1.18
 *             remote_addrs = 198.51.100.2
 *             children {
 *                 net {
 *                     local_ts = 10.16.0.0/16
 *                     remote_ts = 10.200.0.0/20
 *                 }
 *             }
 *         }
 *     }
 *
 * One record per child (connection + child name, local/remote addresses, local_ts/remote_ts
 * with the lines that set them). `secrets` and every other setting are skipped and never kept;
 * `include` cannot be followed by a pure parser and is a warning.
 */
import { formatPrefix, parsePrefix } from '../src/net/address.js';
import { guarded, splitLines, type ParseResult, type ParseWarning, type Parser } from './types.js';
import type { Origin } from '../src/model/records.js';
import type { IpsecConnectionRecord } from '../src/model/ipsec.js';

interface Section {
  name: string;
  lineNumber: number;
  text: string;
}

interface ChildDraft {
  rec: IpsecConnectionRecord;
  conn: ConnDraft;
}

interface ConnDraft {
  name: string;
  localAddrs: string[];
  remoteAddrs: string[];
  origin: Origin;
  children: ChildDraft[];
}

/** Strip a `#` comment outside double quotes. */
function stripComment(line: string): string {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"' && line[i - 1] !== '\\') quoted = !quoted;
    else if (c === '#' && !quoted) return line.slice(0, i);
  }
  return line;
}

function unquote(v: string): string {
  const t = v.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1).replace(/\\(.)/g, '$1') : t;
}

/** Comma- or space-separated list, as swanctl and ipsec.conf both allow. */
export function splitList(v: string): string[] {
  return unquote(v).split(/[\s,]+/).filter((x) => x.length > 0);
}

/**
 * A traffic selector in canonical form: a CIDR or address becomes "a.b.c.d/len"; `dynamic`,
 * ranges and `cidr[proto/port]` stay as written; null when it names an impossible address.
 */
export function canonicalSelector(s: string): string | null {
  if (s === 'dynamic' || s === '%dynamic') return 'dynamic';
  const bracket = s.indexOf('[');
  const base = bracket >= 0 ? s.slice(0, bracket) : s;
  if (base.includes('-')) {
    const [a, b] = base.split('-');
    return a && b && parsePrefix(a, a.includes(':') ? 6 : 4, true) && parsePrefix(b, b.includes(':') ? 6 : 4, true) ? s : null;
  }
  if (base === '' && bracket >= 0) return s;
  const family = base.includes(':') ? 6 : 4;
  const withLen = base.includes('/') ? base : `${base}/${family === 4 ? 32 : 128}`;
  const p = parsePrefix(withLen, family, true);
  if (!p) return null;
  // strongSwan masks host bits itself (10.16.1.0/16 is 10.16.0.0/16).
  const text = formatPrefix(maskBits(p));
  return bracket >= 0 ? `${text}${s.slice(bracket)}` : text;
}

function maskBits(p: NonNullable<ReturnType<typeof parsePrefix>>): NonNullable<ReturnType<typeof parsePrefix>> {
  if (p.family === 4) return { ...p, value: p.len === 0 ? 0 : (p.value & (0xffffffff << (32 - p.len))) >>> 0 };
  const mask = p.len === 0 ? 0n : ((1n << BigInt(p.len)) - 1n) << BigInt(128 - p.len);
  return { ...p, value: p.value & mask };
}

/** Canonical selectors of a list; unreadable entries are returned apart for one warning. */
export function selectorList(v: string): { ts: string[]; bad: string[] } {
  const ts: string[] = [];
  const bad: string[] = [];
  for (const item of splitList(v)) {
    const c = canonicalSelector(item);
    if (c === null) bad.push(item);
    else ts.push(c);
  }
  return { ts, bad };
}

const BRACE_OPEN = 0x7b;
const BRACE_CLOSE = 0x7d;
/** `name {` or `name : template {` at the cursor (sticky: it never scans ahead). */
const SECTION_OPEN = /([^\s{}=:]+)\s*(?::[^{}=]*)?\{/y;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0b || c === 0x0c;
}

function skipSpaces(s: string, from: number, end: number): number {
  while (from < end && isSpace(s.charCodeAt(from))) from++;
  return from;
}

function trimmedEnd(s: string): number {
  let end = s.length;
  while (end > 0 && isSpace(s.charCodeAt(end - 1))) end--;
  return end;
}

/** `value } }` → the value and how many sections the braces close, in one pass from the end. */
function trailingBraces(value: string): { value: string; closes: number } {
  let end = value.length;
  let closes = 0;
  for (;;) {
    let e = end;
    while (e > 0 && isSpace(value.charCodeAt(e - 1))) e--;
    if (e > 0 && value.charCodeAt(e - 1) === BRACE_CLOSE) {
      closes++;
      end = e - 1;
    } else break;
  }
  return { value: value.slice(0, end).trimEnd(), closes };
}

function parseSwanctl(text: string): ParseResult<IpsecConnectionRecord> {
  const records: IpsecConnectionRecord[] = [];
  const warnings: ParseWarning[] = [];
  const stack: Section[] = [];
  const conns: ConnDraft[] = [];
  let conn: ConnDraft | undefined;
  let child: ChildDraft | undefined;
  // A section name on its own line, opened by `{` on the next.
  let pendingName: Section | undefined;
  const lines = splitLines(text);
  // Only the first levels matter (connections > NAME > children > CHILD): checked by index, not
  // by building the path, so deep nesting stays linear.
  const inConnections = (): boolean => stack.length >= 2 && stack[0].name === 'connections';
  const open = (s: Section): void => {
    stack.push(s);
    if (stack.length === 2 && stack[0].name === 'connections') {
      conn = { name: s.name, localAddrs: [], remoteAddrs: [], origin: { lineNumber: s.lineNumber, text: s.text }, children: [] };
      conns.push(conn);
    } else if (stack.length === 4 && inConnections() && stack[2].name === 'children' && conn) {
      child = {
        conn,
        rec: {
          format: 'swanctl-conf', connection: conn.name, child: s.name, localAddrs: [], remoteAddrs: [],
          localTs: ['dynamic'], remoteTs: ['dynamic'], sidesByConvention: false, origin: { lineNumber: s.lineNumber, text: s.text },
        },
      };
      conn.children.push(child);
    }
  };
  const close = (lineNumber: number, line: string): void => {
    const s = stack.pop();
    if (!s) {
      warnings.push({ lineNumber, text: line, reason: 'closing brace without an open section' });
      return;
    }
    if (stack.length === 3) child = undefined;
    if (stack.length === 1) conn = undefined;
  };
  const setting = (key: string, value: string, origin: Origin): string | null => {
    if (stack.length === 2 && inConnections() && conn) {
      if (key === 'local_addrs') conn.localAddrs = splitList(value);
      else if (key === 'remote_addrs') conn.remoteAddrs = splitList(value);
      return null;
    }
    if (stack.length === 4 && child) {
      if (key === 'local_ts' || key === 'remote_ts') {
        const { ts, bad } = selectorList(value);
        if (key === 'local_ts') { child.rec.localTs = ts; child.rec.localTsOrigin = origin; } else { child.rec.remoteTs = ts; child.rec.remoteTsOrigin = origin; }
        if (bad.length > 0) return `unreadable traffic selector ${bad.join(', ')}`;
      } else if (key === 'start_action') child.rec.start = unquote(value);
      return null;
    }
    return null;
  };
  for (let n = 0; n < lines.length; n++) {
    const lineNumber = n + 1;
    const raw = lines[n];
    const line = stripComment(raw);
    const end = trimmedEnd(line);
    let pos = skipSpaces(line, 0, end);
    if (pos === end) continue;
    if (pendingName && line.charCodeAt(pos) !== BRACE_OPEN) {
      warnings.push({ lineNumber: pendingName.lineNumber, text: pendingName.text, reason: 'a name without "=" or "{"' });
      pendingName = undefined;
    }
    if (pendingName) {
      open(pendingName);
      pendingName = undefined;
      pos = skipSpaces(line, pos + 1, end);
      if (pos === end) continue;
    }
    // A line may close and open sections and hold a setting: `} }`, `a { b { key = value } }`.
    // The line is read with a cursor (no slice per step), so `a { a { ...` stays linear.
    while (pos < end) {
      if (line.charCodeAt(pos) === BRACE_CLOSE) {
        close(lineNumber, raw);
        pos = skipSpaces(line, pos + 1, end);
        continue;
      }
      if (line.startsWith('include', pos) && (pos + 7 === end || /\s/.test(line[pos + 7]))) {
        warnings.push({ lineNumber, text: raw, reason: `include not followed (${line.slice(pos + 7, end).trim() || 'no file'}): its connections are not read` });
        break;
      }
      SECTION_OPEN.lastIndex = pos;
      const opened = SECTION_OPEN.exec(line);
      if (opened && SECTION_OPEN.lastIndex <= end) {
        open({ name: opened[1], lineNumber, text: raw });
        pos = skipSpaces(line, SECTION_OPEN.lastIndex, end);
        continue;
      }
      const rest = line.slice(pos, end);
      const eq = rest.indexOf('=');
      if (eq > 0) {
        const key = rest.slice(0, eq).trim();
        let value = rest.slice(eq + 1).trim();
        // Closing braces after a value on the same line (`a { key = value }`).
        let closes = 0;
        if (value.startsWith('"')) {
          let q = 1;
          while (q < value.length && !(value[q] === '"' && value[q - 1] !== '\\')) q++;
          const tail = value.slice(q + 1);
          if (/^[\s}]*$/.test(tail)) { closes = tail.split('}').length - 1; value = value.slice(0, q + 1); }
        } else {
          const kept = trailingBraces(value);
          closes = kept.closes;
          value = kept.value;
        }
        if (!/^[^\s{}]+$/.test(key)) warnings.push({ lineNumber, text: raw, reason: 'bad key' });
        else {
          const reason = setting(key, value, { lineNumber, text: raw });
          if (reason) warnings.push({ lineNumber, text: raw, reason });
        }
        for (let i = 0; i < closes; i++) close(lineNumber, raw);
        break;
      }
      if (/^[^\s{}=]+(\s*:[^{}=]*)?$/.test(rest)) {
        pendingName = { name: rest.split(':')[0].trim(), lineNumber, text: raw };
        break;
      }
      warnings.push({ lineNumber, text: raw, reason: 'expected key = value, "name {" or "}"' });
      break;
    }
  }
  if (pendingName) warnings.push({ lineNumber: pendingName.lineNumber, text: pendingName.text, reason: 'a name without "=" or "{"' });
  if (stack.length > 0) {
    const s = stack[stack.length - 1];
    warnings.push({ lineNumber: s.lineNumber, text: s.text, reason: `section "${s.name}" is never closed` });
  }
  for (const c of conns) {
    for (const ch of c.children) records.push({ ...ch.rec, localAddrs: c.localAddrs, remoteAddrs: c.remoteAddrs });
  }
  warnings.sort((a, b) => a.lineNumber - b.lineNumber);
  return { records, warnings };
}

/** Parse swanctl.conf text: one record per connection child. */
export function parse(text: string): ParseResult<IpsecConnectionRecord> {
  return guarded(text, parseSwanctl);
}

export const parser: Parser<IpsecConnectionRecord> = {
  name: 'swanctl-conf',
  description: "strongSwan /etc/swanctl/swanctl.conf: each connection child's local_ts/remote_ts and addresses",
  parse,
};
