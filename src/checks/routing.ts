/** The simulator, built once per snapshot, and the lookups checks ask of it. */
import type { HostSnapshot, InterfaceModel } from '../model/snapshot.js';
import type { RouteLookupResult } from '../simulate/route-lookup.js';
import { defaultRoutes, interfaceByName } from './view.js';

// One FIB per snapshot, shared with the path tracer and `route get` (src/simulate/snapshot-fib.ts).
export { fibOf, routeFor } from '../simulate/snapshot-fib.js';

/** The uplink peers reach this host through: the main default route's device, else the first uplink. */
export function primaryUplink(s: HostSnapshot, family: 4 | 6 = 4): InterfaceModel | undefined {
  for (const r of defaultRoutes(s, family)) {
    const i = interfaceByName(s, r.dev ?? r.nexthops[0]?.dev);
    if (i?.uplink) return i;
  }
  return s.interfaces.find((i) => i.uplink && i.addresses.some((a) => a.family === family));
}

/** The first global address of a family on an interface. */
export function addressOn(i: InterfaceModel | undefined, family: 4 | 6 = 4): string | undefined {
  const a = i?.addresses.find((x) => x.family === family && (!x.scope || x.scope === 'global') && !x.flags.includes('secondary'));
  return a?.cidr.split('/')[0];
}

/** True when a lookup leaves through a bridge, tunnel or other non-uplink interface. */
export function leavesByNonUplink(s: HostSnapshot, r: RouteLookupResult): InterfaceModel | undefined {
  if (r.type !== 'unicast' || !r.dev) return undefined;
  const i = interfaceByName(s, r.dev);
  return i && !i.uplink && i.kind !== 'loopback' ? i : undefined;
}
