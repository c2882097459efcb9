/**
 * IPv4 and IPv6 addresses and prefixes as numbers: IPv4 as an unsigned 32-bit number,
 * IPv6 as a 128-bit bigint. Parsing returns null on bad input; nothing here throws on text.
 */

export type Family = 4 | 6;

export type Address =
  | { family: 4; value: number }
  | { family: 6; value: bigint };

export type Prefix =
  | { family: 4; value: number; len: number }
  | { family: 6; value: bigint; len: number };

const V6_ALL = (1n << 128n) - 1n;

/** Parse dotted-quad IPv4 into an unsigned 32-bit number, or null. */
export function parseIPv4(s: string): number | null {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0) return null;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
      if (dots > 3) return null;
    } else if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      digits++;
      if (digits > 3 || octet > 255) return null;
    } else {
      return null;
    }
  }
  if (dots !== 3 || digits === 0) return null;
  return value * 256 + octet;
}

/** Parse an IPv6 address (with `::`, embedded IPv4, optional `%zone`) into a bigint, or null. */
export function parseIPv6(input: string): bigint | null {
  let s = input;
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  if (s.length < 2 || s.length > 45) return null;
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const groups: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const g = items[i];
      if (i === items.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g);
        if (v4 === null) return null;
        groups.push(Math.floor(v4 / 65536), v4 % 65536);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
        groups.push(parseInt(g, 16));
      }
    }
    return groups;
  };
  let groups: number[];
  if (dbl >= 0) {
    const head = parseGroups(s.slice(0, dbl));
    const tail = parseGroups(s.slice(dbl + 2));
    if (!head || !tail || head.length + tail.length > 7) return null;
    groups = [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseGroups(s);
    if (!all || all.length !== 8) return null;
    groups = all;
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  return v;
}

/** Parse either family. */
export function parseAddress(s: string): Address | null {
  if (s.includes(':')) {
    const v = parseIPv6(s);
    return v === null ? null : { family: 6, value: v };
  }
  const v = parseIPv4(s);
  return v === null ? null : { family: 4, value: v };
}

/** Mask of the top `len` bits of an IPv4 address, as an unsigned number. */
export function maskV4(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

export function maskV6(len: number): bigint {
  return len === 0 ? 0n : (V6_ALL << BigInt(128 - len)) & V6_ALL;
}

/**
 * Parse `A.B.C.D/len`, a bare address (host prefix), or `default` (needs the family).
 * Host bits must be zero unless `allowHostBits` (addresses like 10.0.0.5/24 on interfaces).
 */
export function parsePrefix(s: string, family: Family = 4, allowHostBits = false): Prefix | null {
  if (s === 'default' || s === 'all' || s === 'any') {
    return family === 4 ? { family: 4, value: 0, len: 0 } : { family: 6, value: 0n, len: 0 };
  }
  const slash = s.indexOf('/');
  const addrText = slash >= 0 ? s.slice(0, slash) : s;
  const addr = parseAddress(addrText);
  if (!addr) return null;
  const max = addr.family === 4 ? 32 : 128;
  let len = max;
  if (slash >= 0) {
    const lenText = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText)) return null;
    len = Number(lenText);
    if (len > max) return null;
  }
  if (addr.family === 4) {
    const masked = (addr.value & maskV4(len)) >>> 0;
    if (!allowHostBits && masked !== addr.value) return null;
    return { family: 4, value: allowHostBits ? addr.value : masked, len };
  }
  const masked = addr.value & maskV6(len);
  if (!allowHostBits && masked !== addr.value) return null;
  return { family: 6, value: allowHostBits ? addr.value : masked, len };
}

export function formatIPv4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** RFC 5952 text form of an IPv6 address. */
export function formatIPv6(v: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function formatAddress(a: Address): string {
  return a.family === 4 ? formatIPv4(a.value) : formatIPv6(a.value);
}

export function formatPrefix(p: Prefix): string {
  return `${p.family === 4 ? formatIPv4(p.value) : formatIPv6(p.value)}/${p.len}`;
}

/** True when `p` contains address `a` (same family). */
export function prefixContains(p: Prefix, a: Address): boolean {
  if (p.family !== a.family) return false;
  if (p.family === 4) return ((a.value as number) & maskV4(p.len)) >>> 0 === p.value;
  return ((a.value as bigint) & maskV6(p.len)) === (p.value & maskV6(p.len));
}

/** True when the two prefixes share at least one address. */
export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  if (a.family !== b.family) return false;
  const len = Math.min(a.len, b.len);
  if (a.family === 4) {
    const m = maskV4(len);
    return ((a.value & m) >>> 0) === (((b.value as number) & m) >>> 0);
  }
  const m = maskV6(len);
  return (a.value & m) === ((b.value as bigint) & m);
}

/** True when `outer` contains all of `inner`. */
export function prefixCovers(outer: Prefix, inner: Prefix): boolean {
  return outer.family === inner.family && outer.len <= inner.len && prefixesOverlap(outer, inner);
}

/** RFC 1918, RFC 6598 (CGNAT) and IPv6 ULA space: where container bridges and VPCs live. */
export const PRIVATE_PREFIXES: Prefix[] = [
  parsePrefix('10.0.0.0/8')!,
  parsePrefix('172.16.0.0/12')!,
  parsePrefix('192.168.0.0/16')!,
  parsePrefix('100.64.0.0/10')!,
  parsePrefix('fc00::/7', 6)!,
];
