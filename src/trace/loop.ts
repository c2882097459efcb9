/**
 * Forwarding loops in a traceroute: one address (or a cycle of addresses) that answers hop after
 * hop until the trace ends without reaching the destination. Told apart from one router that
 * answers two consecutive hops because probes took unequal-length ECMP paths: there the address
 * repeats once and the path then moves on (or reaches the destination).
 */
import { lastAnsweredIndex, type PathHop, type TracePath } from './path.js';

export interface TraceLoop {
  /** 1 for one address repeating, 2 for A B A B, ... */
  period: number;
  /** The looping addresses in the order the packet meets them. */
  addresses: string[];
  firstHop: number;
  lastHop: number;
  /** The hops from the loop's start to the last answer (including silent ones in between). */
  hops: PathHop[];
}

/** Longest cycle we look for: loops in practice are between one to a few routers. */
const MAX_PERIOD = 8;

/** Responders per hop number, null for a hop nobody answered (a wildcard when matching). */
function denseHops(path: TracePath): { signature: (string | null)[]; byIndex: (PathHop | undefined)[]; base: number } {
  if (path.hops.length === 0) return { signature: [], byIndex: [], base: 0 };
  const base = path.hops[0].hop;
  const last = path.hops[path.hops.length - 1].hop;
  const signature: (string | null)[] = new Array(last - base + 1).fill(null);
  const byIndex: (PathHop | undefined)[] = new Array(last - base + 1).fill(undefined);
  for (const h of path.hops) {
    byIndex[h.hop - base] = h;
    if (h.responders.length > 0) signature[h.hop - base] = [...h.responders].sort().join(' ');
  }
  return { signature, byIndex, base };
}

/** The loop the trace ends in, if any. */
export function findLoop(path: TracePath): TraceLoop | undefined {
  if (path.reached) return undefined;
  const lastHop = lastAnsweredIndex(path);
  if (lastHop < 0) return undefined;
  const { signature, byIndex, base } = denseHops(path);
  const L = path.hops[lastHop].hop - base;
  const compatible = (i: number, j: number) => j > L || signature[i] === null || signature[j] === null || signature[i] === signature[j];
  for (let p = 1; p <= MAX_PERIOD; p++) {
    let start = L;
    while (start - 1 >= 0 && compatible(start - 1, start - 1 + p)) start--;
    while (signature[start] === null) start++;
    const phases: string[] = [];
    let ok = true;
    for (let k = 0; k < p && ok; k++) {
      let seen = 0;
      let sig: string | null = null;
      for (let i = start + k; i <= L; i += p) if (signature[i] !== null) { seen++; sig = signature[i]; }
      // One address must answer at least three hops; in a longer cycle each at least twice.
      if (sig === null || seen < (p === 1 ? 3 : 2) || phases.includes(sig)) ok = false;
      else phases.push(sig);
    }
    if (!ok) continue;
    const addresses = phases.flatMap((s) => s.split(' '));
    if (path.destination !== undefined && addresses.includes(path.destination)) continue;
    const hops = byIndex.slice(start, L + 1).filter((h): h is PathHop => h !== undefined);
    return { period: p, addresses: [...new Set(addresses)], firstHop: start + base, lastHop: L + base, hops };
  }
  return undefined;
}

/** An address answering two consecutive hops that is not a loop: unequal-length paths (ECMP). */
export interface RepeatedResponder {
  address: string;
  hops: [number, number];
}

/** Consecutive hops sharing a responder, outside the loop (if any): for notes, not findings. */
export function repeatedResponders(path: TracePath, loop?: TraceLoop): RepeatedResponder[] {
  const out: RepeatedResponder[] = [];
  for (let i = 1; i < path.hops.length; i++) {
    const a = path.hops[i - 1];
    const b = path.hops[i];
    if (b.hop !== a.hop + 1) continue;
    if (loop && b.hop >= loop.firstHop && a.hop <= loop.lastHop) continue;
    for (const r of b.responders) if (a.responders.includes(r)) out.push({ address: r, hops: [a.hop, b.hop] });
  }
  return out;
}
