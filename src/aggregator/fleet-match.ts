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

  /**
   * Re-match everything involving `host` (after its report); a check whose run for this host
   * remakes every host's findings (a router reported) also resolves its findings not found again.
   */
  matchHost(host: string): FleetDiff {
    const ctx = { fleet: this.fleet, host, topology: this.topology };
    let whole: Set<string> | undefined;
    for (const c of this.checks) if (c.coversFleet?.(ctx)) (whole ??= new Set()).add(c.id);
    return this.apply(host, this.run(host), whole);
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
    const affected = new Set<string>();
    /** Keys found more than once (several pairs): compared with what was before at the end. */
    const several = new Set<string>();
    for (const f of this.run(undefined)) {
      if (this.facts.has(f.key)) { several.add(f.key); this.add(f); continue; }
      this.facts.set(f.key, f);
      const hosts = involved(f);
      for (let i = 0; i < hosts.length; i++) this.index(hosts[i], f.key);
      const old = before.get(f.key);
      if (old && !(old instanceof Map) && samePairs(old, f)) continue;
      for (let i = 0; i < hosts.length; i++) affected.add(hosts[i]);
      if (old) for (const o of factsOf(old)) for (const h of involved(o)) affected.add(h);
    }
    for (const key of several) {
      const now = this.facts.get(key)!;
      const old = before.get(key);
      for (const f of factsOf(now)) if (!old || !has(old, f)) for (const h of involved(f)) affected.add(h);
      if (old) for (const f of factsOf(old)) if (!has(now, f)) for (const h of involved(f)) affected.add(h);
    }
    const found = several.size === 0 ? [...this.facts.values()] as FleetFinding[] : [...this.facts.values()].map(merged);
    const resolved: FleetFinding[] = [];
    for (const [key, old] of before) {
      if (this.facts.has(key)) continue;
      resolved.push(merged(old));
      for (const f of factsOf(old)) for (const h of involved(f)) affected.add(h);
    }
    return { found, resolved, affected };
  }

  private run(host: string | undefined): FleetFinding[] {
    const out: FleetFinding[] = [];
    // A loop, not push(...): a full match of a large fleet can return more items than the stack holds.
    for (const check of this.checks) for (const f of check.families.fleet!({ fleet: this.fleet, host, topology: this.topology })) out.push(f);
    return out;
  }

  /** Replace the findings that involve `host` (and every finding of the `whole` checks) by `found`, a run for it. */
  private apply(host: string, found: FleetFinding[], whole: ReadonlySet<string> = NONE): FleetDiff {
    const affected = new Set<string>();
    /** The run's findings by key: one as itself, several in a list. */
    const byKey = new Map<string, FleetFinding | FleetFinding[]>();
    for (const f of found) {
      const k = byKey.get(f.key);
      if (k === undefined) byKey.set(f.key, f); else if (Array.isArray(k)) k.push(f); else byKey.set(f.key, [k, f]);
    }
    // What involved `host` and is not found again goes; a finding found again is replaced below.
    const changed = new Map<string, FleetFinding>();
    for (const key of this.coveredKeys(host, whole)) {
      const facts = this.facts.get(key)!;
      const again = byKey.get(key);
      if (!(facts instanceof Map)) {
        if (!gone(facts, again, host, whole)) continue;
        this.remove(facts);
        for (const h of involved(facts)) affected.add(h);
        changed.set(key, facts);
        continue;
      }
      const before = merged(facts);
      for (const f of [...facts.values()]) {
        if (!gone(f, again, host, whole)) continue;
        this.remove(f);
        for (const h of involved(f)) affected.add(h);
        changed.set(key, before);
      }
    }
    for (const f of found) {
      const old = this.facts.get(f.key);
      if (!old || !has(old, f)) for (const h of involved(f)) affected.add(h);
      this.add(f);
    }
    const diff: FleetDiff = { found: [], resolved: [], affected };
    for (const key of byKey.keys()) diff.found.push(merged(this.facts.get(key)!));
    for (const [key, before] of changed) {
      if (byKey.has(key)) continue;
      const now = this.facts.get(key);
      if (now) diff.found.push(merged(now)); else diff.resolved.push(before);
    }
    return diff;
  }

  /** The keys a run for `host` answers for: those that involve it, and every key of the `whole` checks (a copy: the run changes the index). */
  private coveredKeys(host: string, whole: ReadonlySet<string>): Iterable<string> {
    const k = this.byHost.get(host);
    if (whole.size === 0) return k === undefined ? [] : typeof k === 'string' ? [k] : [...k];
    const covered = new Set(this.keysOf(host));
    for (const [key, facts] of this.facts) if (whole.has((facts instanceof Map ? facts.values().next().value! : facts).check)) covered.add(key);
    return covered;
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
      // The same host and pair: only a different `via` changes who is involved.
      if (sameVia(old, f)) return;
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
      if (remaining && stillInvolves(remaining, h)) continue;
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

const NONE: ReadonlySet<string> = new Set();

/** True when a run for `host` (covering every finding of the `whole` checks) answers for `f` and did not find its pair again. */
function gone(f: FleetFinding, again: FleetFinding | FleetFinding[] | undefined, host: string, whole: ReadonlySet<string>): boolean {
  if (!whole.has(f.check) && !involved(f).includes(host)) return false;
  if (again === undefined) return true;
  if (!Array.isArray(again)) return !samePairs(again, f);
  for (const x of again) if (samePairs(x, f)) return false;
  return true;
}

function stillInvolves(facts: Facts, h: string): boolean {
  if (!(facts instanceof Map)) return involved(facts).includes(h);
  for (const f of facts.values()) if (involved(f).includes(h)) return true;
  return false;
}

function sameVia(a: FleetFinding, b: FleetFinding): boolean {
  if (a.via === b.via) return true;
  return a.via !== undefined && b.via !== undefined && a.via.length === b.via.length && a.via.every((v, i) => v === b.via![i]);
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
