/**
 * Drop reasons: skb:kfree_skb in a tracefs instance of hostcheck's own
 * (instances/hostcheck-<pid>), with a filter, read from the instance's trace_pipe without
 * blocking and counted here by reason and location. This kernel has no hist triggers, so the
 * counting is ours, with a cap on events per second: past it the event is switched off until the
 * next second and the result says it sampled. The instance is removed on exit (also on SIGINT,
 * SIGTERM, SIGHUP) and an instance whose process is gone is swept at the next start.
 *
 * tracefs is system-wide (the event has no network namespace): drops of every namespace count.
 * hostcheck never mounts anything: without tracefs at /sys/kernel/tracing it says what is missing.
 */
import { closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEventFormat, parseTraceLine } from '../../parsers/kfree-skb.js';
import type { DropCount, DropReasons } from '../model/kernel.js';

export const TRACEFS = '/sys/kernel/tracing';
export const INSTANCE_PREFIX = 'hostcheck-';
/** Events counted per second before the event is switched off for the rest of that second. */
export const DEFAULT_CAP_PER_SECOND = 2000;
const POLL_MS = 250;
/** Kilobytes of ring buffer per CPU for the instance (the default is over a megabyte). */
const BUFFER_KB = 256;
/** Network-layer packets only: IPv4, IPv6, ARP (a unix socket's drop has protocol 0). */
const PROTOCOLS = [2048, 34525, 2054];
/** Not packets: `ip route get ... iif DEV` builds a test skb and frees it here. */
const NOT_PACKETS = new Set(['inet_rtm_getroute', 'inet6_rtm_getroute']);
/** Reasons that mean "not dropped", where a kernel lists them. */
const NOT_DROPS = new Set(['NOT_DROPPED_YET', 'CONSUMED']);

export const MOUNT_HINT = 'systemd hosts mount it at /sys/kernel/tracing (as root: mount -t tracefs nodev /sys/kernel/tracing); hostcheck never mounts anything';

export type TracerStart = { tracer: DropTracer } | { unavailable: string };

export interface DropTracerOptions {
  /** tracefs root (tests); default /sys/kernel/tracing. */
  root?: string;
  capPerSecond?: number;
  pollMs?: number;
  /** Instance name suffix; default this process's pid. */
  pid?: number;
  /**
   * Remove the instance on SIGINT, SIGTERM and SIGHUP, then die by the signal (default true).
   * A caller that handles those signals itself (the agent) stops the tracer and says false.
   */
  signals?: boolean;
}

/** Instances of hostcheck processes that are gone; removes them and returns their names. */
export function sweepStaleInstances(root = TRACEFS, ownPid = process.pid): string[] {
  const dir = join(root, 'instances');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = /^hostcheck-(\d+)$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== ownPid && processAlive(pid)) continue;
    if (removeInstance(join(dir, name))) removed.push(name);
  }
  return removed;
}

/**
 * How many network namespaces other than this process's the machine has (those of running
 * processes, and those `ip netns` keeps in /run/netns): drop reasons cannot tell them apart.
 */
export function otherNetworkNamespaces(proc = '/proc', runNetns = '/run/netns'): number {
  const inode = (link: string) => /\[(\d+)\]/.exec(link)?.[1];
  let own: string | undefined;
  try {
    own = inode(readlinkSync(join(proc, 'self/ns/net')));
  } catch {
    return 0;
  }
  const seen = new Set<string>();
  for (const pid of safeReaddir(proc)) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const n = inode(readlinkSync(join(proc, pid, 'ns/net')));
      if (n) seen.add(n);
    } catch {
      // Gone, or not ours to read.
    }
  }
  for (const name of safeReaddir(runNetns)) {
    try {
      seen.add(String(statSync(join(runNetns, name)).ino));
    } catch {
      // Not a namespace file.
    }
  }
  if (own) seen.delete(own);
  return seen.size;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function removeInstance(path: string): boolean {
  try {
    writeFileSync(join(path, 'events/skb/kfree_skb/enable'), '0');
  } catch {
    // Not enabled, or the event is missing: rmdir decides.
  }
  try {
    rmdirSync(path);
    return true;
  } catch {
    return false;
  }
}

function errText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM' ? 'permission denied (run as root)' : code ?? (err as Error).message;
}

/**
 * Counts skb:kfree_skb lines by reason and location, at most `cap` events per second (the caller
 * gives the time): past the cap the rest of that second is not counted and `add` says until when
 * the event should be off. Pure, so the sampling is tested without a kernel.
 */
export class DropTally {
  private counts = new Map<string, number>();
  private eventsRead = 0;
  private secondsCapped = 0;
  private second = -1;
  private inSecond = 0;
  private cappedUntil = 0;

  constructor(readonly cap: number) {}

  /** Count the events in `text` (whole lines) read at `now` (ms); returns the time the cap lifts, if reached. */
  add(text: string, now: number): number | undefined {
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.second = second;
      this.inSecond = 0;
    }
    if (this.cappedUntil !== 0 && now >= this.cappedUntil) this.cappedUntil = 0;
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      const line = text.slice(start, end);
      start = end + 1;
      if (this.cappedUntil !== 0) continue; // Over the cap this second: read, not counted.
      const e = parseTraceLine(line);
      if (e === undefined || 'lost' in e || NOT_PACKETS.has(e.location)) continue;
      this.eventsRead++;
      const key = `${e.reason}\t${e.location}`;
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
      if (++this.inSecond >= this.cap) {
        this.secondsCapped++;
        this.cappedUntil = (second + 1) * 1000;
      }
    }
    return this.cappedUntil !== 0 ? this.cappedUntil : undefined;
  }

  /** What was counted since the last take, sorted by count; and start over. */
  take(): Pick<DropReasons, 'drops' | 'sampled'> {
    const drops: DropCount[] = [...this.counts].map(([k, count]) => {
      const [reason, location] = k.split('\t');
      return { reason, location, count };
    }).sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : a.location < b.location ? -1 : a.location > b.location ? 1 : 0));
    const out: Pick<DropReasons, 'drops' | 'sampled'> = { drops };
    if (this.secondsCapped > 0) out.sampled = { capPerSecond: this.cap, secondsCapped: this.secondsCapped, eventsRead: this.eventsRead };
    this.counts = new Map();
    this.eventsRead = 0;
    this.secondsCapped = 0;
    return out;
  }
}

/** Counts skb:kfree_skb events in an instance of its own until stopped. */
export class DropTracer {
  private readonly tally: DropTally;
  private disabledUntil = 0;
  private partial = '';
  private fd: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly buffer = Buffer.allocUnsafe(64 * 1024);
  private readonly onExit = () => this.cleanupSync();
  private readonly onSignal = (signal: NodeJS.Signals) => {
    this.cleanupSync();
    // The default action, as if no handler had been installed.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };

  private constructor(
    private readonly dir: string,
    /** The kernel's reason names by number (from the format file). */
    readonly reasonNames: Map<number, string>,
    cap: number,
  ) {
    this.tally = new DropTally(cap);
  }

  /** Create the instance and enable the event, or say what is missing. */
  static start(opts: DropTracerOptions = {}): TracerStart {
    const root = opts.root ?? TRACEFS;
    if (!existsSync(join(root, 'instances'))) return { unavailable: `tracefs is not mounted (no ${join(root, 'instances')}): ${MOUNT_HINT}` };
    let format: string;
    try {
      format = readFileSync(join(root, 'events/skb/kfree_skb/format'), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { unavailable: code === 'ENOENT' ? 'this kernel has no skb:kfree_skb tracepoint' : `cannot read the skb:kfree_skb format: ${errText(err)}` };
    }
    const { fields, reasons } = parseEventFormat(format);
    if (!fields.includes('reason') || reasons.size === 0) return { unavailable: 'skb:kfree_skb has no drop reason on this kernel (reasons came with Linux 5.17)' };
    sweepStaleInstances(root, opts.pid ?? process.pid);
    const dir = join(root, 'instances', `${INSTANCE_PREFIX}${opts.pid ?? process.pid}`);
    try {
      mkdirSync(dir);
    } catch (err) {
      return { unavailable: `cannot create the tracing instance ${dir}: ${errText(err)}` };
    }
    const tracer = new DropTracer(dir, reasons, opts.capPerSecond ?? DEFAULT_CAP_PER_SECOND);
    process.on('exit', tracer.onExit);
    if (opts.signals !== false) for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, tracer.onSignal);
    try {
      try {
        writeFileSync(join(dir, 'buffer_size_kb'), String(BUFFER_KB));
      } catch {
        // The default size works too.
      }
      const notDrops = [...reasons].filter(([, n]) => NOT_DROPS.has(n)).map(([v]) => ` && reason != ${v}`).join('');
      writeFileSync(join(dir, 'events/skb/kfree_skb/filter'), `(${PROTOCOLS.map((p) => `protocol == ${p}`).join(' || ')})${notDrops}`);
      tracer.fd = openSync(join(dir, 'trace_pipe'), constants.O_RDONLY | constants.O_NONBLOCK);
      writeFileSync(join(dir, 'events/skb/kfree_skb/enable'), '1');
    } catch (err) {
      tracer.cleanupSync();
      return { unavailable: `cannot enable skb:kfree_skb in ${dir}: ${errText(err)}` };
    }
    tracer.timer = setInterval(() => tracer.poll(), opts.pollMs ?? POLL_MS);
    tracer.timer.unref();
    return { tracer };
  }

  /** The instance's directory (tests look at it). */
  get instance(): string {
    return this.dir;
  }

  /** Read what the buffer holds, within the cap (past it, the event is off until the next second). */
  poll(now = Date.now()): void {
    if (this.fd === undefined) return;
    if (this.disabledUntil !== 0 && now >= this.disabledUntil) {
      this.disabledUntil = 0;
      this.setEnabled(true);
    }
    for (;;) {
      let n: number;
      try {
        n = readSync(this.fd, this.buffer, 0, this.buffer.length, null);
      } catch {
        break; // EAGAIN: nothing more now.
      }
      if (n <= 0) break;
      const text = this.partial + this.buffer.toString('utf8', 0, n);
      const end = text.lastIndexOf('\n');
      this.partial = end < 0 ? text : text.slice(end + 1);
      if (end < 0) continue;
      const until = this.tally.add(text.slice(0, end), now);
      if (until !== undefined && this.disabledUntil === 0) {
        this.disabledUntil = until;
        this.setEnabled(false);
      }
    }
  }

  private setEnabled(on: boolean): void {
    try {
      writeFileSync(join(this.dir, 'events/skb/kfree_skb/enable'), on ? '1' : '0');
    } catch {
      // The instance is gone (stopped elsewhere): nothing to do.
    }
  }

  /** Drops counted since the last take (or the start), and start over. */
  take(): DropReasons {
    this.poll();
    return { status: 'read', ...this.tally.take(), systemWide: true, otherNamespaces: otherNetworkNamespaces() };
  }

  /** Read what is left, switch the event off and remove the instance. */
  stop(): DropReasons {
    const result = this.take();
    this.cleanupSync();
    return result;
  }

  private cleanupSync(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // Already closed.
      }
      this.fd = undefined;
    }
    removeInstance(this.dir);
    process.off('exit', this.onExit);
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, this.onSignal);
  }
}
