/**
 * Sets of prefixes for the checks that gather many networks (a gateway with a full routing
 * table names a million): "is this prefix inside one already kept?" in one hash lookup per
 * prefix length, and sibling prefixes merged into their parent.
 */
import type { Prefix } from './address.js';

type Key = number | bigint;

function bits(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

/** The value of `p` with the host bits of a `len`-bit prefix cleared. */
function maskedValue(p: Prefix, len: number): Key {
  if (p.family === 4) {
    if (len === 0) return 0;
    return (p.value & (0xffffffff << (32 - len))) >>> 0;
  }
  const host = 128n - BigInt(len);
  return (p.value >> host) << host;
}

/** Prefixes of one family; `covers(p)` is true when a kept prefix contains p (or equals it). */
export class CoveringSet {
  private readonly byLen = new Map<number, Set<Key>>();

  add(p: Prefix): void {
    let set = this.byLen.get(p.len);
    if (!set) this.byLen.set(p.len, (set = new Set()));
    set.add(maskedValue(p, p.len));
  }

  covers(p: Prefix): boolean {
    for (const [len, set] of this.byLen) if (len <= p.len && set.has(maskedValue(p, len))) return true;
    return false;
  }
}

/**
 * The items whose prefix no earlier-kept one contains, widest first (ties keep their order):
 * what `items.sort(by length)` then "skip an item inside one kept" gives, without comparing
 * every pair.
 */
export function outermost<T extends { prefix: Prefix }>(items: readonly T[]): T[] {
  const sorted = [...items].sort((a, b) => a.prefix.len - b.prefix.len);
  const kept: T[] = [];
  const set = new CoveringSet();
  for (const item of sorted) {
    if (set.covers(item.prefix)) continue;
    kept.push(item);
    set.add(item.prefix);
  }
  return kept;
}

/**
 * Merge sibling prefixes (10.0.0.0/25 and 10.0.0.128/25 → 10.0.0.0/24) of items with the same
 * `group`, repeatedly; the parent keeps the lower sibling's item (`merge` gives it the parent
 * prefix). Items should not overlap (run `outermost` first); items whose group is undefined stay
 * as they are. Order: merged items take the place of their lower sibling.
 */
export function mergeSiblings<T extends { prefix: Prefix }>(items: readonly T[], group: (item: T) => string | undefined, merge: (item: T, parent: Prefix) => T): T[] {
  // Slots in input order; a merged-away item leaves a hole.
  const slots: (T | undefined)[] = [...items];
  const maxLen = items.reduce((m, i) => Math.max(m, i.prefix.len), 0);
  const index = new Map<string, number>();
  const keyOf = (g: string, p: Prefix, value: Key = maskedValue(p, p.len)): string => `${g}|${p.len}|${String(value)}`;
  for (let k = 0; k < slots.length; k++) {
    const g = group(slots[k]!);
    if (g !== undefined) index.set(keyOf(g, slots[k]!.prefix), k);
  }
  for (let len = maxLen; len >= 1; len--) {
    for (let k = 0; k < slots.length; k++) {
      const item = slots[k];
      if (item === undefined || item.prefix.len !== len) continue;
      const g = group(item);
      if (g === undefined) continue;
      const value = maskedValue(item.prefix, len);
      const family = item.prefix.family;
      const bit: Key = family === 4 ? 2 ** (32 - len) : 1n << BigInt(bits(family) - len);
      const siblingValue: Key = family === 4 ? ((value as number) ^ (bit as number)) >>> 0 : (value as bigint) ^ (bit as bigint);
      const s = index.get(keyOf(g, item.prefix, siblingValue));
      if (s === undefined || s === k) continue;
      const lower = ((family === 4 ? (value as number) & (bit as number) : (value as bigint) & (bit as bigint)) as number | bigint) ? s : k;
      const upper = lower === k ? s : k;
      const parentValue = maskedValue(item.prefix, len - 1);
      const parent = (family === 4 ? { family: 4, value: parentValue as number, len: len - 1 } : { family: 6, value: parentValue as bigint, len: len - 1 }) as Prefix;
      const merged = merge(slots[lower]!, parent);
      index.delete(keyOf(g, slots[k]!.prefix));
      index.delete(keyOf(g, slots[s]!.prefix));
      slots[upper] = undefined;
      slots[lower] = merged;
      index.set(keyOf(g, parent), lower);
    }
  }
  return slots.filter((x): x is T => x !== undefined);
}
