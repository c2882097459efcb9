/**
 * `/etc/ipsec.conf` of strongSwan (stroke, `ipsec start`) and libreswan: `config setup` and
 * `conn NAME` sections at column 0, indented `key=value` lines below them.
 *
 *     conn vpc-to-cloud
 *         left=10.100.1.18
 *         leftsubnet=10.16.0.0/16
 *         right=198.51.100.2
 *         rightsubnet=10.200.0.0/20
 *         auto=start
 *
 * One record per `conn` (not `%default`) with left/right addresses and subnets, after applying
 * `conn %default` and `also=` (followed within this file). `leftsubnets={a b}` (libreswan) is
 * read like `leftsubnet=a,b`. By convention left is local; which side really is local the
 * daemon decides by matching the host's addresses, so records say `sidesByConvention`.
 * Secrets (`ipsec.secrets`) are another file and never read.
 */
import { selectorList, splitList } from './swanctl-conf.js';
import type { IpsecConnectionRecord } from '../src/model/ipsec.js';
import { guarded, splitLines, type ParseResult, type ParseWarning, type Parser } from './types.js';
import type { Origin } from '../src/model/records.js';

interface Setting {
  value: string;
  origin: Origin;
}

interface ConnSection {
  name: string;
  origin: Origin;
  settings: Map<string, Setting>;
}

const SELECTOR_KEYS = new Set(['leftsubnet', 'rightsubnet', 'leftsubnets', 'rightsubnets']);

/** An IP literal (not %any, %defaultroute or a DNS name): the side's own address as a selector. */
function addressSelector(addrs: string[]): string[] {
  const out: string[] = [];
  for (const a of addrs) {
    const { ts } = selectorList(a);
    if (ts.length === 1 && ts[0] !== 'dynamic' && !a.startsWith('%')) out.push(ts[0]);
  }
  return out.length > 0 ? out : ['dynamic'];
}

/** Settings of a conn with `also=` and `%default` applied: own settings win, then also's, then %default's. */
function resolve(conn: ConnSection, byName: Map<string, ConnSection>, warnings: ParseWarning[]): Map<string, Setting> {
  const out = new Map<string, Setting>();
  const seen = new Set<string>();
  const visit = (c: ConnSection): void => {
    if (seen.has(c.name)) return;
    seen.add(c.name);
    for (const [k, v] of c.settings) if (k !== 'also' && !out.has(k)) out.set(k, v);
    const also = c.settings.get('also');
    if (!also) return;
    for (const name of splitList(also.value)) {
      const target = byName.get(name);
      if (target) visit(target);
      else warnings.push({ lineNumber: also.origin.lineNumber, text: also.origin.text, reason: `also=${name}: no such conn in this file` });
    }
  };
  visit(conn);
  const def = byName.get('%default');
  if (def) for (const [k, v] of def.settings) if (!out.has(k)) out.set(k, v);
  return out;
}

function parseIpsecConf(text: string): ParseResult<IpsecConnectionRecord> {
  const warnings: ParseWarning[] = [];
  const conns: ConnSection[] = [];
  let section: ConnSection | 'setup' | 'other' | undefined;
  const lines = splitLines(text);
  for (let n = 0; n < lines.length; n++) {
    const lineNumber = n + 1;
    const raw = lines[n];
    const hash = raw.indexOf('#');
    const line = (hash >= 0 && !raw.slice(0, hash).includes('"') ? raw.slice(0, hash) : raw).replace(/\s+$/, '');
    if (line.trim() === '') continue;
    const indented = /^[ \t]/.test(line);
    const words = line.trim().split(/\s+/);
    if (!indented) {
      if (words[0] === 'conn' && words.length === 2) {
        section = { name: words[1], origin: { lineNumber, text: raw }, settings: new Map() };
        conns.push(section);
      } else if (words[0] === 'config' && words[1] === 'setup' && words.length === 2) section = 'setup';
      else if (words[0] === 'ca' && words.length === 2) section = 'other';
      else if (words[0] === 'include') {
        warnings.push({ lineNumber, text: raw, reason: `include not followed (${words.slice(1).join(' ') || 'no file'}): its conns are not read` });
      } else if (words[0] === 'version' && words.length === 2) {
        // `version 2` (old FreeS/WAN header): nothing to read.
      } else {
        warnings.push({ lineNumber, text: raw, reason: 'expected "conn NAME", "config setup", "ca NAME" or "include FILE" at column 0' });
        section = undefined;
      }
      continue;
    }
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq).trim() : '';
    if (eq <= 0 || !/^[A-Za-z0-9_\-.]+$/.test(key)) {
      warnings.push({ lineNumber, text: raw, reason: 'expected key=value' });
      continue;
    }
    if (section === undefined) {
      warnings.push({ lineNumber, text: raw, reason: 'setting outside a section' });
      continue;
    }
    if (typeof section === 'string') continue;
    let value = line.slice(eq + 1).trim();
    if (value.startsWith('{') && value.endsWith('}')) value = value.slice(1, -1);
    if (SELECTOR_KEYS.has(key)) {
      const { bad } = selectorList(value);
      if (bad.length > 0) warnings.push({ lineNumber, text: raw, reason: `unreadable subnet ${bad.join(', ')}` });
    }
    section.settings.set(key, { value, origin: { lineNumber, text: raw } });
  }
  const byName = new Map(conns.map((c) => [c.name, c]));
  const records: IpsecConnectionRecord[] = [];
  for (const c of conns) {
    if (c.name === '%default') continue;
    const s = resolve(c, byName, warnings);
    const left = s.get('left') ? splitList(s.get('left')!.value) : [];
    const right = s.get('right') ? splitList(s.get('right')!.value) : [];
    const side = (name: 'left' | 'right', addrs: string[]): { ts: string[]; origin?: Origin } => {
      const set = s.get(`${name}subnet`) ?? s.get(`${name}subnets`);
      return set ? { ts: selectorList(set.value).ts, origin: set.origin } : { ts: addressSelector(addrs) };
    };
    const l = side('left', left);
    const r = side('right', right);
    records.push({
      format: 'ipsec-conf',
      connection: c.name,
      localAddrs: left,
      remoteAddrs: right,
      localTs: l.ts,
      remoteTs: r.ts,
      ...(l.origin && { localTsOrigin: l.origin }),
      ...(r.origin && { remoteTsOrigin: r.origin }),
      ...(s.get('auto') && { start: s.get('auto')!.value }),
      sidesByConvention: true,
      origin: c.origin,
    });
  }
  // also= of a conn others include is resolved once per includer: one warning each line.
  const unique = [...new Map(warnings.map((w) => [`${w.lineNumber}|${w.reason}`, w])).values()];
  unique.sort((a, b) => a.lineNumber - b.lineNumber);
  return { records, warnings: unique };
}

/** Parse ipsec.conf text: one record per conn. */
export function parse(text: string): ParseResult<IpsecConnectionRecord> {
  return guarded(text, parseIpsecConf);
}

export const parser: Parser<IpsecConnectionRecord> = {
  name: 'ipsec-conf',
  description: 'strongSwan/libreswan /etc/ipsec.conf: each conn\'s left/right addresses and leftsubnet/rightsubnet',
  parse,
};
