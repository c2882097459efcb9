/**
 * CoveringSet / outermost / mergeSiblings (src/net/prefix-set.ts) against brute force: random
 * IPv4 prefixes inside 10.0.0.0/20 (so an address bitmap is small) and IPv6 ones inside a /116.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { prefixCovers, type Prefix } from '../../src/net/address.js';
import { mergeSiblings, outermost } from '../../src/net/prefix-set.js';

const BASE4 = 0x0a000000;
const SPACE = 1 << 12;

const prefix4 = fc.record({ off: fc.integer({ min: 0, max: SPACE - 1 }), len: fc.integer({ min: 20, max: 32 }) })
  .map(({ off, len }): Prefix => ({ family: 4, value: ((BASE4 + off) & (0xffffffff << (32 - len))) >>> 0, len }));
const prefix6 = fc.record({ off: fc.integer({ min: 0, max: SPACE - 1 }), len: fc.integer({ min: 116, max: 128 }) })
  .map(({ off, len }): Prefix => {
    const v = (0x20010db8n << 96n) + BigInt(off);
    const host = 128n - BigInt(len);
    return { family: 6, value: (v >> host) << host, len };
  });

/** The old quadratic rule: widest first, skip what a kept one covers. */
function bruteOutermost<T extends { prefix: Prefix }>(items: T[]): T[] {
  const sorted = [...items].sort((a, b) => a.prefix.len - b.prefix.len);
  const kept: T[] = [];
  for (const c of sorted) if (!kept.some((k) => prefixCovers(k.prefix, c.prefix))) kept.push(c);
  return kept;
}

/** Addresses (offsets in the test space) a list of prefixes holds, per group. */
function addresses(items: { prefix: Prefix; g: string }[]): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  for (const { prefix: p, g } of items) {
    const start = p.family === 4 ? p.value - BASE4 : Number(p.value - (0x20010db8n << 96n));
    const size = 2 ** ((p.family === 4 ? 32 : 128) - p.len);
    let set = out.get(g);
    if (!set) out.set(g, (set = new Set()));
    for (let a = start; a < start + size; a++) set.add(a);
  }
  return out;
}

describe('prefix sets', () => {
  for (const [family, gen] of [[4, prefix4], [6, prefix6]] as const) {
    it(`outermost = the pairwise rule (IPv${family})`, () => {
      fc.assert(fc.property(fc.array(gen, { maxLength: 60 }), (prefixes) => {
        const items = prefixes.map((prefix, i) => ({ prefix, i }));
        expect(outermost(items)).toEqual(bruteOutermost(items));
      }), { numRuns: 300 });
    });

    it(`mergeSiblings keeps each group's addresses, merges every sibling pair, and leaves ungrouped items (IPv${family})`, () => {
      fc.assert(fc.property(fc.array(fc.record({ prefix: gen, g: fc.constantFrom('a', 'b', 'none') }), { maxLength: 60 }), (raw) => {
        const items = outermost(raw);
        const merged = mergeSiblings(items, (x) => (x.g === 'none' ? undefined : x.g), (x, parent) => ({ ...x, prefix: parent }));
        expect(addresses(merged)).toEqual(addresses(items));
        expect(merged.filter((x) => x.g === 'none')).toEqual(items.filter((x) => x.g === 'none'));
        // No two items of a group are siblings any more.
        const keys = new Set(merged.filter((x) => x.g !== 'none').map((x) => `${x.g}|${x.prefix.len}|${String(x.prefix.value)}`));
        for (const x of merged) {
          if (x.g === 'none' || x.prefix.len === 0) continue;
          const bit = x.prefix.family === 4 ? 2 ** (32 - x.prefix.len) : 1n << BigInt(128 - x.prefix.len);
          const sib = x.prefix.family === 4 ? ((x.prefix.value ^ (bit as number)) >>> 0) : (x.prefix.value as bigint) ^ (bit as bigint);
          expect(keys.has(`${x.g}|${x.prefix.len}|${String(sib)}`)).toBe(false);
        }
      }), { numRuns: 300 });
    });
  }

  it('a contiguous run of /24s through one device becomes its covering blocks', () => {
    const items = Array.from({ length: 1024 }, (_, k) => ({ prefix: { family: 4, value: (0x20000000 + k * 256) >>> 0, len: 24 } as Prefix, how: 'routed via eth0' }));
    const merged = mergeSiblings(outermost(items), (x) => x.how, (x, parent) => ({ ...x, prefix: parent }));
    expect(merged).toEqual([{ prefix: { family: 4, value: 0x20000000, len: 14 }, how: 'routed via eth0' }]);
  });
});
