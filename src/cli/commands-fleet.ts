/** `hostcheck fleet`: the fleet checks, pair matrix and path tracing of `serve`, offline, over bundles. */
import { Command } from 'commander';
import { UsageError } from '../collect/errors.js';
import { ansi, plain, renderFinding, safeText } from '../report/text.js';
import { REPORT_SCHEMA_VERSION } from '../report/json.js';
import { hostcheckVersion } from '../collect/collect.js';
import { bundlesOf } from './bundles.js';
import { fleetExitCode, matchOffline, type OfflineFleet } from './fleet-offline.js';
import { printJson, repeatable, topologyOption, useColor } from './io.js';
import { sourceCommand } from './commands-run.js';
import type { Bundle } from '../collect/bundle.js';

interface FleetFlags {
  bundle: string[];
  topology?: string;
  json?: boolean;
}

function renderFleet(f: OfflineFleet, bundles: Bundle[], color: boolean): string {
  const c = color ? ansi : plain;
  const commands = new Map(bundles.map((b) => [b.meta.name ?? b.meta.hostname, new Map(b.meta.sources.map((s) => [s.name, sourceCommand(s, !!b.meta.layout)]))]));
  const out = [c.dim(`hostcheck fleet: ${f.hosts.length} hosts: ${f.hosts.map((h) => safeText(h.host)).join(', ')}`), ''];
  for (const { finding, sources } of f.findings) {
    out.push(`${renderFinding(finding, c, (s) => commands.get(finding.host)?.get(s))}`);
    const pairs = (finding as { pairs?: [string, string][] }).pairs ?? [];
    out.push(c.dim(`  host: ${safeText(finding.host)}; found by: ${sources.join(' and ')}${pairs.length ? `; pairs: ${pairs.map((p) => p.map(safeText).join(' ← ')).join(', ')}` : ''}`), '');
  }
  const shown = f.pairs.filter((p) => p.verdict !== 'ok');
  out.push(`pairs${f.matrix === 'full' ? ` (${f.pairs.length}, ${f.pairs.length - shown.length} ok)` : ' not ok'}:`);
  for (const p of shown) out.push(`  ${safeText(p.from)} ⇄ ${safeText(p.to)}  ${p.verdict === 'broken' ? c.red('broken') : c.yellow(p.verdict)}  ${safeText(p.cause)}`);
  if (shown.length === 0) out.push('  every pair ok');
  out.push('', 'hosts:');
  for (const h of f.hosts) {
    const { error, warning, info } = h.summary;
    out.push(`  ${safeText(h.host)}: ${error} error(s), ${warning} warning(s), ${info} info; collection ${h.complete ? 'complete' : c.yellow('INCOMPLETE')}${h.notes.length ? `; ${h.notes.length} note(s)` : ''}`);
  }
  out.push('', c.dim('notes and per-source status per host: hostcheck fleet --json (hosts[].notes, hosts[].sources), or hostcheck --bundle PATH --host NAME'));
  return out.join('\n') + '\n';
}

export function fleetCommand(): Command {
  return new Command('fleet')
    .description('Match many bundles as "hostcheck serve" matches its agents, offline: fleet findings, the pair matrix, paths through them')
    .option('--bundle <path>', 'a bundle: hostcheck capture, a sosreport (each network namespace a host) or calicoctl node diags (repeatable)', repeatable, [])
    .option('--topology <file>', 'cloud topology (YAML/JSON, docs/topology.md): VPN gateways and VPC route tables for the fleet checks')
    .option('--json', 'print every host\'s report (the one-shot\'s schema), the merged findings and the pair matrix as JSON')
    .addHelpText('after', `
Examples:
  hostcheck fleet --bundle ./ecs1 --bundle ./ecs2 --bundle ./ecs3
  hostcheck fleet --bundle sosreport-web7-2026-11-24-xkqzv.tar.xz          # every namespace of one machine
  hostcheck fleet --bundle client.tgz --bundle vpcrouter.tgz --bundle gateway.tgz --topology cloud.yaml --json
  hostcheck path --from ecs1 --to 172.31.4.18 --bundle ./ecs1 --bundle ./ecs3   # one path, hop by hop

Each host is checked against the other hosts as serve's context gives them to its agents; the
findings, their keys and text, and the pair verdicts are those serve gives for these hosts.
Exit codes: 0 no error finding and every collection complete, 1 error findings, 2 usage, 3 incomplete.`)
    .action(async (flags: FleetFlags) => {
      if (flags.bundle.length === 0) throw new UsageError('no hosts: give --bundle PATH (one or more; a sosreport gives one host per network namespace)');
      const [bundles, topology] = await Promise.all([bundlesOf(flags.bundle), topologyOption(flags.topology)]);
      const fleet = await matchOffline(bundles, { topology });
      const exitCode = fleetExitCode(fleet);
      if (flags.json) printJson({ schemaVersion: REPORT_SCHEMA_VERSION, hostcheckVersion: hostcheckVersion(), ...fleet, exitCode });
      else process.stdout.write(renderFleet(fleet, bundles, useColor()));
      process.exitCode = exitCode;
    });
}
