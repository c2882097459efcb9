/** Runs one collection command with a timeout and classifies what went wrong, per source. */
// node:child_process, not execa: execa's ~100 modules cost the one-shot ~70 ms of start-up.
import { spawn } from 'node:child_process';
import { closeSync, openSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SourceStatus } from '../model/snapshot.js';
import { readTextFd } from './read-text.js';

export interface CommandOutcome {
  status: SourceStatus;
  stdout: string;
  stderr: string;
  exitCode?: number;
  message?: string;
  durationMs: number;
}

const PERMISSION_PATTERNS = [/permission denied/i, /operation not permitted/i, /you must be root/i, /must be run as root/i];
/** After a timeout's SIGTERM, SIGKILL if the command is still there (execa's forceKillAfterDelay). */
const FORCE_KILL_MS = 5000;

export interface RunOptions {
  timeoutMs: number;
  /** Advice appended to a permission failure. */
  permissionHint?: string;
  /** What it means when the tool is missing. */
  absentMeaning?: string;
  env?: Record<string, string>;
  /**
   * Let the command write stdout and stderr into private, already unlinked temp files, read
   * back after it exits: a big dump (a million routes) runs ~1.5× faster than through a 64 KiB
   * pipe that node drains between its own work, and a spawn without pipes costs node less.
   * Falls back to pipes when no temp file can be made.
   */
  outputToFiles?: boolean;
}

export interface Exit {
  exitCode?: number;
  signal?: NodeJS.Signals;
  spawnCode?: string;
  spawnMessage?: string;
  timedOut: boolean;
}

let tempCounter = 0;

/**
 * An unlinked temp file open for reading and writing, or undefined when none can be made. Sync
 * calls: each is microseconds, where fs/promises costs the one-shot ~1 ms of JS per command.
 */
function anonymousFile(): number | undefined {
  const path = join(tmpdir(), `hostcheck-${process.pid}-${++tempCounter}.out`);
  try {
    // 'wx+': O_EXCL, so a planted file or symlink makes us fall back to a pipe instead.
    const fd = openSync(path, 'wx+', 0o600);
    try {
      unlinkSync(path);
    } catch {
      // Left behind in the temp directory; the output is still read from the descriptor.
    }
    return fd;
  } catch {
    return undefined;
  }
}

export async function runCommand(argv: string[], opts: RunOptions): Promise<CommandOutcome> {
  const started = performance.now();
  const tool = argv[0];
  const outFile = opts.outputToFiles ? anonymousFile() : undefined;
  const errFile = outFile !== undefined ? anonymousFile() : undefined;
  try {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const exit = await new Promise<Exit>((resolve) => {
      let timedOut = false;
      let settled = false;
      let forceKill: NodeJS.Timeout | undefined;
      const child = spawn(argv[0], argv.slice(1), {
        stdio: ['ignore', outFile ?? 'pipe', errFile ?? 'pipe'],
        env: { ...process.env, LC_ALL: 'C', ...opts.env },
      });
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGTERM');
        forceKill = setTimeout(() => child.kill('SIGKILL'), FORCE_KILL_MS);
        forceKill.unref();
      }, opts.timeoutMs);
      const finish = (e: Omit<Exit, 'timedOut'>): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(forceKill);
        resolve({ ...e, timedOut });
      };
      child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
      child.on('error', (e: NodeJS.ErrnoException) => finish({ spawnCode: e.code, spawnMessage: e.message }));
      child.on('close', (code, signal) => finish({ exitCode: code ?? undefined, signal: signal ?? undefined }));
    });
    const stdout = outFile !== undefined ? readTextFd(outFile) : Buffer.concat(out).toString('utf8');
    const stderr = errFile !== undefined ? readTextFd(errFile) : Buffer.concat(err).toString('utf8');
    return classifyOutcome(tool, exit, stdout, stderr, Math.round(performance.now() - started), opts);
  } catch (err) {
    const durationMs = Math.round(performance.now() - started);
    return { status: 'failed', stdout: '', stderr: String((err as Error).message), durationMs, message: `${tool}: ${(err as Error).message}` };
  } finally {
    for (const fd of [outFile, errFile]) if (fd !== undefined) closeSync(fd);
  }
}

/** What a finished command means for its source: collected, unavailable (not there) or failed (and why). */
export function classifyOutcome(tool: string, exit: Exit, stdout: string, stderr: string, durationMs: number, opts: RunOptions): CommandOutcome {
  if (exit.timedOut) {
    return { status: 'failed', stdout, stderr, durationMs, message: `${tool}: timed out after ${opts.timeoutMs} ms` };
  }
  if (exit.spawnCode === 'ENOENT' || exit.spawnCode === 'EACCES') {
    // EACCES at spawn: a PATH directory this user cannot search (e.g. /root/... for a non-root run).
    return {
      status: 'unavailable', stdout: '', stderr, durationMs,
      message: `${tool}: ${exit.spawnCode === 'ENOENT' ? 'command not found' : 'cannot be executed by this user (not installed, or not in a PATH directory it may search)'}${opts.absentMeaning ? ` (${opts.absentMeaning})` : ''}`,
    };
  }
  if (exit.spawnMessage !== undefined) {
    return { status: 'failed', stdout: '', stderr: stderr || exit.spawnMessage, durationMs, message: `${tool}: ${exit.spawnMessage}` };
  }
  const exitCode = exit.exitCode;
  if (exitCode === 0) return { status: 'collected', stdout, stderr, exitCode, durationMs };
  if (PERMISSION_PATTERNS.some((p) => p.test(stderr))) {
    return {
      status: 'failed', stdout, stderr, exitCode, durationMs,
      message: `${tool}: permission denied${opts.permissionHint ? ` — ${opts.permissionHint}` : ''}`,
    };
  }
  const firstLine = stderr.trim().split('\n')[0] || (exit.signal ? `killed by ${exit.signal}` : 'no output on stderr');
  return { status: 'failed', stdout, stderr, exitCode, durationMs, message: `${tool}: exit code ${exitCode ?? '?'}: ${firstLine}` };
}
