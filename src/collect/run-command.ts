/** Runs one collection command with a timeout and classifies what went wrong, per source. */
import { execa } from 'execa';
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

export interface RunOptions {
  timeoutMs: number;
  /** Advice appended to a permission failure. */
  permissionHint?: string;
  /** What it means when the tool is missing. */
  absentMeaning?: string;
  env?: Record<string, string>;
}

export async function runCommand(argv: string[], opts: RunOptions): Promise<CommandOutcome> {
  const started = performance.now();
  const tool = argv[0];
  try {
    const r = await execa(argv[0], argv.slice(1), {
      reject: false,
      timeout: opts.timeoutMs,
      maxBuffer: 2_000_000_000,
      stripFinalNewline: false,
      stdin: 'ignore',
      env: { LC_ALL: 'C', ...opts.env },
    });
    const durationMs = Math.round(performance.now() - started);
    const stderr = String(r.stderr ?? '');
    const stdout = String(r.stdout ?? '');
    if (r.timedOut) {
      return { status: 'failed', stdout, stderr, durationMs, message: `${tool}: timed out after ${opts.timeoutMs} ms` };
    }
    const spawnCode = (r as { code?: string }).code ?? /\b(ENOENT|EACCES)\b/.exec(String(r.message))?.[1];
    if (spawnCode === 'ENOENT' || (spawnCode === 'EACCES' && r.exitCode === undefined)) {
      // EACCES at spawn: a PATH directory this user cannot search (e.g. /root/... for a non-root run).
      return {
        status: 'unavailable', stdout: '', stderr, durationMs,
        message: `${tool}: ${spawnCode === 'ENOENT' ? 'command not found' : 'cannot be executed by this user (not installed, or not in a PATH directory it may search)'}${opts.absentMeaning ? ` (${opts.absentMeaning})` : ''}`,
      };
    }
    const exitCode = r.exitCode;
    if (exitCode === 0) return { status: 'collected', stdout, stderr, exitCode, durationMs };
    if (PERMISSION_PATTERNS.some((p) => p.test(stderr))) {
      return {
        status: 'failed', stdout, stderr, exitCode, durationMs,
        message: `${tool}: permission denied${opts.permissionHint ? ` — ${opts.permissionHint}` : ''}`,
      };
    }
    const firstLine = stderr.trim().split('\n')[0] || (r.signal ? `killed by ${r.signal}` : 'no output on stderr');
    return { status: 'failed', stdout, stderr, exitCode, durationMs, message: `${tool}: exit code ${exitCode ?? '?'}: ${firstLine}` };
  } catch (err) {
    const durationMs = Math.round(performance.now() - started);
    return { status: 'failed', stdout: '', stderr: String((err as Error).message), durationMs, message: `${tool}: ${(err as Error).message}` };
  }
}
