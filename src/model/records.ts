/**
 * Records the parsers produce: vendor-free, one per route, rule, link or address.
 * Every record keeps its `origin` (line number and exact text) so findings can quote it.
 * Prefixes stay in canonical text form ("10.0.0.0/8", "default" becomes "0.0.0.0/0" or "::/0");
 * the simulator turns them into numbers once, when it builds its tables.
 */

export type RouteType =
  | 'unicast' | 'local' | 'broadcast' | 'anycast' | 'multicast'
  | 'blackhole' | 'unreachable' | 'prohibit' | 'throw' | 'nat';

export interface Nexthop {
  via?: string;
  dev?: string;
  weight?: number;
  flags: string[];
  /** encap, realms and other per-nexthop attributes, kept as text. */
  extra?: Record<string, string>;
}

export interface RouteRecord {
  family: 4 | 6;
  type: RouteType;
  /** Canonical prefix text: "0.0.0.0/0" for an IPv4 default, "10.1.2.3/32" for a host route. */
  dst: string;
  /** Table name or number as printed ("main", "local", "100"); "main" when the line names none. */
  table: string;
  via?: string;
  dev?: string;
  src?: string;
  proto?: string;
  scope?: string;
  metric?: number;
  tos?: string;
  pref?: string;
  /** onlink, linkdown, dead, pervasive, offload, notify, ... */
  flags: string[];
  /** Multipath nexthops (empty for a single-path route). */
  nexthops: Nexthop[];
  nhid?: number;
  mtu?: number;
  expires?: string;
  /** Anything else the line carried (encap, metrics, cache ...), kept as key/value text. */
  extra?: Record<string, string>;
  origin: Origin;
}

export type RuleAction = 'lookup' | 'goto' | 'nop' | 'blackhole' | 'unreachable' | 'prohibit';

export interface RuleRecord {
  family: 4 | 6;
  priority: number;
  not: boolean;
  /** Canonical prefix text; "0.0.0.0/0" or "::/0" for `from all`. */
  from: string;
  to?: string;
  iif?: string;
  oif?: string;
  fwmark?: number;
  fwmask?: number;
  tos?: string;
  uidrange?: { start: number; end: number };
  ipproto?: string;
  sport?: { start: number; end: number };
  dport?: { start: number; end: number };
  action: RuleAction;
  /** Table for `lookup`. */
  table?: string;
  /** Target priority for `goto`. */
  goto?: number;
  suppressPrefixlength?: number;
  suppressIfgroup?: string;
  /** `[detached]` / `[unresolved]` and other flags. */
  flags: string[];
  /** proto, realms, map-to, tun_id, dscp, flowlabel ... kept as text. */
  extra?: Record<string, string>;
  origin: Origin;
}

export type LinkKind =
  | 'loopback' | 'ethernet' | 'bridge' | 'veth' | 'vxlan' | 'macvlan' | 'ipvlan' | 'bond'
  | 'vlan' | 'tun' | 'tap' | 'wireguard' | 'gre' | 'ipip' | 'sit' | 'dummy' | 'vrf'
  | 'openvswitch' | 'other';

export interface LinkRecord {
  ifindex?: number;
  name: string;
  /** Peer index / parent after the `@` ("if33", "eth2"). */
  parent?: string;
  kind: LinkKind;
  /** The kernel's kind text when known (`info_kind`), e.g. "bridge", "bond_slave"-less kind. */
  kindText?: string;
  flags: string[];
  mtu?: number;
  state?: string;
  master?: string;
  mac?: string;
  linkType?: string;
  linkNetnsid?: number;
  /** vxlan id, local, dev, dstport ... and other `-d` details. */
  details?: Record<string, string>;
  altnames?: string[];
  /** An XDP program attached to the device (`xdp`, `xdpgeneric`, `xdpoffload`, `xdpmulti` in the header). */
  xdp?: XdpAttachment;
  origin: Origin;
}

/** XDP on a device: the mode the header names and the programs `-d` lists (`prog/xdp id 27 name xdp_lb tag ...`). */
export interface XdpAttachment {
  mode: string;
  programs: { id?: number; name?: string; tag?: string; mode?: string }[];
  origin: Origin;
}

export interface AddressRecord {
  ifindex?: number;
  ifname: string;
  family: 4 | 6;
  /** Address with its prefix length, host bits kept: "172.17.0.1/16". */
  cidr: string;
  /** Point-to-point peer (`peer 10.0.0.2/32`). */
  peer?: string;
  broadcast?: string;
  scope?: string;
  label?: string;
  /** secondary, dynamic, noprefixroute, mngtmpaddr, tentative, deprecated, ... */
  flags: string[];
  metric?: number;
  validLft?: string;
  preferredLft?: string;
  origin: Origin;
}

/** `ip addr` gives both links and their addresses. */
export interface InterfaceBlock {
  link: LinkRecord;
  addresses: AddressRecord[];
}

/** Where a record came from: the line (1-based) and its exact text, so findings can quote it. */
export interface Origin {
  /** Source name in a bundle (e.g. "ip-route-v4"); filled in when the snapshot is built. */
  source?: string;
  lineNumber: number;
  text: string;
}

/** One entry of the neighbour table (`ip neigh show`): who the kernel found on a link. */
export interface NeighbourRecord {
  family: 4 | 6;
  /** The neighbour's address as printed ("192.168.50.11", "fe80::1"). */
  address: string;
  dev?: string;
  /** Link-layer address; absent while unresolved (INCOMPLETE, FAILED). */
  lladdr?: string;
  /** NUD states as printed: REACHABLE, STALE, DELAY, PROBE, INCOMPLETE, FAILED, NOARP, PERMANENT, NONE. */
  states: string[];
  /** `router` (an IPv6 neighbour that advertises itself as a router), `proxy`, `extern_learn`, `offload`. */
  flags: string[];
  origin: Origin;
}
