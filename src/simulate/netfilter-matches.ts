/**
 * Compiled forms of the `-m` modules the evaluator decides, dispatched by name; the header
 * matches (tcp, udp, icmp, icmp6, multiport, iprange) live here, the ones that read host state
 * (conntrack, state, mark, connmark, addrtype, physdev, set) in netfilter-matches-host.ts.
 * A module or option it does not know compiles to a match that answers "cannot tell".
 */
import type { IptablesMatch, IptablesOption } from '../model/netfilter.js';
import { parseIPv4, parseIPv6 } from '../net/address.js';
import { parsePortRange, unknownMatch } from './netfilter-core.js';
import { compileAddrtype, compileConntrackOption, compilePhysdev, compileSet, markTest, stateTest } from './netfilter-matches-host.js';
import { icmpTypeSpec, tcpFlagMask } from './netfilter-names.js';
import { NO, UNKNOWN, YES, type MatchFn } from './netfilter-types.js';

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
    case 'limit': {
      const rate = m.options.map((o) => `--${o.name} ${o.args.join(' ')}`.trim()).join(' ');
      return [(p) => {
        if (p.rateLimits === 'undecided') {
          p.why = `-m limit ${rate}: matches while the packets stay under the rate, not above it`;
          return UNKNOWN;
        }
        p.notes.add('-m limit is treated as matching (rates are not simulated)');
        return YES;
      }];
    }
    case 'physdev':
      return [compilePhysdev(m)];
    case 'set':
      return compileSet(m);
    case 'iprange':
      return m.options.map((o) => iprangeTest(m, o, family));
    default:
      return [unknownMatch(HISTORY_MODULES[m.module] ? `-m ${m.module}: ${HISTORY_MODULES[m.module]}` : `-m ${m.module} is not evaluated`)];
  }
}

/** Modules whose answer depends on traffic before this packet, a rate, the clock or chance: no snapshot holds it. */
const HISTORY_MODULES: Record<string, string> = {
  recent: 'depends on which addresses this host saw before, in its recent lists',
  hashlimit: 'depends on the packet rate per address or flow',
  quota: 'depends on how many bytes passed before',
  connlimit: 'depends on how many connections are open',
  connbytes: 'depends on how much the connection carried before',
  statistic: 'matches by chance or every n-th packet',
  nth: 'matches every n-th packet',
  time: 'depends on the time of day',
};

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

