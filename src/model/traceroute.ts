/** Traceroute, tracepath and mtr hops as the model holds them (parsers/traceroute.ts makes them). */
import type { Origin } from './records.js';

/** One probe: a reply (address and/or name, time) or a `*` timeout (no fields). */
export interface TracerouteProbe {
  address?: string;
  name?: string;
  rttMs?: number;
  /** `!H`, `!N`, `!P`, `!X`, `!S`, `!F-1500`, `!<10>`, `!`; tracepath: `asymm 3`, `reached`, `pmtu 1400`, `asymm 3 !H`. */
  annotation?: string;
  /** Origin AS as printed without brackets (`AS15169`); absent for `[*]`. */
  asn?: string;
}

/** One MPLS label stack entry (RFC 4950) reported by a hop. */
export interface TracerouteMplsLabel {
  label: number;
  cos?: number;
  ttl?: number;
  s?: number;
}

export interface TracerouteHop {
  hop: number;
  probes: TracerouteProbe[];
  mpls?: TracerouteMplsLabel[];
  origin: Origin;
}

/** The `traceroute to NAME (ADDR)[ from SRC], N hops max, M byte packets` line. */
export interface TracerouteHeader {
  destination: string;
  address?: string;
  source?: string;
  maxHops?: number;
  packetSize?: number;
  origin: Origin;
}

/** A parsed trace: its hops, and the header and messages the tool printed. */
export interface TracerouteRecords {
  records: TracerouteHop[];
  header?: TracerouteHeader;
  /** Messages the tool printed (`traceroute6: Warning: ... has multiple addresses; ...`). */
  messages?: string[];
}
