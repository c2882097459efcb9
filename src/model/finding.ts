/**
 * A finding is what a person acts on: which check, how bad, about what, the exact lines that
 * prove it, why it breaks traffic, and the fix. The same finding comes out of a live run, a
 * bundle and the aggregator, with the same `key`.
 */
import type { FindingTrigger } from './changes.js';
import type { FindingKernel, KernelSignal, RouteQuestion } from './kernel.js';
import type { Origin } from './records.js';

export type Severity = 'error' | 'warning' | 'info';

export interface Evidence {
  /** Bundle source name, e.g. "ip-route-v4" (the command is in the bundle's meta). */
  source: string;
  lineNumber: number;
  text: string;
}

export interface Finding {
  check: string;
  severity: Severity;
  host: string;
  /** What it is about: a prefix, an interface, a peer, a rule. */
  subject: string;
  /** check + host + subject: stable across runs, so the fleet tracks first seen and resolved. */
  key: string;
  summary: string;
  evidence: Evidence[];
  why: string;
  /** Commands or configuration, one step per entry. */
  fix: string[];
  /** Peers or remotes this finding names (for the fleet's pair verdicts). */
  peers?: string[];
  /** The route decisions it rests on, with the simulator's answers: a live host asks the kernel the same. */
  queries?: RouteQuestion[];
  /** The counters and drop reasons its cause moves when it bites (docs/kernel.md). */
  signals?: KernelSignal[];
  /** What the live kernel said (set when the report is made; `unavailable` for a bundle). */
  kernel?: FindingKernel;
  /** The change that most likely opened it (the aggregator's timeline; `hostcheck diff`). */
  trigger?: FindingTrigger;
  /** The change that most likely resolved it (the aggregator, once resolved). */
  resolvedBy?: FindingTrigger;
}

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

export function findingKey(check: string, host: string, subject: string): string {
  return `${check}|${host}|${subject}`;
}

/** Evidence from a record's origin; records without a source are quoted as "unknown". */
export function evidenceOf(origin: Origin | undefined): Evidence[] {
  if (!origin) return [];
  return [{ source: origin.source ?? 'unknown', lineNumber: origin.lineNumber, text: origin.text }];
}

/** Deterministic order: severity, host, check, subject. */
export function sortFindings(findings: Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
      cmp(a.host, b.host) || cmp(a.check, b.check) || cmp(a.subject, b.subject),
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Merge duplicate evidence lines, keeping first-seen order. */
export function uniqueEvidence(items: Evidence[]): Evidence[] {
  const seen = new Set<string>();
  return items.filter((e) => {
    const k = `${e.source}:${e.lineNumber}:${e.text}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
