/**
 * A counter window beside one run (docs/kernel.md, `--watch SECONDS`): opened once the host is
 * collected (drop counters read, the collection's rule counters taken), and after SECONDS
 * everything read again; what moved is the evidence that a finding's cause is biting now. The
 * drop-reason tracer, when asked, starts before the collection and counts from the opening.
 */
import type { DropReasons, KernelWindow } from '../model/kernel.js';
import type { HostSnapshot } from '../model/snapshot.js';
import { counterDeltas, readProcCounters, ruleCounters, sampleNow, type CounterSample } from './counters.js';
import { DropTracer, type DropTracerOptions } from './drop-reasons.js';

export interface WindowOptions {
  seconds: number;
  /** Count skb:kfree_skb drop reasons during the window. */
  dropReasons?: boolean;
  /** Tests: /proc/net and tracefs elsewhere. */
  procNet?: string;
  tracer?: DropTracerOptions;
}

export class CounterWindow {
  private start: CounterSample | undefined;
  private readonly tracer: DropTracer | undefined;
  private readonly tracerMissing: string | undefined;

  /** Start the drop-reason tracer now (before the collection: its start-up overlaps it). */
  constructor(private readonly opts: WindowOptions) {
    if (opts.dropReasons) {
      const t = DropTracer.start(opts.tracer);
      if ('tracer' in t) this.tracer = t.tracer;
      else this.tracerMissing = t.unavailable;
    }
  }

  /**
   * The window opens: /proc counters now, rule counters from the snapshot's own dumps (just
   * collected), so both start together. Drop reasons count from here too.
   */
  open(snapshot: HostSnapshot): void {
    this.tracer?.take();
    this.start = { at: Date.now(), ...readProcCounters(this.opts.procNet), rules: ruleCounters(snapshot.netfilter, snapshot.nft) };
  }

  /** Wait for the rest of the window, read again, and say what moved. */
  async finish(snapshot: HostSnapshot): Promise<KernelWindow> {
    if (!this.start) this.open(snapshot);
    const before = this.start!;
    const left = before.at + this.opts.seconds * 1000 - Date.now();
    if (left > 0) await new Promise((r) => setTimeout(r, left));
    const after = await sampleNow({ procNet: this.opts.procNet });
    return windowOf(before, after, this.opts.dropReasons ? this.drops() : undefined);
  }

  private drops(): DropReasons {
    if (this.tracer) return this.tracer.stop();
    return { status: 'unavailable', message: this.tracerMissing, drops: [], systemWide: true };
  }

  /** Stop without finishing (an error on the way): no tracing instance is left behind. */
  abandon(): void {
    this.tracer?.stop();
  }
}

/** The window between two samples. */
export function windowOf(before: CounterSample, after: CounterSample, drops?: DropReasons): KernelWindow {
  const missing = [...new Set([...before.missing, ...after.missing])];
  const window: KernelWindow = { seconds: Math.max(0, (after.at - before.at) / 1000), counters: counterDeltas(before, after), missing };
  if (drops) window.drops = drops;
  return window;
}
