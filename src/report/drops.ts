/** `hostcheck drops`: what the kernel dropped during a window, each row tied to the finding that explains it. */
import type { Finding } from '../model/finding.js';
import type { DropRow, KernelWindow } from '../model/kernel.js';
import { safeText } from './terminal.js';

export interface DropsReport {
  host: string;
  seconds: number;
  /** Drop reasons come from tracefs, which is system-wide; counters are this network namespace's. */
  dropReasons: { status: 'read' | 'unavailable'; message?: string; systemWide: true; sampled?: NonNullable<KernelWindow['drops']>['sampled'] };
  rows: DropRow[];
  /** The findings rows point at, by key: check, severity, summary. */
  findings: Pick<Finding, 'key' | 'check' | 'severity' | 'subject' | 'summary'>[];
  missing: string[];
}

export function buildDropsReport(host: string, window: KernelWindow, rows: DropRow[], findings: readonly Finding[]): DropsReport {
  const used = new Set(rows.flatMap((r) => r.explainedBy));
  const d = window.drops ?? { status: 'unavailable' as const, message: 'not asked', drops: [], systemWide: true as const };
  return {
    host,
    seconds: window.seconds,
    dropReasons: { status: d.status, ...(d.message ? { message: d.message } : {}), systemWide: true, ...(d.sampled ? { sampled: d.sampled } : {}) },
    rows,
    findings: findings.filter((f) => used.has(f.key)).map((f) => ({ key: f.key, check: f.check, severity: f.severity, subject: f.subject, summary: f.summary })),
    missing: window.missing,
  };
}

export function renderDrops(r: DropsReport): string {
  const out = [`hostcheck drops on ${safeText(r.host)} over ${Number(r.seconds.toPrecision(3))} s`];
  const name = new Map(r.findings.map((f) => [f.key, `${f.check} (${f.subject})`]));
  const line = (row: DropRow) => `  ${safeText(row.what)}: ${row.kind === 'reason' ? `${row.count} drop${row.count === 1 ? '' : 's'}` : `+${row.count}`} — ${row.explainedBy.length ? `explained by ${row.explainedBy.map((k) => safeText(name.get(k) ?? k)).join(', ')}` : 'unexplained'}`;
  const reasons = r.rows.filter((x) => x.kind === 'reason');
  const counters = r.rows.filter((x) => x.kind === 'counter');
  if (r.dropReasons.status === 'unavailable') out.push(`drop reasons: unavailable: ${safeText(r.dropReasons.message ?? 'unknown')}`);
  else {
    out.push(`drop reasons (skb:kfree_skb, system-wide: every network namespace on this machine)${reasons.length ? ':' : ': none'}`);
    out.push(...reasons.map(line));
    if (r.dropReasons.sampled) out.push(`  sampled: the cap of ${r.dropReasons.sampled.capPerSecond} events/s was reached in ${r.dropReasons.sampled.secondsCapped} second(s)`);
  }
  out.push(`drop counters (this network namespace)${counters.length ? ':' : ': none moved'}`);
  out.push(...counters.map(line));
  for (const m of r.missing) out.push(`not read: ${safeText(m)}`);
  return out.join('\n') + '\n';
}
