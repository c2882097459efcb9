/**
 * Derived data kept beside what it is derived from: a snapshot's FIB, a ruleset's compiled
 * chains, a route list's digest, a fleet view's routers. Built on first use, dropped with its
 * owner (a report replaces the snapshot object, so nothing goes stale). Every such cache goes
 * through this module — a typed key (memoKey) read only by memo() — so a snapshot's derived
 * data is built once, whichever layer asks first.
 *
 *   const FIB = memoKey<HostSnapshot, Fib>('fib');
 *   const fib = memo(snapshot, FIB, (s) => fibFrom(s.routes, s.rules));
 *
 * The owner must not change after its first memo (snapshots and their slots are not mutated
 * after they are built); a builder that needs to follow changes keeps its own state in the value.
 */

/** A typed slot: what it is kept on (Owner) and what it holds (Value). Make one per cache, at module level. */
export interface MemoKey<Owner extends object, Value> {
  readonly name: string;
  /** The values by owner: reached only through memo(). */
  readonly [VALUES]: WeakMap<Owner, Value>;
}

// Each key holds its own weak table: a lookup costs what a hand-written WeakMap cache costs.
const VALUES = Symbol('memo values');
const NAMES = new Set<string>();

/** A new key; its name says what is cached (and must be unique: two caches of one thing would build it twice). */
export function memoKey<Owner extends object, Value>(name: string): MemoKey<Owner, Value> {
  if (NAMES.has(name)) throw new Error(`memo key "${name}" is declared twice`);
  NAMES.add(name);
  return Object.freeze({ name, [VALUES]: new WeakMap<Owner, Value>() });
}

/** The value under `key` for `owner`, built by `build(owner)` the first time. */
export function memo<Owner extends object, Value>(owner: Owner, key: MemoKey<Owner, Value>, build: (owner: Owner) => Value): Value {
  const values = key[VALUES];
  const cached = values.get(owner);
  if (cached !== undefined || values.has(owner)) return cached as Value;
  const value = build(owner);
  values.set(owner, value);
  return value;
}
