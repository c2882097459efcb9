/** The human report: reads like an expert's answer — the finding, the evidence quoted, why, the fix. */
import type { Finding } from '../model/finding.js';
import type { Report, ReportKernel } from './json.js';
import { safeText } from './terminal.js';

export { safeText };

export interface Palette {
  red(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

export const plain: Palette = { red: (s) => s, yellow: (s) => s, cyan: (s) => s, dim: (s) => s, bold: (s) => s };
export const ansi: Palette = {
  red: (s) => `\x1b[31m${s}\x1b[0m`,
  yellow: (s) => `\x1b[33m${s}\x1b[0m`,
  cyan: (s) => `\x1b[36m${s}\x1b[0m`,
  dim: (s) => `\x1b[2m${s}\x1b[0m`,
  bold: (s) => `\x1b[1m${s}\x1b[0m`,
};

/** One finding as the human report shows it (the one-shot, `trace`, `path`): every field from the bundle made safe. */
export function renderFinding(f: Finding, c: Palette = plain, sourceCommand: (source: string) => string | undefined = () => undefined): string {
  const sev = f.severity === 'error' ? c.red('ERROR') : f.severity === 'warning' ? c.yellow('WARNING') : c.cyan('INFO');
  const out = [`${sev} ${c.bold(safeText(f.summary))}  ${c.dim(`[${safeText(f.check)}]`)}`];
  if (f.evidence.length) {
    out.push('  evidence:');
    for (const e of f.evidence) {
      const cmd = sourceCommand(e.source);
      out.push(`    ${c.dim(`${safeText(e.source)}${cmd ? ` (${safeText(cmd)})` : ''} line ${e.lineNumber}:`)}`);
      out.push(`      ${safeText(e.text)}`);
    }
  }
  out.push(`  why: ${safeText(f.why)}`);
  if (f.fix.length) {
    out.push('  fix:');
    for (const step of f.fix) out.push(`    ${safeText(step)}`);
  }
  if (f.trigger) out.push(`  trigger: ${safeText(f.trigger.text)}`);
  if (f.resolvedBy) out.push(`  resolved: ${safeText(f.resolvedBy.text)}`);
  if (f.kernel) {
    const status = f.kernel.status === 'confirmed' ? c.bold('confirmed') : f.kernel.status === 'contradicted' ? c.yellow('CONTRADICTED') : f.kernel.status;
    out.push(`  kernel: ${status}${f.kernel.evidence.length ? ` — ${safeText(f.kernel.evidence.join('; '))}` : ''}`);
  }
  return out.join('\n');
}

/** The run's kernel lines: what was asked and watched, what could not be read. */
export function kernelLines(k: ReportKernel): string[] {
  if (k.source === 'bundle') return ['kernel: a bundle: nothing was asked of a kernel (every finding: unavailable)'];
  const out: string[] = [];
  const r = k.routes;
  if (!r) out.push('kernel: route questions not asked (--no-kernel)');
  else if (r.status === 'failed') out.push(`kernel: route questions could not be asked: ${r.message ?? 'ip failed'}`);
  else if (r.asked > 0) out.push(`kernel: ${r.asked} route question(s) asked with ip route get: ${r.agreed} agree with the simulator, ${r.contradicted} contradict it`);
  const w = k.window;
  if (w) {
    out.push(`kernel: counters watched for ${Number(w.seconds.toPrecision(3))} s: ${w.counters.length === 0 ? 'no drop counter moved' : w.counters.map((x) => `${x.name} +${x.delta}`).join(', ')}`);
    for (const m of w.missing) out.push(`kernel: not read: ${m}`);
    const d = w.drops;
    if (d?.status === 'unavailable') out.push(`kernel: drop reasons unavailable: ${d.message ?? 'unknown'}`);
    else if (d) {
      out.push(`kernel: drop reasons (skb:kfree_skb) are system-wide: tracefs has no network namespaces, so drops in every namespace on this machine count${d.drops.length ? '' : '; none seen'}`);
      if (d.sampled) out.push(`kernel: drop reasons sampled: the cap of ${d.sampled.capPerSecond} events/s was reached in ${d.sampled.secondsCapped} second(s) (the event was off for the rest of each; ${d.sampled.eventsRead} events counted)`);
    }
  }
  return out;
}

export function renderText(report: Report, opts: { color: boolean; quiet?: boolean; sourceCommand?: (source: string) => string | undefined }): string {
  const c = opts.color ? ansi : plain;
  const cmd = opts.sourceCommand ?? (() => undefined);
  const out: string[] = [];
  const shown = opts.quiet ? report.findings.filter((f) => f.severity === 'error') : report.findings;
  if (!opts.quiet) out.push(c.dim(`hostcheck ${report.hostcheckVersion} on ${safeText(report.host)} at ${safeText(report.collectedAt ?? 'an unknown time')}`), '');
  for (const f of shown) out.push(renderFinding(f, c, cmd), '');
  if (!opts.quiet) {
    for (const n of report.notes) out.push(c.dim(`note: ${safeText(n)}`));
    const unread = report.sources.filter((s) => s.status !== 'collected' && (s.required || s.status === 'failed' || s.lacking));
    // A lacking source's message says what the bundle lacks; a status would only repeat it.
    for (const s of unread) out.push(c.yellow(`not read: ${safeText(s.name)}: ${s.lacking ? safeText(s.message ?? 'not in this bundle') : safeText(`${s.status}${s.message ? ` — ${s.message}` : ''}`)}`));
    for (const s of partlyRead(report)) out.push(c.yellow(`partly read: ${safeText(s.name)}: ${s.warnings} line(s) hostcheck could not read (hostcheck snapshot lists them)`));
    if (report.ignored.length) out.push(c.dim(`ignored: ${report.ignored.length} finding(s) (--ignore)`));
    for (const line of kernelLines(report.kernel)) out.push(c.dim(safeText(line)));
  }
  const { error, warning, info } = report.summary;
  const verdict = error ? c.red(`${error} error(s)`) : c.bold('no errors');
  const partly = partlyRead(report).length;
  const collection = !report.complete ? c.yellow('INCOMPLETE') : partly ? c.yellow(`complete, ${partly} source(s) partly read`) : 'complete';
  out.push(`${verdict}, ${warning} warning(s), ${info} info; collection ${collection}`);
  return out.join('\n') + '\n';
}

/** Sources that were collected but have lines their parser could not read: findings may miss what those lines held. */
function partlyRead(report: Report): Report['sources'] {
  return report.sources.filter((s) => s.status === 'collected' && s.warnings > 0);
}
