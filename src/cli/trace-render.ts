/** The human answer of `hostcheck trace`: the path with every address named, then the findings. */
import { renderFinding } from '../report/text.js';
import { safeText } from '../report/terminal.js';
import type { TraceAnalysis } from '../trace/analyze.js';
import type { AddressNamer } from '../trace/types.js';

export function renderTraceText(a: TraceAnalysis, names: AddressNamer, notes: readonly string[] = []): string {
  const p = a.path;
  const out = [`trace ${p.source ? `from ${safeText(p.source)} ` : ''}to ${safeText(p.destination ?? '(destination unknown)')}: ${p.hops.length} hops${p.reached ? ', reached' : ', not reached'}`];
  for (const h of p.hops) {
    const who = h.responders.map((r) => {
      const what = names(r);
      return what ? `${r} (${what})` : r;
    });
    const marks = h.endings.map((e) => e.annotation);
    out.push(`  ${String(h.hop).padStart(2)}  ${safeText(who.join(', ') || '*')}${marks.length ? ` ${safeText([...new Set(marks)].join(' '))}` : ''}`);
  }
  out.push('');
  for (const f of a.findings) out.push(renderFinding(f), '');
  for (const n of [...notes, ...a.notes]) out.push(`note: ${safeText(n)}`);
  const errors = a.findings.filter((f) => f.severity === 'error').length;
  const warnings = a.findings.filter((f) => f.severity === 'warning').length;
  out.push(`${errors ? `${errors} error(s)` : 'no errors'}, ${warnings} warning(s)`);
  return out.join('\n') + '\n';
}
