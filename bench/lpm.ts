/**
 * Longest-prefix match throughput: 1,000,000 IPv4 prefixes and 200,000 IPv6 prefixes with
 * Internet-like length mixes, looked up over prebuilt arrays of random addresses.
 * Called by the benchmark runner; each figure is the best of 3 runs of at least 0.5 s.
 */
import { Lpm4 } from '../src/net/lpm.js';
import { Lpm6 } from '../src/net/lpm-v6.js';
import { seededUint32 as rng } from '../test/helpers/prng.js';

export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
  note?: string;
}


/** Pick from a [value, weight] table. */
function weighted(table: [number, number][], r: number): number {
  let total = 0;
  for (const [, w] of table) total += w;
  let x = (r / 4294967296) * total;
  for (const [v, w] of table) {
    if (x < w) return v;
    x -= w;
  }
  return table[table.length - 1][0];
}

/** IPv4 BGP table shape (share in percent per length). */
const V4_LENGTHS: [number, number][] = [
  [24, 60], [22, 11], [23, 10], [21, 5], [20, 4], [19, 2.8], [16, 1.3], [18, 1.6], [17, 0.9],
  [15, 0.3], [14, 0.3], [13, 0.2], [12, 0.1], [11, 0.05], [10, 0.04], [9, 0.02], [8, 0.02],
  [25, 0.5], [26, 0.4], [27, 0.3], [28, 0.3], [29, 0.3], [30, 0.2], [32, 0.2],
];

/** IPv6 BGP table shape. */
const V6_LENGTHS: [number, number][] = [
  [48, 47], [32, 14], [44, 9], [40, 7], [36, 4], [29, 4], [46, 3], [47, 2], [45, 2], [42, 2],
  [33, 1], [34, 1], [35, 1], [38, 1], [28, 0.5], [30, 0.5], [56, 0.5], [64, 0.5], [24, 0.2], [128, 0.1],
];
/** RIR blocks the IPv6 prefixes are drawn from (top 16 bits), as in the real table. */
const V6_BLOCKS = [0x2001, 0x2400, 0x2401, 0x2402, 0x2403, 0x2404, 0x2600, 0x2601, 0x2602, 0x2603, 0x2604,
  0x2605, 0x2606, 0x2607, 0x2620, 0x2800, 0x2801, 0x2803, 0x2804, 0x2a00, 0x2a01, 0x2a02, 0x2a03, 0x2a04,
  0x2a05, 0x2a06, 0x2a07, 0x2a09, 0x2a0a, 0x2a0b, 0x2a0c, 0x2a0d, 0x2a0e, 0x2a0f, 0x2a10, 0x2a11, 0x2c0f];

export function makeV4Prefixes(count: number, seed = 1): { starts: Uint32Array; lens: Uint8Array } {
  const next = rng(seed);
  const starts = new Uint32Array(count);
  const lens = new Uint8Array(count);
  const seen = new Set<number>();
  let n = 0;
  while (n < count) {
    const len = weighted(V4_LENGTHS, next());
    // 1.0.0.0 - 223.255.255.255: unicast space.
    const addr = (0x01000000 + (next() % 0xdf000000)) >>> 0;
    const start = (addr & ((0xffffffff << (32 - len)) >>> 0)) >>> 0;
    const key = start * 64 + len;
    if (seen.has(key)) continue;
    seen.add(key);
    starts[n] = start;
    lens[n] = len;
    n++;
  }
  return { starts, lens };
}

export function makeV6Prefixes(count: number, seed = 2): { starts: bigint[]; lens: number[] } {
  const next = rng(seed);
  const starts: bigint[] = [];
  const lens: number[] = [];
  const seen = new Set<string>();
  const all = (1n << 128n) - 1n;
  while (starts.length < count) {
    const len = weighted(V6_LENGTHS, next());
    const block = BigInt(V6_BLOCKS[next() % V6_BLOCKS.length]);
    let a = block;
    for (let i = 0; i < 7; i++) a = (a << 16n) | BigInt(next() & 0xffff);
    const start = a & ((all << BigInt(128 - len)) & all);
    const key = `${start}/${len}`;
    if (seen.has(key)) continue;
    seen.add(key);
    starts.push(start);
    lens.push(len);
  }
  return { starts, lens };
}

/** Best lookups/s over 3 runs, each repeating passes over `addrs` for at least 0.5 s. */
function measure(pass: () => number, perPass: number): { rate: number; check: number } {
  let best = 0;
  let check = 0;
  pass(); // warm up and let the JIT settle
  for (let run = 0; run < 3; run++) {
    let lookups = 0;
    const t0 = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < 0.5) {
      check = (check + pass()) | 0;
      lookups += perPass;
      elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    }
    best = Math.max(best, lookups / elapsed);
  }
  return { rate: best, check };
}

/** Kept so the engine cannot drop the lookups as dead code. */
export let lastChecksum = 0;

export async function benchLpm(): Promise<BenchFigure[]> {
  const figures: BenchFigure[] = [];
  const ADDRS = 1 << 20;

  // IPv4: 1,000,000 prefixes, uniformly random addresses.
  const v4 = makeV4Prefixes(1_000_000);
  let t0 = performance.now();
  const lpm4 = Lpm4.build(v4.starts, v4.lens);
  const build4 = (performance.now() - t0) / 1000;
  const next = rng(3);
  const a4 = new Uint32Array(ADDRS);
  for (let i = 0; i < ADDRS; i++) a4[i] = next();
  const pass4 = (): number => {
    let sum = 0;
    for (let i = 0; i < ADDRS; i++) sum = (sum + lpm4.lookup(a4[i])) | 0;
    return sum;
  };
  const r4 = measure(pass4, ADDRS);
  let hits = 0;
  for (let i = 0; i < 65536; i++) if (lpm4.lookup(a4[i]) >= 0) hits++;
  figures.push({
    name: 'lpm ipv4 lookups (1M prefixes)', value: Math.round(r4.rate), unit: 'lookups/s',
    note: `${lpm4.form}, ${(lpm4.bytes / 2 ** 20).toFixed(0)} MiB, build ${build4.toFixed(2)} s, `
      + `${((hits / 65536) * 100).toFixed(0)}% of uniformly random addresses match`,
  });
  figures.push({ name: 'lpm ipv4 build (1M prefixes)', value: Number(build4.toFixed(3)), unit: 's' });

  // The interval form, used when a trie would be too large (e.g. a million scattered /32s).
  const iv4 = Lpm4.build(v4.starts, v4.lens, 'intervals');
  const passIv = (): number => {
    let sum = 0;
    for (let i = 0; i < ADDRS; i++) sum = (sum + iv4.lookup(a4[i])) | 0;
    return sum;
  };
  const rIv = measure(passIv, ADDRS);
  figures.push({
    name: 'lpm ipv4 lookups, interval fallback (1M prefixes)', value: Math.round(rIv.rate), unit: 'lookups/s',
    note: `${(iv4.bytes / 2 ** 20).toFixed(0)} MiB`,
  });

  // IPv6: 200,000 prefixes; half the addresses fall inside a random table prefix, half are
  // uniformly random in the same RIR blocks (so most lookups go deep, not to a quick miss).
  const v6 = makeV6Prefixes(200_000);
  t0 = performance.now();
  const lpm6 = Lpm6.build(v6.starts, v6.lens);
  const build6 = (performance.now() - t0) / 1000;
  const a6 = new Uint32Array(ADDRS * 4);
  for (let i = 0; i < ADDRS; i++) {
    const b = i * 4;
    if (i & 1) {
      const e = next() % v6.starts.length;
      const s = v6.starts[e];
      const host = (1n << BigInt(128 - v6.lens[e])) - 1n;
      let rand = 0n;
      for (let k = 0; k < 4; k++) rand = (rand << 32n) | BigInt(next());
      const a = s | (rand & host);
      a6[b] = Number(a >> 96n); a6[b + 1] = Number((a >> 64n) & 0xffffffffn);
      a6[b + 2] = Number((a >> 32n) & 0xffffffffn); a6[b + 3] = Number(a & 0xffffffffn);
    } else {
      a6[b] = ((V6_BLOCKS[next() % V6_BLOCKS.length] << 16) | (next() & 0xffff)) >>> 0;
      a6[b + 1] = next(); a6[b + 2] = next(); a6[b + 3] = next();
    }
  }
  const pass6 = (): number => {
    let sum = 0;
    for (let i = 0; i < ADDRS; i++) {
      const b = i << 2;
      sum = (sum + lpm6.lookupWords(a6[b], a6[b + 1], a6[b + 2], a6[b + 3])) | 0;
    }
    return sum;
  };
  const r6 = measure(pass6, ADDRS);
  figures.push({
    name: 'lpm ipv6 lookups (200k prefixes)', value: Math.round(r6.rate), unit: 'lookups/s',
    note: `intervals, ${(lpm6.bytes / 2 ** 20).toFixed(0)} MiB, build ${build6.toFixed(2)} s; `
      + 'half the addresses inside a table prefix, half random in the same RIR blocks',
  });
  figures.push({ name: 'lpm ipv6 build (200k prefixes)', value: Number(build6.toFixed(3)), unit: 's' });
  lastChecksum = r4.check ^ r6.check ^ rIv.check;
  return figures;
}
