/** The one-shot's JSON report (documented in docs/report-schema.md). */
import type { Finding } from '../model/finding.js';
import type { HostSnapshot, SourceReport } from '../model/snapshot.js';

export const REPORT_SCHEMA_VERSION = 1;

export interface Report {
  schemaVersion: number;
  hostcheckVersion: string;
  host: string;
  collectedAt: string;
  /** True when every required source was collected. */
  complete: boolean;
  sources: SourceReport[];
  /** Things hostcheck could not decide or check, in words (e.g. "no peers or remotes to check against"). */
  notes: string[];
  findings: Finding[];
  /** Findings dropped by --ignore or the config's ignore list, by key. */
  ignored: string[];
  exitCode: number;
  summary: { error: number; warning: number; info: number };
}

export function buildReport(args: { version: string; snapshot: HostSnapshot; findings: Finding[]; ignored: string[]; notes: string[] }): Report {
  const summary = { error: 0, warning: 0, info: 0 };
  for (const f of args.findings) summary[f.severity]++;
  const exitCode = summary.error > 0 ? 1 : args.snapshot.complete ? 0 : 3;
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    hostcheckVersion: args.version,
    host: args.snapshot.identity.name,
    collectedAt: args.snapshot.collectedAt,
    complete: args.snapshot.complete,
    sources: args.snapshot.sources,
    notes: args.notes,
    findings: args.findings,
    ignored: args.ignored,
    exitCode,
    summary,
  };
}
