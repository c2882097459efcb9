/**
 * agent: the resident cost of `hostcheck agent` inside a lab namespace, beside a bare
 * `node -e` process idling in the same namespace in the same run. Idle: RSS and CPU over 5 minutes
 * (30 s with --quick) after the first report was acknowledged, `ip monitor` watching. Targets:
 * ≤ 55 MB RSS (kernel counters and route re-asks on, as always on a live host), ≤ 1% of a core on
 * average. Peak: VmHWM of the agent on a host with 100,000 routes until its first report is
 * acknowledged, ≤ 200 MB. The server is the tests' protocol peer (a real
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

function sample(pid: number): Sample {
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

/** The `agent` section of bench/run.ts. */
export async function benchAgent(options: SectionOptions): Promise<BenchRow[]> {
  return [...(await idle(options)), ...(await peak(options))];
}
