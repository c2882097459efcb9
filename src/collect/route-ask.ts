/**
 * Route re-asks: the route decisions findings rest on, asked of the kernel in one
 * `ip -o -force -batch -` (read-only `route get` lines; -force because the batch otherwise stops
 * at the first error, and those errors are the answers). The process is started before the
 * findings exist and waits on its stdin, so its start-up overlaps the collection and analysis:
 * asking then costs one write and the kernel's answers.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { parse as parseAnswers, parseBatchErrors } from '../../parsers/ip-route-get.js';
import { routeQueryText, type KernelRouteAnswer, type RouteAsk, type RouteQuery } from '../model/kernel.js';

const DEFAULT_TIMEOUT_MS = 5000;

export interface RouteAskerOptions {
  /** The command (tests); default ip -o -force -batch -. */
  argv?: string[];
  timeoutMs?: number;
}

/** An `ip -batch` waiting for questions; ask once, or cancel. */
export class RouteAsker {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable> | undefined;
  private readonly out: Buffer[] = [];
  private readonly err: Buffer[] = [];
  private readonly exited: Promise<{ code: number | null; error?: string }>;
  private used = false;

  private constructor(private readonly opts: RouteAskerOptions) {
    const argv = opts.argv ?? ['ip', '-o', '-force', '-batch', '-'];
    let child: ChildProcessByStdio<Writable, Readable, Readable> | undefined;
    this.exited = new Promise((resolve) => {
      try {
        child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
      } catch (e) {
        resolve({ code: null, error: (e as Error).message });
        return;
      }
      child.stdout.on('data', (c: Buffer) => this.out.push(c));
      child.stderr.on('data', (c: Buffer) => this.err.push(c));
      // A closed stdin (ip gone) must not become an uncaught error.
      child.stdin.on('error', () => undefined);
      child.on('error', (e: NodeJS.ErrnoException) => resolve({ code: null, error: e.code === 'ENOENT' ? `${argv[0]}: command not found` : e.message }));
      child.on('close', (code) => resolve({ code }));
    });
    this.child = child;
  }

  /** Start `ip -batch` now; it waits for the questions. */
  static start(opts: RouteAskerOptions = {}): RouteAsker {
    return new RouteAsker(opts);
  }

  /** Nothing to ask: let ip end. */
  cancel(): void {
    if (this.used) return;
    this.used = true;
    this.child?.stdin.end();
  }

  /** Ask every question (duplicates once); answers in the order asked. */
  async ask(queries: readonly RouteQuery[]): Promise<RouteAsk> {
    if (this.used) throw new Error('RouteAsker.ask called twice');
    this.used = true;
    const unique = new Map<string, RouteQuery>();
    for (const q of queries) unique.set(routeQueryText(q), q);
    const asked = [...unique.values()];
    const child = this.child;
    if (child) child.stdin.end(asked.map((q) => `route get ${routeQueryText(q)}\n`).join(''));
    const timer = setTimeout(() => child?.kill('SIGKILL'), this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const exit = await this.exited;
    clearTimeout(timer);
    if (exit.error !== undefined) return { status: 'failed', answers: [], message: exit.error };
    return answersOf(asked, Buffer.concat(this.out).toString('utf8'), Buffer.concat(this.err).toString('utf8'), exit.code);
  }
}

/**
 * Pairs the questions with what the batch printed: a failed line's error from stderr, else the
 * next answer line of stdout. A count that does not add up is a failure, not a guess.
 */
export function answersOf(asked: readonly RouteQuery[], stdout: string, stderr: string, exitCode: number | null): RouteAsk {
  const errors = parseBatchErrors(stderr);
  const parsed = parseAnswers(stdout);
  const lines = parsed.records;
  const expectedLines = asked.length - [...errors.keys()].filter((n) => n >= 1 && n <= asked.length).length;
  if (lines.length + parsed.warnings.length !== expectedLines) {
    const why = exitCode === null ? 'ip was killed (timeout)' : `ip printed ${lines.length + parsed.warnings.length} answers and ${errors.size} errors for ${asked.length} questions`;
    return { status: 'failed', answers: [], message: `${why}${stderr.trim() ? `: ${stderr.trim().split('\n')[0]}` : ''}` };
  }
  // Answer lines in stdout order, unreadable ones included, so each question gets its own line.
  const ordered = [
    ...lines.map((l) => ({ lineNumber: l.origin.lineNumber, answer: l.answer, text: l.origin.text })),
    ...parsed.warnings.map((w) => ({ lineNumber: w.lineNumber, answer: undefined, text: w.text })),
  ].sort((a, b) => a.lineNumber - b.lineNumber);
  let next = 0;
  const answers: KernelRouteAnswer[] = asked.map((query, i) => {
    const error = errors.get(i + 1);
    if (error !== undefined) return { query, answer: { kind: 'error', error }, text: error };
    const line = ordered[next++];
    return line.answer ? { query, answer: line.answer, text: line.text } : { query, text: line.text };
  });
  return { status: 'asked', answers };
}

/** Ask `queries` (none: let ip end and record that nothing needed asking). */
export async function askRoutes(asker: RouteAsker, queries: readonly RouteQuery[]): Promise<RouteAsk> {
  if (queries.length > 0) return asker.ask(queries);
  asker.cancel();
  return { status: 'asked', answers: [] };
}
