/**
 * agent: the resident cost of `hostcheck agent` inside a lab namespace, beside a bare
 * `node -e` process idling in the same namespace in the same run. Idle: RSS and CPU over 5 minutes
 * (30 s with --quick) after the first report was acknowledged, `ip monitor` watching. Targets:
 * ≤ 55 MB RSS (kernel counters and route re-asks on, as always on a live host), ≤ 1% of a core on
 * average. Peak: VmHWM of the agent on a host with 100,000 routes until its first report is
 * acknowledged, ≤ 200 MB. Churn (issue 21): a rule and 50 routes rewritten every second, the
 * agent ≤ 5% of a core with its commands and ip monitor. The server is the tests' protocol peer (a real
 * ws server validating every message with src/model/protocol.ts), not the aggregator.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentProtocolPeer, waitFor } from '../test/helpers/agent-protocol-peer.js';
import { hostcheckBin, type Lab } from '../test/lab/lab.js';
import { firstIncident } from '../test/lab/topologies.js';
import { benchTempDir, ipBatchIn, MiB, removeTempDir, withLab, type BenchRow, type SectionOptions, stopChild } from './netns.js';
import { ROUTE_HOST, routeBatch, routeTopology } from './route-parse.js';

/** With the kernel counters on (they always are on a live host): the 55 MB. */
const IDLE_RSS_MB = 55;
const IDLE_CPU_PERCENT = 1;
const PEAK_RSS_MB = 200;
const ROUTES = 100_000;
/** Linux's USER_HZ: /proc/PID/stat times are in these ticks. */
const CLK_TCK = 100;

interface Sample {
  rssKiB: number;
  hwmKiB: number;
  cpuTicks: number;
}

/** A process's RSS, peak RSS (KiB) and CPU ticks, from /proc. */
export function sample(pid: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  // Fields after the command name (which may hold spaces): utime is the 14th field, stime the 15th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM'), cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

function startIn(lab: Lab, host: string, argv: string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', lab.ns(host), ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', () => undefined);
  return child;
}


interface AgentRun {
  agent: ChildProcess;
  peer: AgentProtocolPeer;
}

/** The agent in `host`, reporting to a protocol peer on a unix socket in `dir`. */
async function startAgent(lab: Lab, host: string, dir: string, timeoutMs: number): Promise<AgentRun> {
  const peer = await AgentProtocolPeer.start({ socketPath: join(dir, 'peer.sock'), ackDelayMs: 0 });
  writeFileSync(join(dir, 'token'), 'bench-token-0123456789abcdef\n', { mode: 0o600 });
  writeFileSync(join(dir, 'config.json'), '{}\n');
  const agent = startIn(lab, host, [
    process.execPath, hostcheckBin, 'agent', '--server', peer.url, '--name', 'bench', '--interval', '300',
    '--token-file', join(dir, 'token'), '--state-dir', dir, '--no-cloud', '--config', join(dir, 'config.json'),
  ]);
  await waitFor('the agent\'s first report acknowledged', () => peer.ackedSeq >= 1, timeoutMs);
  return { agent, peer };
}

/** Sample both processes every second for `seconds`; RSS maximum and average CPU of each. */
async function watch(pids: { agent: number; node: number }, seconds: number): Promise<Record<'agent' | 'node', { rssMaxMB: number; cpuPercent: number }>> {
  const first = { agent: sample(pids.agent), node: sample(pids.node) };
  const max = { agent: first.agent.rssKiB, node: first.node.rssKiB };
  const started = performance.now();
  for (let i = 0; i < seconds; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    for (const k of ['agent', 'node'] as const) max[k] = Math.max(max[k], sample(pids[k]).rssKiB);
  }
  const wall = (performance.now() - started) / 1000;
  const last = { agent: sample(pids.agent), node: sample(pids.node) };
  const round = (n: number, digits: number) => Number(n.toFixed(digits));
  const figure = (k: 'agent' | 'node') => ({ rssMaxMB: round((max[k] * 1024) / MiB, 1), cpuPercent: round((100 * (last[k].cpuTicks - first[k].cpuTicks)) / CLK_TCK / wall, 2) });
  return { agent: figure('agent'), node: figure('node') };
}

async function idle(options: SectionOptions): Promise<BenchRow[]> {
  const seconds = options.quick ? 30 : 300;
  const topology = firstIncident();
  const host = 'ecs3';
  return withLab(topology, async (lab) => {
    const dir = benchTempDir('agent-idle');
    let run: AgentRun | undefined;
    const bare = startIn(lab, host, [process.execPath, '-e', 'setInterval(() => {}, 1 << 30)']);
    try {
      run = await startAgent(lab, host, dir, 60_000);
      options.log(`agent: first report acknowledged; watching ${seconds} s of idle`);
      const f = await watch({ agent: run.agent.pid!, node: bare.pid! }, seconds);
      const reference = (value: number, unit: string) => ({ name: 'bare node -e (same run)', value, unit });
      return [
        { name: `agent idle RSS (max over ${seconds} s)`, value: f.agent.rssMaxMB, unit: 'MB', reference: reference(f.node.rssMaxMB, 'MB'), target: `<= ${IDLE_RSS_MB} MB`, pass: f.agent.rssMaxMB <= IDLE_RSS_MB },
        { name: `agent idle CPU (average over ${seconds} s)`, value: f.agent.cpuPercent, unit: '% of a core', reference: reference(f.node.cpuPercent, '% of a core'), target: `<= ${IDLE_CPU_PERCENT}%`, pass: f.agent.cpuPercent <= IDLE_CPU_PERCENT },
      ];
    } finally {
      if (run) await stopChild(run.agent);
      await stopChild(bare);
      await run?.peer.close();
      removeTempDir(dir);
    }
  });
}

async function peak(options: SectionOptions): Promise<BenchRow[]> {
  return withLab(routeTopology, async (lab) => {
    const seconds = await ipBatchIn(lab, ROUTE_HOST, routeBatch(ROUTES));
    options.log(`agent: ${ROUTES} routes added in ${seconds.toFixed(1)} s; starting the agent`);
    const dir = benchTempDir('agent-peak');
    let run: AgentRun | undefined;
    try {
      const started = performance.now();
      run = await startAgent(lab, ROUTE_HOST, dir, 5 * 60_000);
      const { hwmKiB } = sample(run.agent.pid!);
      const mb = Number(((hwmKiB * 1024) / MiB).toFixed(1));
      return [{
        name: `agent peak RSS, ${ROUTES.toLocaleString('en')} routes (to the first ack)`, value: mb, unit: 'MB',
        target: `<= ${PEAK_RSS_MB} MB`, pass: mb <= PEAK_RSS_MB,
        note: `first report acknowledged after ${((performance.now() - started) / 1000).toFixed(1)} s`,
      }];
    } finally {
      if (run) await stopChild(run.agent);
      await run?.peer.close();
      removeTempDir(dir);
    }
  });
}

/** Issue 21: under churn the agent (with its commands and ip monitor) stays under 5% of a core. */
const CHURN_CPU_PERCENT = 5;
const CHURN_ROUTES = 50;

/** utime+stime of a process and of the children it has waited for, in ticks. */
function ticksWithChildren(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
}

/** The agent's live children (ip monitor; a collection's commands while they run). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Churn: kube-proxy-like rewriting every second inside the agent's namespace — a policy rule
 * deleted and added again, and 50 routes deleted and added again (each a real netlink change the
 * agent's ip monitor sees) — for 120 s (30 s with --quick). The agent's CPU counts its own, its
 * finished commands' and its ip monitor's; the reference is the churn loop's own shell and ip.
 */
async function churn(options: SectionOptions): Promise<BenchRow[]> {
  const seconds = options.quick ? 30 : 120;
  return withLab(firstIncident(), async (lab) => {
    const host = 'ecs3';
    const dir = benchTempDir('agent-churn');
    let run: AgentRun | undefined;
    const batch = join(dir, 'churn.batch');
    const lines = ['rule del pref 100', 'rule add from 10.1.0.0/16 lookup 100 pref 100'];
    for (let i = 0; i < CHURN_ROUTES; i++) lines.push(`route del 10.200.${i}.0/24`, `route add 10.200.${i}.0/24 via 172.31.15.253 dev eth0 proto static`);
    writeFileSync(batch, lines.join('\n') + '\n');
    let loop: ChildProcess | undefined;
    try {
      await ipBatchIn(lab, host, ['rule add from 10.1.0.0/16 lookup 100 pref 100', ...Array.from({ length: CHURN_ROUTES }, (_, i) => `route add 10.200.${i}.0/24 via 172.31.15.253 dev eth0 proto static`)].join('\n') + '\n');
      run = await startAgent(lab, host, dir, 60_000);
      const agentPid = run.agent.pid!;
      loop = startIn(lab, host, ['sh', '-c', `while true; do ip -force -batch ${batch}; sleep 1; done`]);
      await new Promise((r) => setTimeout(r, 3000));
      const monitor = childrenOf(agentPid).find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('ip\0monitor'));
      const agentBefore = ticksWithChildren(agentPid) + (monitor ? ticksWithChildren(monitor) : 0);
      const loopBefore = ticksWithChildren(loop.pid!);
      const reportsBefore = run.peer.reports.length;
      const started = performance.now();
      options.log(`agent: churning ${CHURN_ROUTES} routes and a rule every second for ${seconds} s`);
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const wall = (performance.now() - started) / 1000;
      const agentTicks = ticksWithChildren(agentPid) + (monitor ? ticksWithChildren(monitor) : 0) - agentBefore;
      const loopTicks = ticksWithChildren(loop.pid!) - loopBefore;
      const pct = (ticks: number) => Number(((100 * ticks) / CLK_TCK / wall).toFixed(2));
      const reports = run.peer.reports.slice(reportsBefore);
      const changes = reports.flatMap((r) => r.changes ?? []);
      const folded = changes.filter((c) => c.action === 'rewritten' || c.action === 'transient');
      const maxCount = Math.max(0, ...folded.map((c) => c.count));
      return [{
        name: `agent CPU under churn (${CHURN_ROUTES} routes and a rule rewritten every second, ${seconds} s)`, value: pct(agentTicks), unit: '% of a core',
        reference: { name: 'the churn loop itself (sh + ip -batch)', value: pct(loopTicks), unit: '% of a core' },
        target: `<= ${CHURN_CPU_PERCENT}%`, pass: pct(agentTicks) <= CHURN_CPU_PERCENT,
        note: `${reports.length} reports, ${changes.length} change entries (${folded.length} churn entries, largest count ${maxCount})${monitor ? '' : '; ip monitor not found: its CPU is not counted'}`,
      }];
    } finally {
      if (loop) await stopChild(loop);
      if (run) await stopChild(run.agent);
      await run?.peer.close();
      removeTempDir(dir);
    }
  });
}

/** The `agent` section of bench/run.ts. */
export async function benchAgent(options: SectionOptions): Promise<BenchRow[]> {
  return [...(await idle(options)), ...(await peak(options))];
}

/** The `agent-churn` section of bench/run.ts. */
export async function benchAgentChurn(options: SectionOptions): Promise<BenchRow[]> {
  return churn(options);
}
