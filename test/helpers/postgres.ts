/**
 * A real PostgreSQL cluster for one test file: initdb in a temp dir as an unprivileged OS user
 * (`nobody` when the tests run as root, else the user itself), listening only on a unix socket in
 * that dir, trust authentication for the socket. Removed by `stop()`, and also on 'exit', SIGINT
 * and SIGTERM; a later run removes clusters whose creating process died (SIGKILL), as the lab's
 * cleanup does for namespaces. Debian's postgresql package provides the binaries.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const PREFIX = 'hclab-pg-';
const NOBODY = 65534;

/** Debian's versioned binary dir, newest first (/usr/lib/postgresql/15/bin). */
export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0], 'bin') : undefined;
}

export interface PgCluster {
  dir: string;
  /** A URL for `database` (created by createDatabase, or "postgres"). */
  url(database?: string): string;
  /** Create a fresh database; returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stop the server the fast way (or at once with `immediate`), then start it again on the same data. */
  restart(mode?: 'fast' | 'immediate'): Promise<void>;
  stopServer(mode?: 'fast' | 'immediate'): Promise<void>;
  startServer(): Promise<void>;
  /** Stop the server and remove the directory. */
  stop(): Promise<void>;
}

const live = new Set<string>();
let handlersInstalled = false;

function asUser(): { uid?: number; gid?: number } {
  return process.getuid?.() === 0 ? { uid: NOBODY, gid: NOBODY } : {};
}

function run(bin: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { ...asUser(), stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${bin} ${args.join(' ')} exited ${code}: ${out.slice(-2000)}`))));
  });
}

/** The postmaster's pid from its pid file, if the server runs. */
function postmasterPid(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kill the cluster's server (SIGKILL to the postmaster and its children) and remove its directory. */
function removeSync(dir: string): void {
  const pid = postmasterPid(dir);
  if (pid !== undefined && alive(pid)) {
    try {
      // The backends are the postmaster's children: SIGQUIT first lets it take them down.
      process.kill(pid, 'SIGQUIT');
      execFileSync('sh', ['-c', `for i in $(seq 50); do kill -0 ${pid} 2>/dev/null || exit 0; sleep 0.1; done; kill -9 ${pid}; pkill -9 -P ${pid} || true`], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  }
  rmSync(dir, { recursive: true, force: true });
  live.delete(dir);
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => { for (const d of [...live]) removeSync(d); });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const d of [...live]) removeSync(d);
      process.kill(process.pid, sig);
    });
  }
}

/** Remove clusters left by test processes that died without cleaning up. */
export function sweepLeftoverClusters(): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(tmpdir())) {
    const m = new RegExp(`^${PREFIX}([0-9a-z]+)-`).exec(name);
    if (!m) continue;
    const creator = parseInt(m[1], 36);
    if (creator === process.pid || alive(creator)) continue;
    removeSync(join(tmpdir(), name));
    removed.push(name);
  }
  return removed;
}

/** Start a cluster of our own. Throws when PostgreSQL's binaries are missing (apt-get install postgresql). */
export async function startPostgres(): Promise<PgCluster> {
  const bin = postgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed: apt-get install -y postgresql');
  sweepLeftoverClusters();
  installExitHandlers();
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid.toString(36)}-`));
  live.add(dir);
  const user = asUser();
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid!);
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  const ctl = (args: string[]): Promise<string> => run(join(bin, 'pg_ctl'), ['-D', data, ...args]);
  const startServer = async (): Promise<void> => {
    await ctl(['-l', log, '-w', '-t', '60', '-o', `-k ${dir} -c listen_addresses= -c fsync=off -c max_connections=300`, 'start']);
  };
  const stopServer = async (mode: 'fast' | 'immediate' = 'fast'): Promise<void> => {
    await ctl(['-m', mode, '-w', 'stop']);
  };
  try {
    await run(join(bin, 'initdb'), ['-D', data, '-U', 'hostcheck', '--auth=trust', '--locale=C', '-E', 'UTF8', '--no-sync']);
    await startServer();
  } catch (err) {
    removeSync(dir);
    throw err;
  }
  const url = (database = 'postgres'): string => `postgresql://hostcheck@/${database}?host=${encodeURIComponent(dir)}`;
  return {
    dir,
    url,
    async createDatabase(name) {
      const c = new pg.Client({ connectionString: url() });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
      } finally {
        await c.end();
      }
      return url(name);
    },
    async restart(mode = 'fast') {
      await stopServer(mode);
      await startServer();
    },
    stopServer,
    startServer,
    async stop() {
      removeSync(dir);
    },
  };
}
