/**
 * The fleet family: every fleet check over a fleet view, and how their findings combine. A fleet
 * check returns one finding per pair it confirms; findings that share a key are one finding
 * whose `pairs` (and `via`) list them all. The aggregator's matcher keeps them per pair across
 * incremental runs (src/aggregator/fleet-match.ts); `hostcheck path` runs everything at once.
 */
import { sortFindings } from '../model/finding.js';
import type { Topology } from '../model/topology.js';
import { mergeSameKey } from './fleet-finding.js';
import { checksOf } from './index.js';
import type { FleetContext, FleetFinding, FleetView } from './types.js';

/** One fleet check run: every fleet family, in registry order. */
export function runFleetChecks(ctx: FleetContext): FleetFinding[] {
  const out: FleetFinding[] = [];
  // A loop, not push(...): a full match of a large fleet can return more items than the stack holds.
  for (const check of checksOf('fleet')) for (const f of check.families.fleet!(ctx)) out.push(f);
  return out;
}

/** Every fleet finding of a fleet view and topology, merged by key and sorted (`hostcheck path`). */
export function analyzeFleet(fleet: FleetView, topology?: Topology): FleetFinding[] {
  const byKey = new Map<string, FleetFinding[]>();
  for (const f of runFleetChecks({ fleet, ...(topology && { topology }) })) {
    const list = byKey.get(f.key);
    if (list) list.push(f); else byKey.set(f.key, [f]);
  }
  return sortFindings([...byKey.values()].map(mergeSameKey)) as FleetFinding[];
}
