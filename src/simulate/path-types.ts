/**
 * The path tracer's question and answer (`hostcheck path`, `GET /api/path`), and the walk's own
 * types that path.ts (hosts) and path-cloud.ts (cloud nodes) share.
 */
import type { Evidence } from '../model/finding.js';
import type { HostSnapshot } from '../model/snapshot.js';
import type { VpnGateway } from '../model/topology.js';

export interface PathQuery {
  /** A host's name (as its snapshot or the topology knows it) or an IP address. */
  from: string;
  to: string;
  /** Source address; default: the one the first host's route lookup picks. */
  source?: string;
  /** `icmp` (default), `tcp/N` or `udp/N`. */
  port?: string;
  /** TTL of the first packet (default: the source host's net.ipv4.ip_default_ttl, else 64). */
  ttl?: number;
}

export type PathOutcome = 'delivered' | 'loop' | 'blackhole' | 'dropped' | 'left';

/** One node's handling of the packet. */
export interface PathHop {
  /** Host name (snapshot) or cloud node (`vpn-gateway vpn-x`, `vpc-router vsw-y`). */
  node: string;
  kind: 'host' | 'vpn-gateway' | 'vpc-router';
  /** Interface (or "vpc") the packet arrived on; absent where it was sent. */
  iif?: string;
  action: 'send' | 'forward' | 'deliver' | 'drop' | 'blackhole' | 'encrypt' | 'leave';
  /** Where it goes next: device, gateway, the address of the next node. */
  dev?: string;
  via?: string;
  /** The TTL the packet arrived with (sent with, for the first hop). */
  ttl: number;
  /** One line: what decided (route, rule, policy, firewall). */
  note: string;
  evidence: Evidence[];
}

export interface PathLeg {
  src: string;
  dst: string;
  outcome: PathOutcome;
  hops: PathHop[];
  /** loop: the nodes that repeat, in order. */
  cycle?: string[];
  /** loop: who answers "Time to live exceeded" and from which address. */
  timeExceeded?: { node: string; address?: string; hop: number };
  /** dropped / blackhole / left: one line saying where and why. */
  detail?: string;
}

export interface PathResult {
  query: PathQuery;
  forward: PathLeg;
  /** The reply's path, when the request was delivered. */
  reply?: PathLeg;
  notes: string[];
}

/** The query could not be answered (unknown start host, bad address). */
export class PathQueryError extends Error {
  override name = 'PathQueryError';
}

// The walk (path.ts, path-cloud.ts).

/** A topology node on the path: a VPN gateway or a VPC router. */
export interface CloudNode {
  /** `vpn-gateway vpn-x` or `vpc-router vsw-y`: unique, used in hops and cycles. */
  name: string;
  kind: 'vpn-gateway' | 'vpc-router';
  /** The node's private address (what traceroute shows). */
  address?: string;
  gateway?: VpnGateway;
  vpc?: string;
  vswitch?: string;
}

/** Where a packet is: a host (with the interface it arrived on) or a cloud node. */
export type PathNode = { kind: 'host'; snapshot: HostSnapshot; iif?: string } | { kind: 'cloud'; node: CloudNode; iif?: string };

/** What one node did: the hop, and where the packet goes next (if anywhere). */
export interface Step {
  hop: PathHop;
  next?: PathNode;
  outcome?: PathLeg['outcome'];
  detail?: string;
}

export interface Packet {
  src: string;
  dst: string;
  proto: 'icmp' | 'tcp' | 'udp';
  dport?: number;
  ttl: number;
  /** A reply (echo reply, ESTABLISHED) rather than a new request. */
  reply?: boolean;
}
