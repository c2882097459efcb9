/**
 * nft values: what a left-hand expression of `nft -j` (payload, meta, ct, fib, concatenations,
 * bit operations) reads from the packet, and its constants (addresses, prefixes, ranges, names
 * of states, flags, ICMP types ...) in the same form, so a match, a set lookup or a map compares
 * numbers, bigints and strings. Used by nft-eval.ts.
 */
import { parseIPv4, parseIPv6 } from '../net/address.js';
import { ADDRESS_TYPES, CT_STATES, protocolNumber } from './netfilter-names.js';
import type { PacketState } from './netfilter-types.js';

export type Val = number | bigint | string;

/** The expression does not apply to this packet (`tcp dport` of a UDP packet): the rule does not match. */
export const ABSENT = Symbol('absent');
/** hostcheck cannot tell the value; `p.why` says why. */
export const UNK = Symbol('unknown');

export type Got = Val | Val[] | typeof ABSENT | typeof UNK;

/** How constants compared with an expression are read. */
export type Kind =
  | 'ip4' | 'ip6' | 'num' | 'proto' | 'name' | 'ctstate' | 'ctstatus' | 'ctdir' | 'tcpflags' | 'icmp4' | 'icmp6'
  | 'nfproto' | 'ethertype' | 'pkttype' | 'iftype' | 'addrtype' | 'fiboif' | 'unknown';

/** A compiled left-hand expression: reads the packet (sets `p.why` before answering UNK). */
export interface Reader {
  read: (p: PacketState) => Got;
  /** One kind per component (several for a concatenation). */
  kinds: Kind[];
  /** A bitmask type: `in` with a bare value tests bits. */
  bitmask: boolean;
}

/** A constant: one value, or an interval (prefixes and ranges), or a name prefix (`eth*`). */
export type Const = { lo: Val; hi: Val } | { prefix: string };

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Route lookups the `fib` expression makes: the answer for a packet, UNK when routes are not known. */
export interface FibReader {
  /** `fib saddr [. mark] [. iif] oif`: the device the route back to the source leaves by ('' = none). */
  saddrOif(p: PacketState, useIif: boolean, useMark: boolean): string | typeof UNK;
  /** `fib daddr [. iif] type`: the route type of the destination. */
  daddrType(p: PacketState, useIif: boolean): number | typeof UNK;
}

const CT_STATE_NAMES: Record<string, number> = {
  invalid: CT_STATES.INVALID, established: CT_STATES.ESTABLISHED, related: CT_STATES.RELATED, new: CT_STATES.NEW, untracked: CT_STATES.UNTRACKED,
};
const CT_STATUS_NAMES: Record<string, number> = { snat: CT_STATES.SNAT, dnat: CT_STATES.DNAT };
const TCP_FLAG_NAMES: Record<string, number> = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10, urg: 0x20, ecn: 0x40, cwr: 0x80 };
const ICMP4_NAMES: Record<string, number> = {
  'echo-reply': 0, 'destination-unreachable': 3, 'source-quench': 4, redirect: 5, 'echo-request': 8, 'router-advertisement': 9,
  'router-solicitation': 10, 'time-exceeded': 11, 'parameter-problem': 12, 'timestamp-request': 13, 'timestamp-reply': 14,
  'info-request': 15, 'info-reply': 16, 'address-mask-request': 17, 'address-mask-reply': 18,
};
const ICMP6_NAMES: Record<string, number> = {
  'destination-unreachable': 1, 'packet-too-big': 2, 'time-exceeded': 3, 'parameter-problem': 4, 'echo-request': 128, 'echo-reply': 129,
  'mld-listener-query': 130, 'mld-listener-report': 131, 'mld-listener-done': 132, 'mld-listener-reduction': 132, 'nd-router-solicit': 133,
  'nd-router-advert': 134, 'nd-neighbor-solicit': 135, 'nd-neighbor-advert': 136, 'nd-redirect': 137, 'router-renumbering': 138,
  'ind-neighbor-solicit': 141, 'ind-neighbor-advert': 142, 'mld2-listener-report': 143,
};
const NAMES: Partial<Record<Kind, Record<string, number>>> = {
  ctstate: CT_STATE_NAMES, ctstatus: CT_STATUS_NAMES, tcpflags: TCP_FLAG_NAMES, icmp4: ICMP4_NAMES, icmp6: ICMP6_NAMES,
  ctdir: { original: 0, reply: 1 },
  nfproto: { ipv4: 2, ipv6: 10 },
  ethertype: { ip: 0x0800, ip6: 0x86dd, arp: 0x0806, vlan: 0x8100 },
  pkttype: { host: 0, unicast: 0, broadcast: 1, multicast: 2, other: 3 },
  iftype: { ether: 1, loopback: 772, ppp: 512, ipip: 768, sit: 776, gre: 778, none: 65534 },
  addrtype: Object.fromEntries(Object.entries(ADDRESS_TYPES).map(([k, v]) => [k.toLowerCase(), v])),
};

/** The ports a transport header has. */
const PORT_PROTOS: Record<string, number[]> = { tcp: [6], udp: [17], udplite: [136], sctp: [132], dccp: [33], th: [6, 17, 136, 132, 33] };

function unk(p: PacketState, why: string): typeof UNK {
  p.why = why;
  return UNK;
}

/** Compiles a left-hand expression; undefined when hostcheck does not know it (the caller says which). */
export function compileReader(expr: unknown, fib: FibReader | undefined, text: (e: unknown) => string): Reader {
  const unknown = (): Reader => ({ read: (p) => unk(p, `${text(expr)} is not evaluated`), kinds: ['unknown'], bitmask: false });
  if (!isObject(expr)) return unknown();
  const [key] = Object.keys(expr);
  const o = isObject(expr[key]) ? (expr[key] as Json) : {};
  switch (key) {
    case 'payload': return payloadReader(String(o.protocol ?? ''), String(o.field ?? '')) ?? unknown();
    case 'meta': return metaReader(String(o.key ?? '')) ?? unknown();
    case 'ct': return ctReader(String(o.key ?? ''), o.dir === undefined ? undefined : String(o.dir)) ?? unknown();
    case 'fib': return fibReader(o, fib) ?? unknown();
    case 'concat': {
      const parts = Array.isArray(expr[key]) ? (expr[key] as unknown[]).map((e) => compileReader(e, fib, text)) : [];
      if (parts.length === 0) return unknown();
      return {
        kinds: parts.map((x) => x.kinds[0]), bitmask: false,
        read: (p) => {
          const out: Val[] = [];
          for (const part of parts) {
            const v = part.read(p);
            if (v === ABSENT || v === UNK) return v;
            out.push(v as Val);
          }
          return out;
        },
      };
    }
    case '&': case '|': case '^': {
      const args = expr[key];
      if (!Array.isArray(args) || args.length !== 2) return unknown();
      const inner = compileReader(args[0], fib, text);
      const kind = inner.kinds[0];
      const mask = constNumber(args[1], kind);
      if (mask === undefined) return unknown();
      const op = key;
      return {
        kinds: [kind], bitmask: inner.bitmask,
        read: (p) => {
          const v = inner.read(p);
          if (typeof v !== 'number') return v;
          return (op === '&' ? v & mask : op === '|' ? v | mask : v ^ mask) >>> 0;
        },
      };
    }
    default:
      return unknown();
  }
}

function payloadReader(protocol: string, field: string): Reader | undefined {
  const one = (kind: Kind, read: (p: PacketState) => Got, bitmask = false): Reader => ({ kinds: [kind], read, bitmask });
  switch (protocol) {
    case 'ip':
      if (field === 'saddr') return one('ip4', (p) => (p.family === 4 ? p.src4 : ABSENT));
      if (field === 'daddr') return one('ip4', (p) => (p.family === 4 ? p.dst4 : ABSENT));
      if (field === 'protocol') return one('proto', (p) => (p.family === 4 ? p.proto : ABSENT));
      return undefined;
    case 'ip6':
      if (field === 'saddr') return one('ip6', (p) => (p.family === 6 ? p.src6 : ABSENT));
      if (field === 'daddr') return one('ip6', (p) => (p.family === 6 ? p.dst6 : ABSENT));
      if (field === 'nexthdr') return one('proto', (p) => (p.family === 6 ? p.proto : ABSENT));
      return undefined;
    case 'icmp':
      if (field === 'type') return one('icmp4', (p) => (p.family === 4 && p.proto === 1 ? (p.icmpType < 0 ? unk(p, 'the ICMP type is not known') : p.icmpType) : ABSENT));
      if (field === 'code') return one('num', (p) => (p.family === 4 && p.proto === 1 ? (p.icmpCode < 0 ? unk(p, 'the ICMP code is not known') : p.icmpCode) : ABSENT));
      return undefined;
    case 'icmpv6':
      if (field === 'type') return one('icmp6', (p) => (p.family === 6 && p.proto === 58 ? (p.icmpType < 0 ? unk(p, 'the ICMPv6 type is not known') : p.icmpType) : ABSENT));
      if (field === 'code') return one('num', (p) => (p.family === 6 && p.proto === 58 ? (p.icmpCode < 0 ? unk(p, 'the ICMPv6 code is not known') : p.icmpCode) : ABSENT));
      return undefined;
    case 'tcp':
      if (field === 'flags') return one('tcpflags', (p) => (p.proto === 6 && !p.fragment ? p.tcpFlags : ABSENT), true);
    // fallthrough: tcp ports
    default: {
      const protos = PORT_PROTOS[protocol];
      if (protos === undefined || (field !== 'sport' && field !== 'dport')) return undefined;
      const dst = field === 'dport';
      const raw = protocol === 'th';
      return one('num', (p) => {
        if (p.fragment) return ABSENT;
        // `th` has no protocol dependency: on another protocol it reads that header's bytes (an ICMP checksum ...).
        if (raw && !protos.includes(p.proto)) return unk(p, `th ${field} reads bytes ${dst ? '2-3' : '0-1'} of a protocol ${p.proto} header, which hostcheck does not know`);
        if (!protos.includes(p.proto)) return ABSENT;
        const v = dst ? p.dport : p.sport;
        return v < 0 ? unk(p, `the ${field === 'dport' ? 'destination' : 'source'} port is not known`) : v;
      });
    }
  }
}

function metaReader(key: string): Reader | undefined {
  const one = (kind: Kind, read: (p: PacketState) => Got): Reader => ({ kinds: [kind], read, bitmask: false });
  switch (key) {
    case 'iifname': case 'iif':
      return one('name', (p) => (p.inDev === undefined ? unk(p, 'the input device is not known') : p.inDev));
    case 'oifname': case 'oif':
      return one('name', (p) => (p.outDev === undefined ? unk(p, 'the output device is not known') : p.outDev));
    case 'iiftype': case 'oiftype': {
      const input = key === 'iiftype';
      return one('iftype', (p) => {
        const dev = input ? p.inDev : p.outDev;
        if (dev === '') return ABSENT;
        if (dev === 'lo') return 772;
        return unk(p, `the link type of ${dev ?? 'the device'} is not known`);
      });
    }
    case 'l4proto': return one('proto', (p) => p.proto);
    case 'nfproto': return one('nfproto', (p) => (p.family === 4 ? 2 : 10));
    case 'protocol': return one('ethertype', (p) => (p.family === 4 ? 0x0800 : 0x86dd));
    case 'mark': return one('num', (p) => p.mark);
    case 'pkttype':
      return one('pkttype', (p) => {
        // The frame's type: what the destination was before a DNAT of this packet rewrote it.
        const dnat = (p.natBits & CT_STATES.DNAT) !== 0 && !p.ctReply && p.ctOrigKnown;
        const saved4 = p.dst4;
        const saved6 = p.dst6;
        if (dnat) {
          p.dst4 = p.origDst4;
          p.dst6 = p.origDst6;
        }
        const t = p.addressType(p, true, undefined);
        const multicast = p.family === 4 ? (p.dst4 >>> 28) === 14 : p.dst6 >> 120n === 0xffn;
        p.dst4 = saved4;
        p.dst6 = saved6;
        if (multicast) return 2;
        if (p.hook === 'OUTPUT' || p.hook === 'POSTROUTING') return 0;
        if (t === undefined) return unk(p, 'whether the destination is a broadcast address is not known');
        return t === ADDRESS_TYPES.BROADCAST ? 1 : 0;
      });
    default:
      return undefined;
  }
}

function ctReader(key: string, dir: string | undefined): Reader | undefined {
  const one = (kind: Kind, read: (p: PacketState) => Got, bitmask = false): Reader => ({ kinds: [kind], read, bitmask });
  /** No conntrack entry (before conntrack ran, or notrack): ct keys other than state read nothing. */
  const noEntry = (p: PacketState): boolean => p.ctBit === CT_STATES.INVALID || p.ctBit === CT_STATES.UNTRACKED;
  const known = (p: PacketState): boolean => p.ctUnknown === undefined || p.notrack;
  switch (dir === undefined ? key : `${dir} ${key}`) {
    case 'state': return one('ctstate', (p) => (known(p) ? p.ctBit : unk(p, p.ctUnknown!)), true);
    case 'status':
      return one('ctstatus', (p) => (noEntry(p) ? ABSENT : known(p) ? p.natBits : unk(p, p.ctUnknown!)), true);
    case 'direction': return one('ctdir', (p) => (noEntry(p) ? ABSENT : known(p) ? (p.ctReply ? 1 : 0) : unk(p, p.ctUnknown!)));
    case 'mark': return one('num', (p) => (noEntry(p) ? ABSENT : p.ctmark));
    case 'original ip saddr': case 'original ip daddr': case 'original ip6 saddr': case 'original ip6 daddr': {
      const src = key.endsWith('saddr');
      const v6 = key.startsWith('ip6');
      return {
        kinds: [v6 ? 'ip6' : 'ip4'], bitmask: false,
        read: (p) => {
          if (noEntry(p) || (p.family === 6) !== v6) return ABSENT;
          if (!p.ctOrigKnown) return unk(p, "the connection's original tuple is not known");
          if (p.family === 6) return src ? p.origSrc6 : p.origDst6;
          return src ? p.origSrc4 : p.origDst4;
        },
      };
    }
    case 'original proto-src': case 'original proto-dst': {
      const src = key === 'proto-src';
      return one('num', (p) => {
        if (noEntry(p)) return ABSENT;
        if (!p.ctOrigKnown) return unk(p, "the connection's original tuple is not known");
        const v = src ? p.origSport : p.origDport;
        return v < 0 ? ABSENT : v;
      });
    }
    default:
      return undefined;
  }
}

function fibReader(o: Json, fib: FibReader | undefined): Reader | undefined {
  const flags = Array.isArray(o.flags) ? o.flags.map(String) : typeof o.flags === 'string' ? [o.flags] : [];
  const result = String(o.result ?? '');
  const iif = flags.includes('iif');
  if (result === 'oif' && flags.includes('saddr')) {
    const mark = flags.includes('mark');
    return {
      kinds: ['fiboif'], bitmask: false,
      read: (p) => (fib === undefined ? unk(p, 'fib needs the routes, which were not given') : fib.saddrOif(p, iif, mark)),
    };
  }
  if (result === 'type' && flags.includes('daddr')) {
    return {
      kinds: ['addrtype'], bitmask: false,
      read: (p) => {
        if (fib !== undefined) return fib.daddrType(p, iif);
        // Without routes the host's own addresses still tell local, broadcast and multicast from unicast.
        const t = p.addressType(p, true, iif ? p.inDev : undefined);
        return t === undefined ? unk(p, 'fib needs the routes, which were not given') : t;
      },
    };
  }
  return undefined;
}

/** A constant as a number (masks, marks): numbers, names of the kind, arrays of flag names OR-ed. */
export function constNumber(v: unknown, kind: Kind): number | undefined {
  if (typeof v === 'number') return v >>> 0;
  if (typeof v === 'string') {
    const named = NAMES[kind]?.[v];
    if (named !== undefined) return named;
    if (kind === 'proto') return protocolNumber(v) ?? undefined;
    if (/^(0x[0-9a-f]+|\d+)$/i.test(v)) return Number(v) >>> 0;
    return undefined;
  }
  if (Array.isArray(v)) {
    let m = 0;
    for (const x of v) {
      const n = constNumber(x, kind);
      if (n === undefined) return undefined;
      m |= n;
    }
    return m >>> 0;
  }
  if (isObject(v) && Array.isArray(v['|'])) return constNumber(v['|'], kind);
  return undefined;
}

/** One value of a kind; undefined when it cannot be read. */
export function constValue(v: unknown, kind: Kind): Val | undefined {
  if (kind === 'ip4') return typeof v === 'string' ? parseIPv4(v) ?? undefined : undefined;
  if (kind === 'ip6') return typeof v === 'string' ? parseIPv6(v) ?? undefined : undefined;
  if (kind === 'name') return typeof v === 'string' ? v : undefined;
  if (kind === 'fiboif') return typeof v === 'boolean' ? (v ? 'exists' : '') : typeof v === 'string' ? v : undefined;
  return constNumber(v, kind);
}

/** A constant of a kind: a value, `{prefix}`, `{range}`, or `eth*`; undefined when unreadable. */
export function constOf(v: unknown, kind: Kind): Const | undefined {
  if (isObject(v) && isObject(v.elem)) return constOf(v.elem.val, kind);
  if (isObject(v) && isObject(v.prefix)) {
    const len = Number(v.prefix.len);
    const base = constValue(v.prefix.addr, kind);
    if (typeof base === 'number' && kind === 'ip4' && len >= 0 && len <= 32) {
      const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
      const lo = (base & mask) >>> 0;
      return { lo, hi: (lo | (~mask >>> 0)) >>> 0 };
    }
    if (typeof base === 'bigint' && len >= 0 && len <= 128) {
      const host = (1n << BigInt(128 - len)) - 1n;
      const lo = base & ~host & ((1n << 128n) - 1n);
      return { lo, hi: lo | host };
    }
    return undefined;
  }
  if (isObject(v) && Array.isArray(v.range) && v.range.length === 2) {
    const lo = constValue(v.range[0], kind);
    const hi = constValue(v.range[1], kind);
    return lo === undefined || hi === undefined ? undefined : { lo, hi };
  }
  if (kind === 'name' && typeof v === 'string' && v.endsWith('*') && !v.endsWith('\\*')) return { prefix: v.slice(0, -1) };
  const one = constValue(kind === 'name' && typeof v === 'string' ? v.replace(/\\\*$/, '*') : v, kind);
  return one === undefined ? undefined : { lo: one, hi: one };
}

/** Whether `v` is within `c`. */
export function within(v: Val, c: Const): boolean {
  if ('prefix' in c) return typeof v === 'string' && v.startsWith(c.prefix);
  if (c.lo === c.hi) return v === c.lo;
  return typeof v === typeof c.lo && v >= c.lo && v <= c.hi;
}
