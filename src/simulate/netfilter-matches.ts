/**
 * Compiled forms of the `-m` modules the evaluator decides: tcp, udp, icmp, icmp6, multiport,
 * conntrack, state, addrtype, mark, connmark, comment, physdev, set, iprange and limit. A module
 * or option it does not know compiles to a match that answers "cannot tell".
 */
import type { IptablesMatch, IptablesOption } from '../../parsers/iptables-save.js';
import { parseIPv4, parseIPv6 } from '../net/address.js';
import {
  addressIn,
  interfaceTest,
  parseAddressMask,
  parseMarkMask,
  parsePortRange,
  unknownMatch,
  type AddressMask,
} from './netfilter-core.js';
import { ADDRESS_TYPES, CT_STATES, icmpTypeSpec, tcpFlagMask } from './netfilter-names.js';
import { NO, UNKNOWN, YES, type MatchFn, type PacketState, type Tri } from './netfilter-types.js';

const TCP = 6;
const UDP = 17;
const ICMP = 1;
const ICMPV6 = 58;
/** Protocols whose ports multiport reads. */
const PORT_PROTOCOLS = new Set([TCP, UDP, 33, 132, 136]);

/** Compiles one `-m` module into its option tests (all must hold). */
export function compileModule(m: IptablesMatch, family: 4 | 6): MatchFn[] {
  switch (m.module) {
    case 'tcp':
    case 'udp':
      return compilePorts(m, m.module === 'tcp' ? TCP : UDP);
    case 'icmp':
    case 'icmp6':
    case 'ipv6-icmp':
    case 'icmpv6':
      return compileIcmp(m, m.module === 'icmp' ? 4 : 6);
    case 'multiport':
      return m.options.map(compileMultiport);
    case 'conntrack':
      return m.options.map(compileConntrackOption);
    case 'state':
      return m.options.map((o) => (o.name === 'state' ? stateTest(o) : unknownOption(m, o)));
    case 'addrtype':
      return [compileAddrtype(m)];
    case 'mark':
    case 'connmark':
      return m.options.map((o) => (o.name === 'mark' ? markTest(o, m.module === 'connmark') : unknownOption(m, o)));
    case 'comment':
      return [];
    case 'limit':
      return [(p) => {
        p.notes.add('-m limit is treated as matching (rates are not simulated)');
        return YES;
      }];
    case 'physdev':
      return [compilePhysdev(m)];
    case 'set':
      return compileSet(m);
    case 'iprange':
      return m.options.map((o) => iprangeTest(m, o, family));
    default:
      return [unknownMatch(`-m ${m.module} is not evaluated`)];
  }
}

function unknownOption(m: IptablesMatch, o: IptablesOption): MatchFn {
  return unknownMatch(`-m ${m.module} --${o.name} is not evaluated`);
}

function bad(m: IptablesMatch, o: IptablesOption): MatchFn {
  return unknownMatch(`-m ${m.module} --${o.name} ${o.args.join(' ')}: cannot read the value`);
}

function compilePorts(m: IptablesMatch, proto: number): MatchFn[] {
  const tests: MatchFn[] = [(p) => (p.proto === proto && !p.fragment ? YES : NO)];
  for (const o of m.options) {
    switch (o.name) {
      case 'sport':
      case 'source-port':
      case 'dport':
      case 'destination-port': {
        const range = parsePortRange(o.args[0] ?? '');
        if (range === null || o.args.length !== 1) {
          tests.push(bad(m, o));
          break;
        }
        tests.push(portTest(range, o.name === 'dport' || o.name === 'destination-port', o.negated, `--${o.name}`));
        break;
      }
      case 'tcp-flags':
      case 'syn': {
        const mask = o.name === 'syn' ? 0x17 : tcpFlagMask(o.args[0] ?? '');
        const comp = o.name === 'syn' ? 0x02 : tcpFlagMask(o.args[1] ?? '');
        if (proto !== TCP || mask === null || comp === null || o.args.length !== (o.name === 'syn' ? 0 : 2)) {
          tests.push(bad(m, o));
          break;
        }
        const negated = o.negated;
        tests.push((p) => (((p.tcpFlags & mask) === comp) !== negated ? YES : NO));
        break;
      }
      default:
        tests.push(unknownOption(m, o));
    }
  }
  return tests;
}

function portTest([lo, hi]: [number, number], dst: boolean, negated: boolean, flag: string): MatchFn {
  return (p) => {
    const port = dst ? p.dport : p.sport;
    if (port < 0) {
      p.why = `${flag}: the packet's ${dst ? 'destination' : 'source'} port is not given`;
      return UNKNOWN;
    }
    if (dst && p.dstUncertain) {
      p.why = 'the destination was translated to a range';
      return UNKNOWN;
    }
    return (port >= lo && port <= hi) !== negated ? YES : NO;
  };
}

function compileIcmp(m: IptablesMatch, family: 4 | 6): MatchFn[] {
  const proto = family === 4 ? ICMP : ICMPV6;
  const tests: MatchFn[] = [(p) => (p.proto === proto && !p.fragment ? YES : NO)];
  for (const o of m.options) {
    const spec = o.name === 'icmp-type' || o.name === 'icmpv6-type' ? icmpTypeSpec(o.args[0] ?? '', family) : null;
    if (spec === null) {
      tests.push(o.name === 'icmp-type' || o.name === 'icmpv6-type' ? bad(m, o) : unknownOption(m, o));
      continue;
    }
    const negated = o.negated;
    tests.push((p) => {
      if (p.icmpType < 0) {
        p.why = `--${o.name}: the packet's ICMP type is not given`;
        return UNKNOWN;
      }
      let hit = spec.type === 255 || p.icmpType === spec.type;
      if (hit && spec.type !== 255 && (spec.codeMin > 0 || spec.codeMax < 255)) {
        if (p.icmpCode < 0) {
          p.why = `--${o.name}: the packet's ICMP code is not given`;
          return UNKNOWN;
        }
        hit = p.icmpCode >= spec.codeMin && p.icmpCode <= spec.codeMax;
      }
      return hit !== negated ? YES : NO;
    });
  }
  return tests;
}

function compileMultiport(o: IptablesOption): MatchFn {
  const which = o.name === 'dports' || o.name === 'destination-ports' ? 'dst' : o.name === 'sports' || o.name === 'source-ports' ? 'src' : o.name === 'ports' ? 'both' : null;
  const ranges = o.args.map((a) => parsePortRange(a));
  if (which === null) return unknownMatch(`-m multiport --${o.name} is not evaluated`);
  if (ranges.some((r) => r === null) || ranges.length === 0) return unknownMatch(`-m multiport --${o.name} ${o.args.join(',')}: cannot read the ports`);
  const list = ranges as [number, number][];
  const negated = o.negated;
  const inList = (port: number): boolean => {
    for (const [lo, hi] of list) if (port >= lo && port <= hi) return true;
    return false;
  };
  return (p) => {
    if (p.fragment || !PORT_PROTOCOLS.has(p.proto)) return NO;
    if ((which !== 'src' && p.dport < 0) || (which !== 'dst' && p.sport < 0)) {
      p.why = `-m multiport --${o.name}: the packet's ports are not given`;
      return UNKNOWN;
    }
    if (which !== 'src' && p.dstUncertain) {
      p.why = 'the destination was translated to a range';
      return UNKNOWN;
    }
    const hit = which === 'dst' ? inList(p.dport) : which === 'src' ? inList(p.sport) : inList(p.sport) || inList(p.dport);
    return hit !== negated ? YES : NO;
  };
}

function stateMask(args: string[]): number | null {
  let mask = 0;
  for (const a of args) {
    for (const name of a.split(',')) {
      const bit = CT_STATES[name.toUpperCase()];
      if (bit === undefined) return null;
      mask |= bit;
    }
  }
  return mask;
}

function stateTest(o: IptablesOption): MatchFn {
  const mask = stateMask(o.args);
  if (mask === null) return unknownMatch(`--${o.name} ${o.args.join(',')}: unknown state`);
  const negated = o.negated;
  return (p) => (((mask & (p.ctBit | p.natBits)) !== 0) !== negated ? YES : NO);
}

/** True when the packet has a conntrack entry (not INVALID, not UNTRACKED). */
function hasConntrack(p: PacketState): boolean {
  return p.ctBit !== CT_STATES.INVALID && p.ctBit !== CT_STATES.UNTRACKED;
}

function compileConntrackOption(o: IptablesOption): MatchFn {
  if (o.name === 'ctstate') return stateTest(o);
  const negated = o.negated;
  // Without an entry every option other than --ctstate fails (xt_conntrack).
  const withEntry = (test: (p: PacketState) => Tri): MatchFn => (p) => {
    if (!hasConntrack(p)) return NO;
    if (p.ctBit !== CT_STATES.NEW) {
      p.why = `--${o.name}: the connection's original tuple is not known for a ${p.ctBit === CT_STATES.ESTABLISHED ? 'ESTABLISHED' : 'RELATED'} packet`;
      return UNKNOWN;
    }
    const r = test(p);
    return r === UNKNOWN ? r : (r === YES) !== negated ? YES : NO;
  };
  switch (o.name) {
    case 'ctproto': {
      const proto = o.args[0] === undefined ? null : protocolOf(o.args[0]);
      if (proto === null) return unknownMatch(`--ctproto ${o.args.join(' ')}: unknown protocol`);
      return withEntry((p) => (proto === 0 || p.proto === proto ? YES : NO));
    }
    case 'ctorigsrc':
    case 'ctorigdst': {
      const am = parseAddressMask(o.args[0] ?? '');
      if (am === null) return unknownMatch(`--${o.name} ${o.args.join(' ')}: cannot read the address`);
      const dst = o.name === 'ctorigdst';
      return withEntry((p) => (origAddressIn(p, am, dst) ? YES : NO));
    }
    case 'ctorigsrcport':
    case 'ctorigdstport': {
      const range = parsePortRange(o.args[0] ?? '');
      if (range === null) return unknownMatch(`--${o.name} ${o.args.join(' ')}: cannot read the port`);
      const dst = o.name === 'ctorigdstport';
      return withEntry((p) => {
        const port = dst ? p.origDport : p.origSport;
        if (port < 0) {
          p.why = `--${o.name}: the packet's port is not given`;
          return UNKNOWN;
        }
        return port >= range[0] && port <= range[1] ? YES : NO;
      });
    }
    default:
      return unknownMatch(`-m conntrack --${o.name} is not evaluated`);
  }
}

function protocolOf(text: string): number | null {
  const lower = text.toLowerCase();
  if (lower === 'tcp') return TCP;
  if (lower === 'udp') return UDP;
  if (lower === 'icmp') return ICMP;
  if (lower === 'icmpv6' || lower === 'ipv6-icmp') return ICMPV6;
  if (lower === 'all') return 0;
  const n = Number(lower);
  return Number.isInteger(n) && n >= 0 && n <= 255 ? n : null;
}

function origAddressIn(p: PacketState, am: AddressMask, dst: boolean): boolean {
  if (am.family !== p.family) return false;
  if (am.family === 4) return ((dst ? p.origDst4 : p.origSrc4) & am.mask) >>> 0 === am.value;
  return ((dst ? p.origDst6 : p.origSrc6) & am.mask) === am.value;
}

function compileAddrtype(m: IptablesMatch): MatchFn {
  const checks: { dst: boolean; mask: number; names: string; negated: boolean }[] = [];
  let limitIn: string | undefined;
  let limitOut: string | undefined;
  for (const o of m.options) {
    if (o.name === 'limit-iface-in') limitIn = 'in';
    else if (o.name === 'limit-iface-out') limitOut = 'out';
    else if (o.name === 'src-type' || o.name === 'dst-type') {
      let mask = 0;
      for (const a of o.args) {
        for (const name of a.split(',')) {
          const t = ADDRESS_TYPES[name.toUpperCase()];
          if (t === undefined) return unknownMatch(`-m addrtype --${o.name} ${o.args.join(' ')}: unknown type`);
          mask |= 1 << t;
        }
      }
      checks.push({ dst: o.name === 'dst-type', mask, names: o.args.join(','), negated: o.negated });
    } else return unknownOption(m, o);
  }
  const limited = limitIn !== undefined || limitOut !== undefined;
  return (p) => {
    let dev: string | undefined;
    if (limited) {
      dev = limitIn !== undefined ? p.inDev : p.outDev;
      if (dev === undefined || dev === '') {
        p.why = `-m addrtype --limit-iface-${limitIn !== undefined ? 'in' : 'out'}: the packet's interface is not known on this hook`;
        return UNKNOWN;
      }
    }
    let result: Tri = YES;
    for (const c of checks) {
      const r = p.family === 4 ? addrtype4(p, c.dst, c.mask, dev) : addrtype6(p, c.dst, c.mask, dev);
      if (r === UNKNOWN) {
        p.why = `-m addrtype --${c.dst ? 'dst' : 'src'}-type ${c.names}: the host's address types are not given`;
        result = UNKNOWN;
        continue;
      }
      if ((r === YES) === c.negated) return NO;
    }
    return result;
  };
}

function addrtype4(p: PacketState, dst: boolean, mask: number, dev: string | undefined): Tri {
  if (dst && p.dstUncertain) return UNKNOWN;
  const type = p.addressType(p, dst, dev);
  if (type === undefined) return UNKNOWN;
  return (mask & (1 << type)) !== 0 ? YES : NO;
}

const T_UNSPEC = 1 << ADDRESS_TYPES.UNSPEC;
const T_UNICAST = 1 << ADDRESS_TYPES.UNICAST;
const T_LOCAL = 1 << ADDRESS_TYPES.LOCAL;
const T_MULTICAST = 1 << ADDRESS_TYPES.MULTICAST;

/** xt_addrtype's IPv6 test: UNSPEC/UNICAST/MULTICAST from the address, LOCAL from the host. */
function addrtype6(p: PacketState, dst: boolean, mask: number, dev: string | undefined): Tri {
  if (dst && p.dstUncertain) return UNKNOWN;
  if ((mask & ~(T_UNSPEC | T_UNICAST | T_LOCAL | T_MULTICAST)) !== 0) return UNKNOWN;
  const addr = dst ? p.dst6 : p.src6;
  const multicast = addr >> 120n === 0xffn;
  if ((mask & T_MULTICAST) !== 0 && !multicast) return NO;
  if ((mask & T_UNICAST) !== 0 && (multicast || addr === 0n)) return NO;
  if ((mask & T_UNSPEC) !== 0 && addr !== 0n) return NO;
  if ((mask & T_LOCAL) !== 0) {
    const type = p.addressType(p, dst, dev);
    if (type === undefined) return UNKNOWN;
    return type === ADDRESS_TYPES.LOCAL ? YES : NO;
  }
  return YES;
}

function markTest(o: IptablesOption, connmark: boolean): MatchFn {
  const mm = parseMarkMask(o.args[0] ?? '');
  if (mm === null) return unknownMatch(`--mark ${o.args.join(' ')}: cannot read the mark`);
  const { value, mask } = mm;
  const negated = o.negated;
  if (connmark) return (p) => (!hasConntrack(p) ? NO : ((p.ctmark & mask) >>> 0 === value) !== negated ? YES : NO);
  return (p) => (((p.mark & mask) >>> 0 === value) !== negated ? YES : NO);
}

function compilePhysdev(m: IptablesMatch): MatchFn {
  let bridged: boolean | undefined;
  let isIn: boolean | undefined;
  let isOut: boolean | undefined;
  let inName: { test: (d: string) => boolean; negated: boolean } | undefined;
  let outName: { test: (d: string) => boolean; negated: boolean } | undefined;
  for (const o of m.options) {
    switch (o.name) {
      case 'physdev-is-bridged': bridged = !o.negated; break;
      case 'physdev-is-in': isIn = !o.negated; break;
      case 'physdev-is-out': isOut = !o.negated; break;
      case 'physdev-in': inName = { test: interfaceTest(o.args[0] ?? ''), negated: o.negated }; break;
      case 'physdev-out': outName = { test: interfaceTest(o.args[0] ?? ''), negated: o.negated }; break;
      default: return unknownOption(m, o);
    }
  }
  return (p) => {
    const pd = p.physdev;
    if (pd === undefined) {
      p.why = '-m physdev: whether the packet was bridged is not given';
      return UNKNOWN;
    }
    if (pd === null) {
      // Not bridged: only inverted options can hold (xt_physdev).
      if (bridged === true || isIn === true || isOut === true) return NO;
      if ((inName !== undefined && !inName.negated) || (outName !== undefined && !outName.negated)) return NO;
      return YES;
    }
    const hasOut = pd.out !== undefined;
    const hasIn = pd.in !== undefined;
    if (bridged !== undefined && hasOut !== bridged) return NO;
    if (isIn !== undefined && hasIn !== isIn) return NO;
    if (isOut !== undefined && hasOut !== isOut) return NO;
    if (inName !== undefined && pd.in !== undefined && inName.test(pd.in) === inName.negated) return NO;
    if (outName !== undefined && pd.out !== undefined && outName.test(pd.out) === outName.negated) return NO;
    return YES;
  };
}

function compileSet(m: IptablesMatch): MatchFn[] {
  const tests: MatchFn[] = [];
  let returnNomatch = false;
  for (const o of m.options) {
    if (o.name === 'return-nomatch') returnNomatch = true;
    else if (o.name === 'update-counters' || o.name === 'update-subcounters') continue;
    else if (o.name !== 'match-set') tests.push(unknownOption(m, o));
  }
  if (returnNomatch) return [unknownMatch('-m set --return-nomatch is not evaluated')];
  for (const o of m.options) {
    if (o.name !== 'match-set') continue;
    const [name, dirs] = o.args;
    const flags = (dirs ?? '').split(',').map((d) => d === 'src');
    if (name === undefined || dirs === undefined || (dirs ?? '').split(',').some((d) => d !== 'src' && d !== 'dst')) {
      tests.push(bad(m, o));
      continue;
    }
    const negated = o.negated;
    tests.push((p) => {
      const set = p.sets.get(name);
      if (set === undefined) {
        p.why = `-m set --match-set ${name}: the set is not in the ipset listing`;
        return UNKNOWN;
      }
      const r = set(p, flags);
      if (r === UNKNOWN) return r;
      return (r === YES) !== negated ? YES : NO;
    });
  }
  return tests;
}

function iprangeTest(m: IptablesMatch, o: IptablesOption, family: 4 | 6): MatchFn {
  if (o.name !== 'src-range' && o.name !== 'dst-range') return unknownOption(m, o);
  const [loText, hiText] = (o.args[0] ?? '').split('-');
  const dst = o.name === 'dst-range';
  const negated = o.negated;
  if (family === 4 || (loText ?? '').indexOf(':') < 0) {
    const lo = parseIPv4(loText ?? '');
    const hi = parseIPv4(hiText ?? loText ?? '');
    if (lo === null || hi === null) return bad(m, o);
    return (p) => {
      if (dst && p.dstUncertain) return UNKNOWN;
      if (p.family !== 4) return NO;
      const a = dst ? p.dst4 : p.src4;
      return (a >= lo && a <= hi) !== negated ? YES : NO;
    };
  }
  const lo = parseIPv6(loText ?? '');
  const hi = parseIPv6(hiText ?? loText ?? '');
  if (lo === null || hi === null) return bad(m, o);
  return (p) => {
    if (dst && p.dstUncertain) return UNKNOWN;
    if (p.family !== 6) return NO;
    const a = dst ? p.dst6 : p.src6;
    return (a >= lo && a <= hi) !== negated ? YES : NO;
  };
}

export { addressIn };
