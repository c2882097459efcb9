/** What a trace check receives and returns: the path a traceroute saw, never a host snapshot. */
import type { Finding, Severity } from '../model/finding.js';
import type { Topology } from '../model/topology.js';
import type { TraceLoop } from './loop.js';
import type { TracePath } from './path.js';

/** What an address is, as far as the topology file, bundles or the fleet know (undefined: unknown). */
export type AddressNamer = (address: string) => string | undefined;

export interface TraceContext {
  /** The trace's source in findings ("local" when unknown). */
  host: string;
  path: TracePath;
  /** The loop the trace ends in, found once for every check. */
  loop?: TraceLoop;
  names: AddressNamer;
  topology?: Topology;
}

export interface TraceCheck {
  /** Equal to the file name. */
  id: string;
  title: string;
  severity: Severity;
  /** What it looks for and how to fix it (docs/trace.md). */
  explain: string;
  run(ctx: TraceContext): Finding[];
}

/** `10.100.1.18 (the private address of VPN gateway vpn-x)`, or the bare address. */
export function named(ctx: TraceContext, address: string): string {
  const what = ctx.names(address);
  return what ? `${address} (${what})` : address;
}

/** The destination as findings name it. */
export function destinationOf(ctx: TraceContext): string {
  return ctx.path.destination ?? 'the destination';
}
