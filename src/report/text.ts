/** The human report: reads like an expert's answer — the finding, the evidence quoted, why, the fix. */
import type { Finding } from '../model/finding.js';
import type { Report } from './json.js';
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
  return out.join('\n');
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
