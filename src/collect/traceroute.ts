/**
 * `hostcheck trace DST`: run `traceroute -n -q 1 -w 1 -m 30 DST` (or, without traceroute, ping
 * with rising TTL) and read what it printed into hop records; src/trace turns them into a path.
 */
import { execa } from 'execa';
import { parse as parseTraceroute } from '../../parsers/traceroute.js';
import { CommandFailedError } from './errors.js';
import type { TracerouteRecords } from '../model/traceroute.js';
import { answered, traceFromPings, type PingTtlRun } from './ping-ttl.js';

export interface TraceRunOptions {
  source?: string;
  maxHops?: number;
  /** Stop the ping fallback after this many silent TTLs in a row (each costs a second). */
  maxSilent?: number;
}

export interface TraceRun {
  trace: TracerouteRecords;
  /** The address the probes left from (`--source`, else the kernel's choice), when known. */
  source?: string;
  /** The destination as the tool printed it (the header's address), else as asked. */
  destination: string;
  /** Where evidence lines come from: the tool's output. */
  evidenceSource: 'traceroute' | 'ping';
  maxHops: number;
  tool: 'traceroute' | 'ping';
  argv: string[];
  /** What the tool printed (the ping fallback: every run's command and output). */
  output: string;
  notes: string[];
}

async function run(argv: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string; exitCode?: number; missing: boolean }> {
  const r = await execa(argv[0], argv.slice(1), { reject: false, timeout: timeoutMs, stdin: 'ignore', env: { LC_ALL: 'C' }, stripFinalNewline: false });
  const missing = (r as { code?: string }).code === 'ENOENT' || /\bENOENT\b/.test(String(r.message ?? ''));
  return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode, missing };
}

/** The source address the kernel picks for `dst` (`ip route get`), when the user gave none. */
async function sourceFor(dst: string): Promise<string | undefined> {
  const r = await run(['ip', 'route', 'get', dst], 5000);
  return /\bsrc (\S+)/.exec(r.stdout)?.[1];
}

export async function runTrace(dst: string, opts: TraceRunOptions = {}): Promise<TraceRun> {
  const maxHops = opts.maxHops ?? 30;
  const source = opts.source ?? (await sourceFor(dst));
  const argv = ['traceroute', '-n', '-q', '1', '-w', '1', '-m', String(maxHops), ...(opts.source ? ['-s', opts.source] : []), dst];
  const tr = await run(argv, (maxHops + 5) * 3000);
  const notes: string[] = [];
  if (!tr.missing) {
    const result = parseTraceroute(tr.stdout);
    if (result.records.length > 0) {
      const destination = result.header?.address ?? dst;
      return { trace: result, ...(source && { source }), destination, evidenceSource: 'traceroute', maxHops, tool: 'traceroute', argv, output: tr.stdout, notes };
    }
    notes.push(`traceroute printed no hops (exit code ${tr.exitCode ?? '?'}: ${tr.stderr.trim().split('\n')[0] ?? ''}); tried ping with rising TTL`);
  } else {
    notes.push('traceroute is not installed; traced with ping and rising TTL (apt-get install traceroute for the real thing)');
  }
  return { ...(await pingTrace(dst, maxHops, opts, source)), notes };
}

/** TTLs probed at once: a silent hop costs the whole -W1 second, so waits overlap. */
const PING_BATCH = 10;

async function pingTrace(dst: string, maxHops: number, opts: TraceRunOptions, source: string | undefined): Promise<Omit<TraceRun, 'notes'>> {
  const runs: PingTtlRun[] = [];
  const argvFor = (ttl: number) => ['ping', '-n', '-c1', '-W1', '-t', String(ttl), ...(opts.source ? ['-I', opts.source] : []), dst];
  let silent = 0;
  let done = false;
  for (let first = 1; first <= maxHops && !done; first += PING_BATCH) {
    const ttls = Array.from({ length: Math.min(PING_BATCH, maxHops - first + 1) }, (_, i) => first + i);
    const outputs = await Promise.all(ttls.map((ttl) => run(argvFor(ttl), 5000)));
    for (let i = 0; i < ttls.length && !done; i++) {
      const argv = argvFor(ttls[i]);
      const r = outputs[i];
      if (r.missing) throw new CommandFailedError(argv, undefined, 'neither traceroute nor ping is installed');
      if (ttls[i] === 1 && r.stdout.trim() === '' && r.stderr.trim() !== '') throw new CommandFailedError(argv, r.exitCode, r.stderr);
      runs.push({ ttl: ttls[i], argv, stdout: r.stdout });
      const soFar = traceFromPings(runs, dst);
      const last = soFar.hops[soFar.hops.length - 1];
      silent = answered(last) ? 0 : silent + 1;
      // Stop where traceroute would: the destination answered, an unreachable, or long silence.
      done = soFar.reached || last.probes.some((p) => p.annotation !== undefined) || silent >= (opts.maxSilent ?? 5);
    }
  }
  const trace = traceFromPings(runs, dst);
  const argv = ['ping', '-n', '-c1', '-W1', '-t', 'TTL', dst];
  return { trace: { records: trace.hops }, ...(source && { source }), destination: dst, evidenceSource: 'ping', maxHops, tool: 'ping', argv, output: trace.transcript };
}
