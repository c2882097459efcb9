/**
 * What `ip route get` answers, as the simulator predicts it, and whether the kernel's answer
 * agrees. Measured on kernel 6.18 (docs/kernel.md): a blackhole route or rule answers
 * "Invalid argument", prohibit "Permission denied", an unreachable route "No route to host",
 * an unreachable rule and a lookup that falls through every rule "Network is unreachable", a
 * packet that fails rp_filter (asked with iif) "Invalid argument".
 */
import type { RouteAnswer, RouteQuery, RouteQuestion } from '../model/kernel.js';
import type { RouteLookupResult } from './route-lookup.js';

export const ROUTE_GET_ERRORS = {
  blackhole: 'Invalid argument',
  prohibit: 'Permission denied',
  unreachableRoute: 'No route to host',
  unreachableRule: 'Network is unreachable',
  none: 'Network is unreachable',
  rpFilter: 'Invalid argument',
} as const;

/** The answer `ip route get` gives for a lookup the simulator made. */
export function routeGetAnswer(r: RouteLookupResult): RouteAnswer {
  switch (r.type) {
    case 'blackhole':
      return { kind: 'error', error: ROUTE_GET_ERRORS.blackhole };
    case 'prohibit':
      return { kind: 'error', error: ROUTE_GET_ERRORS.prohibit };
    case 'unreachable':
      // A route of type unreachable is EHOSTUNREACH; a rule's unreachable action is ENETUNREACH.
      return { kind: 'error', error: r.route ? ROUTE_GET_ERRORS.unreachableRoute : ROUTE_GET_ERRORS.unreachableRule };
    case 'none':
      return { kind: 'error', error: ROUTE_GET_ERRORS.none };
    case 'local':
      return { kind: 'route', type: 'local', nexthops: [{ dev: 'lo' }] };
    default: {
      const hops = r.nexthops && r.nexthops.length > 1 ? r.nexthops.map((n) => ({ dev: n.dev, via: n.via })) : [{ dev: r.dev, via: r.via }];
      return { kind: 'route', type: r.type, nexthops: hops.map((h) => withoutUndefined(h)) };
    }
  }
}

/** A question for a lookup the simulator made (a finding's builder records it). */
export function routeQuestion(query: RouteQuery, r: RouteLookupResult): RouteQuestion {
  return { query: withoutUndefined(query), expect: routeGetAnswer(r) };
}

/**
 * The input-path question rp_filter answers: a packet from `peer` to `local` arriving on `iif`.
 * Dropped by rp_filter: "Invalid argument"; accepted: delivered locally.
 */
export function rpFilterQuestion(local: string, peer: string, iif: string, dropped: boolean): RouteQuestion {
  return {
    query: { dst: local, src: peer, iif },
    expect: dropped ? { kind: 'error', error: ROUTE_GET_ERRORS.rpFilter } : { kind: 'route', type: 'local', nexthops: [{ dev: 'lo' }] },
  };
}

/**
 * True when the kernel's answer is one the simulator allows: the same error, or a route of the
 * same type through one of the predicted nexthops (device and gateway, where both name one).
 */
export function answersAgree(expect: RouteAnswer, kernel: RouteAnswer): boolean {
  if (expect.kind === 'error' || kernel.kind === 'error') return expect.kind === 'error' && kernel.kind === 'error' && expect.error === kernel.error;
  if (expect.type !== kernel.type) return false;
  const k = kernel.nexthops[0] ?? {};
  if (expect.nexthops.length === 0) return true;
  return expect.nexthops.some((n) => (n.dev === undefined || k.dev === undefined || n.dev === k.dev) && (n.via === undefined || k.via === undefined || n.via === k.via));
}

function withoutUndefined<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}
