/**
 * Derived data kept beside what it is derived from: a snapshot's FIB, a ruleset's compiled
 * chains, a route list's digest, a fleet view's routers. Built on first use, dropped with its
 * owner (a report replaces the snapshot object, so nothing goes stale). Every such cache lives
 * in this one store under a typed key, so a snapshot's derived data is built once, whichever
 * layer asks first.
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
  /** Type-level only: ties the key to its owner and value types. */
  readonly types?: (owner: Owner) => Value;
}

const NAMES = new Set<string>();
const store = new WeakMap<object, Map<MemoKey<object, unknown>, unknown>>();

/** A new key; its name says what is cached (and must be unique: two caches of one thing would build it twice). */
export function memoKey<Owner extends object, Value>(name: string): MemoKey<Owner, Value> {
  if (NAMES.has(name)) throw new Error(`memo key "${name}" is declared twice`);
  NAMES.add(name);
  return Object.freeze({ name });
}

/** The value under `key` for `owner`, built by `build(owner)` the first time. */
export function memo<Owner extends object, Value>(owner: Owner, key: MemoKey<Owner, Value>, build: (owner: Owner) => Value): Value {
  let slots = store.get(owner);
  if (slots === undefined) store.set(owner, (slots = new Map()));
  const k = key as MemoKey<object, unknown>;
  const cached = slots.get(k);
  if (cached !== undefined || slots.has(k)) return cached as Value;
  const value = build(owner);
  slots.set(k, value);
  return value;
}

