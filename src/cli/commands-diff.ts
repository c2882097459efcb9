/**
 * `hostcheck diff BUNDLE_A BUNDLE_B`: what changed between two captures of a host (links,
 * addresses, routes, policy rules, xfrm policies, sysctls, with their lines before and after and
 * who likely made them) and which findings opened or resolved between them (docs/diff.md).
 */
import { Command } from 'commander';
import { changesBetween } from '../changes/diff.js';
import { changeState } from '../changes/state.js';
import { changeText } from '../changes/text.js';
import { triggerBetween } from '../changes/trigger.js';
import { analyzeSnapshot } from '../checks/analyze.js';
import { hostcheckVersion, loadBundle } from '../collect/collect.js';
import { buildSnapshot } from '../collect/snapshot.js';
import type { HostChange } from '../model/changes.js';
import { sortFindings, type Finding } from '../model/finding.js';
import type { HostSnapshot } from '../model/snapshot.js';
import { REPORT_SCHEMA_VERSION } from '../report/json.js';
import { ansi, plain, renderFinding, safeText, type Palette } from '../report/text.js';
import { mergedAnalysisOptions, runConfig, sourceCommand, type RunFlags } from './commands-run.js';
import { printJson, repeatable, useColor } from './io.js';

type DiffFlags = Pick<RunFlags, 'peer' | 'remote' | 'port' | 'routeFor' | 'ignore' | 'config' | 'host' | 'json'>;

export interface Capture {
  host: string;
  collectedAt: string;
  complete: boolean;
}

/** `hostcheck diff --json` (docs/diff.md). */
export interface DiffReport {
  schemaVersion: number;
  hostcheckVersion: string;
  from: Capture;
  to: Capture;
  changes: (HostChange & { text: string })[];
  findings: {
    /** In the second capture only, each with the change that likely opened it (`trigger`). */
    opened: Finding[];
    /** In the first capture only, each with the change that likely resolved it (`resolvedBy`). */
    resolved: Finding[];
    /** Keys of findings in both. */
    unchanged: string[];
  };
  notes: string[];
  /** 1 when an error finding opened, else 0. */
  exitCode: number;
}

/** Check and subject: the same situation in two captures, whatever name each capture gave the host. */
const identity = (f: Finding): string => `${f.check}|${f.subject}`;

export function diffCaptures(a: HostSnapshot, b: HostSnapshot, findingsA: Finding[], findingsB: Finding[]): DiffReport {
  const changes = changesBetween(changeState(a), changeState(b), b.collectedAt);
  const inA = new Map(findingsA.map((f) => [identity(f), f]));
  const inB = new Map(findingsB.map((f) => [identity(f), f]));
  const opened = sortFindings(findingsB.filter((f) => !inA.has(identity(f)))).map((f) => {
    const trigger = triggerBetween(f, b.identity.name, changes, 'opened');
    return trigger ? { ...f, trigger } : f;
  });
  const resolved = sortFindings(findingsA.filter((f) => !inB.has(identity(f)))).map((f) => {
    const resolvedBy = triggerBetween(f, b.identity.name, changes, 'resolved');
    return resolvedBy ? { ...f, resolvedBy } : f;
  });
  const notes: string[] = [];
  if (a.identity.name !== b.identity.name) notes.push(`the captures name different hosts ("${a.identity.name}", "${b.identity.name}"): findings are matched by check and subject`);
  if (Date.parse(b.collectedAt) < Date.parse(a.collectedAt)) notes.push('the second capture is the older one: what "appeared" went away in time, and the other way round');
  const capture = (s: HostSnapshot): Capture => ({ host: s.identity.name, collectedAt: s.collectedAt, complete: s.complete });
  return {
    schemaVersion: REPORT_SCHEMA_VERSION, hostcheckVersion: hostcheckVersion(), from: capture(a), to: capture(b),
    changes: changes.map((c) => ({ ...c, text: changeText(c) })),
    findings: { opened, resolved, unchanged: findingsB.filter((f) => inA.has(identity(f))).map((f) => f.key) },
    notes, exitCode: opened.some((f) => f.severity === 'error') ? 1 : 0,
  };
}

const MARK: Record<HostChange['action'], string> = { added: '+', removed: '-', changed: '~', rewritten: '=', transient: '±' };

export function renderDiff(d: DiffReport, c: Palette, sourceCommand: (source: string) => string | undefined = () => undefined): string {
  const out = [c.dim(`hostcheck diff: ${safeText(d.from.host)} at ${safeText(d.from.collectedAt)} → ${safeText(d.to.host)} at ${safeText(d.to.collectedAt)}`), ''];
  out.push(d.changes.length ? `changes (${d.changes.length}):` : 'changes: none');
  for (const ch of d.changes) {
    out.push(`  ${MARK[ch.action]} ${safeText(ch.text)}`);
    if (ch.kind === 'sysctl') continue;
    if (ch.before !== undefined && ch.action !== 'added') out.push(c.dim(`      before: ${safeText(ch.before)}`));
    if (ch.after !== undefined && ch.action !== 'removed') out.push(c.dim(`      after:  ${safeText(ch.after)}`));
  }
  out.push('', d.findings.opened.length ? `findings opened (${d.findings.opened.length}):` : 'findings opened: none');
  for (const f of d.findings.opened) out.push(renderFinding(f, c, sourceCommand), '');
  out.push(d.findings.resolved.length ? `findings resolved (${d.findings.resolved.length}):` : 'findings resolved: none');
  for (const f of d.findings.resolved) {
    out.push(`  ${safeText(f.summary)}  ${c.dim(`[${safeText(f.check)}]`)}`);
    if (f.resolvedBy) out.push(c.dim(`    ${safeText(f.resolvedBy.text)}`));
  }
  out.push('', `findings in both: ${d.findings.unchanged.length}`);
  for (const n of d.notes) out.push(c.dim(`note: ${safeText(n)}`));
  for (const cap of [d.from, d.to]) if (!cap.complete) out.push(c.yellow(`note: the capture of ${safeText(cap.host)} at ${safeText(cap.collectedAt)} is INCOMPLETE: what it lacks shows as gone`));
  return out.join('\n') + '\n';
}

export function diffCommand(): Command {
  return new Command('diff')
    .description('What changed between two captures of a host, and which findings opened or resolved. Exit 0, or 1 when an error finding opened')
    .argument('<bundle-a>', 'the earlier capture: hostcheck capture, hostcheck-capture.sh, a sosreport or calicoctl node diags')
    .argument('<bundle-b>', 'the later capture')
    .option('--peer <ip[=name]>', 'a host this one must reach and be reached by (repeatable)', repeatable, [])
    .option('--remote <cidr>', 'a remote network whose traffic must not be captured here (repeatable)', repeatable, [])
    .option('--port <proto/n>', 'a port peers use, checked against the firewall: tcp/N or udp/N (repeatable)', repeatable, [])
    .option('--route-for <cidr>', 'a network this host routes for (repeatable)', repeatable, [])
    .option('--ignore <check[:subject]>', 'drop findings of a check, or of one subject (repeatable)', repeatable, [])
    .option('--config <file>', 'config file (peers, remotes, ports, ignore; docs/config.md)')
    .option('--host <name>', 'which host of bundles holding several (a sosreport\'s NETNS)')
    .option('--json', 'print the changes and findings as JSON (docs/diff.md)')
    .addHelpText('after', `
Examples:
  hostcheck diff ./ecs3-monday ./ecs3-tuesday --peer 172.17.0.64=ecs1
  hostcheck diff sosreport-ecs3-before.tar.xz sosreport-ecs3-after.tar.xz --remote 10.200.0.0/20 --json

For example, a capture before Docker started and one after it:
  + docker0 172.17.0.1/16 appeared (Docker network "bridge")
  findings opened (1):
  ERROR docker0 172.17.0.0/16 (Docker network "bridge") captures replies to ecs1 172.17.0.64: …  [route-captures-peer]
    trigger: opened between the captures, likely after docker0 172.17.0.1/16 appeared (…)`)
    .action(async (a: string, b: string, flags: DiffFlags) => {
      const { config, flagConfig } = await runConfig({ ...flags, routeFor: flags.routeFor ?? [] });
      const options = mergedAnalysisOptions(config, flagConfig);
      const [bundleA, bundleB] = await Promise.all([a, b].map((bundle) => loadBundle({ bundle, host: flags.host, purpose: 'analyze' })));
      const [snapA, snapB] = [bundleA, bundleB].map(buildSnapshot);
      const findings = [snapA, snapB].map((s) => analyzeSnapshot(s, options).findings);
      const report = diffCaptures(snapA, snapB, findings[0], findings[1]);
      if (flags.json) printJson(report);
      else {
        const commands = new Map(bundleB.meta.sources.map((s) => [s.name, sourceCommand(s, !!bundleB.meta.layout)]));
        process.stdout.write(renderDiff(report, useColor() ? ansi : plain, (s) => commands.get(s)));
      }
      process.exitCode = report.exitCode;
    });
}
