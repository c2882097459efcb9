/**
 * The trace check registry: keys are check ids, equal to the file names in this folder. These
 * read a traceroute, not a host snapshot, so they live apart from src/checks (docs/trace.md).
 */
import { tracerouteLoop } from './traceroute-loop.js';
import { tracerouteStops } from './traceroute-stops.js';
import { tracerouteUnreachable } from './traceroute-unreachable.js';
import type { TraceCheck } from './types.js';

export const traceChecks: Record<string, TraceCheck> = {
  'traceroute-loop': tracerouteLoop,
  'traceroute-stops': tracerouteStops,
  'traceroute-unreachable': tracerouteUnreachable,
};
