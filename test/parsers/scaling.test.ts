/**
 * Every parser is linear in input size and in nesting depth. A host's own files (swanctl.conf,
 * daemon.json) and a million-route table reach the one-shot and the agent, so a quadratic step is
 * a stall. Each input is parsed at 1x (20 KB) and 100x, and the ratio of CPU times is bounded
 * (linear is 100; quadratic would be 10,000). Times are this process's CPU time, best of several
 * runs, so a loaded machine does not fail the test; only ratios are asserted.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsers } from '../../parsers/index.js';
import { goldenCases } from '../../scripts/golden-cases.js';
import { repoRoot } from '../helpers/samples.js';

/**
 * 100x the input may take at most this many times as long: linear is 100, and garbage collection
 * on a big input adds a few times that; quadratic would be 10,000.
 */
const MAX_RATIO = 1000;
/** The 1x input's size; the 100x input is 2 MB. */
const BASE_BYTES = 20_000;

/** CPU time of this process (user + system), so other processes on the machine do not count. */
function cpuMs(run: () => void): number {
  const t0 = process.cpuUsage();
  run();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1000;
}

function bestMs(run: () => void, tries: number): number {
  let best = Infinity;
  for (let i = 0; i < tries; i++) best = Math.min(best, cpuMs(run));
  return best;
}

/** t(100x) / t(1x) for `unit` repeated to BASE_BYTES (1x); t(1x) counts at least 0.5 ms. */
function ratio(format: string, unit: string): { ratio: number; ms: [number, number] } {
  const parse = parsers[format].parse;
  const base = unit.repeat(Math.max(1, Math.ceil(BASE_BYTES / Math.max(1, unit.length))));
  const large = base.repeat(100);
  parse(base); // warm up the JIT on this shape
  const a = Math.max(bestMs(() => parse(base), 5), 0.5);
  const b = bestMs(() => parse(large), 2);
  return { ratio: b / a, ms: [a, b] };
}

/** Inputs that nest: braces, brackets, parentheses and quotes, open and never closed or closed late. */
const NESTING = ['a { ', '{"a":', '[[', '(', 'x = {\n', '"', 'a {\n} '];

describe('parsers stay linear', () => {
  for (const format of Object.keys(parsers).sort()) {
    const inputs = goldenCases(join(repoRoot, 'fixtures', format)).map((c) => readFileSync(c.input, 'utf8'));
    it(`${format}: its fixtures repeated, 1x and 100x`, () => {
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
