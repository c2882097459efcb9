/** `hostcheck trace`: read a traceroute (or run one) and name loops, unreachable endings and silence. */
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { z } from 'zod';
import { parse as parseTraceroute } from '../../parsers/traceroute.js';
import { CommandFailedError, UsageError } from '../collect/errors.js';
import { snapshotsOf } from './bundles.js';
import { parseAddress } from '../net/address.js';
import type { HostSnapshot } from '../model/snapshot.js';
import { safeText } from '../report/terminal.js';
import { analyzeTrace } from '../trace/analyze.js';
import { addressNamer, type FleetHostAddresses } from '../trace/names.js';
import { pathFromTraceroute, type TracePath } from '../trace/path.js';
import { renderTraceText } from './trace-render.js';
import { runTrace } from '../collect/traceroute.js';
import { printJson, readInput, repeatable, topologyOption } from './io.js';

interface TraceFlags {
  analyze?: string | boolean;
  source?: string;
  topology?: string;
  bundle: string[];
  maxHops: string;
  json?: boolean;
  server?: string;
  viewerTokenFile?: string;
}



const fleetHostsSchema = z.object({ hosts: z.array(z.object({ name: z.string(), addresses: z.array(z.string()).default([]) })) });

/** The aggregator's hosts and their addresses (`GET /api/hosts`), to name looping addresses. */
async function fleetOf(server: string | undefined, tokenFile: string | undefined): Promise<FleetHostAddresses[] | undefined> {
  if (!server) {
    if (tokenFile) throw new UsageError('--viewer-token-file needs --server URL');
    return undefined;
  }
  let url: URL;
  try {
    url = new URL('/api/hosts', server);
  } catch (err) {
    throw new UsageError(`--server "${server}" is not a URL (e.g. http://127.0.0.1:7480)`, { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--server "${server}": expected http:// or https://`);
  let token: string | undefined;
  if (tokenFile) {
    try {
      token = (await readFile(tokenFile, 'utf8')).split('\n')[0].trim();
    } catch (err) {
      throw new UsageError(`--viewer-token-file ${tokenFile}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    if (!token) throw new UsageError(`--viewer-token-file ${tokenFile} is empty`);
  }
  let body: unknown;
  try {
    const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(10_000) });
    body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(`HTTP ${res.status}${(body as { error?: string }).error ? `: ${(body as { error: string }).error}` : ''}`);
  } catch (err) {
    throw new UsageError(`cannot read the fleet from ${url.href}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = fleetHostsSchema.safeParse(body);
  if (!parsed.success) throw new UsageError(`${url.href} did not answer with { hosts: [{ name, addresses }] }`);
  return parsed.data.hosts;
}

function checkFlags(dst: string | undefined, flags: TraceFlags): number {
  if (dst !== undefined && flags.analyze !== undefined) throw new UsageError('give either DST (run a trace) or --analyze FILE (read one), not both');
  if (dst === undefined && flags.analyze === undefined) throw new UsageError('nothing to trace: give DST, or --analyze FILE|- with traceroute output');
  if (dst !== undefined && (dst.startsWith('-') || !/^[A-Za-z0-9.:_-]+$/.test(dst))) throw new UsageError(`DST "${dst}" is not an address or host name`);
  if (flags.source !== undefined && parseAddress(flags.source) === null) throw new UsageError(`--source ${flags.source}: not an IPv4 or IPv6 address`);
  const maxHops = Number(flags.maxHops);
  if (!Number.isInteger(maxHops) || maxHops < 1 || maxHops > 255) throw new UsageError(`--max-hops ${flags.maxHops}: expected 1..255`);
  return maxHops;
}

async function pathToAnalyze(dst: string | undefined, flags: TraceFlags, maxHops: number): Promise<{ path: TracePath; notes: string[]; output?: string; tool: string }> {
  if (dst === undefined) {
    const text = await readInput(typeof flags.analyze === 'string' ? flags.analyze : '-');
    const result = parseTraceroute(text);
    for (const w of result.warnings) process.stderr.write(safeText(`warning: line ${w.lineNumber}: ${w.reason}: ${w.text}`) + '\n');
    if (result.records.length === 0) throw new UsageError('no traceroute hops in the input (see "hostcheck parse traceroute" for what could be read)');
    return { path: pathFromTraceroute(result, { ...(flags.source && { source: flags.source }) }), notes: [], tool: 'traceroute' };
  }
  try {
    const r = await runTrace(dst, { ...(flags.source && { source: flags.source }), maxHops });
    const path = pathFromTraceroute(r.trace, { ...(r.source && { source: r.source }), destination: r.destination, evidenceSource: r.evidenceSource });
    if (r.tool === 'ping') path.maxHops = r.maxHops; // traceroute's header says it itself
    return { path, notes: r.notes, output: r.output, tool: r.tool };
  } catch (err) {
    if (err instanceof CommandFailedError) throw new UsageError(`cannot trace ${dst}: ${err.message}`, { cause: err });
    throw err;
  }
}

export function traceCommand(): Command {
  return new Command('trace')
    .description('Read a traceroute (or run one) and name forwarding loops, unreachable endings and where the path goes silent')
    .argument('[dst]', 'run traceroute -n -q 1 -w 1 -m 30 DST here (ping with rising TTL without traceroute)')
    .option('--analyze [file]', 'read traceroute output from FILE or - (stdin) instead of running it')
    .option('--source <ip>', 'the trace\'s source address (traceroute -s / ping -I; names the host in findings)')
    .option('--topology <file>', 'cloud topology (YAML/JSON, docs/topology.md) that names gateways and routers')
    .option('--bundle <path>', 'a bundle (hostcheck, sosreport, calicoctl diags) whose hosts\' addresses name hops (repeatable)', repeatable, [])
    .option('--server <url>', 'the aggregator (hostcheck serve) whose fleet names hops: GET /api/hosts')
    .option('--viewer-token-file <file>', 'viewer token for --server (first line; needed off loopback or when serve has viewer tokens)')
    .option('--max-hops <n>', 'hop limit when running the trace', '30')
    .option('--json', 'print the path, findings and notes as JSON')
    .addHelpText('after', `
Examples:
  traceroute -n 10.200.1.15 | hostcheck trace --analyze - --source 10.64.3.22 --topology cloud.yaml
  hostcheck trace --analyze trace.txt --json
  hostcheck trace 10.200.1.15 --topology cloud.yaml --bundle ./ecs3-bundle
  hostcheck trace --analyze trace.txt --server http://10.0.0.5:7480 --viewer-token-file ~/.hostcheck-viewer

Exit codes: 0 no error finding, 1 error findings (a loop, an unreachable ending), 2 usage.`)
    .action(async (dst: string | undefined, flags: TraceFlags) => {
      const maxHops = checkFlags(dst, flags);
      const topology = await topologyOption(flags.topology);
      const snapshots: HostSnapshot[] = await snapshotsOf(flags.bundle);
      const fleet = await fleetOf(flags.server, flags.viewerTokenFile);
      const names = addressNamer({ ...(topology && { topology }), snapshots, ...(fleet && { fleet }) });
      const { path, notes, output, tool } = await pathToAnalyze(dst, flags, maxHops);
      const analysis = analyzeTrace(path, { names, ...(topology && { topology }) });
      if (flags.json) {
        const hops = path.hops.map((h) => ({ hop: h.hop, responders: h.responders.map((r) => ({ address: r, ...(names(r) && { is: names(r) }) })), endings: h.endings.map((e) => e.annotation) }));
        printJson({ tool, destination: path.destination, source: path.source, reached: path.reached, hops, loop: analysis.loop && { ...analysis.loop, hops: undefined }, findings: analysis.findings, notes: [...notes, ...analysis.notes], exitCode: analysis.exitCode, ...(output !== undefined && { output }) });
      } else {
        process.stdout.write(renderTraceText(analysis, names, notes));
      }
      process.exitCode = analysis.exitCode;
    });
}
