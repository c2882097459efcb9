/**
 * The one store of derived data (src/model/memo.ts): built once per owner and key, and the only
 * cache of its kind in src/ — a second WeakMap or a second FIB builder would build a snapshot's
 * data twice.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fibOf as checksFibOf } from '../../src/checks/routing.js';
import { memo, memoKey } from '../../src/model/memo.js';
import { fibOf } from '../../src/simulate/snapshot-fib.js';
import { tracePath } from '../../src/simulate/path.js';
import { repoRoot } from '../helpers/samples.js';
import { tinySnapshot } from '../helpers/aggregator-client.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

describe('memo', () => {
  it('builds a value once per owner and key, and again for another owner or key', () => {
    const a = memoKey<{ n: number }, number[]>('test: a');
    const b = memoKey<{ n: number }, number[]>('test: b');
    const none = memoKey<object, undefined>('test: undefined');
    let builds = 0;
    const build = (o: { n: number }) => (builds++, [o.n]);
    const x = { n: 1 };
    const y = { n: 2 };
    const first = memo(x, a, build);
    expect(memo(x, a, build)).toBe(first);
    expect(builds).toBe(1);
    expect(memo(x, b, build)).not.toBe(first);
    expect(memo(y, a, build)).toEqual([2]);
    expect(builds).toBe(3);
    let undefinedBuilds = 0;
    memo(x, none, () => void undefinedBuilds++);
    memo(x, none, () => void undefinedBuilds++);
    expect(undefinedBuilds).toBe(1);
  });

  it('refuses a key name declared twice', () => {
    memoKey('test: twice');
    expect(() => memoKey('test: twice')).toThrow(/declared twice/);
  });

  it('gives the checks, the path tracer and route get one FIB per snapshot', () => {
    const s = tinySnapshot('h1', '10.0.0.5');
    expect(checksFibOf).toBe(fibOf);
    const fib = fibOf(s);
    tracePath([s], undefined, { from: 'h1', to: '10.0.0.5' });
    expect(fibOf(s)).toBe(fib);
  });

  it('is the only per-object cache in src/ and parsers/, and snapshot-fib.ts the only FIB builder', () => {
    const files = [...sources(join(repoRoot, 'src')), ...sources(join(repoRoot, 'parsers'))];
    const weakMaps = files.filter((f) => /new WeakMap\b/.test(readFileSync(f, 'utf8'))).map((f) => relative(repoRoot, f));
    expect(weakMaps).toEqual(['src/model/memo.ts']);
    const fibBuilders = files.filter((f) => /\bbuildFib\(/.test(readFileSync(f, 'utf8'))).map((f) => relative(repoRoot, f)).sort();
    expect(fibBuilders).toEqual(['src/simulate/route-lookup.ts', 'src/simulate/snapshot-fib.ts']);
  });
});
