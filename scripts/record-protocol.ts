/**
 * Records what the previous version's `hostcheck agent` sends, for the replay test
 * (test/aggregator/protocol-replay.test.ts): that version is built from git history
 * (test/helpers/previous-version.ts), its `hostcheck serve` runs on a temporary SQLite file
 * behind a recording WebSocket proxy, and its agents report the first incident's captured hosts
 * (ecs1, ecs3, and ecs2 with 300 extra routes so its routes travel as a section) with
 * `--bundle`. Every message each way is written, in the order the proxy saw it, as one JSON line
 * `{ "conn", "host", "from": "agent"|"server", "message" }` to OUT/messages.jsonl, once every
 * agent's report is acknowledged and the fleet has been quiet (no report) for 4 s.
 *
 *   usage: npx tsx scripts/record-protocol.ts [--commit SHA] [--out fixtures/protocol/vN] [--prev-dir DIR]
 *
 * fixtures/protocol/v2/README.md says how the committed recording was made. At the next
 * protocol bump, record the version before it into fixtures/protocol/v<old> the same way.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket, { WebSocketServer } from 'ws';
import { buildPrevious, PREVIOUS_COMMIT } from '../test/helpers/previous-version.js';
import { repoRoot } from '../test/helpers/samples.js';

const { values } = parseArgs({ options: { commit: { type: 'string' }, out: { type: 'string' }, 'prev-dir': { type: 'string' } } });
const commit = values.commit ?? PREVIOUS_COMMIT;
const out = resolve(repoRoot, values.out ?? 'fixtures/protocol/v2');
const scenario = join(repoRoot, 'fixtures', 'scenarios', 'first-incident');
const EXTRA_ROUTES = 300;

/** ecs2 with EXTRA_ROUTES routes in table 200 (no rule looks it up): enough routes for a `routes` section. */
function manyRoutesBundle(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  cpSync(join(scenario, 'ecs2'), dir, { recursive: true });
  const extra = Array.from({ length: EXTRA_ROUTES }, (_, i) => ({ dst: `10.200.${i >> 2}.${(i & 3) * 64}/26`, dev: 'eth0', table: '200', protocol: 'static', flags: [] as string[] }));
  writeFileSync(join(dir, 'ip-route-v4.txt'), readFileSync(join(dir, 'ip-route-v4.txt'), 'utf8') + extra.map((r) => `${r.dst} dev eth0 table 200 proto static \n`).join(''));
  const json = JSON.parse(readFileSync(join(dir, 'ip-route-v4.json'), 'utf8')) as unknown[];
  writeFileSync(join(dir, 'ip-route-v4.json'), JSON.stringify([...json, ...extra]) + '\n');
}

async function waitFor(what: string, f: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main(): Promise<void> {
  const prev = values['prev-dir'] ? { dir: values['prev-dir'], bin: join(values['prev-dir'], 'bin', 'hostcheck'), remove: () => undefined, buildSeconds: 0 } : buildPrevious(commit);
  const version = execFileSync(process.execPath, [prev.bin, '--version'], { encoding: 'utf8' }).trim();
  process.stderr.write(`previous version ${version} in ${prev.dir} (built in ${prev.buildSeconds.toFixed(1)} s)\n`);
  const tmp = mkdtempSync(join(tmpdir(), 'hc-record-'));
  mkdirSync(join(out, 'bundles'), { recursive: true });
  const ecs2 = join(out, 'bundles', 'ecs2-many-routes');
  manyRoutesBundle(ecs2);
  const children: ChildProcess[] = [];
  try {
    const serve = spawn(process.execPath, [prev.bin, 'serve', '--listen', '127.0.0.1:0', '--db', join(tmp, 'prev.db')], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(serve);
    let serveErr = '';
    serve.stderr!.on('data', (d: Buffer) => (serveErr += d.toString()));
    await waitFor('serve listening', () => /listening on http:\/\/127\.0\.0\.1:\d+/.test(serveErr), 30_000);
    const upstream = `ws://127.0.0.1:${/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(serveErr)![1]}/agent`;

    // The recording proxy: each agent connection gets its own upstream connection.
    const lines: { conn: number; host?: string; from: 'agent' | 'server'; message: unknown }[] = [];
    const http = createServer();
    const wss = new WebSocketServer({ server: http });
    let conns = 0;
    wss.on('connection', (agentWs) => {
      const conn = ++conns;
      let host: string | undefined;
      const up = new WebSocket(upstream);
      const queued: string[] = [];
      up.on('open', () => queued.splice(0).forEach((t) => up.send(t)));
      agentWs.on('message', (d) => {
        const text = d.toString();
        const message = JSON.parse(text) as { type: string; name?: string };
        if (message.type === 'hello') host = message.name;
        lines.push({ conn, host, from: 'agent', message });
        if (up.readyState === WebSocket.OPEN) up.send(text);
        else queued.push(text);
      });
      up.on('message', (d) => {
        lines.push({ conn, host, from: 'server', message: JSON.parse(d.toString()) as unknown });
        agentWs.send(d.toString());
      });
      up.on('close', (code, reason) => agentWs.close(code === 1005 ? 1000 : code, reason));
      agentWs.on('close', () => up.close());
      up.on('error', () => agentWs.terminate());
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const proxy = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/agent`;

    const hosts: [string, string][] = [['ecs1', join(scenario, 'ecs1')], ['ecs3', join(scenario, 'ecs3')], ['ecs2', ecs2]];
    const acks = (h: string) => lines.filter((l) => l.host === h && l.from === 'server' && (l.message as { type: string }).type === 'ack').length;
    for (const [name, bundle] of hosts) {
      writeFileSync(join(tmp, `${name}.token`), `recorded-v2-token-${name}-0123456789\n`);
      const agent = spawn(process.execPath, [prev.bin, 'agent', '--bundle', bundle, '--name', name, '--server', proxy, '--token-file', join(tmp, `${name}.token`),
        '--state-dir', join(tmp, `state-${name}`), '--interval', '1', '--no-cloud'], { stdio: 'ignore' });
      children.push(agent);
      await waitFor(`${name}'s first ack`, () => acks(name) > 0, 30_000);
    }
    const lastReport = () => Math.max(...lines.map((l, i) => ((l.message as { type: string }).type === 'report' ? i : -1)));
    let seen = lastReport();
    let quietSince = Date.now();
    await waitFor('4 s without a report', () => {
      const now = lastReport();
      if (now !== seen) {
        seen = now;
        quietSince = Date.now();
      }
      return Date.now() - quietSince > 4000;
    }, 60_000);
    for (const c of children.slice(1)) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1000));
    const unacked = lines.filter((l) => (l.message as { type: string }).type === 'report').filter((l) => !lines.some((a) => a.conn === l.conn && a.from === 'server' && (a.message as { type: string; seq?: number }).type === 'ack' && (a.message as { seq: number }).seq === (l.message as { seq: number }).seq));
    if (unacked.length > 0) throw new Error(`${unacked.length} recorded reports were not acknowledged`);
    writeFileSync(join(out, 'messages.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const count = (from: string, type: string) => lines.filter((l) => l.from === from && (l.message as { type: string }).type === type).length;
    process.stderr.write(`${relative(repoRoot, join(out, 'messages.jsonl'))}: ${lines.length} messages on ${conns} connections (hello ${count('agent', 'hello')}, section ${count('agent', 'section')}, report ${count('agent', 'report')}, heartbeat ${count('agent', 'heartbeat')}; server: welcome ${count('server', 'welcome')}, ack ${count('server', 'ack')}, context ${count('server', 'context')})\n`);
    wss.close();
    http.close();
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    rmSync(tmp, { recursive: true, force: true });
    if (!values['prev-dir']) prev.remove();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
