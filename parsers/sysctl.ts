/**
 * `sysctl -a` (kernel settings: rp_filter, forwarding, ...) and `ip netconf` (the same per-device
 * IPv4/IPv6 settings as the kernel's netconf messages); the form is detected per line, and both
 * give the same records.
 *
 *     net.ipv4.conf.eth0.rp_filter = 1
 *     net.ipv4.conf.eth0/100.rp_filter = 1        (interface eth0.100: sysctl prints its dot as /)
 *     net/ipv4/conf/eth0.100/rp_filter = 1        (slash-separated keys: dots are literal)
 *     inet eth0 forwarding on rp_filter strict mc_forwarding off proxy_neigh off ignore_routes_with_linkdown off
 *     ipv4 dev eth0 forwarding on rp_filter strict mc_forwarding 0 proxy_neigh off   (older iproute2)
 *
 * `sysctl: permission denied on key ...` and other `sysctl:` messages become warnings, and so do
 * the C structures BSD's `sysctl -a` prints (`kern.clockrate: { hz = 100, ... }`, a `{` value whose
 * members follow on their own lines until `}`): their members are not settings.
 */
import type { ParseResult, ParseWarning, Parser } from './types.js';
import type { Origin } from '../src/model/records.js';
import { guarded, splitLines } from './types.js';
import type { SysctlRecord } from '../src/model/sysctl.js';

const RP_FILTER_VALUES: Record<string, string> = { off: '0', strict: '1', loose: '2' };
const ON_OFF: Record<string, string> = { off: '0', on: '1' };

/** Split a key into components, whichever separator it uses; device dots come back literal. */
function keyParts(key: string): string[] {
  const dot = key.indexOf('.');
  const slash = key.indexOf('/');
  if (slash >= 0 && (dot < 0 || slash < dot)) return key.split('/');
  const parts = key.split('.');
  for (let i = 0; i < parts.length; i++) if (parts[i].includes('/')) parts[i] = parts[i].replaceAll('/', '.');
  return parts;
}

function makeRecord(parts: string[], value: string, origin: Origin): SysctlRecord {
  const key = parts.map((p) => (p.includes('.') ? p.replaceAll('.', '/') : p)).join('.');
  const rec: SysctlRecord = { key, value, origin };
  if (parts[0] === 'net') {
    const fam = parts[1] === 'ipv4' ? 4 : parts[1] === 'ipv6' ? 6 : undefined;
    if (fam !== undefined) rec.family = fam;
    if ((fam !== undefined || parts[1] === 'mpls') && (parts[2] === 'conf' || parts[2] === 'neigh') && parts.length >= 5) {
      rec.section = parts[2];
      rec.device = parts[3];
      rec.name = parts.slice(4).join('.');
    }
  }
  return rec;
}

function validKey(key: string): boolean {
  if (key.length === 0) return false;
  const c0 = key.charCodeAt(0);
  if (!((c0 >= 97 && c0 <= 122) || (c0 >= 65 && c0 <= 90))) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c <= 32 || c === 61 || c === 127) return false;
  }
  const last = key.charCodeAt(key.length - 1);
  return last !== 46 && last !== 47;
}

const NETCONF_FAMILIES: Record<string, { family?: 4 | 6; proto: string }> = {
  inet: { family: 4, proto: 'ipv4' },
  ipv4: { family: 4, proto: 'ipv4' },
  inet6: { family: 6, proto: 'ipv6' },
  ipv6: { family: 6, proto: 'ipv6' },
  mpls: { proto: 'mpls' },
};

/** One `ip netconf` line → records; returns a reason if part of it could not be read. */
function netconfLine(tokens: string[], origin: Origin, out: SysctlRecord[]): string | null {
  const fam = NETCONF_FAMILIES[tokens[0]];
  let i = 1;
  if (tokens[i] === 'dev') i++;
  const device = tokens[i++];
  if (device === undefined) return 'netconf line without a device';
  if (i >= tokens.length) return 'netconf line without settings';
  let problem: string | null = null;
  for (; i < tokens.length; i += 2) {
    const k = tokens[i];
    const v = tokens[i + 1];
    let name = k;
    let value: string | undefined;
    switch (k) {
      case 'rp_filter':
        value = v === undefined ? undefined : RP_FILTER_VALUES[v];
        break;
      case 'forwarding':
      case 'ignore_routes_with_linkdown':
      case 'input':
        value = v === undefined ? undefined : ON_OFF[v];
        break;
      case 'mc_forwarding':
        value = v === undefined ? undefined : (ON_OFF[v] ?? (/^\d+$/.test(v) ? v : undefined));
        break;
      case 'proxy_neigh':
        name = fam.family === 6 ? 'proxy_ndp' : 'proxy_arp';
        value = v === undefined ? undefined : ON_OFF[v];
        break;
      default:
        value = undefined;
    }
    if (value === undefined) {
      problem ??= `cannot read netconf setting ${k}${v === undefined ? '' : ' ' + v}`;
      continue;
    }
    out.push(makeRecord(['net', fam.proto, 'conf', device, name], value, origin));
  }
  return problem;
}

/** `kern.clockrate: { hz = 100, ... }` or `key = {`: BSD prints a C structure, not one setting. */
const BRACE_VALUE = /^[A-Za-z][^\s=:]*\s*(?::|=)\s*\{/;
/** A line that is a setting of its own (a dotted key), which ends a `{` block left open. */
const DOTTED_KEY = /^[A-Za-z][\w-]*[./][^\s=]*\s*=/;

function parseText(text: string): ParseResult<SysctlRecord> {
  const records: SysctlRecord[] = [];
  const warnings: ParseWarning[] = [];
  const lines = splitLines(text);
  let sawSysctl = false;
  let sawNetconf = false;
  /** Inside a `{` value that did not close on its line: its members (`hz = 100,`) are not settings. */
  let inBrace = false;
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    const lineNumber = n + 1;
    const trimmed = line.trim();
    if (trimmed.length === 0 || trimmed.charCodeAt(0) === 35 || trimmed.charCodeAt(0) === 59) continue;
    if (inBrace && !DOTTED_KEY.test(trimmed)) {
      if (trimmed.startsWith('}')) inBrace = false;
      warnings.push({ lineNumber, text: line, reason: 'inside a { } value (BSD sysctl -a), not a setting' });
      continue;
    }
    inBrace = false;
    if (BRACE_VALUE.test(trimmed)) {
      inBrace = !trimmed.includes('}');
      warnings.push({ lineNumber, text: line, reason: 'a { } structure value (BSD sysctl -a), not a setting' });
      continue;
    }
    if (trimmed.startsWith('sysctl:') || trimmed.startsWith('error:')) {
      warnings.push({ lineNumber, text: line, reason: trimmed });
      continue;
    }
    const origin = { lineNumber, text: line };
    const sp = trimmed.indexOf(' ');
    const first = sp < 0 ? trimmed : trimmed.slice(0, sp);
    if (Object.prototype.hasOwnProperty.call(NETCONF_FAMILIES, first) && !trimmed.includes('=')) {
      sawNetconf = true;
      const tokens = trimmed.split(/\s+/);
      const reason = netconfLine(tokens, origin, records);
      if (reason) warnings.push({ lineNumber, text: line, reason });
      continue;
    }
    let eq = line.indexOf(' = ');
    let valueStart = eq + 3;
    if (eq < 0) {
      eq = line.indexOf('=');
      valueStart = eq + 1;
    }
    if (eq < 0) {
      warnings.push({ lineNumber, text: line, reason: 'not a "key = value" line' });
      continue;
    }
    const key = line.slice(0, eq).trim();
    if (!validKey(key)) {
      warnings.push({ lineNumber, text: line, reason: `bad key "${key}"` });
      continue;
    }
    const value = line.charCodeAt(eq) === 32 ? line.slice(valueStart) : line.slice(valueStart).trim();
    sawSysctl = true;
    records.push(makeRecord(keyParts(key), value, origin));
  }
  const form = sawSysctl && sawNetconf ? 'mixed' : sawNetconf ? 'netconf' : 'sysctl';
  return { records, warnings, form };
}

/** Parse `sysctl -a` and/or `ip netconf` output. */
export function parse(text: string): ParseResult<SysctlRecord> {
  return guarded(text, parseText);
}

export const parser: Parser<SysctlRecord> = {
  name: 'sysctl',
  description: 'sysctl -a and ip netconf: kernel settings (rp_filter, forwarding, ...)',
  parse,
};
