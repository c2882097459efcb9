/**
 * A fleet finding from a finding: the same words plus the pairs it breaks, and how findings of
 * one key (several pairs) combine into one.
 */
import type { Finding } from '../model/finding.js';
import type { FleetFinding } from './types.js';

/** The fields copied below; a field added to Finding fails to compile here until it is copied too (or named as left out). */
type Copied = 'check' | 'severity' | 'host' | 'subject' | 'key' | 'summary' | 'evidence' | 'why' | 'fix' | 'peers';
/** Left out: the route questions, counters and verdict of one host's live kernel (the aggregator keeps each host's verdict beside the fleet finding). */
type HostKernelOnly = 'queries' | 'signals' | 'kernel';
/** Left out: the aggregator's timeline sets these on what it stores, never a check. */
type TimelineOnly = 'trigger' | 'resolvedBy';
export const EVERY_FINDING_FIELD_COPIED: [Exclude<keyof Finding, Copied | HostKernelOnly | TimelineOnly>] extends [never] ? true : never = true;

/** `f` as a fleet finding: built whole rather than by adding `pairs` to `f` (the fleet match makes a million). */
export function fleetFinding(f: Finding, pairs: [string, string][], via?: string[]): FleetFinding {
  const { check, severity, host, subject, key, summary, evidence, why, fix, peers } = f;
  const out: FleetFinding = { check, severity, host, subject, key, summary, evidence, why, fix, peers, pairs };
  if (peers === undefined) delete out.peers;
  if (via && via.length > 0) out.via = via;
  return out;
}

/** Which pair a finding stands for ("" for none): findings of one key are told apart by it. */
export function pairId(f: FleetFinding): string {
  return f.pairs.length === 0 ? '' : f.pairs.length === 1 ? `${f.pairs[0][0]}\u0000${f.pairs[0][1]}` : f.pairs.map((p) => p.join('\u0000')).join('\n');
}

/** Findings of one key as one: the last one's words, every pair and via host (sorted). */
export function mergeSameKey(findings: readonly FleetFinding[]): FleetFinding {
  if (findings.length === 1) return findings[0];
  const pairs = new Map<string, [string, string]>();
  const via = new Set<string>();
  for (const f of findings) {
    for (const p of f.pairs) pairs.set(`${p[0]}\u0000${p[1]}`, p);
    for (const v of f.via ?? []) via.add(v);
  }
  return fleetFinding(findings[findings.length - 1], [...pairs.values()].sort((a, b) => cmp(a[0], b[0]) || cmp(a[1], b[1])), [...via].sort());
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
