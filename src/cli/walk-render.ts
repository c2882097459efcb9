/** `hostcheck route get ... --walk`: the packet walk's stages that decide, one line each, with the lines that decide. */
import type { Origin } from '../model/records.js';
import { safeLines } from '../report/terminal.js';
import { decisionPlace } from '../simulate/netfilter-hooks.js';
import type { RouteLookupResult } from '../simulate/route-lookup.js';
import type { Walk, WalkStage } from '../simulate/walk.js';

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

function quote(o: Origin | undefined): string {
  if (o === undefined || o.lineNumber <= 0) return '';
  return `\n${' '.repeat(18)}${o.source ?? 'input'} line ${o.lineNumber}: ${o.text.trim().replace(/\t/g, ' ')}`;
}

function routeLine(r: RouteLookupResult): string {
  const head = ['unicast', 'local', 'broadcast', 'multicast', 'anycast'].includes(r.type)
    ? `${r.type === 'unicast' ? '' : `${r.type} `}${r.via ? `via ${r.via} ` : ''}${r.dev ? `dev ${r.dev}` : ''}${r.table && r.table !== 'main' ? ` table ${r.table}` : ''}${r.src ? ` src ${r.src}` : ''}`
    : `${r.type === 'none' ? 'no route (Network is unreachable)' : r.type}${r.table ? ` (table ${r.table})` : ''}`;
  const rule = r.rule && r.rule.origin.lineNumber > 0 && !(r.rule.priority === 32766 && r.rule.table === 'main') ? quote(r.rule.origin) : '';
  return `${head.trim()}${rule}${quote(r.route?.origin)}`;
}

/** A stage's name in its column, with at least one space after a name as wide as the column. */
const label = (name: string): string => (name.length >= 14 ? `${name} ` : name.padEnd(14));

function stageText(s: WalkStage): string | undefined {
  switch (s.kind) {
    case 'conntrack':
      return `${label('conntrack')}${s.state} — ${s.why}`;
    case 'route': {
      const q = s.query;
      const what = s.why === 'socket' ? 'route (socket)' : s.why === 'input' ? 'route (input)' : 'reroute';
      return `${label(what)}${String(q.dst)}${q.src ? ` from ${String(q.src)}` : ''}${q.iif ? ` iif ${q.iif}` : ''}${q.mark ? ` mark ${hex(q.mark)}` : ''}: ${routeLine(s.result)}`;
    }
    case 'hook': {
      const lines: string[] = [];
      for (const c of s.changes) lines.push(`${c.table}/${c.chain} rule ${c.rule.position}: ${c.what}${quote(c.rule.origin)}`);
      for (const d of s.decisions) {
        if (d.rule === undefined && !(d.policy && d.verdict !== 'accept') && d.verdict !== 'undecided') continue;
        if (d.rule !== undefined && s.changes.some((c) => c.rule === d.rule) && d.verdict === 'accept') continue;
        const where = decisionPlace(d);
        lines.push(`${where}: ${d.verdict}${d.verdict === 'undecided' && s.reason ? ` (${s.reason})` : ''}${quote(d.rule?.origin)}`);
      }
      if (s.verdict !== 'accept' && s.decidedBy === undefined && s.reason) lines.push(s.reason);
      if (lines.length === 0) return undefined;
      return `${label(s.hook)}${lines.join(`\n${' '.repeat(16)}`)}`;
    }
    case 'rp-filter':
      return `rp_filter     ${s.mode === 1 ? 'strict' : 'loose'} on ${s.dev}: ${s.pass ? 'passes' : 'drops'} (route back: ${routeLine(s.reverse)})${s.evidence.map((e) => quote(e.origin)).join('')}`;
    case 'martian':
      return `martian       ${s.what}`;
    case 'forwarding':
      return `forwarding    ${s.on ? 'on' : 'off'} for ${s.dev}${s.evidence.map((e) => quote(e.origin)).join('')}`;
    case 'ttl':
      return `ttl           ${s.ttl}: expires here`;
    case 'bridge-nf':
      return `bridge-nf     ${s.on ? 'bridged packets cross iptables' : 'bridged packets skip iptables'}${s.evidence.map((e) => quote(e.origin)).join('')}`;
    case 'unseen':
      return `${label('not evaluated')}${s.where}: ${s.what.join('; ')}${s.origins.map((o) => quote(o)).join('')}`;
  }
}

const OUTCOME: Record<Walk['outcome'], string> = {
  delivered: 'delivered to a local socket',
  sent: 'sent',
  forwarded: 'forwarded',
  bridged: 'bridged',
  dropped: 'dropped',
  rejected: 'rejected',
  unroutable: 'not sent (the socket gets an error)',
  undecided: 'undecided',
};

/** The walk as text: a head line with the outcome, then each stage that decides (every line made safe for a terminal). */
export function renderWalk(title: string, w: Walk): string {
  const p = w.final;
  const leaves = w.outDev ? ` by ${w.outDev}${w.via ? ` via ${w.via}` : ''}` : '';
  const head = `${title}: ${OUTCOME[w.outcome]}${leaves}${w.reason ? ` — ${w.reason}` : ''}`;
  const lines = [head];
  for (const s of w.stages) {
    if (!s.decides && s.kind !== 'route' && s.kind !== 'conntrack') continue;
    const t = stageText(s);
    if (t !== undefined) lines.push(`  ${t}`);
  }
  if (w.outcome !== 'dropped' && w.outcome !== 'rejected' && w.outcome !== 'unroutable') {
    lines.push(`  ${'packet'.padEnd(14)}${p.srcUncertain ? '(translated)' : p.src}${p.sport !== undefined ? `:${p.sport}` : ''} → ${p.dstUncertain ? '(translated)' : p.dst}${p.dport !== undefined ? `:${p.dport}` : ''}${p.mark ? ` mark ${hex(p.mark)}` : ''}${p.ctmark ? ` ctmark ${hex(p.ctmark)}` : ''}`);
  }
  for (const n of w.notes) lines.push(`  note: ${n}`);
  return lines.map(safeLines).join('\n') + '\n';
}
