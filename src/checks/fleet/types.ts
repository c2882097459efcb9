/**
 * What a fleet check receives and returns. A fleet check sees every host's model through a
 * FleetView (the aggregator's index), never text, and returns findings whose `key` equals the
 * host check's key for the same host and subject, so the two merge into one finding.
 */
import type { Finding, Severity } from '../../model/finding.js';
import type { RouteRecord } from '../../model/records.js';
import type { HostSnapshot } from '../../model/snapshot.js';
import type { Topology } from '../../model/topology.js';
import type { Prefix } from '../../net/address.js';

/** A host's address peers reach it by (global scope, on an uplink). */
export interface IndexedAddress {
  host: string;
  address: string;
  iface: string;
}

/** A route through a bridge or tunnel (non-uplink, non-loopback) that could capture a peer. */
export interface IndexedRoute {
  host: string;
  prefix: Prefix;
  route: RouteRecord;
  iface: string;
}

/** The fleet as a fleet check may query it. */
export interface FleetView {
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

/** A fleet finding names both sides: `pair` is [the host that cannot be reached, the host at fault]. */
export interface FleetFinding extends Finding {
  pair: [string, string];
  /** Fleet hosts between the pair whose routes the finding depends on (re-matched when they report). */
  via?: string[];
}

export interface FleetCheckContext {
  fleet: FleetView;
  /** Incremental: only findings that involve this host. Undefined: the whole fleet. */
  host?: string;
  /** The cloud topology file (`hostcheck serve --topology`): VPN gateways, VPC route tables. */
  topology?: Topology;
}

export interface FleetCheck {
  /** Equal to the file name; equal to the host check's id when both find the same thing. */
  id: string;
  title: string;
  severity: Severity;
  explain: string;
  run(ctx: FleetCheckContext): FleetFinding[];
  /**
   * True when a run for `ctx.host` recomputes this check's findings of every host (the host's
   * change can move any host's result, e.g. a router's): the matcher then resolves whatever of this
   * check that run did not find again, so the result does not depend on the order hosts report in.
   */
  coversFleet?(ctx: FleetCheckContext): boolean;
}
