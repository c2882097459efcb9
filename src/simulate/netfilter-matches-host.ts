/**
 * Compiled forms of the modules that read what the host knows about a packet beyond its
 * headers: conntrack state (conntrack, state), marks (mark, connmark), address types
 * (addrtype), bridge ports (physdev) and ipsets (set).
 */
import type { IptablesMatch, IptablesOption } from '../model/netfilter.js';
import { interfaceTest, parseAddressMask, parseMarkMask, parsePortRange, unknownMatch, type AddressMask } from './netfilter-core.js';
import { ADDRESS_TYPES, CT_STATES } from './netfilter-names.js';
import { NO, UNKNOWN, YES, type MatchFn, type PacketState, type Tri } from './netfilter-types.js';

const TCP = 6;
const UDP = 17;
const ICMP = 1;
const ICMPV6 = 58;

function unknownOption(m: IptablesMatch, o: IptablesOption): MatchFn {
  return unknownMatch(`-m ${m.module} --${o.name} is not evaluated`);
}

function bad(m: IptablesMatch, o: IptablesOption): MatchFn {
  return unknownMatch(`-m ${m.module} --${o.name} ${o.args.join(' ')}: cannot read the value`);
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

export function stateTest(o: IptablesOption): MatchFn {
  const mask = stateMask(o.args);
  if (mask === null) return unknownMatch(`--${o.name} ${o.args.join(',')}: unknown state`);
  const negated = o.negated;
  return (p) => {
    if (p.ctUnknown !== undefined && p.ctBit !== CT_STATES.UNTRACKED) {
      p.why = `--${o.name} ${o.args.join(',')}: ${p.ctUnknown}`;
      return UNKNOWN;
    }
    // SNAT/DNAT are the entry's status bits: a packet without one (before conntrack in raw, untracked) has none (xt_conntrack).
    const bits = hasConntrack(p) ? p.ctBit | p.natBits : p.ctBit;
    return ((mask & bits) !== 0) !== negated ? YES : NO;
  };
}

/** True when the packet has a conntrack entry (not INVALID, not UNTRACKED). */
function hasConntrack(p: PacketState): boolean {
  return p.ctBit !== CT_STATES.INVALID && p.ctBit !== CT_STATES.UNTRACKED;
}

export function compileConntrackOption(o: IptablesOption): MatchFn {
  if (o.name === 'ctstate') return stateTest(o);
  const negated = o.negated;
  if (o.name === 'ctdir') {
    const reply = (o.args[0] ?? '').toUpperCase() === 'REPLY';
    if (!reply && (o.args[0] ?? '').toUpperCase() !== 'ORIGINAL') return unknownMatch(`--ctdir ${o.args.join(' ')}: unknown direction`);
    // xt_conntrack: a packet without an entry fails --ctdir either way.
    return (p) => {
      if (!hasConntrack(p)) return NO;
      if (p.ctUnknown !== undefined) {
        p.why = `--ctdir: ${p.ctUnknown}`;
        return UNKNOWN;
      }
      return (p.ctReply === reply) !== negated ? YES : NO;
    };
  }
  // Without an entry every option other than --ctstate fails (xt_conntrack).
  const withEntry = (test: (p: PacketState) => Tri): MatchFn => (p) => {
    if (!hasConntrack(p)) return NO;
    if (!p.ctOrigKnown) {
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

export function compileAddrtype(m: IptablesMatch): MatchFn {
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

export function markTest(o: IptablesOption, connmark: boolean): MatchFn {
  const mm = parseMarkMask(o.args[0] ?? '');
  if (mm === null) return unknownMatch(`--mark ${o.args.join(' ')}: cannot read the mark`);
  const { value, mask } = mm;
  const negated = o.negated;
  if (connmark) {
    return (p) => {
      if (!hasConntrack(p)) return NO;
      if (p.ctUnknown !== undefined) {
        p.why = `-m connmark --mark ${o.args.join(' ')}: ${p.ctUnknown}`;
        return UNKNOWN;
      }
      return ((p.ctmark & mask) >>> 0 === value) !== negated ? YES : NO;
    };
  }
  return (p) => (((p.mark & mask) >>> 0 === value) !== negated ? YES : NO);
}

export function compilePhysdev(m: IptablesMatch): MatchFn {
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

export function compileSet(m: IptablesMatch): MatchFn[] {
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
