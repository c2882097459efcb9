/** `hostcheck capture`, `hostcheck parse`, `hostcheck snapshot`: what hostcheck reads and understands. */
import { Command, Option } from 'commander';
import { parserFor, parsers } from '../../parsers/index.js';
import { collectBundle, loadSnapshot, writeBundle } from '../collect/index.js';
import { UsageError } from '../collect/errors.js';
import { routesByTable, type HostSnapshot } from '../model/snapshot.js';
import { safeJson, safeText } from '../report/terminal.js';
import { printJson, readInput } from './io.js';

export function captureCommand(): Command {
  return new Command('capture')
    .description('Write the raw bundle: one file per source exactly as printed, plus meta.json')
    .requiredOption('--out <dir>', 'directory to write (created if missing)')
    .option('--name <name>', 'the name this host goes by in reports (default: its hostname)')
    .option('--timeout <ms>', 'timeout per command in milliseconds', '20000')
    .addHelpText('after', '\nExample:\n  sudo hostcheck capture --out /tmp/ecs3-bundle && tar czf ecs3.tgz -C /tmp ecs3-bundle\n  hostcheck --bundle /tmp/ecs3-bundle   # analyse it anywhere')
    .action(async (opts: { out: string; name?: string; timeout: string }) => {
      const bundle = await collectBundle({ timeoutMs: Number(opts.timeout), name: opts.name, argv: process.argv.slice(2) });
      await writeBundle(opts.out, bundle);
      const bad = bundle.meta.sources.filter((s) => s.status !== 'collected');
      process.stdout.write(`wrote ${bundle.meta.sources.length - bad.length} sources to ${opts.out}\n`);
      for (const s of bad) process.stdout.write(`  ${s.name}: ${s.status}: ${safeText(s.message ?? '')}\n`);
    });
}

export function parseCommand(): Command {
  const formats = Object.keys(parsers).sort();
  return new Command('parse')
    .description('Show what hostcheck understood of one command output, and the lines it could not read')
    .argument('<format>', `one of: ${formats.join(', ')}`)
    .argument('[file]', 'input file, or - for standard input', '-')
    .option('--json', 'print records and warnings as JSON')
    .addOption(new Option('--family <n>', 'address family when the input does not say (ip -6 rule)').choices(['4', '6']))
    .option('--table <name>', 'ip-route: the table of routes whose line names none (ip route list table NAME prints no "table NAME")')
    .addHelpText('after', '\nExamples:\n  ip -4 route show table all | hostcheck parse ip-route -\n  ip route list table 100 | hostcheck parse ip-route - --table 100\n  hostcheck parse iptables-save rules.txt --json')
    .action(async (format: string, file: string, opts: { json?: boolean; family?: string; table?: string }) => {
      const parser = parserFor(format);
      if (!parser) throw new UsageError(`unknown format "${format}"; formats: ${formats.join(', ')}`);
      if (opts.table !== undefined && format !== 'ip-route') throw new UsageError(`--table is for ip-route output, not ${format}`);
      if (opts.table !== undefined && !/^[^\s]+$/.test(opts.table)) throw new UsageError(`--table "${opts.table}": give a table name or number, e.g. --table 100`);
      const text = await readInput(file);
      const result = parser.parse(text, { family: opts.family ? (Number(opts.family) as 4 | 6) : undefined, table: opts.table });
      if (opts.json) return printJson({ format, form: result.form, records: result.records, warnings: result.warnings });
      for (const r of result.records) process.stdout.write(safeJson(r) + '\n');
      for (const w of result.warnings) process.stderr.write(safeText(`warning: line ${w.lineNumber}: ${w.reason}: ${w.text}`) + '\n');
      process.stderr.write(`${format}${result.form ? ` (${result.form})` : ''}: ${result.records.length} records, ${result.warnings.length} warnings\n`);
    });
}

/** The snapshot in a few lines per part; names, states and messages come from the bundle and are made safe. */
function printSnapshot(s: HostSnapshot): void {
  const out: string[] = [];
  out.push(`host ${s.identity.name}${s.identity.os ? ` (${s.identity.os}, kernel ${s.identity.kernel ?? '?'})` : ''}, collected ${s.collectedAt}`);
  if (s.identity.cloud) out.push(`cloud ${s.identity.cloud.provider} ${s.identity.cloud.instanceId ?? ''} ${s.identity.cloud.region ?? ''} vpc ${s.identity.cloud.vpcId ?? '?'} ${s.identity.cloud.vpcCidrs.join(',')}`);
  out.push('', 'interfaces:');
  for (const i of s.interfaces) {
    const owner = i.owner ? ` owner=${i.owner.type}${i.owner.name ? `:${i.owner.name}` : ''}` : '';
    const addrs = i.addresses.map((a) => a.cidr).join(' ');
    out.push(`  ${i.name.padEnd(16)} ${i.kind.padEnd(9)} ${(i.state ?? '').padEnd(8)}${i.noCarrier ? ' NO-CARRIER' : ''}${i.uplink ? ' uplink' : ''}${owner} ${addrs}`);
  }
  out.push('', 'routes:');
  for (const [table, routes] of routesByTable(s)) out.push(`  ${table.padEnd(16)} ${routes.length}`);
  out.push(`rules: ${s.rules.length}`);
  out.push('', `sources (${s.complete ? 'complete' : 'INCOMPLETE'}):`);
  for (const src of s.sources) {
    const status = src.lacking ? 'lacking' : src.status;
    const said = [src.file, src.redacted ? `${src.redacted} lines redacted` : '', src.warnings ? `${src.warnings} warnings` : '', src.message].filter(Boolean).join('; ');
    out.push(`  ${src.name.padEnd(18)} ${status.padEnd(11)} ${said}`);
  }
  process.stdout.write(out.map(safeText).join('\n') + '\n');
}

export function snapshotCommand(): Command {
  return new Command('snapshot')
    .description('Show the host model (interfaces, routes per table, rules, firewall, ...) of this host or a bundle')
    .option('--bundle <path>', 'a bundle: "hostcheck capture", a sosreport (directory or archive) or calicoctl node diags')
    .option('--host <name>', 'which host of a bundle holding several (a sosreport\'s NETNS or HOSTNAME:NETNS)')
    .option('--name <name>', 'the name this host goes by in reports')
    .option('--json', 'print the whole HostSnapshot as JSON')
    .addHelpText('after', '\nExamples:\n  sudo hostcheck snapshot\n  hostcheck snapshot --bundle ./ecs3-bundle --json | jq .routes[0]\n  hostcheck snapshot --bundle sosreport-ecs3-2026-11-24-xkqzv.tar.xz   # which file gave each source, what the sosreport lacks')
    .action(async (opts: { bundle?: string; host?: string; name?: string; json?: boolean }) => {
      if (opts.host !== undefined && !opts.bundle) throw new UsageError('--host picks a host of a --bundle: give --bundle PATH');
      const snapshot = await loadSnapshot({ bundle: opts.bundle, host: opts.host, name: opts.name });
      if (opts.json) printJson(snapshot);
      else printSnapshot(snapshot);
    });
}
