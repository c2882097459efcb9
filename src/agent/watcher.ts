/**
 * Change detection: `ip monitor route rule link address netconf` as a child process; every line
 * it prints is a change (netconf: forwarding and rp_filter, whose sysctls have no other event),
 * handed with its time to the change log (src/changes/log.ts). Changes are debounced into one re-check at most `windowMs` after the first
 * (a burst of 1,000 route changes is one check, and a change is never waited on longer).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { AgentLogger } from './log.js';

/** Calls `fire` once, `windowMs` after the first of any number of `poke`s. */
export class Debouncer {
  private timer: NodeJS.Timeout | undefined;
  pokes = 0;

  constructor(
    private readonly windowMs: number,
    private readonly fire: (pokes: number) => void,
  ) {}

  poke(): void {
    this.pokes++;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const n = this.pokes;
      this.pokes = 0;
      this.fire(n);
    }, this.windowMs);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pokes = 0;
  }
}

export const MONITOR_ARGV = ['ip', 'monitor', 'route', 'rule', 'link', 'address', 'netconf'];

export interface WatcherOptions {
  windowMs: number;
  onChange: (lines: string[]) => void;
  /** Every line as it arrives, with its time (ms): the change log's announcements. */
  onLine?: (line: string, at: number) => void;
  log: AgentLogger;
  argv?: string[];
  /** Delay before restarting a monitor that died. */
  restartMs?: number;
}

/** Runs `ip monitor` until stopped, restarting it if it dies. */
export class ChangeWatcher {
  private child: ChildProcess | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lines: string[] = [];
  private readonly debouncer: Debouncer;

  constructor(private readonly opts: WatcherOptions) {
    this.debouncer = new Debouncer(opts.windowMs, () => {
      const lines = this.lines;
      this.lines = [];
      opts.onChange(lines);
    });
  }

  start(): void {
    if (this.stopped) return;
    const [cmd, ...args] = this.opts.argv ?? MONITOR_ARGV;
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-500)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      // Keep a few lines for the log; the count is what matters.
      if (this.lines.length < 20) this.lines.push(line);
      this.opts.onLine?.(line, Date.now());
      this.debouncer.poke();
    });
    child.on('error', (err) => this.opts.log.warn({ err: err.message, argv: this.opts.argv ?? MONITOR_ARGV }, 'cannot run ip monitor; only periodic checks will run'));
    child.on('close', (code, signal) => {
      this.child = undefined;
      if (this.stopped) return;
      const restartMs = this.opts.restartMs ?? 5000;
      this.opts.log.warn({ code, signal, stderr: stderr.trim() || undefined, restartMs }, 'ip monitor ended; restarting');
      this.restartTimer = setTimeout(() => this.start(), restartMs);
    });
  }

  stop(): void {
    this.stopped = true;
    this.debouncer.cancel();
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.child?.kill('SIGTERM');
  }
}
