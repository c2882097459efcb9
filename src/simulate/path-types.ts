/** The path tracer's question and answer (`hostcheck path`, later `GET /api/path`). */
import type { Evidence } from '../model/finding.js';

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
