/**
 * Every parser is linear in input size and in nesting depth. A host's own files (swanctl.conf,
 * daemon.json) and a million-route table reach the one-shot and the agent, so a quadratic step is
 * a stall. Each input is parsed at 10x and 100x its size and the time ratio is bounded (linear
 * is 10; quadratic would be 100). Times are the best of several runs, and only ratios are asserted.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsers } from '../../parsers/index.js';
import { goldenCases } from '../../scripts/golden-cases.js';
import { repoRoot } from '../helpers/samples.js';

/** 10x the input may take at most this many times as long (linear: 10, and GC noise on a loaded machine reaches ~40; quadratic: 100). */
const MAX_RATIO = 50;
/** The 10x input is at least this big, so its time is well above the timer's noise. */
const BASE_BYTES = 200_000;

function bestMs(run: () => void, tries = 3): number {
  let best = Infinity;
  for (let i = 0; i < tries; i++) {
    const t0 = performance.now();
    run();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** t(100x) / t(10x) for `unit` repeated; the 10x input is grown to BASE_BYTES first. */
function ratio(format: string, unit: string): { ratio: number; ms: [number, number] } {
  const base = unit.repeat(Math.max(1, Math.ceil(BASE_BYTES / Math.max(1, unit.length))));
  const small = base;
  const large = base.repeat(10);
  const parse = parsers[format].parse;
  parse(small); // warm up the JIT on this shape
  const a = Math.max(bestMs(() => parse(small)), 0.5);
  const b = bestMs(() => parse(large));
  return { ratio: b / a, ms: [a, b] };
}

/** Inputs that nest: braces, brackets, parentheses and quotes, open and never closed or closed late. */
const NESTING = ['a { ', '{"a":', '[[', '(', 'x = {\n', '"', 'a {\n} '];

describe('parsers stay linear', () => {
  for (const format of Object.keys(parsers).sort()) {
    const inputs = goldenCases(join(repoRoot, 'fixtures', format)).map((c) => readFileSync(c.input, 'utf8'));
    it(`${format}: its fixtures repeated 10x and 100x`, () => {
      const unit = inputs.join('\n');
      const r = ratio(format, unit.endsWith('\n') ? unit : `${unit}\n`);
      expect(r.ratio, `${format}: ${r.ms[0].toFixed(1)} ms -> ${r.ms[1].toFixed(1)} ms`).toBeLessThan(MAX_RATIO);
    });
    it(`${format}: deep nesting on one line and over many lines`, () => {
      for (const unit of NESTING) {
        const r = ratio(format, unit);
        expect(r.ratio, `${format} ${JSON.stringify(unit)}: ${r.ms[0].toFixed(1)} ms -> ${r.ms[1].toFixed(1)} ms`).toBeLessThan(MAX_RATIO);
      }
    });
  }
});
