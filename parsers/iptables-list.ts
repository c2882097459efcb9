/**
 * iptables-list: the `iptables -t TABLE -nvL` / `iptables -vnxL` rule listing (and ip6tables'),
 * which is all a sosreport has of the firewall of the stack sos ran in.
 *
 *   Chain INPUT (policy ACCEPT 0 packets, 0 bytes)
 *    pkts bytes target     prot opt in     out     source               destination
 *       0     0 ACCEPT     6    --  eth0   *       0.0.0.0/0            0.0.0.0/0            tcp dpt:22 ctstate NEW
 *
 * The listing names no table: a line `# iptables -t nat -nvL` (a comment naming the command)
 * starts the listing of that table; without one the table is "filter". Each rule's columns and
 * the match and target texts after them (iptables' print forms: `tcp dpt:22`, `ctstate NEW`,
 * `multiport dports 80,443`, `to:10.0.0.1:80`, ...) are read back into the records the
 * iptables-save parser makes (same matches, options and targets), so the evaluator decides them
 * alike. What the listing prints in a form not read back is kept on the rule as `approximate`
 * (the evaluator then treats the rule as undecided) and warned about with its line. Counters
 * without `-x` are abbreviated (`12K`): the lower bound is kept.
 */
import type { IptablesNotice, IptablesTable } from '../src/model/netfilter.js';
import { parseIptables, type IptablesParseResult } from './iptables-save.js';
import { guard, splitLines, type ParseWarning, type Parser } from './types.js';

/** A word of a line and where it starts. */
interface Word {
  text: string;
  at: number;
}

function words(line: string, from = 0): Word[] {
  const out: Word[] = [];
  const re = /\S+/g;
  re.lastIndex = from;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) out.push({ text: m[0], at: m.index });
  return out;
}

const UNITS: Record<string, number> = { K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15 };

/** `1234`, `12K` (lower bound of an abbreviated count), or null. */
function count(s: string): { value: number; abbreviated: boolean } | null {
  const m = /^(\d+)([KMGTP]?)$/.exec(s);
  if (!m) return null;
  return { value: Number(m[1]) * (m[2] ? UNITS[m[2]] : 1), abbreviated: m[2] !== '' };
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}(\/[\d.]+)?$/;
const IPV6 = /^[0-9a-fA-F:]*:[0-9a-fA-F:.]*(\/\d+)?$/;
const isAddress = (w: string) => IPV4.test(w.replace(/^!/, '')) || IPV6.test(w.replace(/^!/, ''));
const ANY = new Set(['0.0.0.0/0', '::/0']);
const OPT = /^(--|-f|!f)$/;

const TCP_FLAGS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];
function flagNames(hex: string): string | null {
  const v = Number.parseInt(hex, 16);
  if (!Number.isFinite(v) || v > 0xff) return null;
  if (v === 0) return 'NONE';
  return TCP_FLAGS.filter((_, i) => v & (1 << i)).join(',');
}

/** Protocol numbers `-n` prints, as iptables-save names them. */
const PROTOCOLS: Record<string, string> = { '1': 'icmp', '2': 'igmp', '6': 'tcp', '17': 'udp', '33': 'dccp', '47': 'gre', '50': 'esp', '51': 'ah', '58': 'ipv6-icmp', '132': 'sctp', '136': 'udplite' };

const quote = (s: string) => `"${s.replace(/(["\\])/g, '\\$1')}"`;

/**
 * The extras (match and target print forms) read back as iptables-save words, or the first
 * part that could not be read. `target` is the rule's target (its print form follows the matches).
 */
function translateExtras(extras: string, target: string): { save: string[]; targetSave: string[]; lost?: string; lostTarget?: boolean } {
  const save: string[] = [];
  const targetSave: string[] = [];
  // Comments first: `/* text */` may hold anything.
  const parts: string[] = [];
  const re = /\/\* (.*?) \*\/|"((?:[^"\\]|\\.)*)"|\S+/g;
  for (let m = re.exec(extras); m !== null; m = re.exec(extras)) {
    if (m[1] !== undefined) {
      save.push('-m', 'comment', '--comment', quote(m[1]));
      continue;
    }
    parts.push(m[0]);
  }
  let i = 0;
  const peek = (k = 0) => parts[i + k];
  const lost = (why?: string) => ({ save, targetSave, lost: why ?? parts.slice(i).join(' ') });
  /** A leading `!` word, or a `!` glued to the value. */
  const bang = (): boolean => {
    if (peek() === '!') {
      i++;
      return true;
    }
    return false;
  };
  const negGlued = (v: string): [boolean, string] => (v.startsWith('!') ? [true, v.slice(1)] : [false, v]);
  let conntrack: string[] | null = null;
  const flushConntrack = () => {
    if (conntrack) save.push('-m', 'conntrack', ...conntrack);
    conntrack = null;
  };
  const CT_OPTIONS = new Set(['ctstate', 'ctproto', 'ctorigsrc', 'ctorigdst', 'ctreplsrc', 'ctrepldst', 'ctorigsrcport', 'ctorigdstport', 'ctreplsrcport', 'ctrepldstport', 'ctstatus', 'ctdir', 'ctexpire']);

  while (i < parts.length) {
    const start = i;
    const neg = bang();
    const w = peek();
    if (w === undefined) return lost('a lone "!"');
    if (CT_OPTIONS.has(w) && peek(1) !== undefined) {
      conntrack ??= [];
      conntrack.push(...(neg ? ['!'] : []), `--${w}`, parts[i + 1]);
      i += 2;
      continue;
    }
    flushConntrack();
    if ((w === 'tcp' || w === 'udp') && !neg) {
      i++;
      const opts: string[] = [];
      for (;;) {
        const p = peek();
        const port = p && /^(spts?|dpts?):(!?)(.+)$/.exec(p);
        const flags = p && /^flags:(!?)0x([0-9a-fA-F]+)\/0x([0-9a-fA-F]+)$/.exec(p);
        if (port) {
          opts.push(...(port[2] ? ['!'] : []), port[1].startsWith('s') ? '--sport' : '--dport', port[3]);
        } else if (flags && w === 'tcp') {
          const mask = flagNames(flags[2]);
          const comp = flagNames(flags[3]);
          if (mask === null || comp === null) return lost();
          opts.push(...(flags[1] ? ['!'] : []), '--tcp-flags', mask, comp);
        } else break;
        i++;
      }
      if (peek()?.startsWith('option=') || peek() === 'unknown') return lost();
      save.push('-m', w, ...opts);
    } else if (w === 'icmptype' || w === 'ipv6-icmptype' || w === 'icmp' || w === 'ipv6-icmp') {
      const v6 = w.startsWith('ipv6');
      let negated = neg;
      i++;
      if (w === 'icmp' || w === 'ipv6-icmp') {
        if (peek() !== '!type') return lost(parts.slice(start).join(' '));
        negated = true;
        i++;
      }
      const type = peek();
      if (type === undefined || !/^\d+$/.test(type)) return lost(parts.slice(start).join(' '));
      i++;
      let value = !v6 && type === '255' ? 'any' : type;
      if (peek() === 'code' && /^\d+$/.test(peek(1) ?? '')) {
        value += `/${peek(1)}`;
        i += 2;
      }
      save.push('-m', v6 ? 'icmp6' : 'icmp', ...(negated ? ['!'] : []), v6 ? '--icmpv6-type' : '--icmp-type', value);
    } else if (w === 'state' && peek(1) !== undefined) {
      save.push('-m', 'state', ...(neg ? ['!'] : []), '--state', parts[i + 1]);
      i += 2;
    } else if (w === 'multiport' && /^(sports|dports|ports)$/.test(peek(1) ?? '') && peek(2) !== undefined) {
      const [n, list] = negGlued(parts[i + 2]);
      save.push('-m', 'multiport', ...(n || neg ? ['!'] : []), `--${parts[i + 1]}`, list);
      i += 3;
    } else if (w === 'ADDRTYPE' && peek(1) === 'match') {
      i += 2;
      const opts: string[] = [];
      for (;;) {
        const kind = peek();
        if ((kind === 'src-type' || kind === 'dst-type') && peek(1) !== undefined) {
          const [n, v] = negGlued(parts[i + 1]);
          opts.push(...(n ? ['!'] : []), `--${kind}`, v);
          i += 2;
        } else if (kind === 'limit-in' || kind === 'limit-out') {
          opts.push(kind === 'limit-in' ? '--limit-iface-in' : '--limit-iface-out');
          i++;
        } else break;
      }
      save.push('-m', 'addrtype', ...opts);
    } else if ((w === 'mark' || w === 'connmark') && peek(1) === 'match') {
      i += 2;
      const n = bang();
      const v = peek();
      if (v === undefined || !/^0x[0-9a-fA-F]+(\/0x[0-9a-fA-F]+)?$/.test(v)) return lost(parts.slice(start).join(' '));
      save.push('-m', w, ...(n || neg ? ['!'] : []), '--mark', v);
      i++;
    } else if ((w === 'source' || w === 'destination') && peek(1) === 'IP' && peek(2) === 'range') {
      i += 3;
      const n = bang();
      const v = peek();
      if (v === undefined) return lost(parts.slice(start).join(' '));
      save.push('-m', 'iprange', ...(n || neg ? ['!'] : []), w === 'source' ? '--src-range' : '--dst-range', v);
      i++;
    } else if (w === 'limit:' && peek(1) === 'avg' && peek(3) === 'burst') {
      save.push('-m', 'limit', '--limit', parts[i + 2], ...(parts[i + 4] === '5' ? [] : ['--limit-burst', parts[i + 4]]));
      i += 5;
    } else if (w === 'PHYSDEV' && peek(1) === 'match') {
      i += 2;
      const opts: string[] = [];
      while (peek() === '!' || peek()?.startsWith('--physdev-')) {
        const p = parts[i++];
        opts.push(p);
        if (p === '--physdev-in' || p === '--physdev-out') opts.push(parts[i++] ?? '');
      }
      save.push('-m', 'physdev', ...opts);
    } else if (w === 'match-set' && peek(1) !== undefined && peek(2) !== undefined) {
      save.push('-m', 'set', ...(neg ? ['!'] : []), '--match-set', parts[i + 1], parts[i + 2]);
      i += 3;
    } else {
      i = start;
      break;
    }
  }
  flushConntrack();

  // The target's print form.
  const rest = parts.slice(i);
  const r = rest.join(' ');
  const mark = /^(MARK|CONNMARK) (set|xset|and|or|xor) (0x[0-9a-fA-F]+(?:\/0x[0-9a-fA-F]+)?)$/.exec(r);
  let m: RegExpExecArray | null;
  if (rest.length === 0) return { save, targetSave };
  if (target === 'REJECT' && (m = /^reject-with (\S+)$/.exec(r))) targetSave.push('--reject-with', m[1]);
  else if (mark && mark[1] === target) {
    const [, , op, v] = mark;
    if (op === 'set') targetSave.push('--set-xmark', v.includes('/') ? v : `${v}/0xffffffff`);
    else if (op === 'xset') targetSave.push('--set-xmark', v);
    else targetSave.push(`--${op}-mark`, v);
  } else if (target === 'CONNMARK' && (m = /^CONNMARK (save|restore)(?: mask (0x[0-9a-fA-F]+))?$/.exec(r))) {
    const mask = m[2] ?? '0xffffffff';
    targetSave.push(`--${m[1]}-mark`, '--nfmask', mask, '--ctmask', mask);
  } else if ((target === 'DNAT' || target === 'SNAT' || target === 'NETMAP') && (m = /^to:(\S+)((?: (?:random|random-fully|persistent))*)$/.exec(r))) {
    targetSave.push(target === 'DNAT' ? '--to-destination' : target === 'SNAT' ? '--to-source' : '--to', m[1], ...m[2].split(' ').filter(Boolean).map((f) => `--${f}`));
  } else if ((target === 'MASQUERADE' && (m = /^masq ports: (\S+)((?: (?:random|random-fully))*)$/.exec(r))) || (target === 'REDIRECT' && (m = /^redir ports (\S+)((?: (?:random))*)$/.exec(r)))) {
    targetSave.push('--to-ports', m[1], ...m[2].split(' ').filter(Boolean).map((f) => `--${f}`));
  } else if (target === 'MASQUERADE' && /^(random|random-fully)( (random|random-fully))*$/.test(r)) {
    targetSave.push(...rest.map((f) => `--${f}`));
  } else if (target === 'TCPMSS' && r === 'TCPMSS clamp to PMTU') targetSave.push('--clamp-mss-to-pmtu');
  else if (target === 'TCPMSS' && (m = /^TCPMSS set (\d+)$/.exec(r))) targetSave.push('--set-mss', m[1]);
  else if (target === 'CT' && (r === 'CT notrack' || r === 'NOTRACK')) targetSave.push('--notrack'); // iptables-nft lists -j NOTRACK as CT.
  else if (target === 'NOTRACK' && r === 'NOTRACK') return { save, targetSave };
  else if (target === 'LOG' && r.startsWith('LOG ')) return { save, targetSave }; // LOG only logs: its options change no verdict.
  else return { save, targetSave, lost: r, lostTarget: /^[A-Z]/.test(r) || rest[0] === target };
  return { save, targetSave };
}

interface ListedRule {
  chain: string;
  save: string;
  lineNumber: number;
  text: string;
  approximate?: string;
}

interface ListedTable {
  name: string;
  lineNumber: number;
  text: string;
  chains: { name: string; policy: string; counters: string; lineNumber: number; text: string }[];
  rules: ListedRule[];
}

export interface IptablesListParseOptions {
  /** Table of a listing no `# iptables -t NAME -nvL` line introduced (default "filter"). */
  defaultTable?: string;
  family?: 4 | 6;
}

export interface IptablesListParseResult extends IptablesParseResult {
  /** Rules whose listing could not be read back whole: what was lost, by line. */
  approximate: ParseWarning[];
  /** Counters were printed abbreviated (`12K`, no `-x`): the values kept are lower bounds. */
  abbreviatedCounters: boolean;
}

function readListing(text: string, opts: IptablesListParseOptions): IptablesListParseResult {
  const warnings: ParseWarning[] = [];
  const approximate: ParseWarning[] = [];
  const tables: ListedTable[] = [];
  let abbreviated = false;
  let table: ListedTable | undefined;
  let chain: string | undefined;
  const lines = splitLines(text);
  const tableNamed = (name: string, lineNumber: number, line: string): ListedTable => {
    let t = tables.find((x) => x.name === name);
    if (!t) {
      t = { name, lineNumber, text: line, chains: [], rules: [] };
      tables.push(t);
    }
    return t;
  };
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    const lineNumber = n + 1;
    const trimmed = line.trim();
    if (trimmed === '') continue;
    if (trimmed.startsWith('#')) {
      const named = /\s-t\s*(\S+)/.exec(trimmed);
      if (/^#\s*ip6?tables\b/.test(trimmed)) {
        table = tableNamed(named?.[1] ?? 'filter', lineNumber, line);
        chain = undefined;
      }
      continue;
    }
    const head = /^Chain (\S+) \((?:policy (\S+) (\d+[KMGTP]?) packets, (\d+[KMGTP]?) bytes|(\d+) references?)\)\s*$/.exec(trimmed);
    if (head) {
      table ??= tableNamed(opts.defaultTable ?? 'filter', lineNumber, line);
      chain = head[1];
      if (table.chains.some((c) => c.name === chain)) {
        warnings.push({ lineNumber, text: line, reason: `chain ${chain} listed twice in table ${table.name}` });
      }
      let counters = '';
      if (head[2] !== undefined) {
        const [p, b] = [count(head[3]), count(head[4])];
        abbreviated ||= Boolean(p?.abbreviated || b?.abbreviated);
        counters = ` [${p?.value ?? 0}:${b?.value ?? 0}]`;
      }
      table.chains.push({ name: chain, policy: head[2] ?? '-', counters, lineNumber, text: line });
      continue;
    }
    if (/^pkts\s+bytes\s+target\s+prot\b/.test(trimmed)) continue;
    if (table === undefined || chain === undefined) {
      warnings.push({ lineNumber, text: line, reason: 'rule line before any "Chain" line' });
      continue;
    }
    const ws = words(line);
    const p = count(ws[0]?.text ?? '');
    const b = count(ws[1]?.text ?? '');
    // The source and destination columns: the first two address words after the counters.
    let j = 2;
    while (j + 1 < ws.length && !(isAddress(ws[j].text) && isAddress(ws[j + 1].text) && j >= 4)) j++;
    if (p === null || b === null || j + 1 >= ws.length) {
      warnings.push({ lineNumber, text: line, reason: 'not a rule line of an iptables -nvL listing (pkts bytes target prot opt in out source destination)' });
      continue;
    }
    abbreviated ||= p.abbreviated || b.abbreviated;
    const front = ws.slice(2, j - 2).map((w) => w.text);
    let opt = '--';
    if (front.length > 1 && OPT.test(front[front.length - 1])) opt = front.pop()!;
    if (front.length < 1 || front.length > 2) {
      warnings.push({ lineNumber, text: line, reason: 'cannot tell the target, protocol and option columns apart' });
      continue;
    }
    const targetName = front.length === 2 ? front[0] : '';
    const prot = front[front.length - 1];
    const [inIf, outIf, src, dst] = [ws[j - 2].text, ws[j - 1].text, ws[j].text, ws[j + 1].text];
    const core: string[] = [];
    const value = (flag: string, v: string, any: (x: string) => boolean) => {
      const negated = v.startsWith('!');
      const bare = negated ? v.slice(1) : v;
      if (!any(bare)) core.push(...(negated ? ['!'] : []), flag, bare);
    };
    const [protNeg, protBare] = prot.startsWith('!') ? ['!', prot.slice(1)] : ['', prot];
    value('-p', protNeg + (PROTOCOLS[protBare] ?? protBare), (x) => x === '0' || x === 'all');
    if (opt === '-f') core.push('-f');
    else if (opt === '!f') core.push('!', '-f');
    value('-i', inIf, (x) => x === '*');
    value('-o', outIf, (x) => x === '*');
    // -L prints a host address without its /32 or /128; iptables-save with it.
    const prefixed = (a: string) => (a.includes('/') ? a : `${a}/${a.replace(/^!/, '').includes(':') ? 128 : 32}`);
    value('-s', prefixed(src), (x) => ANY.has(x));
    value('-d', prefixed(dst), (x) => ANY.has(x));
    let extras = ws.length > j + 2 ? line.slice(ws[j + 2].at).trimEnd() : '';
    let jump = '-j';
    if (/(^|\s)\[goto\]$/.test(extras)) {
      jump = '-g';
      extras = extras.replace(/\s*\[goto\]$/, '');
    }
    const t = translateExtras(extras, targetName);
    const rule: ListedRule = {
      chain,
      save: [`[${p.value}:${b.value}]`, '-A', chain, ...core, ...t.save, ...(targetName ? [jump, targetName, ...t.targetSave] : [])].join(' '),
      lineNumber,
      text: line,
    };
    if (t.lost !== undefined) {
      rule.approximate = `iptables -nvL printed "${t.lost}", which hostcheck does not read back: ${t.lostTarget ? `what its ${targetName} target does` : 'whether the rule matches'} is not known`;
      approximate.push({ lineNumber, text: line, reason: `read approximately: ${rule.approximate}` });
    }
    table.rules.push(rule);
  }

  // The listing as iptables-save text, parsed by the iptables-save parser; lines map back.
  const saveLines: string[] = [];
  const back: { lineNumber: number; text: string; approximate?: string }[] = [];
  const emit = (s: string, from: { lineNumber: number; text: string; approximate?: string }) => {
    saveLines.push(s);
    back.push(from);
  };
  for (const t of tables) {
    emit(`*${t.name}`, t);
    for (const c of t.chains) emit(`:${c.name} ${c.policy}${c.counters}`, c);
    for (const r of t.rules) emit(r.save, r);
    emit('COMMIT', t);
  }
  const saved = parseIptables(saveLines.join('\n') + '\n', { family: opts.family });
  const origin = (lineNumber: number) => back[lineNumber - 1] ?? { lineNumber, text: '' };
  const records: IptablesTable[] = saved.records.map((t) => ({
    ...t,
    form: 'listing',
    origin: { lineNumber: origin(t.origin.lineNumber).lineNumber, text: origin(t.origin.lineNumber).text },
    chains: t.chains.map((c) => ({ ...c, origin: { lineNumber: origin(c.origin.lineNumber).lineNumber, text: origin(c.origin.lineNumber).text } })),
    rules: t.rules.map((r) => {
      const from = origin(r.origin.lineNumber);
      return { ...r, origin: { lineNumber: from.lineNumber, text: from.text }, readBackAs: saveLines[r.origin.lineNumber - 1], ...(from.approximate !== undefined && { approximate: from.approximate }) };
    }),
  }));
  for (const w of saved.warnings) {
    const from = origin(w.lineNumber);
    warnings.push({ lineNumber: from.lineNumber, text: from.text, reason: w.reason });
  }
  warnings.push(...approximate);
  warnings.sort((a, b) => a.lineNumber - b.lineNumber);
  const notices: IptablesNotice[] = saved.notices.map((x) => ({ ...x, lineNumber: origin(x.lineNumber).lineNumber, text: origin(x.lineNumber).text }));
  return { records, warnings, notices, approximate, abbreviatedCounters: abbreviated, form: 'listing' };
}

/** Parse an `iptables [-t TABLE] -nvL` listing (several tables: each after a `# iptables -t NAME -nvL` line). */
export function parseIptablesList(text: string, opts: IptablesListParseOptions = {}): IptablesListParseResult {
  return guard(text, (t) => readListing(t, opts), (w) => ({ records: [], warnings: [w], notices: [], approximate: [], abbreviatedCounters: false }));
}

export function parse(text: string, opts?: { family?: 4 | 6 }): IptablesListParseResult {
  return parseIptablesList(text, { family: opts?.family });
}

export const parser: Parser<IptablesTable> = {
  name: 'iptables-list',
  description: 'iptables -nvL / -vnxL rule listing (a sosreport\'s firewall): the records iptables-save gives, with rules not read back marked approximate',
  parse,
};
