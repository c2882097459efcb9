/** Runs one collection command with a timeout and classifies what went wrong, per source. */
// node:child_process, not execa: execa's ~100 modules cost the one-shot ~70 ms of start-up.
import { spawn } from 'node:child_process';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SourceStatus } from '../model/snapshot.js';

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
   * Let the command write its stdout into a private, already unlinked temp file, read back after
   * it exits: a big dump (a million routes) runs ~1.5× faster than through a 64 KiB pipe that
   * node drains between its own work. Falls back to a pipe when no temp file can be made.
   */
  stdoutToFile?: boolean;
}

interface Exit {
  exitCode?: number;
  signal?: NodeJS.Signals;
  spawnCode?: string;
  spawnMessage?: string;
  timedOut: boolean;
}

let tempCounter = 0;

/** An unlinked temp file open for reading and writing (nothing is left behind, even on SIGKILL). */
async function anonymousFile(): Promise<FileHandle | undefined> {
  const path = join(tmpdir(), `hostcheck-${process.pid}-${++tempCounter}.out`);
  try {
    // 'wx+': O_EXCL, so a planted file or symlink makes us fall back to a pipe instead.
    const handle = await open(path, 'wx+', 0o600);
    await unlink(path).catch(() => undefined);
    return handle;
  } catch {
    return undefined;
  }
}

/** The whole file by positional reads (the child moved the shared offset to the end). */
async function readAll(handle: FileHandle): Promise<string> {
  const { size } = await handle.stat();
  const buffer = Buffer.allocUnsafe(size);
  let done = 0;
  while (done < size) {
    const { bytesRead } = await handle.read(buffer, done, size - done, done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buffer.toString('utf8', 0, done);
}

export async function runCommand(argv: string[], opts: RunOptions): Promise<CommandOutcome> {
  const started = performance.now();
  const tool = argv[0];
  const file = opts.stdoutToFile ? await anonymousFile() : undefined;
  try {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const exit = await new Promise<Exit>((resolve) => {
      let timedOut = false;
      let settled = false;
      let forceKill: NodeJS.Timeout | undefined;
      const child = spawn(argv[0], argv.slice(1), {
        stdio: ['ignore', file ? file.fd : 'pipe', 'pipe'],
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
    const stdout = file ? await readAll(file) : Buffer.concat(out).toString('utf8');
    const stderr = Buffer.concat(err).toString('utf8');
    const durationMs = Math.round(performance.now() - started);
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
  } catch (err) {
    const durationMs = Math.round(performance.now() - started);
    return { status: 'failed', stdout: '', stderr: String((err as Error).message), durationMs, message: `${tool}: ${(err as Error).message}` };
  } finally {
    await file?.close().catch(() => undefined);
  }
}
