/**
 * The one-shot: `hostcheck` / `hostcheck run` — collect, analyze, print; the exit code is for scripts.
 * Start-up is most of a typical one-shot's time, so this file imports only what collection
 * needs; the parsers, the checks and the report load while the collection commands run.
 */
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { hostcheckVersion, loadBundle } from '../collect/collect.js';
import type { AnalyzeOptions } from '../checks/analyze.js';
import { UsageError } from '../collect/errors.js';
import { askRoutes, RouteAsker } from '../collect/route-ask.js';
import { parseConfig, parsePeerFlag, type HostcheckConfig, type Peer } from '../model/config.js';
import { safeText } from '../report/terminal.js';
import { printJson, repeatable, useColor } from './io.js';

export const DEFAULT_CONFIG = '/etc/hostcheck/config.json';


/** Load and validate the config file; the default path may be absent, an explicit one may not. */
export async function loadConfig(path: string | undefined): Promise<HostcheckConfig> {
  const file = path ?? DEFAULT_CONFIG;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (!path && (err as NodeJS.ErrnoException).code === 'ENOENT') return { peers: [], remotes: [], ports: [], ignore: [] };
    throw new UsageError(`cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`config ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const { config, errors } = parseConfig(raw);
  if (!config) throw new UsageError(`config ${file} is invalid:\n  ${errors.join('\n  ')}`);
  return config;
}

export interface RunFlags {
  peer: string[];
  remote: string[];
  port: string[];
  routeFor: string[];
  ignore: string[];
  config?: string;
  bundle?: string;
  host?: string;
  name?: string;
  json?: boolean;
  quiet?: boolean;
  /** false with --no-kernel: ask the kernel nothing. */
  kernel?: boolean;
  watch?: string;
  dropReasons?: boolean;
}

/** --watch SECONDS as a number, checked with --drop-reasons and --bundle. */
function watchSeconds(flags: RunFlags): number | undefined {
  if (flags.watch === undefined) {
    if (flags.dropReasons) throw new UsageError('--drop-reasons counts drops during a window: give --watch SECONDS too');
    return undefined;
  }
  const s = Number(flags.watch);
  if (!Number.isFinite(s) || s <= 0 || s > 3600) throw new UsageError(`--watch ${flags.watch}: expected seconds, more than 0 and at most 3600`);
  if (flags.bundle) throw new UsageError('--watch reads this host\'s kernel counters: it cannot be used with --bundle');
  return s;
}

/** The config file merged with the flags, validated like the file (errors name the flag). */
export async function runConfig(flags: RunFlags): Promise<{ config: HostcheckConfig; flagConfig: HostcheckConfig }> {
  const config = await loadConfig(flags.config);
  const flagPeers: Peer[] = flags.peer.map((p) => {
    const peer = parsePeerFlag(p);
    if (!peer) throw new UsageError(`--peer ${p}: expected IP or IP=NAME`);
    return peer;
  });
  const flagConfig = parseConfig({ peers: flagPeers, remotes: flags.remote, ports: flags.port, routeFor: flags.routeFor, ignore: flags.ignore });
  if (!flagConfig.config) throw new UsageError(flagConfig.errors.map((e) => e.replace(/^peers/, '--peer').replace(/^remotes/, '--remote').replace(/^ports/, '--port').replace(/^routeFor/, '--route-for').replace(/^ignore/, '--ignore')).join('; '));
  return { config, flagConfig: flagConfig.config };
}

/** The config file's peers, remotes, ports, routed networks and ignore rules with the flags'. */
export function mergedAnalysisOptions(config: HostcheckConfig, flagConfig: HostcheckConfig): AnalyzeOptions {
  const uniquePeers = new Map<string, Peer>();
  for (const p of [...config.peers, ...flagConfig.peers]) uniquePeers.set(p.address, { ...uniquePeers.get(p.address), ...p });
  return {
    peers: [...uniquePeers.values()],
    remotes: [...new Set([...config.remotes, ...flagConfig.remotes])],
    ...(config.remotePathMtu && { remotePathMtu: config.remotePathMtu }),
    ports: [...new Set([...config.ports, ...flagConfig.ports])],
    routeFor: [...new Set([...(config.routeFor ?? []), ...(flagConfig.routeFor ?? [])])],
    ...(config.conntrackMargin !== undefined && { conntrackMargin: config.conntrackMargin }),
    ignore: [...config.ignore, ...flagConfig.ignore],
  };
}

export async function runOneShot(flags: RunFlags): Promise<number> {
  const { config, flagConfig } = await runConfig(flags);
  const watch = watchSeconds(flags);
  const live = !flags.bundle;
  const window = live && watch !== undefined
    ? new (await import('../collect/kernel-window.js')).CounterWindow({ seconds: watch, dropReasons: flags.dropReasons })
    : undefined;
  const kernel = { ask: live && flags.kernel !== false, asker: undefined as RouteAsker | undefined };
  try {
    return await analyzeAndReport(flags, config, flagConfig, kernel, window);
  } finally {
    kernel.asker?.cancel();
    window?.abandon();
  }
}

async function analyzeAndReport(flags: RunFlags, config: HostcheckConfig, flagConfig: HostcheckConfig, kernel: { ask: boolean; asker?: RouteAsker }, window: import('../collect/kernel-window.js').CounterWindow | undefined): Promise<number> {
  // The collection's commands run while the parsers, checks and report load.
  if (flags.host !== undefined && !flags.bundle) throw new UsageError('--host picks a host of a --bundle: give --bundle PATH');
  const bundlePromise = loadBundle({ bundle: flags.bundle, host: flags.host, name: flags.name, purpose: 'analyze' });
  // Once the collection is under way: ip -batch starts and waits for the findings' route questions (docs/kernel.md).
  if (kernel.ask) kernel.asker = RouteAsker.start();
  const asker = kernel.asker;
  const [{ buildSnapshot }, { analyzeSnapshot }, { joinKernelEvidence, routeQueriesOf }, { buildReport, reportKernel }, { renderText }] = await Promise.all([
    import('../collect/snapshot.js'), import('../checks/analyze.js'), import('../checks/kernel-join.js'), import('../report/json.js'), import('../report/text.js'),
  ]);
  const bundle = await bundlePromise;
  const snapshot = buildSnapshot(bundle);
  if (snapshot.sources.every((s) => s.status !== 'collected')) {
    process.stderr.write(`hostcheck: nothing could be collected:\n${snapshot.sources.map((s) => safeText(`  ${s.name}: ${s.message ?? s.status}`)).join('\n')}\n`);
    return 2;
  }
  if (window) {
    window.open(snapshot);
    process.stderr.write(`hostcheck: watching the kernel's drop counters${flags.dropReasons ? ' and drop reasons' : ''} for ${flags.watch} s\n`);
  }
  const analysis = analyzeSnapshot(snapshot, mergedAnalysisOptions(config, flagConfig));
  analysis.notes.push(...(bundle.meta.notes ?? []));
  // A bundle: nothing to ask. Live: the route answers, then the rest of the window.
  const evidence = flags.bundle ? undefined : {
    ...(asker ? { routes: await askRoutes(asker, routeQueriesOf(analysis.findings)) } : {}),
    ...(window ? { window: await window.finish(snapshot) } : {}),
  };
  const findings = joinKernelEvidence(analysis.findings, evidence, snapshot.identity.name);
  const report = buildReport({ version: hostcheckVersion(), snapshot, ...analysis, findings, kernel: reportKernel(evidence, findings) });
  if (flags.json) printJson(report);
  else {
    const commands = new Map(bundle.meta.sources.map((s) => [s.name, sourceCommand(s, !!bundle.meta.layout)]));
    process.stdout.write(renderText(report, { color: useColor(), quiet: flags.quiet, sourceCommand: (s) => commands.get(s) }));
  }
  return report.exitCode;
}

/** How evidence names a source: its command or file, and for another collector's bundle the file it is in. */
export function sourceCommand(s: { argv?: string[]; path?: string; file: string }, foreign: boolean): string | undefined {
  const how = s.argv?.join(' ') ?? s.path;
  return foreign && s.file && s.file !== s.path?.slice(1) ? `${how ? `${how}, ` : ''}${s.file}` : how;
}

/** Options shared by the default command and `run`. */
export function addRunOptions(cmd: Command): Command {
  return cmd
    .option('--peer <ip[=name]>', 'a host this one must reach and be reached by (repeatable)', repeatable, [])
    .option('--remote <cidr>', 'a remote network (other VPC, IDC) whose traffic must not be captured here (repeatable)', repeatable, [])
    .option('--port <proto/n>', 'a port peers use, checked against the firewall: tcp/N or udp/N (repeatable)', repeatable, [])
    .option('--route-for <cidr>', 'a network this host routes for (a NAT gateway\'s private subnet), when it cannot tell by itself (repeatable)', repeatable, [])
    .option('--ignore <check[:subject]>', 'drop findings of a check, or of one subject (repeatable)', repeatable, [])
    .option('--config <file>', `config file (default ${DEFAULT_CONFIG} when it exists)`)
    .option('--bundle <path>', 'analyse a bundle instead of this host: "hostcheck capture" or hostcheck-capture.sh output, a sosreport (directory, .tar.xz, .tar.gz) or calicoctl node diags')
    .option('--host <name>', 'which host of a bundle holding several (a sosreport\'s NETNS or HOSTNAME:NETNS); default: the stack sos ran in')
    .option('--name <name>', 'the name this host goes by in findings (default: its hostname)')
    .option('--json', 'print the report as JSON (docs/report-schema.md)')
    .option('--quiet', 'print only errors and the verdict')
    .option('--watch <seconds>', 'read the kernel\'s drop counters, wait SECONDS, read again: counters tied to a finding that moved confirm it (docs/kernel.md)')
    .option('--drop-reasons', 'with --watch: also count skb:kfree_skb drop reasons in a tracefs instance of its own (system-wide)')
    .option('--no-kernel', 'do not ask the kernel the route questions findings rest on (asked by default on a live host)');
}

export function runCommand(): Command {
  return addRunOptions(new Command('run'))
    .description('Collect, analyze and explain (the default command). Exit 0 ok, 1 errors found, 2 could not run, 3 incomplete collection')
    .addHelpText('after', '\nExamples:\n  sudo hostcheck --peer 172.17.0.64=ecs1 --peer 172.18.1.22=ecs2\n  sudo hostcheck --remote 10.200.0.0/20 --port tcp/443 --json\n  hostcheck --bundle ./ecs3-bundle --peer 172.17.0.64\n  hostcheck --bundle sosreport-ecs3-2026-11-24-xkqzv.tar.xz --peer 172.17.0.64=ecs1\n  hostcheck --bundle sosreport-ecs3-2026-11-24-xkqzv.tar.xz --host cni-1234 --json')
    .action(async (flags: RunFlags) => {
      process.exitCode = await runOneShot(flags);
    });
}
