/**
 * Names iptables accepts for protocols, ICMP types and address types, with the numbers the
 * kernel compares. Tables follow iptables 1.8 (libxt_icmp, libip6t_icmp6, xt_addrtype.h).
 */

/** Protocol names of `-p` (iptables' own list plus the usual /etc/protocols entries). */
const PROTOCOLS: Record<string, number> = {
  all: 0, ip: 0, icmp: 1, igmp: 2, ipencap: 4, ipip: 94, tcp: 6, egp: 8, igp: 9, udp: 17, idp: 22, dccp: 33,
  ipv6: 41, 'ipv6-route': 43, 'ipv6-frag': 44, rsvp: 46, gre: 47, esp: 50, ah: 51, icmpv6: 58,
  'ipv6-icmp': 58, 'ipv6-nonxt': 59, 'ipv6-opts': 60, ospf: 89, eigrp: 88, pim: 103, vrrp: 112, l2tp: 115,
  sctp: 132, mh: 135, 'ipv6-mh': 135, udplite: 136, mpls: 137,
};

/** The protocol number of a `-p` value (name or number), or null when unknown. */
export function protocolNumber(value: string): number | null {
  const lower = value.toLowerCase();
  const named = PROTOCOLS[lower];
  if (named !== undefined) return named;
  return parseUint(lower, 255);
}

/** A decimal (or 0x hex) integer within [0, max], or null. */
export function parseUint(s: string, max: number): number | null {
  if (s.length === 0) return null;
  let v: number;
  if (s.length > 2 && s.charCodeAt(0) === 48 && (s.charCodeAt(1) === 120 || s.charCodeAt(1) === 88)) {
    if (!/^[0-9a-fA-F]+$/.test(s.slice(2))) return null;
    v = parseInt(s.slice(2), 16);
  } else {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) return null;
    }
    v = Number(s);
  }
  return v <= max ? v : null;
}

/** An ICMP type with its code range; type 255 means any. */
export interface IcmpTypeSpec {
  type: number;
  codeMin: number;
  codeMax: number;
}

type NameTable = Record<string, [number, number, number]>;

const ICMP4: NameTable = {
  any: [255, 0, 255],
  'echo-reply': [0, 0, 255], pong: [0, 0, 255],
  'destination-unreachable': [3, 0, 255],
  'network-unreachable': [3, 0, 0], 'host-unreachable': [3, 1, 1], 'protocol-unreachable': [3, 2, 2],
  'port-unreachable': [3, 3, 3], 'fragmentation-needed': [3, 4, 4], 'source-route-failed': [3, 5, 5],
  'network-unknown': [3, 6, 6], 'host-unknown': [3, 7, 7], 'network-prohibited': [3, 9, 9],
  'host-prohibited': [3, 10, 10], 'TOS-network-unreachable': [3, 11, 11], 'TOS-host-unreachable': [3, 12, 12],
  'communication-prohibited': [3, 13, 13], 'host-precedence-violation': [3, 14, 14], 'precedence-cutoff': [3, 15, 15],
  'source-quench': [4, 0, 255],
  redirect: [5, 0, 255], 'network-redirect': [5, 0, 0], 'host-redirect': [5, 1, 1],
  'TOS-network-redirect': [5, 2, 2], 'TOS-host-redirect': [5, 3, 3],
  'echo-request': [8, 0, 255], ping: [8, 0, 255],
  'router-advertisement': [9, 0, 255], 'router-solicitation': [10, 0, 255],
  'time-exceeded': [11, 0, 255], 'ttl-exceeded': [11, 0, 255],
  'ttl-zero-during-transit': [11, 0, 0], 'ttl-zero-during-reassembly': [11, 1, 1],
  'parameter-problem': [12, 0, 255], 'ip-header-bad': [12, 0, 0], 'required-option-missing': [12, 1, 1],
  'timestamp-request': [13, 0, 255], 'timestamp-reply': [14, 0, 255],
  'address-mask-request': [17, 0, 255], 'address-mask-reply': [18, 0, 255],
};

const ICMP6: NameTable = {
  'destination-unreachable': [1, 0, 255], 'no-route': [1, 0, 0], 'communication-prohibited': [1, 1, 1],
  'beyond-scope': [1, 2, 2], 'address-unreachable': [1, 3, 3], 'port-unreachable': [1, 4, 4],
  'failed-policy': [1, 5, 5], 'reject-route': [1, 6, 6],
  'packet-too-big': [2, 0, 255],
  'time-exceeded': [3, 0, 255], 'ttl-exceeded': [3, 0, 255],
  'ttl-zero-during-transit': [3, 0, 0], 'ttl-zero-during-reassembly': [3, 1, 1],
  'parameter-problem': [4, 0, 255], 'bad-header': [4, 0, 0], 'unknown-header-type': [4, 1, 1], 'unknown-option': [4, 2, 2],
  'echo-request': [128, 0, 255], ping: [128, 0, 255], 'echo-reply': [129, 0, 255], pong: [129, 0, 255],
  'mld-listener-query': [130, 0, 255], 'mld-listener-report': [131, 0, 255],
  'mld-listener-done': [132, 0, 255], 'mld-listener-reduction': [132, 0, 255],
  'router-solicitation': [133, 0, 255], 'router-advertisement': [134, 0, 255],
  'neighbour-solicitation': [135, 0, 255], 'neighbor-solicitation': [135, 0, 255],
  'neighbour-advertisement': [136, 0, 255], 'neighbor-advertisement': [136, 0, 255],
  redirect: [137, 0, 255],
};

/** `--icmp-type` / `--icmpv6-type` value: a name, `type` or `type/code`; null when unreadable. */
export function icmpTypeSpec(value: string, family: 4 | 6): IcmpTypeSpec | null {
  const named = (family === 4 ? ICMP4 : ICMP6)[value];
  if (named !== undefined) return { type: named[0], codeMin: named[1], codeMax: named[2] };
  const slash = value.indexOf('/');
  const type = parseUint(slash >= 0 ? value.slice(0, slash) : value, 255);
  if (type === null) return null;
  if (slash < 0) return { type, codeMin: 0, codeMax: 255 };
  const code = parseUint(value.slice(slash + 1), 255);
  return code === null ? null : { type, codeMin: code, codeMax: code };
}

/** Address types of `-m addrtype`, as the kernel's route types (RTN_*). */
export const ADDRESS_TYPES: Record<string, number> = {
  UNSPEC: 0, UNICAST: 1, LOCAL: 2, BROADCAST: 3, ANYCAST: 4, MULTICAST: 5,
  BLACKHOLE: 6, UNREACHABLE: 7, PROHIBIT: 8, THROW: 9, NAT: 10, XRESOLVE: 11,
};

/** Connection tracking states as bits, for `--ctstate` and `--state`. */
export const CT_STATES: Record<string, number> = {
  INVALID: 1, ESTABLISHED: 2, RELATED: 4, NEW: 8, UNTRACKED: 16, SNAT: 32, DNAT: 64,
};

/** TCP flag bits by the names `--tcp-flags` takes. */
export const TCP_FLAGS: Record<string, number> = {
  FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80, ALL: 0xff, NONE: 0,
};

/** A comma list of TCP flag names as a bit mask, or null when a name is unknown. */
export function tcpFlagMask(list: string): number | null {
  let mask = 0;
  for (const name of list.split(',')) {
    const bit = TCP_FLAGS[name.toUpperCase()];
    if (bit === undefined) return null;
    mask |= bit;
  }
  return mask;
}
