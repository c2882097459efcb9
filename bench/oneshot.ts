/**
 * oneshot: wall time of the one-shot `bin/hostcheck --json --peer IP` (collect, parse, analyse,
 * print) inside a lab namespace, against the raw collection in the same namespace: Node's bare
 * start-up (`node -e ''`) plus every command source of src/collect/sources.ts run back to back
 * into files. Best of 3 each, runs interleaved. Targets: on a typical host (the first incident's
 * ECS3) at most 1.5× the reference; on a host with 1,000,000 routes (100,000 with --quick) at
 * most 2.5× and a peak RSS of the hostcheck process under 1 GB. The route re-asks (on by
 * default) against `--no-kernel` on the typical host, best of 15 interleaved: within 5%.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SOURCES } from '../src/collect/sources.js';
import { hostcheckBin, repoRoot, type Lab, type Topology } from '../test/lab/lab.js';
import { FIRST_INCIDENT, firstIncident } from '../test/lab/topologies.js';
import {
  benchTempDir, collectGarbage, ipBatchIn, MiB, removeTempDir, withLab,
  type BenchRow, type SectionOptions,
} from './netns.js';
import { ROUTE_HOST, routeBatch, routeTopology } from './route-parse.js';

const RUNS = 3;
const TYPICAL_TARGET_RATIO = 1.5;
const ROUTES_TARGET_RATIO = 1.5;
const PEAK_TARGET_MB = 1000;
const FULL_ROUTES = 1_000_000;
const QUICK_ROUTES = 100_000;
const RSS_POLL_MS = 20;
/** GNU time: its %M (wait4's ru_maxrss) cross-checks the polled VmHWM. */
const GNU_TIME = '/usr/bin/time';

/** A Docker host's ruleset (nat MASQUERADE for docker0, DOCKER/DOCKER-USER chains, ssh allowed). */
const DOCKER_IPTABLES = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER-USER -j RETURN
COMMIT
`;

/** The first incident with a few iptables rules on ECS3, as its Docker would have written them. */
function typicalTopology(): Topology {
  const topology = firstIncident();
  topology.hosts.ecs3.iptables = DOCKER_IPTABLES;
  return topology;
}

/** How one timed process ended. */
interface ProcessRun {
  seconds: number;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** Last VmHWM read from /proc/<pid>/status before the process exited (bytes), when polled. */
  peakBytes?: number;
  /** The Name: line of that last read (proves it was node, not ip or env). */
  peakProcessName?: string;
}

/** Starts argv, times it until exit, and optionally polls its VmHWM every RSS_POLL_MS. */
function timeProcess(argv: readonly string[], pollRss = false): Promise<ProcessRun> {
  return new Promise((resolvePromise, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    let peakBytes: number | undefined;
    let peakProcessName: string | undefined;
    const poll = (): void => {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'latin1');
        const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
        if (hwm) {
          peakBytes = Number(hwm[1]) * 1024;
          peakProcessName = /^Name:\s+(\S+)/m.exec(status)?.[1];
        }
      } catch {
        // Exited between two polls (or a zombie without memory fields): keep the last read.
      }
    };
    const timer = pollRss ? setInterval(poll, RSS_POLL_MS) : undefined;
    if (pollRss) poll();
    child.on('error', (error) => {
      clearInterval(timer);
      reject(error);
    });
    child.on('close', (exitCode) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      clearInterval(timer);
      resolvePromise({
        seconds, exitCode, peakBytes, peakProcessName,
        stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

/**
 * The raw collection as one shell line: `node -e ''`, then every command source's argv in
 * SOURCES order, each writing its output to a file in `dir` (stderr dropped, failures ignored:
 * the one-shot records a failed source and goes on too). LC_ALL=C as runCommand sets it.
 */
export function rawCollectionScript(dir: string): string {
  // The same commands the one-shot runs: sources with a parser (the JSON forms are capture-only).
  const commands = SOURCES.filter((s) => s.kind === 'command' && s.argv !== undefined && s.format !== undefined)
    .map((s) => `${s.argv!.map(shellQuote).join(' ')} < /dev/null > ${shellQuote(join(dir, s.file))} 2> /dev/null`);
  return ['export LC_ALL=C', "node -e ''", ...commands, 'true'].join('; ');
}

interface OneShotReport {
  exitCode: number;
  complete: boolean;
  sources: Array<{ name: string; status: string; warnings: number }>;
  findings: Array<{ check: string; severity: string }>;
}

/** What the one-shot said, in a few words, and a throw when it could not run (exit 2, no report). */
function describeReport(run: ProcessRun, what: string): string {
  if (run.exitCode !== 0 && run.exitCode !== 1 && run.exitCode !== 3) {
    throw new Error(`${what}: hostcheck exited ${run.exitCode}: ${run.stderr.trim().slice(0, 500)}`);
  }
  const report = JSON.parse(run.stdout) as OneShotReport;
  const collected = report.sources.filter((s) => s.status === 'collected').length;
  const warnings = report.sources.reduce((n, s) => n + s.warnings, 0);
  return `exit ${report.exitCode}, ${collected}/${report.sources.length} sources collected, ${warnings} parser warnings, `
    + `${report.findings.length} findings (${report.findings.map((f) => f.check).join(', ') || 'none'})`;
}

interface Comparison {
  oneShot: { best: number; all: number[]; peakBytes: number; peakName: string; waitPeakBytes?: number; summary: string };
  raw: { best: number; all: number[]; files: number; bytes: number };
  node: { best: number; all: number[] };
}

/**
 * Best of RUNS for the one-shot, the raw collection and `node -e ''` alone, interleaved run by
 * run so a burst of load from other jobs on the machine hits all three alike.
 */
async function compare(lab: Lab, host: string, peer: string, dir: string, options: SectionOptions, label: string): Promise<Comparison> {
  const ns = lab.ns(host);
  const oneShotArgv = ['ip', 'netns', 'exec', ns, hostcheckBin, '--json', '--peer', peer];
  const rawArgv = ['ip', 'netns', 'exec', ns, 'sh', '-c', rawCollectionScript(dir)];
  const nodeArgv = ['ip', 'netns', 'exec', ns, 'node', '-e', ''];
  const oneShot: number[] = [];
  const raw: number[] = [];
  const node: number[] = [];
  let peakBytes = 0;
  let peakName = '';
  let summary = '';
  for (let i = 0; i < RUNS; i++) {
    options.log(`oneshot: ${label}: run ${i + 1} of ${RUNS} (raw collection, node -e '', hostcheck) ...`);
    collectGarbage();
    raw.push((await timeProcess(rawArgv)).seconds);
    node.push((await timeProcess(nodeArgv)).seconds);
    const run = await timeProcess(oneShotArgv, true);
    summary = describeReport(run, label);
    oneShot.push(run.seconds);
    if ((run.peakBytes ?? 0) > peakBytes) {
      peakBytes = run.peakBytes ?? 0;
      peakName = run.peakProcessName ?? '?';
    }
  }
  let waitPeakBytes: number | undefined;
  if (existsSync(GNU_TIME)) {
    options.log(`oneshot: ${label}: one more hostcheck run under ${GNU_TIME} (peak RSS cross-check) ...`);
    const run = await timeProcess(['ip', 'netns', 'exec', ns, GNU_TIME, '-f', 'hostcheck-maxrss-kib %M', ...oneShotArgv.slice(4)]);
    describeReport(run, `${label} (under ${GNU_TIME})`);
    const kib = /hostcheck-maxrss-kib (\d+)\s*$/.exec(run.stderr)?.[1];
    if (kib !== undefined) waitPeakBytes = Number(kib) * 1024;
  }
  return {
    oneShot: { best: Math.min(...oneShot), all: oneShot, peakBytes, peakName, waitPeakBytes, summary },
    raw: { best: Math.min(...raw), all: raw, ...writtenFiles(dir) },
    node: { best: Math.min(...node), all: node },
  };
}

/** Non-empty files the raw collection wrote, and their bytes: proof the reference did the work. */
function writtenFiles(dir: string): { files: number; bytes: number } {
  const sizes = readdirSync(dir).map((name) => statSync(join(dir, name)).size).filter((size) => size > 0);
  return { files: sizes.length, bytes: sizes.reduce((a, b) => a + b, 0) };
}

/** Rows for one host: the one-shot against the raw collection, then the reference's parts. */
function comparisonRows(c: Comparison, label: string, targetRatio: number): BenchRow[] {
  const ratio = c.oneShot.best / c.raw.best;
  const reference = { name: `node -e '' + collection commands back to back, ${label}`, value: round(c.raw.best), unit: 's' };
  return [
    {
      name: `one-shot hostcheck --json, ${label}`, value: round(c.oneShot.best), unit: 's', reference,
      ratio: round(ratio), target: `ratio <= ${targetRatio}`, pass: ratio <= targetRatio,
      note: `best of ${RUNS} (${c.oneShot.all.map(round).join(', ')}), whole process via ip netns exec; ${c.oneShot.summary}`,
    },
    {
      name: `raw collection (reference), ${label}`, value: round(c.raw.best), unit: 's',
      note: `best of ${RUNS} (${c.raw.all.map(round).join(', ')}): one ip netns exec sh -c running node -e '' then the `
        + `${SOURCES.filter((s) => s.kind === 'command' && s.format !== undefined).length} command sources the one-shot runs (src/collect/sources.ts) into files `
        + `(${c.raw.files} non-empty, ${formatBytes(c.raw.bytes)}); `
        + `of which node -e '' alone ${round(c.node.best)} s (best of ${RUNS}: ${c.node.all.map(round).join(', ')})`,
    },
  ];
}

function peakRow(c: Comparison, label: string, target: boolean): BenchRow {
  // The verdict takes the larger of the two readings, so a peak between two polls cannot hide.
  const wait = c.oneShot.waitPeakBytes;
  const peakBytes = Math.max(c.oneShot.peakBytes, wait ?? 0);
  const peakMb = peakBytes / 1e6;
  const row: BenchRow = {
    name: `one-shot peak RSS, ${label}`, value: Math.round(peakMb), unit: 'MB',
    note: `MB = 10^6 bytes (${Math.round(peakBytes / MiB)} MiB), the larger of: the last VmHWM read from /proc/<pid>/status, `
      + `polled every ${RSS_POLL_MS} ms, largest over the ${RUNS} timed runs = ${Math.round(c.oneShot.peakBytes / 1e6)} MB `
      + `(process "${c.oneShot.peakName}": ip netns exec and env exec into node, so the pid is hostcheck's node; `
      + 'the commands it runs are not counted)'
      + (wait === undefined
        ? `; no ${GNU_TIME} here for a cross-check`
        : `; and ${GNU_TIME} %M of one more run (wait4 ru_maxrss: node, or a command it ran if one were larger) = ${Math.round(wait / 1e6)} MB`),
  };
  if (target) {
    row.target = `< ${PEAK_TARGET_MB} MB`;
    row.pass = peakMb < PEAK_TARGET_MB;
  }
  return row;
}

/** When build/ is older than src/ the one-shot runs yesterday's code: say so in the notes. */
function buildNote(): string {
  const built = resolve(repoRoot, 'build/src/cli/main.js');
  if (!existsSync(built)) return 'build/ is missing: run npm run build';
  const builtAt = statSync(built).mtimeMs;
  const stale = ['src/collect/collect.ts', 'src/cli/commands-run.ts', 'parsers/ip-route.ts', 'src/checks/analyze.ts']
    .filter((file) => existsSync(resolve(repoRoot, file)) && statSync(resolve(repoRoot, file)).mtimeMs > builtAt);
  return stale.length > 0 ? `build/ is older than ${stale.join(', ')} (run npm run build)` : '';
}

/** Route re-asks cost at most this fraction of the one-shot (issue: within 5% of its time without them). */
const REASK_TARGET_RATIO = 1.05;
const REASK_RUNS = 15;

/**
 * The one-shot with its default route re-asks against `--no-kernel` on the same host, runs
 * interleaved, best of REASK_RUNS each; the report proves questions were asked and agreed.
 */
async function reaskCost(lab: Lab, host: string, peer: string, options: SectionOptions): Promise<BenchRow> {
  const argv = ['ip', 'netns', 'exec', lab.ns(host), hostcheckBin, '--json', '--peer', peer];
  const asked: number[] = [];
  const off: number[] = [];
  let kernel = '';
  for (let i = 0; i < REASK_RUNS; i++) {
    options.log(`oneshot: route re-asks: run ${i + 1} of ${REASK_RUNS} (hostcheck, hostcheck --no-kernel) ...`);
    collectGarbage();
    const run = await timeProcess(argv);
    const r = (JSON.parse(run.stdout) as { kernel?: { routes?: { asked: number; agreed: number } } }).kernel?.routes;
    if (!r || r.asked === 0) throw new Error(`oneshot: the one-shot asked the kernel nothing: ${run.stdout.slice(0, 300)}`);
    kernel = `${r.asked} question(s) asked, ${r.agreed} agreed`;
    asked.push(run.seconds);
    collectGarbage();
    off.push((await timeProcess([...argv, '--no-kernel'])).seconds);
  }
  const ratio = Math.min(...asked) / Math.min(...off);
  return {
    name: 'one-shot with route re-asks (the default), typical host', value: round(Math.min(...asked)), unit: 's',
    reference: { name: 'the same with --no-kernel', value: round(Math.min(...off)), unit: 's' },
    ratio: round(ratio), target: `ratio <= ${REASK_TARGET_RATIO}`, pass: ratio <= REASK_TARGET_RATIO,
    note: `best of ${REASK_RUNS}, interleaved (with: ${asked.map(round).join(', ')}; without: ${off.map(round).join(', ')}); ${kernel} (one ip -o -force -batch -, started once the collection is under way)`,
  };
}

export async function benchOneShot(options: SectionOptions): Promise<BenchRow[]> {
  const dir = benchTempDir('oneshot');
  const rows: BenchRow[] = [];
  try {
    options.log('oneshot: typical host: the first incident\'s ECS3 (docker0, a default route, a Docker iptables ruleset) ...');
    const [typical, reask] = await withLab(typicalTopology(), async (lab) => [
      await compare(lab, 'ecs3', `${FIRST_INCIDENT.ecs1}=ecs1`, dir, options, 'typical host'),
      await reaskCost(lab, 'ecs3', `${FIRST_INCIDENT.ecs1}=ecs1`, options),
    ] as const);
    rows.push(...comparisonRows(typical, 'typical host', TYPICAL_TARGET_RATIO), peakRow(typical, 'typical host', false), reask);

    const count = options.quick ? QUICK_ROUTES : FULL_ROUTES;
    const label = `${count.toLocaleString('en')} routes`;
    const many = await withLab(routeTopology, async (lab) => {
      options.log(`oneshot: loading ${label} with ip -batch ...`);
      const loadSeconds = await ipBatchIn(lab, ROUTE_HOST, routeBatch(count));
      options.log(`oneshot: loaded in ${round(loadSeconds)} s`);
      return compare(lab, ROUTE_HOST, '10.0.0.2', dir, options, label);
    });
    rows.push(...comparisonRows(many, label, ROUTES_TARGET_RATIO), peakRow(many, label, true));
    const note = buildNote();
    if (note) {
      for (const row of rows) if (row.name.startsWith('one-shot hostcheck')) row.note = `${row.note}; ${note}`;
    }
    return rows;
  } finally {
    removeTempDir(dir);
  }
}

function formatBytes(bytes: number): string {
  return bytes >= MiB ? `${(bytes / MiB).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

function round(x: number): number {
  return Number(x.toPrecision(3));
}
