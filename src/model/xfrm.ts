/** `ip xfrm policy` / `ip xfrm state` records: selectors, templates, marks (parsers/ip-xfrm.ts makes them). */
import type { Origin } from './records.js';

/** The traffic a policy or state applies to. Prefixes in canonical text form. */
export interface XfrmSelector {
  src: string;
  dst: string;
  /** Upper-layer protocol as printed (`tcp`, `udp`, `ipv6-icmp`, a number). */
  proto?: string;
  sport?: number;
  dport?: number;
  /** ICMP type / code (printed as `type` / `code`). */
  icmpType?: number;
  icmpCode?: number;
  /** GRE key. */
  key?: number;
  dev?: string;
}

/** One `tmpl`: the SA a matching packet must use (`level use` makes it optional). */
export interface XfrmTemplate {
  /** Tunnel endpoints as printed (may be `0.0.0.0`/`::` in transport mode). */
  src: string;
  dst: string;
  proto?: string;
  spi?: string;
  reqid?: number;
  mode?: string;
  level?: 'required' | 'use';
  share?: string;
}

export interface XfrmMark {
  value: number;
  mask: number;
}

export interface XfrmPolicyRecord {
  family: 4 | 6;
  selector: XfrmSelector;
  /** Direction of a global policy; absent for socket policies. */
  dir?: 'in' | 'out' | 'fwd';
  /** Direction of a per-socket policy (`socket in|out`); absent for global policies. */
  socket?: 'in' | 'out';
  action: 'allow' | 'block';
  priority: number;
  ptype?: string;
  index?: number;
  share?: string;
  /** localok, icmp, or a hex remainder. */
  flags: string[];
  mark?: XfrmMark;
  ifId?: number;
  securityContext?: string;
  templates: XfrmTemplate[];
  origin: Origin;
}

/** One SA from `ip xfrm state`. Key material is never kept, only algorithm names. */
export interface XfrmStateRecord {
  family: 4 | 6;
  src: string;
  dst: string;
  proto?: string;
  spi?: string;
  reqid?: number;
  mode?: string;
  replayWindow?: number;
  flags: string[];
  mark?: XfrmMark;
  ifId?: number;
  /** Algorithms by role (`enc`, `auth`, `auth-trunc`, `aead`, `comp`): name only. */
  algorithms: Record<string, string>;
  encap?: { type: string; sport?: number; dport?: number; addr?: string };
  selector?: XfrmSelector;
  dir?: string;
  origin: Origin;
}
