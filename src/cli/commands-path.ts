/** `hostcheck path`: follow a packet hop by hop through captured bundles and the topology, sending nothing. */
import { Command } from 'commander';
import { UsageError } from '../collect/errors.js';
import type { Finding } from '../model/finding.js';
import { parseAddress } from '../net/address.js';
import { renderFinding } from '../report/text.js';
import { safeText } from '../report/terminal.js';
import { PathQueryError, tracePath, type PathLeg, type PathResult } from '../simulate/path.js';
import { topologySelectorGaps } from '../simulate/path-topology-gaps.js';
import { snapshotsOf } from './bundles.js';
import { printJson, repeatable, topologyOption } from './io.js';

interface PathFlags {
  from: string;
  to: string;
  source?: string;
  port?: string;
  bundle: string[];
  topology?: string;
  ttl?: string;
  json?: boolean;
}

function legText(title: string, leg: PathLeg): string[] {
  const lines = [`${title} ${leg.src} → ${leg.dst}: ${leg.outcome.toUpperCase()}`];
  leg.hops.forEach((h, i) => {
    const where = h.iif ? `in ${h.iif}` : 'sent';
    lines.push(`  ${String(i + 1).padStart(2)}  ${h.node.padEnd(22)} ${where.padEnd(9)} ${h.action.padEnd(9)} ttl ${String(h.ttl).padEnd(4)} ${h.note}`);
    for (const e of h.evidence) lines.push(`${' '.repeat(8)}${e.source}${e.lineNumber > 0 ? `:${e.lineNumber}` : ''}  ${e.text.trim()}`);
  });
  if (leg.cycle) lines.push(`  loop: ${[...leg.cycle, leg.cycle[0]].join(' → ')} — repeats until the TTL runs out`);
  if (leg.timeExceeded) lines.push(`  ping would print: From ${leg.timeExceeded.address ?? leg.timeExceeded.node} icmp_seq=1 Time to live exceeded   (${leg.timeExceeded.node}, forwarding hop ${leg.timeExceeded.hop})`);
  if (leg.detail) lines.push(`  ${leg.detail}`);
  return lines;
}

/**
 * The human form of a path result plus the fleet findings (laid out as the one-shot's). Names,
 * notes and evidence come from bundles: each line is made safe for the terminal.
 */
export function renderPathText(r: PathResult, findings: Finding[]): string {
  const q = r.query;
  const lines = [`path ${q.from} → ${q.to} (${q.port ?? 'icmp'})`, ...legText('request', r.forward)];
  if (r.reply) lines.push(...legText('reply', r.reply));
  for (const n of r.notes) lines.push(`note: ${n}`);
  const out = lines.map(safeText);
  for (const f of findings) out.push('', renderFinding(f));
  return out.join('\n') + '\n';
}

/** 0: delivered both ways; 1: not delivered (or the reply is not) or a fleet error; 2: usage. */
export function pathExitCode(r: PathResult, findings: Finding[]): number {
  const ok = r.forward.outcome === 'delivered' && (r.reply === undefined || r.reply.outcome === 'delivered');
  return ok && !findings.some((f) => f.severity === 'error') ? 0 : 1;
}

export function pathCommand(): Command {
  return new Command('path')
    .description('Follow a packet hop by hop through bundles and the topology (routing, firewall, IPsec), without sending anything')
    .requiredOption('--from <host|ip>', 'where the packet starts: a bundle\'s host name, an address a bundle holds, or a topology host')
    .requiredOption('--to <ip>', 'destination address')
    .option('--source <ip>', 'source address (default: what the first host\'s route lookup picks)')
    .option('--port <icmp|tcp/N|udp/N>', 'what to send (default icmp)')
    .option('--bundle <path>', 'a bundle from "hostcheck capture --name NAME", a sosreport (every network namespace a host) or calicoctl node diags (repeat for every host on the path)', repeatable, [])
    .option('--ttl <n>', 'TTL of the first packet (default: the first host\'s net.ipv4.ip_default_ttl, else 64), like ping -t')
    .option('--topology <file>', 'cloud topology (YAML/JSON): VPC route tables, VPN gateways, hosts per VPC')
    .option('--json', 'print the hops, outcome, reply and fleet findings as JSON')
    .addHelpText('after', '\nExamples:\n  hostcheck path --from client --to 10.200.1.15 --source 10.64.3.22 --bundle ./client --bundle ./vpcrouter --bundle ./gateway\n  hostcheck path --from 10.64.3.22 --to 10.200.1.15 --bundle ./client --bundle ./vpcrouter --topology cloud.yaml --json\n\nOutcomes: delivered, loop (with the cycle and who sends "Time to live exceeded"), blackhole, dropped (by which rule), left (where).\nExit 0 when the request and its reply are delivered, 1 otherwise or when the topology shows a VPN selector gap, 2 on a usage error.')
    .action(async (flags: PathFlags) => {
      if (!parseAddress(flags.to)) throw new UsageError(`--to "${flags.to}" is not an address`);
      if (flags.source !== undefined && !parseAddress(flags.source)) throw new UsageError(`--source "${flags.source}" is not an address`);
      const ttl = flags.ttl === undefined ? undefined : Number(flags.ttl);
      if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1 || ttl > 255)) throw new UsageError(`--ttl ${flags.ttl}: expected 1..255`);
      if (flags.bundle.length === 0 && !flags.topology) throw new UsageError('nothing to trace through: give --bundle DIR (one per host) and/or --topology FILE');
      const [snapshots, topology] = await Promise.all([snapshotsOf(flags.bundle), topologyOption(flags.topology)]);
      let result: PathResult;
      try {
        result = tracePath(snapshots, topology, { from: flags.from, to: flags.to, ...(flags.source && { source: flags.source }), ...(flags.port && { port: flags.port }), ...(ttl && { ttl }) });
      } catch (err) {
        if (err instanceof PathQueryError) throw new UsageError(err.message, { cause: err });
        throw err;
      }
      const sources = [...new Set([result.forward.src, ...(topology?.hosts.flatMap((h) => h.addresses) ?? [])])];
      const findings = topology ? topologySelectorGaps(topology, sources) : [];
      if (flags.json) printJson({ ...result, findings });
      else process.stdout.write(renderPathText(result, findings));
      process.exitCode = pathExitCode(result, findings);
    });
}
