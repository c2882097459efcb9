/**
 * A fleet in the lab: `hostcheck serve` in the root namespace listening only on a unix socket,
 * real agents (`bin/hostcheck agent`) inside lab namespaces reaching it through the socket file,
 * and the API read over that socket (test/lab/fleet.test.ts, test/lab/timeline.test.ts,
 * test/lab/timeline-stopped.test.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { StoredFinding } from '../../src/aggregator/store.js';
import { repoRoot } from '../helpers/samples.js';
import type { Lab } from './lab.js';

const bin = join(repoRoot, 'bin', 'hostcheck');
const token = (host: string): string => `lab-fleet-${host}-0123456789abcdef`;

/** A server or agent child with its output lines, and the JSON ones (pino logs) parsed. */
export interface Proc { child: ResultPromise; out: string[]; logs: Array<Record<string, unknown>> }

/** Polls `predicate` (sync or async) every 50 ms until it gives a value. */
export async function waitFor<T>(what: string, predicate: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await predicate();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function spawnLogged(argv: string[]): Proc {
  const child = execa(argv[0], argv.slice(1), { reject: false, buffer: false });
  const p: Proc = { child, out: [], logs: [] };
  let rest = '';
  child.stdout?.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) {
      p.out.push(l);
      if (l.startsWith('{')) p.logs.push(JSON.parse(l) as Record<string, unknown>);
    }
  });
  child.stderr?.on('data', (d: Buffer) => p.out.push(`stderr: ${d.toString()}`));
  return p;
}

/** SIGTERM, and SIGKILL when it has not exited 5 s later. */
async function stopProc(p: Proc): Promise<void> {
  p.child.kill('SIGTERM');
  const done = await Promise.race([p.child, new Promise((r) => setTimeout(r, 5000))]);
  if (!done) p.child.kill('SIGKILL');
}

/** One fleet: a temp dir with tokens (made on first start), the server, agents in namespaces. */
export class LabFleet {
  dir = '';
  socket = '';
  db = '';
  server: Proc | undefined;
  readonly agents = new Map<string, Proc>();

  constructor(private readonly hosts: string[]) {}

  async startServer(extra: string[] = []): Promise<void> {
    if (!this.dir) {
      this.dir = mkdtempSync(join(tmpdir(), 'hc-fleet-'));
      this.socket = join(this.dir, 'agg.sock');
      this.db = join(this.dir, 'fleet.db');
      writeFileSync(join(this.dir, 'tokens'), this.hosts.map((h) => `${token(h)} ${h}`).join('\n') + '\n');
      for (const h of this.hosts) writeFileSync(join(this.dir, `${h}.token`), `${token(h)}\n`);
    }
    this.server = spawnLogged([process.execPath, bin, 'serve', '--socket', this.socket, '--db', this.db, '--tokens', join(this.dir, 'tokens'), ...extra]);
    await waitFor('the server answering on its socket', async () => (await this.get('/healthz').catch(() => undefined)) !== undefined, 15_000);
  }

  startAgent(lab: Lab, host: string, extra: string[] = []): Proc {
    const p = spawnLogged(['ip', 'netns', 'exec', lab.ns(host), process.execPath, bin, 'agent', '--server', `ws+unix://${this.socket}`,
      '--name', host, '--no-cloud', '--token-file', join(this.dir, `${host}.token`), '--state-dir', join(this.dir, `state-${host}`), ...extra]);
    this.agents.set(host, p);
    return p;
  }

  /** GET over the unix socket (the API needs no viewer token there). */
  get<T>(path: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socket, path, timeout: 5000 }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body) as T) : reject(new Error(`${path}: HTTP ${res.statusCode} ${body}`))));
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`${path}: timeout`)));
      req.end();
    });
  }

  async findings(query: string): Promise<StoredFinding[]> {
    return (await this.get<{ findings: StoredFinding[] }>(`/api/findings${query}`)).findings;
  }

  /** Stop one agent as systemd would (SIGTERM), waiting until it has exited. */
  async stopAgent(host: string): Promise<void> {
    const p = this.agents.get(host);
    if (!p) return;
    this.agents.delete(host);
    await stopProc(p);
  }

  async stop(): Promise<void> {
    for (const p of [...this.agents.values(), ...(this.server ? [this.server] : [])]) await stopProc(p);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

