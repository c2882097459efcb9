/**
 * The path a traceroute saw, reduced to what the trace checks reason about: per hop the set of
 * responding addresses, the `!` endings, and the line that proves it. Built from the records
 * of parsers/traceroute.ts (any form it reads) or from the ping fallback.
 */
import type { TracerouteHop, TracerouteRecords } from '../model/traceroute.js';
import type { Evidence } from '../model/finding.js';

export interface PathHop {
  hop: number;
  /** Responders in probe order, deduplicated (address, else the printed name). */
  responders: string[];
  /** `!H`, `!N`, ... with the responder that sent it. */
  endings: { responder: string; annotation: string }[];
  evidence: Evidence;
}

export interface TracePath {
  /** The destination address as the header printed it (or as asked). */
  destination?: string;
  /** The source address the probes left from, when known (`--source`, header `from`, route lookup). */
  source?: string;
  maxHops?: number;
  hops: PathHop[];
  /** True when the destination itself answered (or tracepath said `reached`). */
  reached: boolean;
}

function responderOf(p: { address?: string; name?: string }): string | undefined {
  return p.address ?? p.name;
}

/** One hop of the parser's records as a PathHop; evidence names `source`. */
export function pathHop(h: TracerouteHop, source: string): PathHop {
  const responders: string[] = [];
  const endings: PathHop['endings'] = [];
  for (const p of h.probes) {
    const r = responderOf(p);
    if (r === undefined) continue;
    if (!responders.includes(r)) responders.push(r);
    for (const a of (p.annotation ?? '').split(' ')) if (a.startsWith('!')) endings.push({ responder: r, annotation: a });
  }
  return { hop: h.hop, responders, endings, evidence: { source: h.origin.source ?? source, lineNumber: h.origin.lineNumber, text: h.origin.text } };
}

/** Build the path from a parsed traceroute; `source` overrides the header's `from`. */
export function pathFromTraceroute(result: TracerouteRecords, opts: { source?: string; destination?: string; evidenceSource?: string } = {}): TracePath {
  const evidenceSource = opts.evidenceSource ?? 'traceroute';
  const hops = [...result.records].sort((a, b) => a.hop - b.hop).map((h) => pathHop(h, evidenceSource));
  const destination = opts.destination ?? result.header?.address ?? result.header?.destination;
  const reachedByNote = result.records.some((h) => h.probes.some((p) => p.annotation !== undefined && p.annotation.split(' ').includes('reached')));
  const path: TracePath = { hops, reached: reachedByNote || (destination !== undefined && hops.some((h) => h.responders.includes(destination))) };
  if (destination !== undefined) path.destination = destination;
  const source = opts.source ?? result.header?.source;
  if (source !== undefined) path.source = source;
  if (result.header?.maxHops !== undefined) path.maxHops = result.header.maxHops;
  return path;
}

/** The last hop any probe answered (index into `path.hops`), or -1. */
export function lastAnsweredIndex(path: TracePath): number {
  for (let i = path.hops.length - 1; i >= 0; i--) if (path.hops[i].responders.length > 0) return i;
  return -1;
}
