/**
 * Runs the fleet checks over the index: in full (start-up, benchmarks) or incrementally for the
 * one host that just reported, and keeps the current fleet findings so each run yields a diff:
 * what is found now, what was resolved, and which hosts' context changed.
 *
 * A check returns one finding per pair it confirms; several pairs may share a finding's key (a
 * VPN gateway that loops every host's traffic is one finding). The matcher keeps each key's
 * findings per pair: a run for host H replaces the ones that involve H (H on either side of the
 * pair, in `via`, or the finding's host), and a key is resolved when none is left.
 */
import { checksOf } from '../checks/index.js';
import { mergeSameKey, pairId } from '../checks/fleet-finding.js';
import type { Check, FleetFinding, FleetView } from '../checks/types.js';
import type { Topology } from '../model/topology.js';

export interface FleetDiff {
  /** Findings (merged per key) that a run confirmed or changed and that are still present. */
  found: FleetFinding[];
  /** Findings (as they were) with no pair left. */
  resolved: FleetFinding[];
  /** Hosts of pairs that appeared or went away. */
  affected: Set<string>;
}

/** One key's findings: one as itself (most keys), several by pair id. */
type Facts = FleetFinding | Map<string, FleetFinding>;

export class FleetMatcher {
  private facts = new Map<string, Facts>();
  /** Finding keys per involved host: one key as itself, a Set only for a host with several (most have one). */
  private readonly byHost = new Map<string, string | Set<string>>();
  /** The cloud topology the checks see (`serve --topology`); set before the first match. */
  topology: Topology | undefined;

  constructor(
    private readonly fleet: FleetView,
    private readonly checks: Check[] = checksOf('fleet'),
  ) {}

  /** How many fleet findings are current. */
  get size(): number {
    return this.facts.size;
  }

  findings(): FleetFinding[] {
    return [...this.facts.values()].map(merged);
  }

  /** Fleet findings that name `host` (a pair's side, via, or their host). */
  findingsOf(host: string): FleetFinding[] {
    return [...this.keysOf(host)].map((k) => merged(this.facts.get(k)!));
  }

  /** Re-match everything involving `host` (after its report). */
  matchHost(host: string): FleetDiff {
    return this.apply(host, this.run(host));
  }

  /** Forget a host's findings (it left the fleet): its pairs go, a finding others still suffer stays. */
  dropHost(host: string): FleetDiff {
    return this.apply(host, []);
  }

  /** Re-match the whole fleet: the found findings replace the current ones. */
  matchAll(): FleetDiff {
    const before = this.facts;
    this.facts = new Map();
    this.byHost.clear();
    for (const f of this.run(undefined)) this.add(f);
    const affected = new Set<string>();
    const found: FleetFinding[] = [];
    const addHosts = (f: FleetFinding): void => { for (const h of involved(f)) affected.add(h); };
    for (const [key, now] of this.facts) {
      found.push(merged(now));
      const old = before.get(key);
      if (!(now instanceof Map) && !(old instanceof Map)) {
        // One finding before and after, the usual case.
        if (!old || !samePairs(old, now)) { addHosts(now); if (old) addHosts(old); }
        continue;
      }
      for (const f of factsOf(now)) if (!old || !has(old, f)) addHosts(f);
      if (old) for (const f of factsOf(old)) if (!has(now, f)) addHosts(f);
    }
    const resolved: FleetFinding[] = [];
    for (const [key, old] of before) {
      if (this.facts.has(key)) continue;
      resolved.push(merged(old));
      for (const f of factsOf(old)) addHosts(f);
    }
    return { found, resolved, affected };
  }

  private run(host: string | undefined): FleetFinding[] {
    const out: FleetFinding[] = [];
    // A loop, not push(...): a full match of a large fleet can return more items than the stack holds.
    for (const check of this.checks) for (const f of check.families.fleet!({ fleet: this.fleet, host, topology: this.topology })) out.push(f);
    return out;
  }

  /** Replace the findings that involve `host` by `found` (a run for it). */
  private apply(host: string, found: FleetFinding[]): FleetDiff {
    const affected = new Set<string>();
    const changed = new Map<string, FleetFinding>();
    const foundIds = new Map<string, Set<string> | string>();
    for (const f of found) {
      const ids = foundIds.get(f.key);
      const id = pairId(f);
      if (ids === undefined) foundIds.set(f.key, id);
      else if (typeof ids === 'string') foundIds.set(f.key, new Set([ids, id]));
      else ids.add(id);
    }
    // What involved `host` and was not found again goes.
    for (const key of [...this.keysOf(host)]) {
      const facts = this.facts.get(key)!;
      const before = merged(facts);
      const ids = foundIds.get(key);
      for (const f of [...factsOf(facts)]) {
        const hosts = involved(f);
        if (!hosts.includes(host)) continue;
        const id = pairId(f);
        if (ids === id || (typeof ids === 'object' && ids.has(id))) continue;
        this.remove(f);
        for (const h of hosts) affected.add(h);
        changed.set(key, before);
      }
    }
    for (const f of found) {
      const old = this.facts.get(f.key);
      if (!old || !has(old, f)) for (const h of involved(f)) affected.add(h);
      this.add(f);
    }
    const diff: FleetDiff = { found: [], resolved: [], affected };
    const foundKeys = new Set(found.map((f) => f.key));
    for (const key of foundKeys) diff.found.push(merged(this.facts.get(key)!));
    for (const [key, before] of changed) {
      if (foundKeys.has(key)) continue;
      const now = this.facts.get(key);
      if (now) diff.found.push(merged(now)); else diff.resolved.push(before);
    }
    return diff;
  }

  private keysOf(host: string): Iterable<string> {
    const k = this.byHost.get(host);
    return k === undefined ? [] : typeof k === 'string' ? [k] : k;
  }

  /** Add or replace (same key and pair) a finding. */
  private add(f: FleetFinding): void {
    const old = this.facts.get(f.key);
    if (old === undefined) this.facts.set(f.key, f);
    else if (old instanceof Map) {
      const id = pairId(f);
      const prev = old.get(id);
      if (prev) { old.delete(id); this.unindex(prev, old); }
      old.set(id, f); // last set last: its text is the merged finding's
    } else if (samePairs(old, f)) {
      this.facts.set(f.key, f);
      this.unindex(old, f);
    } else this.facts.set(f.key, new Map([[pairId(old), old], [pairId(f), f]]));
    for (const h of involved(f)) this.index(h, f.key);
  }

  private remove(f: FleetFinding): void {
    const facts = this.facts.get(f.key);
    if (facts === undefined) return;
    if (facts instanceof Map) {
      facts.delete(pairId(f));
      if (facts.size === 1) this.facts.set(f.key, facts.values().next().value!);
      else if (facts.size === 0) this.facts.delete(f.key);
    } else this.facts.delete(f.key);
    this.unindex(f, this.facts.get(f.key));
  }

  /** Drop `f.key` from the hosts `f` involves, unless the key's remaining findings still involve them. */
  private unindex(f: FleetFinding, remaining: Facts | undefined): void {
    for (const h of involved(f)) {
      if (remaining && [...factsOf(remaining)].some((r) => involved(r).includes(h))) continue;
      const k = this.byHost.get(h);
      if (k === f.key) this.byHost.delete(h);
      else if (typeof k !== 'string' && k?.delete(f.key) && k.size === 0) this.byHost.delete(h);
    }
  }

  private index(h: string, key: string): void {
    const k = this.byHost.get(h);
    if (k === undefined) this.byHost.set(h, key);
    else if (typeof k !== 'string') k.add(key);
    else if (k !== key) this.byHost.set(h, new Set([k, key]));
  }
}

function factsOf(facts: Facts): Iterable<FleetFinding> {
  return facts instanceof Map ? facts.values() : [facts];
}

function merged(facts: Facts): FleetFinding {
  return facts instanceof Map ? mergeSameKey([...facts.values()]) : facts;
}

function has(facts: Facts, f: FleetFinding): boolean {
  return facts instanceof Map ? facts.has(pairId(f)) : samePairs(facts, f);
}

/** pairId(a) === pairId(b), without building the ids for the usual one pair. */
function samePairs(a: FleetFinding, b: FleetFinding): boolean {
  if (a.pairs.length !== b.pairs.length) return false;
  if (a.pairs.length === 1) return a.pairs[0][0] === b.pairs[0][0] && a.pairs[0][1] === b.pairs[0][1];
  return pairId(a) === pairId(b);
}

/** The hosts whose report re-matches a finding: its host, its pairs' sides and the routers it passes. */
function involved(f: FleetFinding): readonly string[] {
  // The usual finding: one pair whose side is its host, nothing in between (no array made).
  if (f.pairs.length === 1 && !f.via && (f.pairs[0][1] === f.host || f.pairs[0][0] === f.host)) return f.pairs[0];
  return [...new Set([f.host, ...f.pairs.flat(), ...(f.via ?? [])])];
}
