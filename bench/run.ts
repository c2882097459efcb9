/**
 * The benchmark runner (`npm run bench`): runs each section, prints its figures as a table and
 * one verdict line per target. Targets are ratios against a reference measured in the same run
 * (or a throughput stated by the issue, with the kernel's figure beside it). Flags:
 * `--only <section>[,<section>]`, `--quick` (smaller sizes, a smoke run). Exits 0 unless a
 * section crashed; a section that cannot run here (not root) is reported as skipped.
 */
import { cpus, release, totalmem } from 'node:os';
import { benchAgent, benchAgentChurn } from './agent.js';
import { benchBigHost } from './big-host.js';
import { benchDashboard } from './dashboard.js';
import { benchFleet } from './fleet.js';
import { benchIptablesParse } from './iptables-parse.js';
import { benchNftEval } from './nft-eval.js';
import {
  bestOf, ipBatchIn, ipv4, seededRandom, SectionSkipped, withLab,
  type BenchRow, type SectionOptions,
} from './netns.js';
import { benchOneShot } from './oneshot.js';
import { benchPreauth } from './preauth.js';
import { benchReplicas } from './replicas.js';
import { benchRouteParse, ROUTE_HOST, routeTopology } from './route-parse.js';

interface Section {
  name: string;
  what: string;
  run: (options: SectionOptions) => Promise<BenchRow[]>;
}

const SECTIONS: Section[] = [
  { name: 'route-parse', what: 'ip route text/JSON parse time vs the ip command', run: benchRouteParse },
  { name: 'iptables-parse', what: 'iptables-save dump parse time vs iptables-save', run: benchIptablesParse },
  { name: 'nft-eval', what: '100,000 packets through a 10,000-rule nft ruleset (sets, verdict maps) vs the iptables evaluator with ipsets', run: benchNftEval },
  { name: 'lpm', what: 'longest-prefix match lookups/s vs the kernel (ip route get)', run: benchLpmSection },
  { name: 'oneshot', what: 'one-shot hostcheck wall time and peak RSS vs node start-up + raw collection', run: benchOneShot },
  { name: 'fleet', what: 'aggregator: idle memory, connect time, report latency vs a bare ws echo server; fleet match time', run: benchFleet },
  { name: 'preauth', what: 'aggregator under 1,000 clients attacking before authentication: peak RSS, a good agent\'s ack p99 vs the same agent alone', run: benchPreauth },
  { name: 'agent', what: 'agent idle RSS and CPU vs a bare node process; peak RSS with 100,000 routes', run: benchAgent },
  { name: 'replicas', what: 'serve on SQLite vs PostgreSQL: sustained report rate at p99 <= 100 ms, CPU per 1,000 reports; two replicas vs one; LISTEN/NOTIFY propagation; what following costs; cold start at 100,000 hosts (HOSTCHECK_BENCH_COLD=1)', run: benchReplicas },
  { name: 'agent-churn', what: 'agent CPU while a rule and 50 routes are rewritten every second (its change log coalescing the churn) vs the churn loop itself', run: benchAgentChurn },
  { name: 'dashboard', what: 'dashboard views over 1,000 hosts in Chromium (overview, topology map, path diagram, timeline of the fleet and of a host): navigation → painted vs fetching their JSON', run: benchDashboard },
  { name: 'big-host', what: 'agent on 10k/100k rules and 100k/1M routes: bytes on the wire (first and steady-state report) vs the raw dumps, peak RSS, fleet match', run: benchBigHost },
];

// ---------------------------------------------------------------------------------------------
// lpm: bench/lpm.ts (written separately) plus the kernel's `ip route get` rate as the reference.

interface LpmFigure {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

const LPM_TARGETS: Array<{ match: string; min: number; family: 4 | 6 }> = [
  { match: 'ipv4 lookups', min: 10_000_000, family: 4 },
  { match: 'ipv6 lookups', min: 1_000_000, family: 6 },
];

async function benchLpmSection(options: SectionOptions): Promise<BenchRow[]> {
  let benchLpm: (() => Promise<LpmFigure[]>) | undefined;
  let missing = '';
  try {
    const specifier = './lpm.js';
    benchLpm = ((await import(specifier)) as { benchLpm?: () => Promise<LpmFigure[]> }).benchLpm;
    if (typeof benchLpm !== 'function') missing = 'bench/lpm.ts exports no benchLpm()';
  } catch (error) {
    missing = `bench/lpm.ts cannot be loaded: ${(error as Error).message.split('\n')[0]}`;
  }
  const rows: BenchRow[] = [];
  let kernel: Record<4 | 6, BenchRow | undefined> = { 4: undefined, 6: undefined };
  let kernelSkipped = '';
  try {
    kernel = await kernelRouteGetRates(options);
  } catch (error) {
    if (!(error instanceof SectionSkipped)) throw error;
    kernelSkipped = `no kernel reference: ${error.message}`;
    options.log(`lpm: ${kernelSkipped}`);
  }
  if (benchLpm === undefined || missing) {
    rows.push({ name: 'lpm lookups', value: Number.NaN, unit: '', note: `not available yet (${missing})` });
  } else {
    options.log('lpm: running benchLpm() (1M IPv4 and 200k IPv6 prefixes) ...');
    for (const figure of await benchLpm()) {
      const target = LPM_TARGETS.find((t) => figure.name.includes(t.match));
      const row: BenchRow = { name: figure.name, value: figure.value, unit: figure.unit, note: figure.note };
      if (target) {
        row.target = `>= ${formatNumber(target.min)} ${figure.unit}`;
        row.pass = figure.value >= target.min;
        const ref = kernel[target.family];
        if (kernelSkipped) row.note = row.note ? `${row.note}; ${kernelSkipped}` : kernelSkipped;
        if (ref) {
          row.reference = { name: ref.name, value: ref.value, unit: ref.unit };
          row.ratio = Number((figure.value / ref.value).toPrecision(3));
        }
      }
      rows.push(row);
    }
  }
  for (const family of [4, 6] as const) if (kernel[family]) rows.push(kernel[family]);
  return rows;
}

/** Lookups/s of `ip -force -batch` running `route get` lines against a table of the same kind. */
async function kernelRouteGetRates(options: SectionOptions): Promise<Record<4 | 6, BenchRow | undefined>> {
  const routes = options.quick ? 20_000 : 100_000;
  const lookups = options.quick ? 20_000 : 100_000;
  const topology = structuredClone(routeTopology);
  topology.links![0].a.addresses = ['10.0.0.1/16', 'fd00::1/64'];
  return withLab(topology, async (lab) => {
    const next = seededRandom(7);
    const result: Record<4 | 6, BenchRow | undefined> = { 4: undefined, 6: undefined };
    for (const family of [4, 6] as const) {
      const adds: string[] = [family === 4 ? 'route add default via 10.0.0.2 dev eth0' : 'route add default via fd00::2 dev eth0'];
      const gets: string[] = [];
      for (let i = 0; i < routes; i++) {
        if (family === 4) adds.push(`route add ${ipv4((0x20000000 + i * 256) >>> 0)}/24 via 10.0.0.2 dev eth0`);
        else adds.push(`route add fd10:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::/48 via fd00::2 dev eth0`);
      }
      for (let i = 0; i < lookups; i++) {
        const r = next() % routes;
        if (family === 4) gets.push(`route get ${ipv4((0x20000000 + r * 256 + (next() & 255)) >>> 0)}`);
        else gets.push(`route get fd10:${(r >>> 16).toString(16)}:${(r & 0xffff).toString(16)}::${(next() & 0xffff).toString(16)}`);
      }
      options.log(`lpm: kernel reference, IPv${family}: ${formatNumber(routes)} routes, ${formatNumber(lookups)} route get lines ...`);
      await ipBatchIn(lab, ROUTE_HOST, `${adds.join('\n')}\n`);
      const input = `${gets.join('\n')}\n`;
      const timed = await bestOf(3, () => ipBatchIn(lab, ROUTE_HOST, input, true));
      result[family] = {
        name: `kernel ip route get, IPv${family} (${formatNumber(routes)} routes)`,
        value: Math.round(lookups / timed.best), unit: 'lookups/s',
        note: `best of 3 runs of ${formatNumber(lookups)} lines through one ip -force -batch (netlink round trip and printing included)`,
      };
    }
    return result;
  });
}

// ---------------------------------------------------------------------------------------------
// The runner.

interface Outcome {
  section: Section;
  status: 'ok' | 'skipped' | 'crashed';
  rows: BenchRow[];
  seconds: number;
  message?: string;
}

function parseArgs(argv: string[]): { only: string[]; quick: boolean } {
  const only: string[] = [];
  let quick = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') quick = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      if (!value) usage('--only needs a section name');
      only.push(...value.split(',').filter(Boolean));
    } else if (arg === '--help' || arg === '-h') usage();
    else usage(`unknown argument ${JSON.stringify(arg)}`);
  }
  const unknown = only.filter((name) => !SECTIONS.some((s) => s.name === name));
  if (unknown.length > 0) usage(`unknown section ${unknown.join(', ')}`);
  return { only, quick };
}

function usage(problem?: string): never {
  const out = problem ? process.stderr : process.stdout;
  if (problem) out.write(`bench: ${problem}\n`);
  out.write('usage: tsx bench/run.ts [--quick] [--only <section>[,<section>]]\nsections:\n');
  for (const s of SECTIONS) out.write(`  ${s.name.padEnd(16)}${s.what}\n`);
  process.exit(problem ? 2 : 0);
}

function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return '-';
  return Number.isInteger(x) ? x.toLocaleString('en') : String(x);
}

function formatValue(value: number, unit: string): string {
  return Number.isFinite(value) ? `${formatNumber(value)} ${unit}`.trim() : 'n/a';
}

function printTable(outcome: Outcome): void {
  const { section, rows } = outcome;
  console.log(`\n## ${section.name} (${outcome.seconds.toFixed(0)} s) — ${section.what}`);
  if (outcome.status !== 'ok') {
    console.log(`${outcome.status}: ${outcome.message}`);
    return;
  }
  const header = ['figure', 'value', 'reference', 'ratio', 'target', ''];
  const table = rows.map((r) => [
    r.name,
    formatValue(r.value, r.unit),
    r.reference ? `${formatValue(r.reference.value, r.reference.unit)} (${r.reference.name})` : '',
    r.ratio === undefined ? '' : String(r.ratio),
    r.target ?? '',
    r.pass === undefined ? '' : r.pass ? 'PASS' : 'FAIL',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...table.map((row) => row[c].length)));
  const line = (cells: string[]): string => cells.map((cell, c) => cell.padEnd(widths[c])).join(' | ').trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of table) console.log(line(row));
  for (const r of rows) if (r.note) console.log(`  ${r.name}: ${r.note}`);
}

function verdicts(outcomes: Outcome[]): string[] {
  const lines: string[] = [];
  for (const o of outcomes) {
    if (o.status !== 'ok') {
      lines.push(`${o.status.toUpperCase()} ${o.section.name}: ${o.message}`);
      continue;
    }
    for (const r of o.rows) {
      if (r.pass === undefined) continue;
      const ratio = r.ratio === undefined || r.target?.startsWith('ratio') !== true ? '' : ` (ratio ${r.ratio})`;
      lines.push(`${r.pass ? 'PASS' : 'FAIL'} ${o.section.name}: ${r.name} = ${formatValue(r.value, r.unit)}${ratio}; target ${r.target}`);
    }
    const missing = o.rows.filter((r) => !Number.isFinite(r.value) && r.note);
    for (const r of missing) lines.push(`N/A  ${o.section.name}: ${r.name}: ${r.note}`);
  }
  return lines;
}

/** Ctrl-C stops the whole run; 'exit' handlers (test/lab, bench/netns.ts) remove namespaces and dumps. */
function exitOnSignals(log: (line: string) => void): void {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.on(signal, () => {
      log(`interrupted by ${signal}: removing namespaces and temporary files`);
      process.exit(code);
    });
  }
}

async function main(): Promise<void> {
  const { only, quick } = parseArgs(process.argv.slice(2));
  const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);
  exitOnSignals(log);
  const chosen = SECTIONS.filter((s) => only.length === 0 || only.includes(s.name));
  console.log(`# hostcheck benchmarks${quick ? ' (--quick)' : ''}`);
  console.log(`${new Date().toISOString()}, node ${process.version}, Linux ${release()}, `
    + `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB`);
  const outcomes: Outcome[] = [];
  for (const section of chosen) {
    log(`section ${section.name} ...`);
    const start = process.hrtime.bigint();
    const outcome: Outcome = { section, status: 'ok', rows: [], seconds: 0 };
    try {
      outcome.rows = await section.run({ quick, log });
    } catch (error) {
      outcome.status = error instanceof SectionSkipped ? 'skipped' : 'crashed';
      outcome.message = error instanceof SectionSkipped ? error.message : ((error as Error).stack ?? String(error));
    }
    outcome.seconds = Number(process.hrtime.bigint() - start) / 1e9;
    outcomes.push(outcome);
    printTable(outcome);
  }
  console.log('\n## verdict');
  for (const line of verdicts(outcomes)) console.log(line);
  if (outcomes.some((o) => o.status === 'crashed')) process.exitCode = 1;
}

await main();
