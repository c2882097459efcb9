/** The trace family: every trace check over one path; findings, notes, and the exit code of `hostcheck trace`. */
import { sortFindings, type Finding } from '../model/finding.js';
import type { Topology } from '../model/topology.js';
import { findLoop, repeatedResponders, type TraceLoop } from '../trace/loop.js';
import type { AddressNamer } from '../trace/names.js';
import type { TracePath } from '../trace/path.js';
import { checksOf } from './index.js';
import type { TraceContext } from './types.js';

export interface TraceAnalysis {
  host: string;
  path: TracePath;
  loop?: TraceLoop;
  findings: Finding[];
  /** What is worth knowing but not a fault (ECMP repeats). */
  notes: string[];
  /** 0 no error finding, 1 errors. */
  exitCode: 0 | 1;
}

export function analyzeTrace(path: TracePath, opts: { names?: AddressNamer; topology?: Topology; host?: string } = {}): TraceAnalysis {
  const loop = findLoop(path);
  const ctx: TraceContext = { host: opts.host ?? path.source ?? 'local', path, names: opts.names ?? (() => undefined), ...(loop && { loop }), ...(opts.topology && { topology: opts.topology }) };
  const findings = sortFindings(checksOf('trace').flatMap((c) => c.families.trace!(ctx)));
  const notes = repeatedResponders(path, loop).map(
    (r) => `${r.address} answers hops ${r.hops[0]} and ${r.hops[1]} but does not keep repeating: probes took equal-cost paths of unequal length (ECMP), not a loop`,
  );
  return { host: ctx.host, path, ...(loop && { loop }), findings, notes, exitCode: findings.some((f) => f.severity === 'error') ? 1 : 0 };
}
