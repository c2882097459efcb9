/**
 * Shared pieces of the benchmark sections: the row shape, best-of-N timing, a one-host lab
 * namespace that is always removed (test/lab does the cleanup, also on signals and crashes),
 * and a child process that reports a parser's peak memory.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Lab, labPrerequisites, repoRoot, type Topology } from '../test/lab/lab.js';
import { seededUint32 } from '../test/helpers/prng.js';

/** One figure of a section; `ratio`/`target`/`pass` only where a target applies. */
export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  /** What the figure is compared with, measured in the same run. */
  reference?: { name: string; value: number; unit: string };
  /** value / reference.value (or the figure the target is stated in). */
  ratio?: number;
  /** The target in words, e.g. "ratio <= 0.25". */
  target?: string;
  pass?: boolean;
  note?: string;
}

export interface SectionOptions {
  quick: boolean;
  /** Progress lines go here (stderr), so the table on stdout stays clean. */
  log: (line: string) => void;
}

/** Thrown when a section cannot run on this machine (not root, no namespaces): reported, not a crash. */
export class SectionSkipped extends Error {
  override name = 'SectionSkipped';
}

/** Seconds since `start` (from process.hrtime.bigint()). */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Runs `body` `runs` times and returns the shortest wall time in seconds and every time. */
export async function bestOf(runs: number, body: () => unknown): Promise<{ best: number; all: number[] }> {
  const all: number[] = [];
  for (let i = 0; i < runs; i++) {
    collectGarbage();
    const start = process.hrtime.bigint();
    await body();
    all.push(secondsSince(start));
  }
  return { best: Math.min(...all), all };
}

/**
 * A full GC before each timed run, so garbage of the previous run (a million records) is not
 * collected inside the next one. Works without `node --expose-gc` (tsx is started without it).
 */
export function collectGarbage(): void {
  fullGc ??= exposeGc();
  fullGc();
}

let fullGc: (() => void) | undefined;

function exposeGc(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Throws SectionSkipped with the lab's reason when namespaces cannot be created here. */
export function requireLab(): void {
  const pre = labPrerequisites();
  if (!pre.ok) throw new SectionSkipped(`needs a network namespace: ${pre.reason ?? 'lab prerequisites not met'}`);
}

/** Builds a lab from `topology`, runs `body`, and removes every namespace whatever happens. */
export async function withLab<T>(topology: Topology, body: (lab: Lab) => Promise<T>): Promise<T> {
  requireLab();
  const lab = await Lab.create(topology);
  try {
    return await body(lab);
  } finally {
    await lab.destroy();
  }
}

/** Runs a shell command line in `host` and throws with its stderr on a non-zero exit. */
export async function shIn(lab: Lab, host: string, commandLine: string, input?: string, timeoutMs = 30 * 60_000): Promise<string> {
  const result = await lab.exec(host, ['sh', '-c', commandLine], { input, timeoutMs });
  if (result.exitCode !== 0) {
    throw new Error(`in ${host}: ${commandLine} exited ${result.exitCode}: ${result.stderr.trim().slice(0, 500)}`);
  }
  return result.stdout;
}

/** Feeds `lines` to `ip -batch -` in `host` and returns the seconds it took. */
export async function ipBatchIn(lab: Lab, host: string, lines: string, force = false): Promise<number> {
  const start = process.hrtime.bigint();
  await shIn(lab, host, `ip ${force ? '-force ' : ''}-batch - > /dev/null`, lines);
  return secondsSince(start);
}

const TEMP_PREFIX = 'hostcheck-bench-';

/**
 * A fresh directory for one section's dumps, `hostcheck-bench-<pid>-<kind>-XXXXXX` in the temp
 * dir. Sections remove theirs in `finally`; one left by a killed run is removed by the next run.
 */
export function benchTempDir(kind: string): string {
  sweepStaleTempDirs();
  if (tempDirs.size === 0) process.once('exit', removeTempDirs);
  const dir = mkdtempSync(join(tmpdir(), `${TEMP_PREFIX}${process.pid}-${kind}-`));
  tempDirs.add(dir);
  return dir;
}

/** Removes a directory made by benchTempDir (and forgets it). */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

const tempDirs = new Set<string>();

function removeTempDirs(): void {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function sweepStaleTempDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(TEMP_PREFIX)) continue;
    const pid = Number(name.slice(TEMP_PREFIX.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || processExists(pid)) continue;
    rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Memory of one fresh process that reads a file and parses it once. */
export interface ParseMemory {
  /** RSS before reading the file (node and the parser module loaded). */
  baselineBytes: number;
  /** maxRSS of the process at the end: the peak of reading plus parsing. */
  peakBytes: number;
  /** Heap still used after a full GC with the result alive: what the records keep. */
  retainedHeapBytes: number;
  records: number;
  warnings: number;
  parseSeconds: number;
  /** How the parser was loaded: the compiled build/ or the TypeScript source through tsx. */
  loadedFrom: 'build' | 'tsx';
}

const MEMORY_CHILD = `
const [moduleUrl, exportName, file] = process.argv.slice(1);
const { readFileSync } = await import('node:fs');
const mod = await import(moduleUrl);
const parse = mod[exportName];
gc();
const baselineBytes = process.memoryUsage().rss;
const text = readFileSync(file, 'utf8');
const start = performance.now();
let result = parse(text);
const parseSeconds = (performance.now() - start) / 1000;
const peakBytes = process.resourceUsage().maxRSS * 1024;
gc();
const retainedHeapBytes = process.memoryUsage().heapUsed;
process.stdout.write(JSON.stringify({ baselineBytes, peakBytes, retainedHeapBytes, parseSeconds,
  records: (result.records ?? result.routes).length, warnings: result.warnings.length }));
`;

/**
 * Parses `file` once in a fresh `node --expose-gc` and reports its memory. Uses the compiled
 * build/ module when it is at least as new as the source (what ships), else the source via tsx.
 */
export function measureParseMemory(sourcePath: string, exportName: string, file: string): Promise<ParseMemory> {
  const source = resolve(repoRoot, sourcePath);
  const built = resolve(repoRoot, 'build', sourcePath.replace(/\.ts$/, '.js'));
  const useBuild = existsSync(built) && statSync(built).mtimeMs >= statSync(source).mtimeMs;
  const args = ['--expose-gc', '--max-old-space-size=8192'];
  if (!useBuild) args.push('--import', 'tsx');
  args.push('--input-type=module', '-e', MEMORY_CHILD, pathToFileURL(useBuild ? built : source).href, exportName, file);
  return new Promise((resolvePromise, reject) => {
    execFile(process.execPath, args, { cwd: repoRoot, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`memory child failed: ${String(stderr).trim().slice(0, 500) || error.message}`, { cause: error }));
        return;
      }
      try {
        resolvePromise({ ...(JSON.parse(stdout) as Omit<ParseMemory, 'loadedFrom'>), loadedFrom: useBuild ? 'build' : 'tsx' });
      } catch (parseError) {
        reject(new Error(`memory child printed ${JSON.stringify(stdout.slice(0, 200))}`, { cause: parseError }));
      }
    });
  });
}

export const MiB = 1024 * 1024;

/** A small deterministic generator (mulberry32) so every run builds the same tables. */
export const seededRandom = seededUint32;

/** Dotted quad of a 32-bit number. */
export function ipv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** SIGTERM a child, SIGKILL it if it has not exited after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
