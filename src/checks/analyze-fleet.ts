/**
 * The fleet family: every fleet check over a fleet view, and how their findings combine. A fleet
 * check returns one finding per pair it confirms; findings that share a key are one finding
 * whose `pairs` (and `via`) list them all. The aggregator's matcher keeps them per pair across
 * incremental runs (src/aggregator/fleet-match.ts); `hostcheck path` runs everything at once.
 */
import { sortFindings } from '../model/finding.js';
import type { Topology } from '../model/topology.js';
import { checksOf } from './index.js';
import type { FleetContext, FleetFinding, FleetView } from './types.js';

/** One fleet check run: every fleet family, in registry order. */
export function runFleetChecks(ctx: FleetContext): FleetFinding[] {
  const out: FleetFinding[] = [];
  // A loop, not push(...): a full match of a large fleet can return more items than the stack holds.
  for (const check of checksOf('fleet')) for (const f of check.families.fleet!(ctx)) out.push(f);
  return out;
}

/** Which pair a finding stands for ("" for none): findings of one key are told apart by it. */
export function pairId(f: FleetFinding): string {
  return f.pairs.length === 0 ? '' : f.pairs.length === 1 ? `${f.pairs[0][0]}\u0000${f.pairs[0][1]}` : f.pairs.map((p) => p.join('\u0000')).join('\n');
}

/** Findings of one key as one: the last one's text, every pair and via host (sorted). */
export function mergeSameKey(findings: readonly FleetFinding[]): FleetFinding {
  if (findings.length === 1) return findings[0];
  const last = findings[findings.length - 1];
  const pairs = new Map<string, [string, string]>();
  const via = new Set<string>();
  for (const f of findings) {
    for (const p of f.pairs) pairs.set(`${p[0]}\u0000${p[1]}`, p);
    for (const v of f.via ?? []) via.add(v);
  }
  const { via: _, ...rest } = last;
  return { ...rest, pairs: [...pairs.values()].sort((a, b) => cmp(a[0], b[0]) || cmp(a[1], b[1])), ...(via.size > 0 && { via: [...via].sort() }) };
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Every fleet finding of a fleet view and topology, merged by key and sorted (`hostcheck path`). */
export function analyzeFleet(fleet: FleetView, topology?: Topology): FleetFinding[] {
  const byKey = new Map<string, FleetFinding[]>();
  for (const f of runFleetChecks({ fleet, ...(topology && { topology }) })) {
    const list = byKey.get(f.key);
    if (list) list.push(f); else byKey.set(f.key, [f]);
  }
  return sortFindings([...byKey.values()].map(mergeSameKey)) as FleetFinding[];
}
