/**
 * Findings + what the live kernel said → findings that say whether the kernel agrees. Pure.
 *
 * - A route decision a finding rests on (`queries`) that the kernel answers the same way
 *   confirms it; one answered otherwise makes it `contradicted` (the simulator's analysis stays:
 *   the kernel confirms, it never decides alone) and adds a `simulator-disagrees` error.
 * - A counter or drop reason tied to the finding's cause (`signals`) that moved during the
 *   window confirms it; with a window and nothing moved it is `not-seen`.
 * - A bundle, or a finding nothing on the host can confirm, is `unavailable`.
 */
import { sortFindings, type Finding } from '../model/finding.js';
import { routeAnswerText, routeQueryText, type CounterDelta, type DropCount, type DropRow, type FindingKernel, type KernelEvidence, type KernelRouteAnswer, type KernelSignal, type KernelWindow, type RouteQuery } from '../model/kernel.js';
import { signalLabel, sameRule } from '../simulate/kernel-signals.js';
import { answersAgree } from '../simulate/route-get.js';
import { disagreementFinding } from './simulator-disagrees.js';

/** The kernel verdict of a finding from a bundle: nothing was asked. */
export const BUNDLE_KERNEL: FindingKernel = { status: 'unavailable', evidence: ['analysed from a bundle: the kernel was not asked (run hostcheck on the host)'] };

/** Seconds as the evidence prints them: "5 s", "0.5 s". */
function secondsText(s: number): string {
  return `${Number(s.toPrecision(3))} s`;
}

/** True when a counter delta is the signal's counter (by name, device, or the same netfilter rule). */
function counterOf(signal: KernelSignal, c: CounterDelta): boolean {
  if (signal.kind === 'counter') return c.name === signal.name;
  if (signal.kind === 'device') return c.device === signal.device && c.name === `${signal.device} ${signal.counter}`;
  if (signal.kind === 'rule') return c.rule !== undefined && sameRule(c.rule, signal.rule);
  return false;
}

/** True when drops of a reason at a location are the signal's. */
function dropOf(signal: KernelSignal, d: DropCount): boolean {
  return signal.kind === 'reason' && signal.reason === d.reason && (!signal.locations || signal.locations.includes(d.location));
}

/** What moved for one signal during the window, in evidence lines (empty: nothing moved). */
export function signalMoves(signal: KernelSignal, window: KernelWindow): string[] {
  const span = secondsText(window.seconds);
  if (signal.kind === 'reason') {
    if (window.drops?.status !== 'read') return [];
    const others = window.drops.otherNamespaces ?? 0;
    const scope = others > 0 ? `system-wide: ${others} other network namespace${others === 1 ? '' : 's'} on this machine, not attributed` : 'system-wide: this is the only network namespace';
    return window.drops.drops.filter((d) => dropOf(signal, d)).map((d) => `${d.reason} ${d.count} drop${d.count === 1 ? '' : 's'} in ${span} at ${d.location}${window.drops?.sampled ? ' (sampled)' : ''} (${scope})`);
  }
  return window.counters.filter((c) => c.delta > 0 && counterOf(signal, c)).map((c) => (c.rule ? `${c.name}: +${c.delta} packets in ${span}` : `${c.name} +${c.delta} in ${span}`));
}

/** True when the window could have shown the signal move (its source was read). */
function signalReadable(signal: KernelSignal, window: KernelWindow): boolean {
  return signal.kind !== 'reason' || window.drops?.status === 'read';
}

function answerFor(evidence: KernelEvidence, text: string): KernelRouteAnswer | undefined {
  return evidence.routes?.answers.find((a) => routeQueryText(a.query) === text);
}

/** One finding's verdict, and the queries the kernel answered otherwise. */
function verdictOf(f: Finding, evidence: KernelEvidence): { kernel: FindingKernel; disagreements: KernelRouteAnswer[] } {
  const lines: string[] = [];
  const disagreements: KernelRouteAnswer[] = [];
  let agreed = 0;
  for (const q of f.queries ?? []) {
    const args = routeQueryText(q.query);
    if (evidence.routes?.status !== 'asked') {
      lines.push(`ip route get ${args}: not asked (${evidence.routes?.message ?? 'route re-asks off'})`);
      continue;
    }
    const a = answerFor(evidence, args);
    if (!a?.answer) {
      lines.push(`ip route get ${args}: no answer could be read${a ? ` (${a.text})` : ''}`);
      continue;
    }
    if (answersAgree(q.expect, a.answer)) {
      agreed++;
      lines.push(`ip route get ${args}: ${a.text} (the simulator agrees)`);
    } else {
      disagreements.push(a);
      lines.push(`ip route get ${args}: the kernel answers "${a.text}", the simulator "${routeAnswerText(q.expect)}"`);
    }
  }
  const signals = f.signals ?? [];
  const window = evidence.window;
  let moved = 0;
  if (window) {
    // A drop reason is this host's own only where the machine has no other network namespace.
    const attributed = (window.drops?.otherNamespaces ?? 0) === 0;
    for (const s of signals) {
      const m = signalMoves(s, window);
      if (s.kind !== 'reason' || attributed) moved += m.length;
      lines.push(...m);
    }
  }
  if (disagreements.length > 0) return { kernel: { status: 'contradicted', evidence: lines }, disagreements };
  if (agreed > 0 || moved > 0) return { kernel: { status: 'confirmed', evidence: lines }, disagreements };
  const readable = window ? signals.filter((s) => signalReadable(s, window)) : [];
  if (window && readable.length > 0) {
    // Those that moved were drop reasons of other namespaces, quoted above.
    const still = readable.filter((s) => signalMoves(s, window).length === 0);
    lines.push(still.length > 0 ? `watched ${still.map(signalLabel).join(', ')} for ${secondsText(window.seconds)}: no change` : 'only system-wide drop reasons moved: not attributed to this host');
    return { kernel: { status: 'not-seen', evidence: lines }, disagreements };
  }
  if (signals.length === 0 && (f.queries ?? []).length === 0) lines.push('no route decision or kernel counter shows this cause on this host');
  else if (!window && signals.length > 0) lines.push(`counters tied to it (${signals.map(signalLabel).join(', ')}) need a window: hostcheck --watch SECONDS`);
  else if (window && signals.length > 0) lines.push(`its signals could not be read: ${signals.map(signalLabel).join(', ')}${window.drops?.message ? ` (${window.drops.message})` : ''}`);
  return { kernel: { status: 'unavailable', evidence: lines }, disagreements };
}

/**
 * Every finding with its `kernel` verdict, plus one `simulator-disagrees` error per route
 * question the kernel answered otherwise; sorted. `evidence` undefined: a bundle.
 */
export function joinKernelEvidence(findings: readonly Finding[], evidence: KernelEvidence | undefined, host: string): Finding[] {
  if (!evidence) return findings.map((f) => ({ ...f, kernel: BUNDLE_KERNEL }));
  const out: Finding[] = [];
  const disagreed = new Map<string, { answer: KernelRouteAnswer; expected: Set<string>; findings: Finding[] }>();
  for (const f of findings) {
    const { kernel, disagreements } = verdictOf(f, evidence);
    out.push({ ...f, kernel });
    for (const a of disagreements) {
      const args = routeQueryText(a.query);
      let d = disagreed.get(args);
      if (!d) disagreed.set(args, (d = { answer: a, expected: new Set(), findings: [] }));
      const q = f.queries!.find((x) => routeQueryText(x.query) === args)!;
      d.expected.add(routeAnswerText(q.expect));
      d.findings.push(f);
    }
  }
  const lineOf = new Map((evidence.routes?.answers ?? []).map((a, i) => [routeQueryText(a.query), i + 1]));
  for (const [args, d] of disagreed) {
    out.push(disagreementFinding({ host, args, kernelText: d.answer.text, simulator: [...d.expected], lineNumber: lineOf.get(args) ?? 0, findings: d.findings }));
  }
  return sortFindings(out);
}

/** The route questions a set of findings rests on (each once), to ask the kernel. */
export function routeQueriesOf(findings: readonly Finding[]): RouteQuery[] {
  const seen = new Map<string, RouteQuery>();
  for (const f of findings) for (const q of f.queries ?? []) seen.set(routeQueryText(q.query), q.query);
  return [...seen.values()];
}

/** What the kernel dropped during the window, each tied to the findings that explain it. Pure. */
export function explainDrops(window: KernelWindow, findings: readonly Finding[]): DropRow[] {
  const by = (match: (s: KernelSignal) => boolean) => findings.filter((f) => (f.signals ?? []).some(match)).map((f) => f.key);
  const rows: DropRow[] = [];
  for (const d of window.drops?.status === 'read' ? window.drops.drops : []) {
    rows.push({ kind: 'reason', what: `${d.reason} at ${d.location}`, reason: d.reason, location: d.location, count: d.count, explainedBy: by((s) => dropOf(s, d)) });
  }
  for (const c of window.counters) rows.push({ kind: 'counter', what: c.name, count: c.delta, explainedBy: by((s) => counterOf(s, c)) });
  return rows;
}
