import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Lpm4 } from '../../src/net/lpm.js';
import { Lpm6, toWords6 } from '../../src/net/lpm-v6.js';
import { parseIPv4, parseIPv6 } from '../../src/net/address.js';

const V6_ALL = (1n << 128n) - 1n;
const mask4 = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);
const mask6 = (len: number): bigint => (len === 0 ? 0n : (V6_ALL << BigInt(128 - len)) & V6_ALL);

/** Brute force: entries containing `a`, longest first; a repeated prefix keeps its first entry. */
function containing4(starts: number[], lens: number[], a: number): number[] {
  const best = new Map<number, number>();
  for (let i = 0; i < starts.length; i++) {
    const m = mask4(lens[i]);
    if (((a & m) >>> 0) === ((starts[i] & m) >>> 0) && !best.has(lens[i])) best.set(lens[i], i);
  }
  return [...best.entries()].sort((x, y) => y[0] - x[0]).map((x) => x[1]);
}

function overlapping4(starts: number[], lens: number[], s: number, len: number): number[] {
  const seen = new Set<string>();
  const out: number[] = [];
  for (let i = 0; i < starts.length; i++) {
    const l = Math.min(len, lens[i]);
    const m = mask4(l);
    const key = `${(starts[i] & mask4(lens[i])) >>> 0}/${lens[i]}`;
    if (((s & m) >>> 0) === ((starts[i] & m) >>> 0) && !seen.has(key)) { seen.add(key); out.push(i); }
  }
  return out.sort((a, b) => a - b);
}

function containing6(starts: bigint[], lens: number[], a: bigint): number[] {
  const best = new Map<number, number>();
  for (let i = 0; i < starts.length; i++) {
    const m = mask6(lens[i]);
    if ((a & m) === (starts[i] & m) && !best.has(lens[i])) best.set(lens[i], i);
  }
  return [...best.entries()].sort((x, y) => y[0] - x[0]).map((x) => x[1]);
}

function overlapping6(starts: bigint[], lens: number[], s: bigint, len: number): number[] {
  const seen = new Set<string>();
  const out: number[] = [];
  for (let i = 0; i < starts.length; i++) {
    const m = mask6(Math.min(len, lens[i]));
    const key = `${starts[i] & mask6(lens[i])}/${lens[i]}`;
    if ((s & m) === (starts[i] & m) && !seen.has(key)) { seen.add(key); out.push(i); }
  }
  return out.sort((a, b) => a - b);
}

/** Prefixes clustered around a few anchors so they nest and overlap heavily. */
const anchors4 = [0, 0xffffffff, parseIPv4('10.0.0.0')!, parseIPv4('10.1.2.0')!, parseIPv4('192.168.255.255')!, 0x80000000];
const prefix4 = fc.record({
  anchor: fc.constantFrom(...anchors4),
  noise: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xff }), fc.integer({ min: 0, max: 0xffff }), fc.nat()),
  len: fc.oneof(fc.integer({ min: 0, max: 32 }), fc.constantFrom(0, 1, 8, 15, 16, 17, 23, 24, 25, 31, 32)),
}).map(({ anchor, noise, len }) => ({ start: ((anchor ^ noise) & mask4(len)) >>> 0, len }));

/** Addresses at the edges of the prefixes plus the extremes and random ones. */
function probes4(starts: number[], lens: number[], extra: number[]): number[] {
  const out = [0, 0xffffffff, 0x7fffffff, 0x80000000, ...extra];
  for (let i = 0; i < starts.length; i++) {
    const end = (starts[i] | (~mask4(lens[i]) >>> 0)) >>> 0;
    out.push(starts[i], end, (starts[i] - 1) >>> 0, (end + 1) >>> 0);
  }
  return out;
}

const anchors6 = [0n, V6_ALL, parseIPv6('2001:db8::')!, parseIPv6('fe80::')!, parseIPv6('::ffff:10.0.0.0')!, 1n << 127n];
const prefix6 = fc.record({
  anchor: fc.constantFrom(...anchors6),
  noise: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 0xffffn }), fc.bigInt({ min: 0n, max: (1n << 80n) - 1n }),
    fc.bigInt({ min: 0n, max: V6_ALL })),
  len: fc.oneof(fc.integer({ min: 0, max: 128 }), fc.constantFrom(0, 1, 31, 32, 33, 48, 63, 64, 65, 96, 127, 128)),
}).map(({ anchor, noise, len }) => ({ start: (anchor ^ noise) & mask6(len), len }));

function probes6(starts: bigint[], lens: number[], extra: bigint[]): bigint[] {
  const out = [0n, V6_ALL, (1n << 127n) - 1n, 1n << 127n, ...extra];
  for (let i = 0; i < starts.length; i++) {
    const end = starts[i] | (V6_ALL ^ mask6(lens[i]));
    out.push(starts[i], end, (starts[i] - 1n) & V6_ALL, (end + 1n) & V6_ALL);
  }
  return out;
}

describe('Lpm4', () => {
  const p = (s: string): [number, number] => {
    const [a, l] = s.split('/');
    return [parseIPv4(a)!, Number(l)];
  };
  const build = (list: string[], form?: 'trie' | 'intervals'): Lpm4 => {
    const ps = list.map(p);
    return Lpm4.build(ps.map((x) => x[0]), ps.map((x) => x[1]), form);
  };

  for (const form of ['trie', 'intervals'] as const) {
    it(`finds the longest match, its parents and overlaps (${form})`, () => {
      const lpm = build(['0.0.0.0/0', '10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '10.1.2.3/32', '192.168.0.0/16'], form);
      expect(lpm.form).toBe(form);
      expect(lpm.lookup(parseIPv4('10.1.2.3')!)).toBe(4);
      expect(lpm.lookup(parseIPv4('10.1.2.4')!)).toBe(3);
      expect(lpm.lookup(parseIPv4('10.2.0.0')!)).toBe(1);
      expect(lpm.lookup(parseIPv4('8.8.8.8')!)).toBe(0);
      expect(lpm.containing(parseIPv4('10.1.2.3')!)).toEqual([4, 3, 2, 1, 0]);
      expect(lpm.overlapping(parseIPv4('10.1.0.0')!, 15).sort()).toEqual([0, 1, 2, 3, 4]);
      expect(lpm.overlapping(parseIPv4('192.168.1.0')!, 24)).toEqual([5, 0]);
    });

    it(`returns -1 without a default route and keeps the first of duplicates (${form})`, () => {
      const lpm = build(['10.0.0.0/8', '10.0.0.0/8', '255.255.255.255/32'], form);
      expect(lpm.lookup(parseIPv4('11.0.0.0')!)).toBe(-1);
      expect(lpm.lookup(parseIPv4('10.9.9.9')!)).toBe(0);
      expect(lpm.isDuplicate(1)).toBe(true);
      expect(lpm.lookup(0xffffffff)).toBe(2);
      expect(lpm.lookup(0)).toBe(-1);
    });
  }

  it('clears host bits and handles an empty set', () => {
    const lpm = Lpm4.build([parseIPv4('10.1.2.3')!], [8]);
    expect(lpm.prefixStart(0)).toBe(parseIPv4('10.0.0.0'));
    expect(Lpm4.build([], []).lookup(123)).toBe(-1);
  });

  for (const form of ['trie', 'intervals'] as const) {
    it(`agrees with a brute-force scan on random overlapping sets (${form})`, () => {
      fc.assert(
        fc.property(fc.array(prefix4, { minLength: 0, maxLength: 60 }), fc.array(fc.nat(), { maxLength: 20 }), (ps, rnd) => {
          const starts = ps.map((x) => x.start);
          const lens = ps.map((x) => x.len);
          const lpm = Lpm4.build(starts, lens, form);
          for (const a of probes4(starts, lens, rnd.map((x) => x >>> 0))) {
            const want = containing4(starts, lens, a);
            expect(lpm.lookup(a)).toBe(want.length ? want[0] : -1);
            expect(lpm.containing(a)).toEqual(want);
          }
          for (const q of ps.slice(0, 10)) {
            for (const len of [q.len, Math.max(0, q.len - 3), Math.min(32, q.len + 5)]) {
              const got = lpm.overlapping(q.start, len);
              expect(new Set(got).size).toBe(got.length);
              expect([...got].sort((a, b) => a - b)).toEqual(overlapping4(starts, lens, q.start & mask4(len), len));
            }
          }
        }),
        { numRuns: 200 },
      );
    });
  }

  it('agrees with a brute-force scan on a set large enough for the 16-bit root', () => {
    fc.assert(
      fc.property(fc.array(prefix4, { minLength: 4200, maxLength: 4500 }), fc.array(fc.nat(), { maxLength: 200 }), (ps, rnd) => {
        const starts = ps.map((x) => x.start);
        const lens = ps.map((x) => x.len);
        const trie = Lpm4.build(starts, lens, 'trie');
        const iv = Lpm4.build(starts, lens, 'intervals');
        const probes = probes4(starts.slice(0, 300), lens.slice(0, 300), rnd.map((x) => x >>> 0));
        for (const a of probes) {
          const want = containing4(starts, lens, a);
          expect(trie.lookup(a)).toBe(want.length ? want[0] : -1);
          expect(iv.lookup(a)).toBe(want.length ? want[0] : -1);
        }
      }),
      { numRuns: 5 },
    );
  });

  it('falls back to intervals when a trie would be too large', () => {
    // 200,000 /32s spread so that almost every one needs its own /24 node.
    const n = 200_000;
    const starts = new Uint32Array(n);
    const lens = new Uint8Array(n).fill(32);
    for (let i = 0; i < n; i++) starts[i] = (Math.imul(i + 1, 2654435761) >>> 0);
    const lpm = Lpm4.build(starts, lens);
    expect(lpm.form).toBe('intervals');
    for (let i = 0; i < n; i += 997) expect(lpm.lookup(starts[i])).toBe(i);
    expect(lpm.lookup((starts[0] ^ 1) >>> 0)).toBe(-1);
  });
});

describe('Lpm6', () => {
  const p = (s: string): [bigint, number] => {
    const [a, l] = s.split('/');
    return [parseIPv6(a)!, Number(l)];
  };
  const build = (list: string[]): Lpm6 => {
    const ps = list.map(p);
    return Lpm6.build(ps.map((x) => x[0]), ps.map((x) => x[1]));
  };

  it('finds the longest match, its parents and overlaps', () => {
    const lpm = build(['::/0', '2001:db8::/32', '2001:db8:1::/48', '2001:db8:1:2::/64', '2001:db8:1:2::1/128', 'fe80::/64']);
    expect(lpm.lookup(parseIPv6('2001:db8:1:2::1')!)).toBe(4);
    expect(lpm.lookup(parseIPv6('2001:db8:1:2::2')!)).toBe(3);
    expect(lpm.lookup(parseIPv6('2001:db8:2::')!)).toBe(1);
    expect(lpm.lookup(parseIPv6('2a00::1')!)).toBe(0);
    expect(lpm.containing(parseIPv6('2001:db8:1:2::1')!)).toEqual([4, 3, 2, 1, 0]);
    expect(lpm.overlapping(parseIPv6('2001:db8::')!, 31).sort()).toEqual([0, 1, 2, 3, 4]);
    const w = toWords6(parseIPv6('fe80::5')!, new Uint32Array(4));
    expect(lpm.lookupWords(w[0], w[1], w[2], w[3])).toBe(5);
  });

  it('returns -1 without a default route and keeps the first of duplicates', () => {
    const lpm = build(['2001:db8::/32', '2001:db8::/32', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128']);
    expect(lpm.lookup(0n)).toBe(-1);
    expect(lpm.lookup(parseIPv6('2001:db8::1')!)).toBe(0);
    expect(lpm.isDuplicate(1)).toBe(true);
    expect(lpm.lookup(V6_ALL)).toBe(2);
  });

  it('agrees with a brute-force scan on random overlapping sets', () => {
    fc.assert(
      fc.property(fc.array(prefix6, { maxLength: 50 }), fc.array(fc.bigInt({ min: 0n, max: V6_ALL }), { maxLength: 20 }), (ps, rnd) => {
        const starts = ps.map((x) => x.start);
        const lens = ps.map((x) => x.len);
        const lpm = Lpm6.build(starts, lens);
        for (const a of probes6(starts, lens, rnd)) {
          const want = containing6(starts, lens, a);
          expect(lpm.lookup(a)).toBe(want.length ? want[0] : -1);
          expect(lpm.containing(a)).toEqual(want);
        }
        for (const q of ps.slice(0, 10)) {
          for (const len of [q.len, Math.max(0, q.len - 7), Math.min(128, q.len + 9)]) {
            const got = lpm.overlapping(q.start, len);
            expect(new Set(got).size).toBe(got.length);
            expect([...got].sort((a, b) => a - b)).toEqual(overlapping6(starts, lens, q.start & mask6(len), len));
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('agrees with a brute-force scan on a set large enough for the 16-bit index', () => {
    fc.assert(
      fc.property(fc.array(prefix6, { minLength: 4200, maxLength: 4400 }), (ps) => {
        const starts = ps.map((x) => x.start);
        const lens = ps.map((x) => x.len);
        const lpm = Lpm6.build(starts, lens);
        for (const a of probes6(starts.slice(0, 200), lens.slice(0, 200), [])) {
          const want = containing6(starts, lens, a);
          expect(lpm.lookup(a)).toBe(want.length ? want[0] : -1);
        }
      }),
      { numRuns: 5 },
    );
  });
});
