/**
 * big-host: `hostcheck agent` on a host with a big firewall or route table, reporting to the real
 * aggregator (in this process, over a unix socket) through a byte-counting relay. Per host: the
 * bytes on the wire (agent → server, after permessage-deflate) up to the first acknowledged
 * report; the same for the agent restarted with nothing changed (the steady state: the welcome
 * lists the sections the server has); and the agent's peak RSS (VmHWM) to the first ack.
 * Reference, same run: the size of the raw dumps (`iptables-save`, `ip route show table all`) the
 * agent read. Hosts: 10,000 and 100,000 kube-proxy rules, 100,000 and 1,000,000 routes, and one
 * with 100,000 rules plus 1,000,000 routes and a docker0 bridge that must be matched against a
 * peer (route-captures-peer). `--quick`: 10,000 rules and 100,000 routes only.
 * Targets (issue 22): a 100,000-rule host's steady-state report ≤ 1 MB on the wire; agent peak ≤ 300 MB.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startServer, type RunningServer } from '../src/aggregator/server.js';
import { PROTOCOL_VERSION } from '../src/model/protocol.js';
import { hostcheckBin, type Lab, type Topology } from '../test/lab/lab.js';
import { kubeProxyDump } from '../test/helpers/kube-proxy-dump.js';
import { tinySnapshot, reportOf } from '../test/helpers/aggregator-client.js';
import { benchTempDir, ipBatchIn, removeTempDir, shIn, withLab, type BenchRow, type SectionOptions, stopChild } from './netns.js';
import { routeBatch } from './route-parse.js';

const STEADY_TARGET_BYTES = 1_000_000;
const PEAK_TARGET_MB = 300;
const HOST = 'big';
const topology: Topology = {
  hosts: { [HOST]: {} },
  links: [{ a: { host: HOST, iface: 'eth0', addresses: ['10.0.0.1/16'] }, b: { host: HOST, iface: 'eth1' } }],
};

interface Case {
  label: string;
  rules: number;
  routes: number;
  /** A docker0 bridge whose route captures a peer's address: the fleet match must find it. */
  matched?: boolean;
}

/** Counts the bytes each connection sends through it, from a unix socket to another. */
class CountingRelay {
  readonly sent: number[] = [];
  private constructor(private readonly server: Server) {}

  static async start(listen: string, target: string): Promise<CountingRelay> {
    const server = createServer();
    const relay = new CountingRelay(server);
    server.on('connection', (client: Socket) => {
      const k = relay.sent.push(0) - 1;
      const upstream = createConnection(target);
      client.on('data', (d: Buffer) => void (relay.sent[k] += d.length));
      client.pipe(upstream).pipe(client);
      const end = (): void => { client.destroy(); upstream.destroy(); };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((r) => server.listen(listen, r));
    return relay;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

function hwmMB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) * 1024 / 1e6;
}

async function waitUntil(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const started = Date.now();
  while (!(await ok())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}


/** The agent in the host's namespace; its peak RSS is polled until it exits or `watch` stops. */
function startAgent(lab: Lab, url: string, dir: string): { child: ChildProcess; peakMB: () => number } {
  const child = spawn('ip', ['netns', 'exec', lab.ns(HOST), process.execPath, hostcheckBin, 'agent', '--server', url, '--name', HOST,
    '--interval', '3600', '--token-file', join(dir, 'token'), '--state-dir', join(dir, 'state'), '--no-cloud', '--config', join(dir, 'config.json')],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', () => undefined);
  let peak = 0;
  const poll = setInterval(() => {
    try {
      peak = Math.max(peak, hwmMB(child.pid!));
    } catch {
      clearInterval(poll);
    }
  }, 20);
  child.once('exit', () => clearInterval(poll));
  return { child, peakMB: () => peak };
}

/** A peer whose address the big host's docker0 route captures (route-captures-peer). */
async function reportPeer(socket: string): Promise<WebSocket> {
  const ws = new WebSocket(`ws+unix://${socket}:/agent`, { perMessageDeflate: true });
  await new Promise<void>((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const acked = new Promise<void>((resolve) => ws.on('message', (d) => (JSON.parse(d.toString()) as { type: string }).type === 'ack' && resolve()));
  ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, agentVersion: 'bench', name: 'peer', identity: { hostname: 'peer' }, credential: { kind: 'token', token: 'peer-token-0123456789abcdef' }, lastSeq: 0 }));
  ws.send(JSON.stringify(reportOf(1, tinySnapshot('peer', '172.17.0.64'))));
  await acked;
  return ws;
}

async function runCase(c: Case, options: SectionOptions): Promise<BenchRow[]> {
  return withLab(topology, async (lab) => {
    const dir = benchTempDir('big-host');
    let server: RunningServer | undefined;
    let relay: CountingRelay | undefined;
    let peer: WebSocket | undefined;
    const children: ChildProcess[] = [];
    try {
      if (c.routes) {
        const s = await ipBatchIn(lab, HOST, routeBatch(c.routes));
        options.log(`big-host ${c.label}: ${c.routes.toLocaleString('en')} routes loaded in ${s.toFixed(1)} s`);
      }
      if (c.rules) {
        await shIn(lab, HOST, 'iptables-restore', kubeProxyDump(c.rules).text);
        options.log(`big-host ${c.label}: ${c.rules.toLocaleString('en')} rules loaded`);
      }
      if (c.matched) await shIn(lab, HOST, 'ip link add docker0 type bridge && ip addr add 172.17.0.1/16 dev docker0 && ip link set docker0 up');
      const dumpBytes = Number((await shIn(lab, HOST, 'iptables-save -c | wc -c; ip route show table all | wc -c; ip -6 route show table all | wc -c'))
        .trim().split('\n').reduce((a, b) => a + Number(b), 0));
      writeFileSync(join(dir, 'token'), 'bench-token-0123456789abcdef\n', { mode: 0o600 });
      writeFileSync(join(dir, 'config.json'), '{}\n');
      server = await startServer({ socket: join(dir, 'agg.sock'), db: join(dir, 'agg.db'), limits: { maxRules: 250_000 } });
      relay = await CountingRelay.start(join(dir, 'relay.sock'), join(dir, 'agg.sock'));
      if (c.matched) peer = await reportPeer(join(dir, 'agg.sock'));
      const url = `ws+unix://${join(dir, 'relay.sock')}:/agent`;
      const acked = (seq: number) => async () => (await server!.aggregator.store.reports(HOST)).some((r) => r.seq === seq);

      const started = performance.now();
      const first = startAgent(lab, url, dir);
      children.push(first.child);
      await waitUntil(`${c.label}: the first report acknowledged`, acked(1), 10 * 60_000);
      const firstSeconds = (performance.now() - started) / 1000;
      const peakMB = first.peakMB();
      const firstBytes = relay.sent[relay.sent.length - 1];
      options.log(`big-host ${c.label}: connections so far ${JSON.stringify(relay.sent)}`);
      const firstReceived = (await server.aggregator.store.reports(HOST))[0].bytes;
      const sectionChars = await metric(server, 'hostcheck_section_characters_total');
      const indexed = server.aggregator.index.snapshot(HOST)!;
      const rulesIndexed = indexed.netfilter.v4.reduce((n, t) => n + t.rules.length, 0);
      const found = server.aggregator.fleetFindings().some((f) => f.key === `route-captures-peer|${HOST}|docker0 172.17.0.0/16 captures 172.17.0.64`);
      // A loaded machine can make a big dump outlast the collection's timeout: the report then lacks it (and the peak its parse).
      const missed = (snap: typeof indexed): string => snap.sources.filter((x) => x.status === 'failed').map((x) => `${x.name}: ${x.message ?? 'failed'}`).join('; ');
      const firstMissed = missed(indexed);
      await stopChild(first.child, 10_000);

      const second = startAgent(lab, url, dir);
      children.push(second.child);
      await waitUntil(`${c.label}: the restarted agent's report acknowledged`, acked(2), 10 * 60_000);
      const steadyBytes = relay.sent[relay.sent.length - 1];
      options.log(`big-host ${c.label}: connections so far ${JSON.stringify(relay.sent)}`);
      const steadyReceived = (await server.aggregator.store.reports(HOST)).find((r) => r.seq === 2)!.bytes;
      const secondPeakMB = second.peakMB();
      const secondMissed = missed(server.aggregator.index.snapshot(HOST)!);
      await stopChild(second.child, 10_000);

      const reference = { name: 'raw dumps read (iptables-save -c, ip route, ip -6 route)', value: Number((dumpBytes / 1e6).toPrecision(3)), unit: 'MB' };
      const mb = (n: number) => Number((n / 1e6).toPrecision(3));
      const rows: BenchRow[] = [
        {
          name: `${c.label}: first report, on the wire`, value: mb(firstBytes), unit: 'MB', reference, ratio: Number((firstBytes / dumpBytes).toPrecision(3)),
          note: `agent → server bytes up to the ack, ${firstSeconds.toFixed(1)} s after start; report message ${firstReceived.toLocaleString('en')} bytes, sections ${Math.round(sectionChars).toLocaleString('en')} characters before compression; `
            + `indexed: ${indexed.routes.length.toLocaleString('en')} routes${c.routes > indexed.routes.length ? ' (the fleet\'s part of a big table)' : ''}, ${rulesIndexed.toLocaleString('en')} rules`
            + (c.matched ? `; fleet match: route-captures-peer ${found ? 'found' : 'NOT found'}` : ''),
        },
        {
          name: `${c.label}: steady-state report, on the wire`, value: mb(steadyBytes), unit: 'MB', reference, ratio: Number((steadyBytes / dumpBytes).toPrecision(3)),
          target: `<= ${mb(STEADY_TARGET_BYTES)} MB`, pass: steadyBytes <= STEADY_TARGET_BYTES,
          note: `the agent restarted, nothing changed: hello to ack; report message ${steadyReceived.toLocaleString('en')} bytes`,
        },
        {
          name: `${c.label}: agent peak RSS`, value: Number(peakMB.toFixed(1)), unit: 'MB', target: `<= ${PEAK_TARGET_MB} MB`, pass: peakMB <= PEAK_TARGET_MB,
          note: `VmHWM polled every 20 ms to the first ack (MB = 10^6 bytes)${firstMissed ? `; NOT COLLECTED: ${firstMissed}` : ''}; the restarted agent's peak to its ack ${secondPeakMB.toFixed(1)} MB${secondMissed ? ` (NOT COLLECTED: ${secondMissed})` : ''}`,
        },
      ];
      if (c.matched) rows.push({ name: `${c.label}: matched against the fleet`, value: found ? 1 : 0, unit: '', target: '= 1 (route-captures-peer found)', pass: found });
      return rows;
    } finally {
      for (const ch of children) await stopChild(ch, 10_000);
      peer?.terminate();
      await relay?.close();
      await server?.close();
      removeTempDir(dir);
    }
  });
}

async function metric(s: RunningServer, name: string): Promise<number> {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, 'gm');
  let total = 0;
  for (const x of (await s.aggregator.metrics.text()).matchAll(m)) total += Number(x[1]);
  return total;
}

/** The `big-host` section of bench/run.ts. */
export async function benchBigHost(options: SectionOptions): Promise<BenchRow[]> {
  const cases: Case[] = options.quick
    ? [{ label: '10,000 rules', rules: 10_000, routes: 0 }, { label: '100,000 routes', rules: 0, routes: 100_000 }]
    : [
      { label: '10,000 rules', rules: 10_000, routes: 0 },
      { label: '100,000 rules', rules: 100_000, routes: 0 },
      { label: '100,000 routes', rules: 0, routes: 100_000 },
      { label: '1,000,000 routes', rules: 0, routes: 1_000_000 },
      { label: '100,000 rules + 1,000,000 routes', rules: 100_000, routes: 1_000_000, matched: true },
    ];
  const rows: BenchRow[] = [];
  for (const c of cases) {
    options.log(`big-host: ${c.label} ...`);
    rows.push(...(await runCase(c, options)));
  }
  return rows;
}
