/**
 * The one shape of a check and what each of its families receives. A check is one id, one
 * title and explanation, and one set of finding builders; it runs in one or more families:
 *
 * - `host`: one host's model (the one-shot, `--bundle`, the agent);
 * - `fleet`: every host's model at once (`hostcheck serve`, `hostcheck path`);
 * - `trace`: the path a traceroute saw (`hostcheck trace`).
 *
 * Checks never see text: only the model, the simulator and the traceroute's path.
 */
import type { WhatMatters } from '../model/config.js';
import type { Finding, Severity } from '../model/finding.js';
import type { RouteRecord } from '../model/records.js';
import type { HostSnapshot } from '../model/snapshot.js';
import type { Topology } from '../model/topology.js';
import type { Prefix } from '../net/address.js';
import type { TraceLoop } from '../trace/loop.js';
import type { AddressNamer } from '../trace/names.js';
import type { TracePath } from '../trace/path.js';

export type Family = 'host' | 'fleet' | 'trace';

/** The families in the order `hostcheck explain` and the docs name them. */
export const FAMILIES: readonly Family[] = ['host', 'fleet', 'trace'];

/** What a host check receives: what matters to the analysis (config, flags, fleet context) and the host. */
export interface HostContext extends WhatMatters {
  /** The host's name in findings. */
  host: string;
  snapshot: HostSnapshot;
}

/** A host's address peers reach it by (global scope, on an uplink). */
export interface IndexedAddress {
  host: string;
  address: string;
  iface: string;
  /** The MTU of `iface` as the host reported it. */
  mtu?: number;
}

/** A route through a bridge or tunnel (non-uplink, non-loopback) that could capture a peer. */
export interface IndexedRoute {
  host: string;
  prefix: Prefix;
  route: RouteRecord;
  iface: string;
}

/** The fleet as a fleet check may query it (the aggregator's index, or `hostcheck path`'s bundles). */
export interface FleetView {
  /** How many hosts. */
  readonly size: number;
  hosts(): Iterable<string>;
  snapshot(host: string): HostSnapshot | undefined;
  /** Other hosts' addresses inside `prefix`. */
  addressesIn(prefix: Prefix): IndexedAddress[];
  /** Capture routes of all hosts that contain `address`. */
  routesContaining(address: string): IndexedRoute[];
  addressesOf(host: string): IndexedAddress[];
  routesOf(host: string): IndexedRoute[];
  vpcOf(host: string): string[];
}

/**
 * A fleet finding: a finding (the same key and text as the host check's for the same situation)
 * plus the hosts it breaks. A fleet check returns one per pair it confirms; the matcher merges
 * those that share a key into one finding whose `pairs` lists them all.
 */
export interface FleetFinding extends Finding {
  /**
   * [the host that cannot be reached, the host at fault] for each pair the finding breaks; the
   * second may be a topology node (a cloud VPN gateway's id). Empty when the fault is known but
   * no fleet host is seen suffering it.
   */
  pairs: [string, string][];
  /** Fleet hosts between a pair whose routes the finding depends on (re-matched when they report). */
  via?: string[];
}

/** What a fleet check receives. */
export interface FleetContext {
  fleet: FleetView;
  /** Incremental: only findings that involve this host (as a pair's side, `via`, or the finding's host). Undefined: the whole fleet. */
  host?: string;
  /** The cloud topology file (`hostcheck serve --topology`, `hostcheck path --topology`). */
  topology?: Topology;
}

/** What a trace check receives: the path a traceroute saw, never a host snapshot. */
export interface TraceContext {
  /** The trace's source in findings ("local" when unknown). */
  host: string;
  path: TracePath;
  /** The loop the trace ends in, found once for every check. */
  loop?: TraceLoop;
  names: AddressNamer;
  topology?: Topology;
}

/** One check: `id` equals its file (or folder) name in src/checks and its entry in docs/checks.md. */
export interface Check {
  id: string;
  title: string;
  /** The highest severity it reports. */
  severity: Severity;
  /** What it looks for and how to fix it (`hostcheck explain ID`, docs/checks.md). */
  explain: string;
  /** Where it runs; at least one. */
  families: {
    host?: (ctx: HostContext) => Finding[];
    fleet?: (ctx: FleetContext) => FleetFinding[];
    trace?: (ctx: TraceContext) => Finding[];
  };
  /**
   * Fleet family: true when a run for `ctx.host` makes this check's findings of every host again
   * (the host's change can move any host's result, e.g. a router's): the matcher then resolves
   * whatever of this check that run did not find again, so the result does not depend on the
   * order hosts report in.
   */
  coversFleet?(ctx: FleetContext): boolean;
}

/** The families a check runs in, in FAMILIES order. */
export function familiesOf(c: Check): Family[] {
  return FAMILIES.filter((f) => c.families[f] !== undefined);
}
