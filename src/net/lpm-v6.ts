/**
 * Longest-prefix match over a fixed set of IPv6 prefixes, built once and queried without
 * allocating. Entries are positions in the arrays given to `build`, as in `Lpm4`.
 *
 * Keys are four uint32 words, most significant first: bigint shifts allocate on every
 * operation, so a bigint key could not give allocation-free lookups.
 * The address space is cut into elementary intervals (each with its longest match), and a
 * lookup is a binary search over the interval starts behind an index on the top bits. A
 * leaf-pushed stride trie would be faster per step but needs a node for every distinct /40
 * of a table of scattered /48s (hundreds of MB for 200,000 prefixes); intervals need at
 * most 2n + 1 entries.
 */

const DUPLICATE = -2;
const NONE = -1;
const V6_ALL = (1n << 128n) - 1n;
const W = 0xffffffffn;

function maskOf(len: number): bigint {
  return len === 0 ? 0n : (V6_ALL << BigInt(128 - len)) & V6_ALL;
}

/** Split a 128-bit address into four uint32 words (most significant first) in `out` at `at`. */
export function toWords6(a: bigint, out: Uint32Array, at = 0): Uint32Array {
  out[at] = Number((a >> 96n) & W);
  out[at + 1] = Number((a >> 64n) & W);
  out[at + 2] = Number((a >> 32n) & W);
  out[at + 3] = Number(a & W);
  return out;
}

/** Longest-prefix match structure for IPv6. */
export class Lpm6 {
  readonly size: number;
  private readonly starts: bigint[];
  private readonly lens: Uint8Array;
  private readonly parents: Int32Array;
  /** Entries without duplicates, sorted by (start, length). */
  private readonly order: Int32Array;
  private readonly rootShift: number;
  /** Interval starts, four words each. */
  private readonly ivWords: Uint32Array;
  private readonly ivEntries: Int32Array;
  private readonly ivLo: Int32Array;
  private readonly ivHi: Int32Array;
  private readonly scratch = new Uint32Array(4);

  private constructor(
    starts: bigint[], lens: Uint8Array, parents: Int32Array, order: Int32Array,
    rootBits: number, ivWords: Uint32Array, ivEntries: Int32Array, ivLo: Int32Array, ivHi: Int32Array,
  ) {
    this.size = starts.length;
    this.starts = starts;
    this.lens = lens;
    this.parents = parents;
    this.order = order;
    this.rootShift = 32 - rootBits;
    this.ivWords = ivWords;
    this.ivEntries = ivEntries;
    this.ivLo = ivLo;
    this.ivHi = ivHi;
  }

  /**
   * Build from prefix starts (host bits are cleared) and lengths; entry i is prefixes[i].
   * A prefix listed twice keeps its first entry; the later ones are never returned.
   */
  static build(prefixStarts: ArrayLike<bigint>, prefixLens: ArrayLike<number>): Lpm6 {
    const n = prefixStarts.length;
    if (prefixLens.length !== n) throw new RangeError('Lpm6.build: starts and lengths differ in count');
    const starts: bigint[] = new Array(n);
    const lens = new Uint8Array(n);
    const ends: bigint[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const len = prefixLens[i];
      if (!(len >= 0 && len <= 128)) throw new RangeError(`Lpm6.build: bad prefix length ${len}`);
      lens[i] = len;
      const m = maskOf(len);
      starts[i] = prefixStarts[i] & m;
      ends[i] = starts[i] | (V6_ALL ^ m);
    }
    const sorted = Array.from({ length: n }, (_, i) => i);
    sorted.sort((a, b) => (starts[a] < starts[b] ? -1 : starts[a] > starts[b] ? 1 : lens[a] - lens[b] || a - b));

    const parents = new Int32Array(n);
    const unique = new Int32Array(n);
    let u = 0;
    const ivStart: bigint[] = [];
    const ivEntry: number[] = [];
    const emit = (pos: bigint, entry: number): void => {
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
    emit(0n, NONE);
    const stack = new Int32Array(129);
    let sp = 0;
    for (let k = 0; k < n; k++) {
      const e = sorted[k];
      const s = starts[e];
      while (sp > 0 && ends[stack[sp - 1]] < s) {
        const top = stack[--sp];
        emit(ends[top] + 1n, sp > 0 ? stack[sp - 1] : NONE);
      }
      if (sp > 0) {
        const top = stack[sp - 1];
        if (starts[top] === s && lens[top] === lens[e]) { parents[e] = DUPLICATE; continue; }
      }
      parents[e] = sp > 0 ? stack[sp - 1] : NONE;
      stack[sp++] = e;
      unique[u++] = e;
      emit(s, e);
    }
    while (sp > 0) {
      const top = stack[--sp];
      if (ends[top] < V6_ALL) emit(ends[top] + 1n, sp > 0 ? stack[sp - 1] : NONE);
    }

    const m = ivStart.length;
    const ivWords = new Uint32Array(m * 4);
    for (let i = 0; i < m; i++) toWords6(ivStart[i], ivWords, i * 4);
    const ivEntries = Int32Array.from(ivEntry);
    // Index on the top bits of the first word: per slot, the intervals that can hold it.
    const rootBits = m > 4096 ? 16 : 8;
    const slots = 1 << rootBits;
    const shift = 32 - rootBits;
    const ivLo = new Int32Array(slots);
    const ivHi = new Int32Array(slots);
    let i = 0;
    for (let slot = 0; slot < slots; slot++) {
      while (i + 1 < m && ivWords[(i + 1) * 4] >>> shift < slot) i++;
      // Interval i starts before the slot (or at it); move to the last one starting at its first address.
      while (i + 1 < m && ivWords[(i + 1) * 4] >>> shift === slot && isSlotStart(ivWords, i + 1, shift)) i++;
      ivLo[slot] = i;
      let j = i;
      while (j + 1 < m && ivWords[(j + 1) * 4] >>> shift === slot) j++;
      ivHi[slot] = j;
    }
    return new Lpm6(starts, lens, parents, unique.slice(0, u), rootBits, ivWords, ivEntries, ivLo, ivHi);
  }

  /** Entry of the longest prefix containing the address given as four words, or -1. */
  lookupWords(w0: number, w1: number, w2: number, w3: number): number {
    const iv = this.ivWords;
    let lo = this.ivLo[w0 >>> this.rootShift];
    let hi = this.ivHi[w0 >>> this.rootShift];
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      const b = mid << 2;
      let le: boolean;
      const s0 = iv[b];
      if (s0 !== w0) le = s0 < w0;
      else {
        const s1 = iv[b + 1];
        if (s1 !== w1) le = s1 < w1;
        else {
          const s2 = iv[b + 2];
          le = s2 !== w2 ? s2 < w2 : iv[b + 3] <= w3;
        }
      }
      if (le) lo = mid; else hi = mid - 1;
    }
    return this.ivEntries[lo];
  }

  /** Entry of the longest prefix containing `words[at..at+3]`, or -1. */
  lookupAt(words: Uint32Array, at: number): number {
    return this.lookupWords(words[at], words[at + 1], words[at + 2], words[at + 3]);
  }

  /** Convenience form taking a bigint (converts it; not for hot loops). */
  lookup(addr: bigint): number {
    const w = toWords6(addr, this.scratch);
    return this.lookupWords(w[0], w[1], w[2], w[3]);
  }

  /** The next shorter prefix containing entry `e`, or -1. */
  parent(e: number): number {
    const p = this.parents[e];
    return p === DUPLICATE ? NONE : p;
  }

  isDuplicate(e: number): boolean {
    return this.parents[e] === DUPLICATE;
  }

  prefixStart(e: number): bigint {
    return this.starts[e];
  }

  prefixLength(e: number): number {
    return this.lens[e];
  }

  /** Every entry containing `addr`, longest first (appended to `out`). */
  containing(addr: bigint, out: number[] = []): number[] {
    for (let e = this.lookup(addr); e >= 0; e = this.parents[e]) out.push(e);
    return out;
  }

  /** Same as `containing`, for an address given as words. */
  containingWords(w0: number, w1: number, w2: number, w3: number, out: number[] = []): number[] {
    for (let e = this.lookupWords(w0, w1, w2, w3); e >= 0; e = this.parents[e]) out.push(e);
    return out;
  }

  /**
   * Every entry sharing an address with prefix start/len: those containing it (longest
   * first), then those inside it that do not contain its first address, in address order.
   */
  overlapping(start: bigint, len: number, out: number[] = []): number[] {
    const m = maskOf(len);
    const s = start & m;
    const end = s | (V6_ALL ^ m);
    this.containing(s, out);
    const order = this.order;
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[order[mid]] <= s) lo = mid + 1; else hi = mid;
    }
    for (let k = lo; k < order.length && this.starts[order[k]] <= end; k++) out.push(order[k]);
    return out;
  }

  /** Approximate bytes held by the lookup structure (bigint starts not counted). */
  get bytes(): number {
    return this.size * 9 + this.order.length * 4 + this.ivWords.byteLength + this.ivEntries.byteLength
      + this.ivLo.byteLength * 2;
  }
}

/** True when interval `i` starts exactly at the first address of its top-bits slot. */
function isSlotStart(iv: Uint32Array, i: number, shift: number): boolean {
  const b = i * 4;
  const lowMask = shift === 32 ? 0xffffffff : (1 << shift) - 1;
  return (iv[b] & lowMask) === 0 && iv[b + 1] === 0 && iv[b + 2] === 0 && iv[b + 3] === 0;
}
