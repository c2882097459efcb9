/** `hostcheck serve` as a real process (bin/hostcheck, so build first): started, waited for, stopped or killed. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './samples.js';

export interface ServeProcess {
  child: ChildProcess;
  port: number;
  /** http://127.0.0.1:PORT */
  http: string;
  /** ws://127.0.0.1:PORT/agent */
  ws: string;
  stderr(): string;
  /** SIGTERM, and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
}

/**
 * Start `hostcheck serve --listen 127.0.0.1:PORT ARGS...` (port 0 picks one) and wait for its
 * "listening" line; `bin` runs another build (a previous version, test/helpers/previous-version.ts);
 * `fds` raises the process's open-file limit first (a shell's `ulimit -n`, then exec: the pid is
 * serve's); `env` is added to the environment (the bench's NODE_OPTIONS).
 */
export async function startServe(args: string[], port = 0, timeoutMs = 30_000, bin = join(repoRoot, 'bin', 'hostcheck'), more: { fds?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ServeProcess> {
  const argv = [bin, 'serve', '--listen', `127.0.0.1:${port}`, ...args];
  const options = { stdio: ['ignore', 'ignore', 'pipe'] as ('ignore' | 'pipe')[], env: { ...process.env, ...more.env } };
  const child = more.fds === undefined
    ? spawn(process.execPath, argv, options)
    : spawn('/bin/sh', ['-c', `ulimit -n ${more.fds} 2>/dev/null || ulimit -n hard; exec "$@"`, 'sh', process.execPath, ...argv], options);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => void (stderr += d.toString()));
  const deadline = Date.now() + timeoutMs;
  let m: RegExpExecArray | null;
  while (!(m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`serve did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const bound = Number(m[1]);
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  };
  return {
    child, port: bound, http: `http://127.0.0.1:${bound}`, ws: `ws://127.0.0.1:${bound}/agent`,
    stderr: () => stderr, stop: () => end('SIGTERM'), kill: () => end('SIGKILL'),
  };
}
