/**
 * ip-addr: `ip addr`, `ip -d addr`, `ip -o addr` text and `ip -j addr` / `ip -d -j addr` JSON
 * (detected by a leading `[`). Text is the `ip link` block of each interface (see ip-link.ts,
 * which reads headers, link/ lines and `-d` details for both parsers) plus its address lines,
 * each followed by an indented lifetime line. Records are InterfaceBlocks: a link and its addresses.
 *
 *   2: docker0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state DOWN group default
 *       link/ether 02:42:47:d8:d2:21 brd ff:ff:ff:ff:ff:ff
 *       inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0
 *          valid_lft forever preferred_lft forever
 *
 * Conventions shared by both forms: `cidr` is the local address with its prefix length, except with
 * `peer` (point-to-point), where the local address is a host address (/32, /128) and `peer` carries
 * the prefix; `flags` are sorted; lifetimes are iproute2's text ("forever", "2981sec").
 */
import type { AddressRecord, InterfaceBlock, Origin } from '../src/model/records.js';
import { parsePrefix } from '../src/net/address.js';
import { parseInterfaces, type AddressReader } from './ip-link.js';
import { guarded, type ParseResult, type Parser } from './types.js';

/** Parse `ip addr` text or `ip -j addr` JSON into one InterfaceBlock per interface. */
export function parse(text: string): ParseResult<InterfaceBlock> {
  return guarded(text, (t) => parseInterfaces(t, addressReader));
}

export const parser: Parser<InterfaceBlock> = {
  name: 'ip-addr',
  description: 'ip [-d] [-o] addr show (text, or ip -j JSON): interfaces with their addresses',
  parse,
};

/** Words in an address line that are flags (iproute2's ifa_flag_names plus `dynamic`). */
const ADDRESS_FLAGS = new Set<string>([
  'secondary', 'temporary', 'primary', 'nodad', 'optimistic', 'dadfailed', 'home', 'deprecated',
  'tentative', 'permanent', 'mngtmpaddr', 'noprefixroute', 'autojoin', 'stable-privacy', 'dynamic',
]);
const FOREVER = 4294967295;

/** Validate `a.b.c.d[/len]` for the family and give it a prefix length (full length when absent). */
function withLength(text: string, family: 4 | 6): string | null {
  const p = parsePrefix(text, family, true);
  if (p === null || p.family !== family) return null;
  return text.indexOf('/') >= 0 ? text : `${text}/${family === 4 ? 32 : 128}`;
}

/** `inet 172.17.0.1/16 [peer P/len] [metric N] [brd B] [any A] scope S [flags...] [label]` */
function readAddress(tokens: string[], start: number, ifindex: number | undefined, ifname: string, origin: Origin): AddressRecord | string {
  const family = tokens[start] === 'inet' ? 4 : 6;
  const local = tokens[start + 1];
  if (local === undefined) return 'address line without an address';
  const rec: AddressRecord = { ifname, family, cidr: '', flags: [], origin };
  if (ifindex !== undefined) rec.ifindex = ifindex;
  let j = start + 2;
  if (tokens[j] === 'peer') {
    const peer = tokens[j + 1] === undefined ? null : withLength(tokens[j + 1], family);
    const host = local.indexOf('/') < 0 ? withLength(local, family) : null;
    if (peer === null || host === null) return `bad ${family === 4 ? 'IPv4' : 'IPv6'} peer address`;
    rec.cidr = host;
    rec.peer = peer;
    j += 2;
  } else {
    const cidr = withLength(local, family);
    if (cidr === null) return `bad ${family === 4 ? 'IPv4' : 'IPv6'} address`;
    rec.cidr = cidr;
  }
  const last = tokens.length - 1;
  for (; j < tokens.length; j++) {
    const t = tokens[j];
    const v = tokens[j + 1];
    switch (t) {
      case 'brd':
      case 'scope':
      case 'metric':
      case 'any':
      case 'proto':
      case 'flags':
        if (v === undefined) return `${t} without a value`;
        if (t === 'brd') rec.broadcast = v;
        else if (t === 'scope') rec.scope = v;
        else if (t === 'metric') {
          const n = Number(v);
          if (!Number.isInteger(n) || n < 0) return 'bad metric';
          rec.metric = n;
        }
        j++;
        break;
      default:
        // IPv4 lines end with the label; anything else is a flag (kernels keep adding them).
        if (family === 4 && j === last && !ADDRESS_FLAGS.has(t)) rec.label = t;
        else rec.flags.push(t);
    }
  }
  rec.flags.sort();
  return rec;
}

/** `valid_lft forever preferred_lft 2981sec` */
function readLifetime(tokens: string[], addr: AddressRecord): string | null {
  if (tokens[0] !== 'valid_lft' || tokens[2] !== 'preferred_lft' || tokens.length !== 4) return 'bad lifetime line';
  addr.validLft = tokens[1];
  addr.preferredLft = tokens[3];
  return null;
}

function lifetime(v: unknown): string | undefined {
  if (typeof v !== 'number') return undefined;
  return v === FOREVER ? 'forever' : `${v}sec`;
}

/** One `addr_info` element: {family, local, address?, prefixlen, broadcast, scope, label, <flag>: true, ...} */
function jsonAddress(entry: unknown, ifindex: number | undefined, ifname: string, origin: Origin): AddressRecord | string {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return 'address entry is not an object';
  const o = entry as Record<string, unknown>;
  const family = o.family === 'inet' ? 4 : o.family === 'inet6' ? 6 : 0;
  if (family === 0) return 'address entry without family inet or inet6';
  const local = o.local ?? o.address;
  const len = o.prefixlen;
  if (typeof local !== 'string' || typeof len !== 'number') return 'address entry without local and prefixlen';
  const rec: AddressRecord = { ifname, family, cidr: '', flags: [], origin };
  if (ifindex !== undefined) rec.ifindex = ifindex;
  if (typeof o.address === 'string' && o.address !== local) {
    const host = withLength(local, family);
    const peer = withLength(`${o.address}/${len}`, family);
    if (host === null || peer === null) return 'bad peer address';
    rec.cidr = host;
    rec.peer = peer;
  } else {
    const cidr = withLength(`${local}/${len}`, family);
    if (cidr === null) return 'bad address';
    rec.cidr = cidr;
  }
  if (typeof o.broadcast === 'string') rec.broadcast = o.broadcast;
  if (typeof o.scope === 'string' || typeof o.scope === 'number') rec.scope = String(o.scope);
  if (typeof o.label === 'string') rec.label = o.label;
  if (typeof o.metric === 'number') rec.metric = o.metric;
  for (const k of Object.keys(o)) if (o[k] === true) rec.flags.push(k);
  rec.flags.sort();
  const valid = lifetime(o.valid_life_time);
  const preferred = lifetime(o.preferred_life_time);
  if (valid !== undefined) rec.validLft = valid;
  if (preferred !== undefined) rec.preferredLft = preferred;
  return rec;
}

const addressReader: AddressReader = { address: readAddress, lifetime: readLifetime, jsonAddress };
