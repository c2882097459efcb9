/**
 * ipvs: /proc/net/ip_vs, the IPVS virtual services (kube-proxy in ipvs mode, keepalived) with
 * their real servers. Addresses and ports are hex (IPv6 as 8 groups); a firewall-mark service
 * shows `FWM mark`:
 *
 *     IP Virtual Server version 1.2.1 (size=4096)
 *     Prot LocalAddress:Port Scheduler Flags
 *       -> RemoteAddress:Port Forward Weight ActiveConn InActConn
 *     TCP  0A600001:01BB rr
 *       -> 0AF40105:2B67      Masq    1      0          0
 */
import type { IpvsServiceRecord } from '../src/model/datapath.js';
import { formatIPv6, parseIPv6 } from '../src/net/address.js';
import { guarded, splitLines, type ParseResult, type ParseWarning, type Parser } from './types.js';

/** `0A600001:01BB` or `[2001:0db8:...]:01BB` → address and port; null when unreadable. */
function endpoint(text: string): { address: string; port: number } | null {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return null;
  const a = text.slice(0, colon);
  const p = text.slice(colon + 1);
  if (!/^[0-9A-Fa-f]{1,4}$/.test(p)) return null;
  const port = parseInt(p, 16);
  if (/^[0-9A-Fa-f]{8}$/.test(a)) {
    const n = parseInt(a, 16);
    return { address: [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'), port };
  }
  const v6 = /^\[([0-9A-Fa-f:]+)\]$/.exec(a);
  if (v6) {
    const groups = v6[1].split(':');
    if (groups.length !== 8 || groups.some((g) => !/^[0-9A-Fa-f]{1,4}$/.test(g))) return null;
    const v = parseIPv6(groups.join(':'));
    return v === null ? null : { address: formatIPv6(v), port };
  }
  return null;
}

export function parse(text: string): ParseResult<IpvsServiceRecord> {
  return guarded(text, (t) => {
    const records: IpvsServiceRecord[] = [];
    const warnings: ParseWarning[] = [];
    let last: IpvsServiceRecord | undefined;
    splitLines(t).forEach((line, i) => {
      const lineNumber = i + 1;
      const tokens = line.trim().split(/\s+/).filter(Boolean);
      if (tokens.length === 0 || tokens[0] === 'IP' || tokens[0] === 'Prot' || (tokens[0] === '->' && tokens[1] === 'RemoteAddress:Port')) return;
      if (tokens[0] === '->') {
        const e = endpoint(tokens[1] ?? '');
        if (last === undefined || e === null) {
          warnings.push({ lineNumber, text: line, reason: last === undefined ? 'real server before a virtual service' : 'unreadable real server address' });
          return;
        }
        last.reals.push({ ...e, forward: tokens[2] ?? '', weight: Number(tokens[3] ?? 0) });
        return;
      }
      const protocol = tokens[0];
      if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP' && protocol !== 'FWM') {
        warnings.push({ lineNumber, text: line, reason: 'unrecognised line' });
        last = undefined;
        return;
      }
      const service: IpvsServiceRecord = { protocol, scheduler: tokens[2] ?? '', reals: [], origin: { lineNumber, text: line } };
      if (protocol === 'FWM') {
        const mark = parseInt(tokens[1] ?? '', 16);
        if (!Number.isFinite(mark)) { warnings.push({ lineNumber, text: line, reason: 'unreadable firewall mark' }); last = undefined; return; }
        service.mark = mark;
      } else {
        const e = endpoint(tokens[1] ?? '');
        if (e === null) { warnings.push({ lineNumber, text: line, reason: 'unreadable virtual address' }); last = undefined; return; }
        service.address = e.address;
        service.port = e.port;
      }
      records.push(service);
      last = service;
    });
    return { records, warnings };
  });
}

export const parser: Parser<IpvsServiceRecord> = {
  name: 'ipvs',
  description: '/proc/net/ip_vs: IPVS virtual services and their real servers',
  parse,
};
