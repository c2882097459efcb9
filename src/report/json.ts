/** The one-shot's JSON report (documented in docs/report-schema.md). */
import type { Finding } from '../model/finding.js';
import type { KernelEvidence, KernelWindow } from '../model/kernel.js';
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
  /** What the live kernel said, as a whole (each finding has its own `kernel`). */
  kernel: ReportKernel;
}

/** The kernel's part of a report (docs/kernel.md). */
export interface ReportKernel {
  /** `live`: this host's kernel was asked; `bundle`: a captured bundle, nothing was asked. */
  source: 'live' | 'bundle';
  /** The route questions the findings rest on, asked in one ip -force -batch (absent with --no-kernel). */
  routes?: { status: 'asked' | 'failed'; asked: number; agreed: number; contradicted: number; message?: string };
  /** `--watch SECONDS`: the drop counters that moved, what could not be read, the drop reasons. */
  window?: KernelWindow;
}

/** The report's kernel part from what was collected (undefined: a bundle) and the joined findings. */
export function reportKernel(evidence: KernelEvidence | undefined, findings: readonly Finding[]): ReportKernel {
  if (!evidence) return { source: 'bundle' };
  const out: ReportKernel = { source: 'live' };
  if (evidence.routes) {
    const asked = evidence.routes.answers.length;
    const contradicted = findings.filter((f) => f.check === 'simulator-disagrees').length;
    const unread = evidence.routes.answers.filter((a) => a.answer === undefined).length;
    out.routes = { status: evidence.routes.status, asked, agreed: asked - contradicted - unread, contradicted };
    if (evidence.routes.message) out.routes.message = evidence.routes.message;
  }
  if (evidence.window) out.window = evidence.window;
  return out;
}

export function buildReport(args: { version: string; snapshot: HostSnapshot; findings: Finding[]; ignored: string[]; notes: string[]; kernel?: ReportKernel }): Report {
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
    kernel: args.kernel ?? { source: 'bundle' },
  };
}
