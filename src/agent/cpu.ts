/**
 * The agent's CPU: its own and its finished commands' (collection runs ip, iptables-save, nft),
 * and a budget that spaces change-triggered checks under churn so the agent stays a small share
 * of a core (docs/agent.md, "Change log").
 */
import { readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc times are in these ticks. */
const CLK_TCK = 100;

/** CPU milliseconds used so far by this process and the children it has waited for. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  let children = 0;
  try {
    // Fields after the command name (which may hold spaces): cutime is the 16th field, cstime the 17th.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    children = ((Number(f[13]) + Number(f[14])) * 1000) / CLK_TCK;
  } catch {
    // Not Linux: the process's own time only.
  }
  return (u.user + u.system) / 1000 + (Number.isFinite(children) ? children : 0);
}

/**
 * A token bucket of CPU time: it fills at `share` of wall time up to `burstMs`; checks spend what
 * they used. A change-triggered check waits while the bucket is below zero.
 */
export class CpuBudget {
  private tokens: number;
  private at: number;

  constructor(private readonly share: number, private readonly burstMs: number, private readonly now: () => number = Date.now) {
    this.tokens = burstMs;
    this.at = now();
  }

  spend(ms: number): void {
    this.refill();
    this.tokens -= ms;
  }

  /** How long until the bucket is back at zero (0: now). */
  waitMs(): number {
    this.refill();
    return this.tokens >= 0 ? 0 : Math.ceil(-this.tokens / this.share);
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burstMs, this.tokens + (t - this.at) * this.share);
    this.at = t;
  }
}
