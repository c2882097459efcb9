/**
 * Membership tests for `-m set --match-set`: each IpsetSet compiles once into a SetTest that
 * looks the packet's addresses and ports up by the rule's src/dst flags, as the kernel's set
 * types do (hash:net most specific entry first, `nomatch` entries excluding).
 * Supported: hash:ip, hash:net, hash:ip,port, hash:net,port, hash:ip,port,ip, hash:ip,port,net,
 * hash:net,port,net, hash:net,net, bitmap:ip, bitmap:port, list:set; other types are undecided.
 */
import type { IpsetPart, IpsetSet } from '../model/ipset.js';
import { memo, memoKey } from '../model/memo.js';
import { maskV4, maskV6, parseIPv4, parseIPv6 } from '../net/address.js';
import { icmpTypeSpec, parseUint, protocolNumber } from './netfilter-names.js';
import { NO, UNKNOWN, YES, type PacketState, type SetTest, type Tri } from './netfilter-types.js';

const SUPPORTED = new Set([
  'hash:ip', 'hash:net', 'hash:ip,port', 'hash:net,port', 'hash:ip,port,ip', 'hash:ip,port,net',
  'hash:net,port,net', 'hash:net,net', 'bitmap:ip', 'bitmap:port',
]);

/** One dimension of a member: an address range (with its prefix length, -1 for a plain range) or a port range. */
type Dim =
  | { kind: 'addr'; lo: bigint; hi: bigint; len: number }
  | { kind: 'port'; proto: number; lo: number; hi: number };

interface Entry {
  dims: Dim[];
  nomatch: boolean;
}

const COMPILED_SETS = memoKey<IpsetSet[], Map<string, SetTest>>('netfilter: compiled ipsets');

/** The compiled tests of `sets` by name (cached per array). */
export function compileIpsets(sets: IpsetSet[] | undefined): Map<string, SetTest> {
  if (sets === undefined) return new Map();
  return memo(sets, COMPILED_SETS, () => {
    const byName = new Map<string, SetTest>();
    for (const set of sets) byName.set(set.name, compileSet(set, byName));
    return byName;
  });
}

function unsupported(reason: string): SetTest {
  return (p) => {
    p.why = reason;
    return UNKNOWN;
  };
}

function compileSet(set: IpsetSet, all: Map<string, SetTest>): SetTest {
  if (set.type === 'list:set') return compileListSet(set, all);
  if (!SUPPORTED.has(set.type)) return unsupported(`-m set: ipset ${set.name} of type ${set.type} is not evaluated`);
  const dimKinds = set.type.slice(set.type.indexOf(':') + 1).split(',');
  const family = set.type === 'bitmap:port' ? 0 : set.family === 'inet6' ? 6 : 4;
  const netmask = set.type === 'hash:ip' && typeof set.options.netmask === 'string' ? parseUint(set.options.netmask, 128) : null;
  const entries: Entry[] = [];
  for (const member of set.members) {
    const dims = member.parts?.map((part) => readDim(part, family === 6 ? 6 : 4, netmask));
    if (dims === undefined || dims.length !== dimKinds.length || dims.some((d) => d === null)) {
      return unsupported(`-m set: member ${member.text} of ipset ${set.name} cannot be read`);
    }
    entries.push({ dims: dims as Dim[], nomatch: member.options?.nomatch === true });
  }
  const index = buildIndex(entries);
  const name = set.name;
  return (p, flags) => {
    if (flags.length < dimKinds.length) return NO;
    if (family !== 0 && family !== p.family) return NO;
    const values: (bigint | number)[] = [];
    for (let i = 0; i < dimKinds.length; i++) {
      const kind = dimKinds[i];
      if (kind === 'port') {
        const v = packetPort(p, flags[i]);
        if (v === null) return NO;
        if (v === undefined) {
          p.why = `-m set --match-set ${name}: the packet's port or ICMP type is not given`;
          return UNKNOWN;
        }
        // bitmap:port reads TCP and UDP ports only (ip_set_get_ip_port); anything else is no member.
        if (set.type === 'bitmap:port' && v.proto !== 6 && v.proto !== 17) return NO;
        values.push(v.proto * 65536 + v.port);
      } else {
        if (!flags[i] && p.dstUncertain) {
          p.why = 'the destination was translated to a range';
          return UNKNOWN;
        }
        values.push(p.family === 4 ? BigInt(flags[i] ? p.src4 : p.dst4) : flags[i] ? p.src6 : p.dst6);
      }
    }
    return index(values, set.type === 'bitmap:port');
  };
}

function compileListSet(set: IpsetSet, all: Map<string, SetTest>): SetTest {
  const names = set.members.map((m) => m.text);
  return (p, flags) => {
    let result: Tri = NO;
    for (const n of names) {
      const member = all.get(n);
      if (member === undefined) {
        p.why = `-m set: list:set ${set.name} names ${n}, which is not in the listing`;
        result = UNKNOWN;
        continue;
      }
      const r = member(p, flags);
      if (r === YES) return YES;
      if (r === UNKNOWN) result = UNKNOWN;
    }
    return result;
  };
}

/** The (protocol, port) pair ipset reads from the packet; null when it has none (a fragment). */
function packetPort(p: PacketState, src: boolean): { proto: number; port: number } | null | undefined {
  if (p.fragment) return null;
  switch (p.proto) {
    case 6:
    case 17:
    case 132:
    case 136: {
      const port = src ? p.sport : p.dport;
      return port < 0 || (!src && p.dstUncertain) ? undefined : { proto: p.proto, port };
    }
    case 1:
    case 58:
      return p.icmpType < 0 || p.icmpCode < 0 ? undefined : { proto: p.proto, port: p.icmpType * 256 + p.icmpCode };
    default:
      return { proto: p.proto, port: 0 };
  }
}

function readDim(part: IpsetPart, family: 4 | 6, netmask: number | null): Dim | null {
  if (part.kind === 'ip' || part.kind === 'net') return readAddress(part.value, family, part.kind === 'ip' ? netmask : null);
  if (part.kind !== 'port') return null;
  const proto = part.proto === undefined ? 6 : protocolNumber(part.proto);
  if (proto === null) return null;
  if (proto === 1 || proto === 58) {
    const spec = icmpTypeSpec(part.port, proto === 1 ? 4 : 6);
    if (spec === null || spec.type === 255) return null;
    return { kind: 'port', proto, lo: spec.type * 256 + spec.codeMin, hi: spec.type * 256 + Math.min(spec.codeMax, 255) };
  }
  const dash = part.port.indexOf('-');
  const lo = parseUint(dash >= 0 ? part.port.slice(0, dash) : part.port, 65535);
  const hi = dash >= 0 ? parseUint(part.port.slice(dash + 1), 65535) : lo;
  if (lo === null || hi === null) return null;
  return { kind: 'port', proto, lo, hi };
}

function readAddress(text: string, family: 4 | 6, netmask: number | null): Dim | null {
  const parse = (s: string): bigint | null => {
    if (family === 4) {
      const v = parseIPv4(s);
      return v === null ? null : BigInt(v);
    }
    return parseIPv6(s);
  };
  const bits = family === 4 ? 32 : 128;
  const dash = text.indexOf('-');
  if (dash >= 0) {
    const lo = parse(text.slice(0, dash));
    const hi = parse(text.slice(dash + 1));
    return lo === null || hi === null ? null : { kind: 'addr', lo, hi, len: -1 };
  }
  const slash = text.indexOf('/');
  const addr = parse(slash >= 0 ? text.slice(0, slash) : text);
  let len = slash >= 0 ? parseUint(text.slice(slash + 1), bits) : (netmask ?? bits);
  if (addr === null || len === null) return null;
  if (len > bits) len = bits;
  const mask = family === 4 ? BigInt(maskV4(len)) : maskV6(len);
  const all = family === 4 ? 0xffffffffn : (1n << 128n) - 1n;
  return { kind: 'addr', lo: addr & mask, hi: (addr & mask) | (all ^ mask), len: family === 4 ? len : len + 1000 };
}

/**
 * Entries grouped by shape (the prefix length of each address dimension; ports exact), each
 * shape a map from the masked key; shapes tried most specific first so a `nomatch` entry wins
 * over a wider one. Ranges that are not prefixes are checked one by one afterwards.
 */
function buildIndex(entries: Entry[]): (values: (bigint | number)[], anyProto: boolean) => Tri {
  const shapes = new Map<string, { lens: number[]; map: Map<string, Entry> }>();
  const loose: Entry[] = [];
  for (const e of entries) {
    if (e.dims.some((d) => (d.kind === 'addr' ? d.len < 0 : d.lo !== d.hi))) {
      loose.push(e);
      continue;
    }
    const lens = e.dims.map((d) => (d.kind === 'addr' ? d.len : 0));
    const shapeKey = lens.join(',');
    let shape = shapes.get(shapeKey);
    if (shape === undefined) {
      shape = { lens, map: new Map() };
      shapes.set(shapeKey, shape);
    }
    const key = e.dims.map((d) => (d.kind === 'addr' ? d.lo.toString() : `${d.proto}:${d.lo}`)).join('|');
    if (!shape.map.has(key)) shape.map.set(key, e);
  }
  const ordered = [...shapes.values()].sort((a, b) => {
    for (let i = 0; i < a.lens.length; i++) if (a.lens[i] !== b.lens[i]) return b.lens[i] - a.lens[i];
    return 0;
  });
  return (values, anyProto) => {
    for (const shape of ordered) {
      let key = '';
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        const len = shape.lens[i];
        if (i > 0) key += '|';
        if (typeof v === 'bigint') key += maskTo(v, len).toString();
        else key += anyProto ? `6:${v % 65536}` : `${Math.floor(v / 65536)}:${v % 65536}`;
      }
      const hit = shape.map.get(key);
      if (hit !== undefined) return hit.nomatch ? NO : YES;
    }
    for (const e of loose) {
      if (e.nomatch) continue;
      let ok = true;
      for (let i = 0; i < values.length && ok; i++) {
        const d = e.dims[i];
        const v = values[i];
        if (d.kind === 'addr') ok = typeof v === 'bigint' && v >= d.lo && v <= d.hi;
        else {
          const num = v as number;
          const proto = Math.floor(num / 65536);
          const port = num % 65536;
          ok = (anyProto || proto === d.proto) && port >= d.lo && port <= d.hi;
        }
      }
      if (ok) return YES;
    }
    return NO;
  };
}

/** The value masked to a prefix length (IPv4 lengths as is, IPv6 ones offset by 1000). */
function maskTo(v: bigint, len: number): bigint {
  if (len >= 1000) return v & maskV6(len - 1000);
  return v & BigInt(maskV4(len));
}
