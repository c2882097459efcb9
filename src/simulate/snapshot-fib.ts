/** A snapshot's FIB (rules, tables, devices), built once per snapshot and shared by the path tracer, the checks and `route get`. */
import { memo, memoKey } from '../model/memo.js';
import type { HostSnapshot } from '../model/snapshot.js';
import { buildFib, fibContextFrom, lookup, type Fib, type RouteLookupResult, type RouteQuery } from './route-lookup.js';

const FIB = memoKey<HostSnapshot, Fib>('fib');

export function fibOf(s: HostSnapshot): Fib {
  return memo(s, FIB, () => buildFib(s.routes, s.rules, fibContextFrom(s.interfaces, s.sysctls)));
}

/** A lookup with its trace (which rules were tried), for evidence. */
export function routeFor(s: HostSnapshot, q: RouteQuery): RouteLookupResult {
  return lookup(fibOf(s), q, { trace: true });
}
