/**
 * V8 settings for the resident agent (docs/agent.md, "Memory"): a daemon that checks a typical
 * host every few minutes needs neither the compilers above the interpreter (TurboFan's code pages
 * and compile buffers cost ~6 MB of RSS, Sparkplug ~1 MB) nor a young generation grown to 16 MB
 * by startup's garbage, nor the bytecode of functions it ran once (start-up, the command line):
 * flushed at the first full collection they were not run before, not the fifth. A host with a
 * big route table turns the compilers back on: its checks parse 3× faster with them.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Set by bin/hostcheck for `agent` before the CLI's modules load (their loading is hot code too). */
export const IDLE_V8_FLAGS = ['--no-opt', '--no-sparkplug', '--semi-space-growth-factor=1', '--bytecode-old-age=1'] as const;

/** Above this many routes a check is worth optimized code (1,000,000 routes: parse 6 s → 2 s). */
export const OPTIMIZE_ABOVE_ROUTES = 50_000;

/**
 * True unless tuneForIdle ran: an Agent embedded elsewhere (tests) leaves V8 alone. Kept on
 * globalThis, shared by every copy of this module in the process: bin/hostcheck tunes through
 * build/ before the CLI loads, and the agent then runs from dist/esm's bundle, whose copy, with a
 * flag of its own, never saw tuneForIdle (so a big host's check never turned the compilers back on).
 */
const tuning = ((globalThis as Record<symbol, unknown>)[Symbol.for('hostcheck.v8-tuning')] ??= { optimizing: true }) as { optimizing: boolean };

export function tuneForIdle(): void {
  for (const flag of IDLE_V8_FLAGS) setFlagsFromString(flag);
  tuning.optimizing = false;
}

/** After a check: turn the compilers back on for good once the host has a big table. True if it did. */
export function optimizeForRoutes(routes: number): boolean {
  if (tuning.optimizing || routes <= OPTIMIZE_ABOVE_ROUTES) return false;
  setFlagsFromString('--opt');
  setFlagsFromString('--sparkplug');
  tuning.optimizing = true;
  return true;
}

/** A check whose dumps hold more characters than this collects its garbage between steps (~50,000 routes or ~10,000 rules with nft -j). */
export const COLLECT_ABOVE_CHARACTERS = 8_000_000;

let fullGc: (() => void) | undefined;

/**
 * A full garbage collection now. On a big host each step of a check (the snapshot's parse, the
 * analysis, the report's sections, the outbox) leaves tens of MB of garbage that V8 collects only
 * once the heap has grown past it; collected after each big dump's parse and between the steps, the agent's peak is its live set
 * plus one step's garbage, not plus several (docs/benchmarks.md, big-host). A few hundred ms a
 * check, on such hosts only.
 */
export function collectGarbage(): void {
  if (!fullGc) {
    setFlagsFromString('--expose-gc');
    fullGc = runInNewContext('gc') as () => void;
  }
  fullGc();
}

/**
 * The collection at the end of a check: a full one that also moves what is left on fragmented
 * pages so those pages are given back. The check's garbage is scattered over the old generation,
 * and a plain collection keeps every page holding a few live objects until V8's memory reducer
 * compacts them ~8 s later (docs/agent.md, "Memory": 0.8 MB less resident right after a check).
 * Copying what the agent keeps between checks (a few MB) takes a few ms; on a big host the copy
 * raised the peak (~4 MB at 100,000 routes), and there the reducer's delay matters little.
 */
export function collectAfterCheck(): void {
  // A big host (optimizing again) or an agent not tuned for idle: a plain collection.
  if (tuning.optimizing) return collectGarbage();
  setFlagsFromString('--compact-on-every-full-gc');
  try {
    collectGarbage();
  } finally {
    setFlagsFromString('--no-compact-on-every-full-gc');
  }
}
