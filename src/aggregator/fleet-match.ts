/**
 * Runs the fleet checks over the index: in full (start-up, benchmarks) or incrementally for the
 * one host that just reported, and keeps the current fleet findings so each run yields a diff:
 * what is found now, what was resolved, and which hosts' context changed.
 */
import { fleetChecks } from '../checks/fleet/index.js';
import type { FleetCheck, FleetFinding, FleetView } from '../checks/fleet/types.js';
import type { Topology } from '../model/topology.js';

export interface FleetDiff {
  /** Findings present after the run among those it covered (new and still present). */
  found: FleetFinding[];
  resolved: FleetFinding[];
  /** Hosts named by a finding that appeared or went away. */
  affected: Set<string>;
}

export class FleetMatcher {
  private current = new Map<string, FleetFinding>();
  /** Finding keys per involved host: one key as itself, a Set only for a host with several (most have one). */
  private readonly byHost = new Map<string, string | Set<string>>();
  /** The cloud topology the checks see (`serve --topology`); set before the first match. */
  topology: Topology | undefined;

  constructor(
    private readonly fleet: FleetView,
    private readonly checks: FleetCheck[] = Object.values(fleetChecks),
  ) {}

  /** How many fleet findings are current. */
  get size(): number {
    return this.current.size;
  }

  findings(): FleetFinding[] {
    return [...this.current.values()];
  }

  /** Fleet findings that name `host` on either side. */
  findingsOf(host: string): FleetFinding[] {
    return [...this.keysOf(host)].map((k) => this.current.get(k)!);
  }

  /**
   * Re-match everything involving `host` (after its report); a check whose run for this host
   * remakes every host's findings (a router reported) also resolves its findings not found again.
   */
  matchHost(host: string): FleetDiff {
    const covered = new Set(this.keysOf(host));
    const ctx = { fleet: this.fleet, host, topology: this.topology };
    for (const check of this.checks) {
      if (!check.coversFleet?.(ctx)) continue;
      for (const [key, f] of this.current) if (f.check === check.id) covered.add(key);
    }
    return this.apply(covered, this.run(host));
  }

  /** Re-match the whole fleet: the found findings replace the current ones. */
  matchAll(): FleetDiff {
    const found = this.run(undefined);
    const before = this.current;
    const affected = new Set<string>();
    this.current = new Map();
    this.byHost.clear();
    for (const f of found) {
      if (!before.has(f.key)) for (const h of f.pair) affected.add(h);
      this.remember(f);
    }
    const resolved: FleetFinding[] = [];
    for (const [key, f] of before) {
      if (this.current.has(key)) continue;
      resolved.push(f);
      for (const h of f.pair) affected.add(h);
    }
    return { found, resolved, affected };
  }

  /** Forget a host's findings (it left the fleet). */
  dropHost(host: string): FleetDiff {
    return this.apply(new Set(this.keysOf(host)), []);
  }

  private run(host: string | undefined): FleetFinding[] {
    const out: FleetFinding[] = [];
    // A loop, not push(...): a full match of a large fleet can return more items than the stack holds.
    for (const check of this.checks) for (const f of check.run({ fleet: this.fleet, host, topology: this.topology })) out.push(f);
    return out;
  }

  private apply(coveredBefore: Set<string>, found: FleetFinding[]): FleetDiff {
    const affected = new Set<string>();
    const foundKeys = new Set(found.map((f) => f.key));
    const resolved: FleetFinding[] = [];
    for (const key of coveredBefore) {
      if (foundKeys.has(key)) continue;
      const f = this.current.get(key);
      if (!f) continue;
      resolved.push(f);
      this.forget(f);
      for (const h of f.pair) affected.add(h);
    }
    for (const f of found) {
      const old = this.current.get(f.key);
      if (old) this.forget(old);
      else for (const h of f.pair) affected.add(h);
      this.remember(f);
    }
    return { found, resolved, affected };
  }

  private keysOf(host: string): Iterable<string> {
    const k = this.byHost.get(host);
    return k === undefined ? [] : typeof k === 'string' ? [k] : k;
  }

  private remember(f: FleetFinding): void {
    this.current.set(f.key, f);
    for (const h of involved(f)) {
      const k = this.byHost.get(h);
      if (k === undefined) this.byHost.set(h, f.key);
      else if (typeof k !== 'string') k.add(f.key);
      else if (k !== f.key) this.byHost.set(h, new Set([k, f.key]));
    }
  }

  private forget(f: FleetFinding): void {
    this.current.delete(f.key);
    for (const h of involved(f)) {
      const k = this.byHost.get(h);
      if (k === f.key) this.byHost.delete(h);
      else if (typeof k !== 'string' && k?.delete(f.key) && k.size === 0) this.byHost.delete(h);
    }
  }
}

/** The hosts whose report re-matches a finding: its pair and the routers it passes. */
function involved(f: FleetFinding): readonly string[] {
  return f.via ? [...f.pair, ...f.via] : f.pair;
}
