/**
 * Longest-prefix match over a fixed set of IPv4 prefixes, built once and queried without
 * allocating. An entry is a prefix's position in the arrays given to `build`; every query
 * answers with entry numbers (-1 for none), so callers keep their own values beside them.
 *
 * Lookups use a leaf-pushed multibit trie in one Int32Array (a 16-bit root, then 8-bit
 * nodes; an 8-bit root for small sets). When the trie would be too large (e.g. a million
 * scattered /32 host routes, where every /24 needs its own node) the set falls back to
 * elementary intervals searched by binary search behind a 16-bit index.
 * Besides, every entry knows its parent (the next shorter prefix containing it), which gives
 * "all prefixes containing A, longest first", and a sorted copy gives overlap queries.
 */

/** Parent value of a prefix that repeats an earlier entry: it is never returned. */
const DUPLICATE = -2;
const V4_MAX = 4294967295;
/** Slot contents: -1 no match, >= 0 an entry, <= -2 a child node (-2 - node number). */
const NONE = -1;
/** Trie memory allowed: a fixed allowance plus this many bytes per prefix. */
const TRIE_BYTES_FIXED = 64 << 20;
const TRIE_BYTES_PER_PREFIX = 128;

/** Addresses in a prefix of each length, minus one (a table: a power per call costs a big build ~40 ms). */
const SPAN = Float64Array.from({ length: 33 }, (_, len) => 2 ** (32 - len) - 1);

/** Last address of a prefix. */
function prefixEnd(start: number, len: number): number {
  return start + SPAN[len];
}

/** Entries sorted by (start, length, position) with three stable counting passes. */
function sortEntries(starts: Uint32Array, lens: Uint8Array): Int32Array {
  const n = starts.length;
  // Small tables (most hosts): a comparison sort beats clearing two 65,537-entry count arrays.
  if (n < 512) {
    const idx = Array.from({ length: n }, (_, i) => i);
    idx.sort((a, b) => starts[a] - starts[b] || lens[a] - lens[b] || a - b);
    return Int32Array.from(idx);
  }
  let order = new Int32Array(n);
  let next = new Int32Array(n);
  const byLen = new Int32Array(34);
  for (let i = 0; i < n; i++) byLen[lens[i] + 1]++;
  for (let b = 1; b < 34; b++) byLen[b] += byLen[b - 1];
  for (let i = 0; i < n; i++) order[byLen[lens[i]]++] = i;
  const count = new Int32Array(65537);
  for (let pass = 0; pass < 2; pass++) {
    const shift = pass === 0 ? 0 : 16;
    count.fill(0);
    for (let i = 0; i < n; i++) count[((starts[i] >>> shift) & 0xffff) + 1]++;
    for (let b = 1; b < 65537; b++) count[b] += count[b - 1];
    for (let k = 0; k < n; k++) {
      const e = order[k];
      next[count[(starts[e] >>> shift) & 0xffff]++] = e;
    }
    const t = order; order = next; next = t;
  }
  return order;
}

/**
 * One sweep over the sorted entries: each entry's parent, duplicates marked, the unique entries
 * in order (returns their count) and, when `emit` is given, the address space cut into
 * intervals (emit(first address, entry or NONE) at every change).
 */
function sweep(sorted: Int32Array, starts: Uint32Array, lens: Uint8Array, parents: Int32Array, unique: Int32Array, emit: ((pos: number, entry: number) => void) | null): number {
  const n = sorted.length;
  let u = 0;
  emit?.(0, NONE);
  const stack = new Int32Array(33);
  let sp = 0;
  for (let k = 0; k < n; k++) {
    const e = sorted[k];
    const s = starts[e];
    while (sp > 0) {
      const top = stack[sp - 1];
      const end = prefixEnd(starts[top], lens[top]);
      if (end >= s) break;
      sp--;
      emit?.(end + 1, sp > 0 ? stack[sp - 1] : NONE);
    }
    if (sp > 0) {
      const top = stack[sp - 1];
      if (starts[top] === s && lens[top] === lens[e]) { parents[e] = DUPLICATE; continue; }
    }
    parents[e] = sp > 0 ? stack[sp - 1] : NONE;
    stack[sp++] = e;
    unique[u++] = e;
    emit?.(s, e);
  }
  while (sp > 0) {
    const top = stack[--sp];
    const end = prefixEnd(starts[top], lens[top]);
    if (end < V4_MAX) emit?.(end + 1, sp > 0 ? stack[sp - 1] : NONE);
  }
  return u;
}

/** Longest-prefix match structure for IPv4 (addresses as unsigned 32-bit numbers). */
export class Lpm4 {
  /** Number of entries given to `build` (duplicates included). */
  readonly size: number;
  private readonly starts: Uint32Array;
  private readonly lens: Uint8Array;
  private readonly parents: Int32Array;
  /** Entries without duplicates, sorted by (start, length). */
  private readonly order: Int32Array;
  private readonly sortedStarts: Uint32Array;
  // Trie form.
  private readonly rootShift: number;
  private readonly root: Int32Array | null;
  private readonly nodes: Int32Array | null;
  // Interval form.
  private readonly ivStarts: Uint32Array | null;
  private readonly ivEntries: Int32Array | null;
  private readonly ivLo: Int32Array | null;
  private readonly ivHi: Int32Array | null;

  private constructor(
    starts: Uint32Array, lens: Uint8Array, parents: Int32Array, order: Int32Array,
    rootShift: number, root: Int32Array | null, nodes: Int32Array | null,
    iv: { starts: Uint32Array; entries: Int32Array; lo: Int32Array; hi: Int32Array } | null,
  ) {
    this.size = starts.length;
    this.starts = starts;
    this.lens = lens;
    this.parents = parents;
    this.order = order;
    this.sortedStarts = new Uint32Array(order.length);
    for (let k = 0; k < order.length; k++) this.sortedStarts[k] = starts[order[k]];
    this.rootShift = rootShift;
    this.root = root;
    this.nodes = nodes;
    this.ivStarts = iv ? iv.starts : null;
    this.ivEntries = iv ? iv.entries : null;
    this.ivLo = iv ? iv.lo : null;
    this.ivHi = iv ? iv.hi : null;
  }

  /**
   * Build from prefix starts (host bits are cleared) and lengths; entry i is prefixes[i].
   * A prefix listed twice keeps its first entry; the later ones are never returned.
   * `form` forces the trie or the interval form (tests); by default the trie unless too large.
   */
  static build(prefixStarts: ArrayLike<number>, prefixLens: ArrayLike<number>, form?: 'trie' | 'intervals'): Lpm4 {
    const n = prefixStarts.length;
    if (prefixLens.length !== n) throw new RangeError('Lpm4.build: starts and lengths differ in count');
    const starts = new Uint32Array(n);
    const lens = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const len = prefixLens[i];
      if (!(len >= 0 && len <= 32)) throw new RangeError(`Lpm4.build: bad prefix length ${len}`);
      lens[i] = len;
      starts[i] = len === 0 ? 0 : (prefixStarts[i] & ((0xffffffff << (32 - len)) >>> 0)) >>> 0;
    }
    const sorted = sortEntries(starts, lens);
    const parents = new Int32Array(n);
    const unique = new Int32Array(n);
    const u = sweep(sorted, starts, lens, parents, unique, null);
    const order = unique.slice(0, u);

    const rootBits = u > 4096 ? 16 : 8;
    const nodeCount = countTrieNodes(order, starts, lens, rootBits);
    const trieBytes = (nodeCount * 256 + (1 << rootBits)) * 4;
    const useTrie = form === 'trie' || (form === undefined && trieBytes <= TRIE_BYTES_FIXED + TRIE_BYTES_PER_PREFIX * u);
    if (useTrie) {
      const { root, nodes } = buildTrie(order, starts, lens, rootBits, nodeCount);
      return new Lpm4(starts, lens, parents, order, 32 - rootBits, root, nodes, null);
    }
    // Intervals only now: the same sweep again, cutting the address space where entries change.
    const ivStart: number[] = [];
    const ivEntry: number[] = [];
    const emit = (pos: number, entry: number): void => {
      const m = ivStart.length;
      if (m > 0 && ivStart[m - 1] === pos) {
        ivEntry[m - 1] = entry;
        if (m > 1 && ivEntry[m - 2] === entry) { ivStart.pop(); ivEntry.pop(); }
        return;
      }
      if (m > 0 && ivEntry[m - 1] === entry) return;
      ivStart.push(pos);
      ivEntry.push(entry);
    };
    sweep(sorted, starts, lens, parents, unique, emit);
    return new Lpm4(starts, lens, parents, order, 16, null, null, buildIntervalIndex(ivStart, ivEntry));
  }

  /** Entry of the longest prefix containing `addr` (unsigned 32-bit), or -1. */
  lookup(addr: number): number {
    const root = this.root;
    if (root !== null) {
      let v = root[addr >>> this.rootShift];
      if (v >= NONE) return v;
      const nodes = this.nodes!;
      let shift = this.rootShift;
      do {
        shift -= 8;
        v = nodes[((-2 - v) << 8) | ((addr >>> shift) & 255)];
      } while (v < NONE);
      return v;
    }
    const starts = this.ivStarts!;
    const a = addr >>> 0;
    const slot = a >>> 16;
    let lo = this.ivLo![slot];
    let hi = this.ivHi![slot];
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (starts[mid] <= a) lo = mid; else hi = mid - 1;
    }
    return this.ivEntries![lo];
  }

  /** The next shorter prefix containing entry `e`, or -1. */
  parent(e: number): number {
    const p = this.parents[e];
    return p === DUPLICATE ? NONE : p;
  }

  /** True when entry `e` repeats an earlier entry's prefix (it is never returned). */
  isDuplicate(e: number): boolean {
    return this.parents[e] === DUPLICATE;
  }

  prefixStart(e: number): number {
    return this.starts[e];
  }

  prefixLength(e: number): number {
    return this.lens[e];
  }

  /** Every entry containing `addr`, longest first (appended to `out`). */
  containing(addr: number, out: number[] = []): number[] {
    for (let e = this.lookup(addr); e >= 0; e = this.parents[e]) out.push(e);
    return out;
  }

  /**
   * Every entry sharing an address with prefix start/len: those containing it (longest
   * first), then those inside it that do not contain its first address, in address order.
   */
  overlapping(start: number, len: number, out: number[] = []): number[] {
    const s = len === 0 ? 0 : (start & ((0xffffffff << (32 - len)) >>> 0)) >>> 0;
    const end = prefixEnd(s, len);
    this.containing(s, out);
    const sorted = this.sortedStarts;
    // First sorted position with start > s.
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid] <= s) lo = mid + 1; else hi = mid;
    }
    for (let k = lo; k < sorted.length && sorted[k] <= end; k++) out.push(this.order[k]);
    return out;
  }

  /** Which form answers `lookup` (for tests and the benchmark). */
  get form(): 'trie' | 'intervals' {
    return this.root !== null ? 'trie' : 'intervals';
  }

  /** Approximate bytes held by the lookup structure. */
  get bytes(): number {
    const n = this.size * (4 + 1 + 4) + this.order.length * 8;
    if (this.root !== null) return n + this.root.byteLength + this.nodes!.byteLength;
    return n + this.ivStarts!.byteLength + this.ivEntries!.byteLength + this.ivLo!.byteLength * 2;
  }
}

/** Nodes needed: one per distinct slot key at each level boundary crossed by a longer prefix. */
function countTrieNodes(order: Int32Array, starts: Uint32Array, lens: Uint8Array, rootBits: number): number {
  let count = 0;
  for (let bound = rootBits; bound < 32; bound += 8) {
    let last = -1;
    for (let k = 0; k < order.length; k++) {
      const e = order[k];
      if (lens[e] <= bound) continue;
      const key = starts[e] >>> (32 - bound);
      if (key !== last) { count++; last = key; }
    }
  }
  return count;
}

function buildTrie(
  order: Int32Array, starts: Uint32Array, lens: Uint8Array, rootBits: number, nodeCount: number,
): { root: Int32Array; nodes: Int32Array } {
  const root = new Int32Array(1 << rootBits).fill(NONE);
  const nodes = new Int32Array(nodeCount * 256);
  let used = 0;
  const newNode = (fill: number): number => {
    nodes.fill(fill, used * 256, used * 256 + 256);
    return used++;
  };
  // Shorter prefixes first: a longer one then overwrites its slots, and a node made later
  // inherits its slot's value (leaf pushing), so no slot ever needs to look upward.
  const byLen = new Int32Array(34);
  for (let k = 0; k < order.length; k++) byLen[lens[order[k]] + 1]++;
  for (let b = 1; b < 34; b++) byLen[b] += byLen[b - 1];
  const byLength = new Int32Array(order.length);
  for (let k = 0; k < order.length; k++) byLength[byLen[lens[order[k]]]++] = order[k];
  const rootShift = 32 - rootBits;
  for (let k = 0; k < byLength.length; k++) {
    const e = byLength[k];
    const s = starts[e];
    const len = lens[e];
    const slot = s >>> rootShift;
    if (len <= rootBits) {
      root.fill(e, slot, slot + (1 << (rootBits - len)));
      continue;
    }
    let v = root[slot];
    if (v >= NONE) { v = -2 - newNode(v); root[slot] = v; }
    let node = -2 - v;
    for (let bound = rootBits + 8; ; bound += 8) {
      const idx = (node << 8) | ((s >>> (32 - bound)) & 255);
      if (len <= bound) {
        nodes.fill(e, idx, idx + (1 << (bound - len)));
        break;
      }
      let c = nodes[idx];
      if (c >= NONE) { c = -2 - newNode(c); nodes[idx] = c; }
      node = -2 - c;
    }
  }
  return { root, nodes };
}

/** Typed interval arrays plus, per top-16-bit slot, the range of intervals that can hold it. */
function buildIntervalIndex(
  ivStart: number[], ivEntry: number[],
): { starts: Uint32Array; entries: Int32Array; lo: Int32Array; hi: Int32Array } {
  const starts = Uint32Array.from(ivStart);
  const entries = Int32Array.from(ivEntry);
  const lo = new Int32Array(65536);
  const hi = new Int32Array(65536);
  let i = 0;
  for (let slot = 0; slot < 65536; slot++) {
    const first = slot * 65536;
    while (i + 1 < starts.length && starts[i + 1] <= first) i++;
    lo[slot] = i;
    let j = i;
    const last = first + 65535;
    while (j + 1 < starts.length && starts[j + 1] <= last) j++;
    hi[slot] = j;
  }
  return { starts, entries, lo, hi };
}
