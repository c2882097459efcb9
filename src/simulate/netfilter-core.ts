/**
 * Compiled forms of the core rule matches (-s -d -i -o -p -f) and the small value parsers the
 * module matches share (address masks, port ranges, marks). Each returns a MatchFn closure.
 */
import type { IptablesValue } from '../model/netfilter.js';
import { maskV4, maskV6, parseIPv4, parseIPv6 } from '../net/address.js';
import { protocolNumber, parseUint } from './netfilter-names.js';
import { NO, UNKNOWN, YES, type MatchFn, type PacketState, type Tri } from './netfilter-types.js';

/** A match that always answers UNKNOWN with `reason`. */
export function unknownMatch(reason: string): MatchFn {
  return (p) => {
    p.why = reason;
    return UNKNOWN;
  };
}

/** An address with its mask, in one family. */
export type AddressMask =
  | { family: 4; value: number; mask: number }
  | { family: 6; value: bigint; mask: bigint };

/** `10.0.0.0/8`, `10.0.0.0/255.0.255.0`, `10.0.0.1`, `2001:db8::/32` → address and mask, or null. */
export function parseAddressMask(text: string): AddressMask | null {
  const slash = text.indexOf('/');
  const addrText = slash >= 0 ? text.slice(0, slash) : text;
  const maskText = slash >= 0 ? text.slice(slash + 1) : '';
  if (addrText.indexOf(':') >= 0) {
    const v = parseIPv6(addrText);
    if (v === null) return null;
    let mask = maskV6(128);
    if (slash >= 0) {
      const len = parseUint(maskText, 128);
      if (len !== null) mask = maskV6(len);
      else {
        const m = parseIPv6(maskText);
        if (m === null) return null;
        mask = m;
      }
    }
    return { family: 6, value: v & mask, mask };
  }
  const v = parseIPv4(addrText);
  if (v === null) return null;
  let mask = 0xffffffff;
  if (slash >= 0) {
    const len = parseUint(maskText, 32);
    if (len !== null) mask = maskV4(len);
    else {
      const m = parseIPv4(maskText);
      if (m === null) return null;
      mask = m;
    }
  }
  return { family: 4, value: (v & mask) >>> 0, mask };
}

/** True when the state's source (or destination) address is inside `am`. */
export function addressIn(p: PacketState, am: AddressMask, dst: boolean): boolean {
  if (am.family !== p.family) return false;
  if (am.family === 4) return ((dst ? p.dst4 : p.src4) & am.mask) >>> 0 === am.value;
  return ((dst ? p.dst6 : p.src6) & am.mask) === am.value;
}

/** `-s` / `-d` (a comma list is any of them), with `!`. */
export function compileAddress(v: IptablesValue, dst: boolean): MatchFn {
  const items: AddressMask[] = [];
  for (const part of v.value.split(',')) {
    const am = parseAddressMask(part);
    if (am === null) return unknownMatch(`cannot read address ${v.value}`);
    items.push(am);
  }
  const negated = v.negated;
  if (items.length === 1) {
    const am = items[0];
    if (am.family === 4) {
      const { value, mask } = am;
      return (p) => {
        if (dst && p.dstUncertain) return uncertainDst(p);
        if (p.family !== 4) return NO;
        const hit = ((dst ? p.dst4 : p.src4) & mask) >>> 0 === value;
        return hit !== negated ? YES : NO;
      };
    }
  }
  return (p) => {
    if (dst && p.dstUncertain) return uncertainDst(p);
    let hit = false;
    for (const am of items) if (addressIn(p, am, dst)) hit = true;
    return hit !== negated ? YES : NO;
  };
}

function uncertainDst(p: PacketState): Tri {
  p.why = 'the destination was translated to a range';
  return UNKNOWN;
}

/** Interface name test with iptables' trailing `+` wildcard. */
export function interfaceTest(name: string): (dev: string) => boolean {
  if (name.endsWith('+')) {
    const prefix = name.slice(0, -1);
    return (dev) => dev.startsWith(prefix);
  }
  return (dev) => dev === name;
}

/** `-i` / `-o` with `!`; undecided when the packet does not say its device. */
export function compileInterface(v: IptablesValue, out: boolean): MatchFn {
  const test = interfaceTest(v.value);
  const negated = v.negated;
  const flag = out ? '-o' : '-i';
  return (p) => {
    const dev = out ? p.outDev : p.inDev;
    if (dev === undefined) {
      p.why = `${flag} ${v.value}: the packet's ${out ? 'output' : 'input'} interface is not given`;
      return UNKNOWN;
    }
    return test(dev) !== negated ? YES : NO;
  };
}

/** `-p` with names or numbers and `!`; `all`/0 matches every protocol. */
export function compileProtocol(v: IptablesValue): MatchFn {
  const proto = protocolNumber(v.value);
  if (proto === null) return unknownMatch(`unknown protocol ${v.value}`);
  const negated = v.negated;
  if (proto === 0) return () => (negated ? NO : YES);
  return (p) => ((p.proto === proto) !== negated ? YES : NO);
}

/** `-f` / `! -f`. */
export function compileFragment(negated: boolean): MatchFn {
  return (p) => (p.fragment !== negated ? YES : NO);
}

/** A port range `a`, `a:b`, `:b`, `a:`; null when unreadable. */
export function parsePortRange(text: string): [number, number] | null {
  const colon = text.indexOf(':');
  if (colon < 0) {
    const v = parseUint(text, 65535);
    return v === null ? null : [v, v];
  }
  const lo = colon === 0 ? 0 : parseUint(text.slice(0, colon), 65535);
  const hi = colon === text.length - 1 ? 65535 : parseUint(text.slice(colon + 1), 65535);
  if (lo === null || hi === null) return null;
  return [lo, hi];
}

/** `value[/mask]` marks: the value and mask as unsigned numbers (mask default all ones). */
export function parseMarkMask(text: string): { value: number; mask: number } | null {
  const slash = text.indexOf('/');
  const value = parseUint(slash >= 0 ? text.slice(0, slash) : text, 0xffffffff);
  const mask = slash >= 0 ? parseUint(text.slice(slash + 1), 0xffffffff) : 0xffffffff;
  if (value === null || mask === null) return null;
  return { value, mask };
}
