/**
 * preauth: `hostcheck serve` (a child process) while 1,000 clients (100 with --quick) attack it
 * before authenticating — each upgrades to WebSocket, announces a 15 MiB frame and streams it at
 * 1 MiB/s, and comes back a second after being cut or refused (test/helpers/hostile-clients.ts,
 * run in a process of its own; 50 source addresses, 127.0.0.2 …). Meanwhile a good agent reports 10 times a second and times each ack.
 * Reference, same run: the good agent's ack times with no attacker. Targets (issue 22): the
 * server's peak RSS under 300 MB and the good agent's ack p99 ≤ 100 ms under attack.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostcheckBin } from '../test/lab/lab.js';
import { TestAgent, tinySnapshot } from '../test/helpers/aggregator-client.js';
import { benchTempDir, removeTempDir, type BenchRow, type SectionOptions, stopChild } from './netns.js';

const PEAK_TARGET_MB = 300;
const P99_TARGET_MS = 100;
const ATTACKERS_SCRIPT = fileURLToPath(new URL('./preauth-attackers.ts', import.meta.url));

const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const round = (x: number): number => Number(x.toPrecision(3));

function status(pid: number, key: 'VmHWM' | 'VmRSS'): number {
  return Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024 / 1e6;
}


async function waitForText(child: ChildProcess, stream: 'stdout' | 'stderr', re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  let text = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${re} within ${timeoutMs} ms: ${text.slice(-500)}`)), timeoutMs);
    child[stream]!.on('data', (d: Buffer) => {
      text += d.toString();
      const m = re.exec(text);
      if (m) { clearTimeout(t); resolve(m); }
    });
  });
}

/** Reports every 100 ms for `seconds`; each ack's time in ms. */
async function reportFor(agent: TestAgent, seconds: number, salt: number): Promise<number[]> {
  const times: number[] = [];
  const until = performance.now() + seconds * 1000;
  let k = 0;
  while (performance.now() < until) {
    const t = performance.now();
    await agent.report(tinySnapshot('good', `10.${salt}.${(k++ >> 8) & 255}.${k & 255}`));
    times.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, Math.max(0, 100 - (performance.now() - t))));
  }
  return times;
}

export async function benchPreauth(options: SectionOptions): Promise<BenchRow[]> {
  const clients = options.quick ? 100 : 1000;
  const seconds = options.quick ? 5 : 15;
  const dir = benchTempDir('preauth');
  const server = spawn('sh', ['-c', `ulimit -n 65536; exec "${process.execPath}" "${hostcheckBin}" serve --listen 127.0.0.1:0 --db "${join(dir, 'agg.db')}"`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let attackers: ChildProcess | undefined;
  try {
    const port = Number((await waitForText(server, 'stderr', /listening on http:\/\/127\.0\.0\.1:(\d+)/, 30_000))[1]);
    const good = await TestAgent.connect(`ws://127.0.0.1:${port}/agent`, 'good', 'good-token-0123456789abcdef');
    let goodClosed = false;
    void good.closed.then(() => (goodClosed = true));
    options.log(`preauth: reference: the good agent alone for ${seconds} s ...`);
    const alone = await reportFor(good, seconds, 1);
    const before = status(server.pid!, 'VmRSS');
    options.log(`preauth: ${clients} hostile clients for ${seconds} s ...`);
    attackers = spawn('sh', ['-c', `ulimit -n 65536; exec "${process.execPath}" --import tsx "${ATTACKERS_SCRIPT}" ${port} ${clients}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    attackers.stderr!.on('data', () => undefined);
    await waitForText(attackers, 'stdout', /attacking/, 30_000);
    await new Promise((r) => setTimeout(r, 2000));
    const attacked = await reportFor(good, seconds, 2);
    const stats = waitForText(attackers, 'stdout', /(\{.*\})/, 30_000);
    attackers.kill('SIGTERM');
    const counts = JSON.parse((await stats)[1]) as { admitted: number; refused: number; cut: number; bytes: number };
    const peak = status(server.pid!, 'VmHWM');
    const after = status(server.pid!, 'VmRSS');
    const p99 = quantile(attacked, 0.99);
    const refP99 = quantile(alone, 0.99);
    return [
      {
        name: `server peak RSS, ${clients} hostile clients`, value: round(peak), unit: 'MB', reference: { name: 'RSS before the attack', value: round(before), unit: 'MB' },
        ratio: round(peak / before), target: `< ${PEAK_TARGET_MB} MB`, pass: peak < PEAK_TARGET_MB,
        note: `VmHWM of the serve process; RSS after the attack ${round(after)} MB; the clients were let in ${counts.admitted} times (and cut), refused ${counts.refused} times, wrote ${round(counts.bytes / 1e6)} MB`,
      },
      {
        name: `good agent ack p99 under attack`, value: round(p99), unit: 'ms', reference: { name: 'the same agent alone', value: round(refP99), unit: 'ms' },
        ratio: round(p99 / refP99), target: `<= ${P99_TARGET_MS} ms, connected throughout`, pass: p99 <= P99_TARGET_MS && !goodClosed,
        note: `${attacked.length} reports at 10/s, each timed send → ack; p50 ${round(quantile(attacked, 0.5))} ms (alone ${round(quantile(alone, 0.5))} ms, ${alone.length} reports); `
          + `connection ${goodClosed ? 'CLOSED' : 'open'} throughout`,
      },
    ];
  } finally {
    if (attackers) await stopChild(attackers, 10_000);
    await stopChild(server, 10_000);
    removeTempDir(dir);
  }
}
