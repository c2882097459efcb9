/** The simulator, built once per snapshot, and the lookups checks ask of it. */
import type { AddressRecord } from '../model/records.js';
import type { HostSnapshot, InterfaceModel } from '../model/snapshot.js';
import { parseAddress, prefixContains } from '../net/address.js';
import type { RouteLookupResult } from '../simulate/route-lookup.js';
import { defaultRoutes, interfaceByName, networkOf, sysctls } from './view.js';

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

/** net.ipv4.ip_forward, or net.ipv4.conf.DEV.forwarding: the last value read; undefined when not collected. */
function ipv4Forwarding(s: HostSnapshot, dev?: string): string | undefined {
  const records = sysctls(s);
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i];
    if (dev === undefined ? r.key === 'net.ipv4.ip_forward' : r.family === 4 && r.section === 'conf' && r.device === dev && r.name === 'forwarding') return r.value.trim();
  }
  return undefined;
}

/**
 * True when the host is the router of `address`'s subnet on `iface`: it forwards IPv4 (on that
 * interface too), holds the subnet's first or last host address there (where a LAN's gateway
 * sits; clouds keep those for their own router, so an ENI never has them), and no route names
 * another gateway in that subnet. A peer off the subnet then reaches `address` only through the
 * host's other interfaces, and the reply follows the routes back the same way: a NAT gateway's
 * LAN side is not a second NIC whose replies leave by the wrong one.
 */
export function routesItsOwnSubnet(s: HostSnapshot, iface: InterfaceModel, address: AddressRecord): boolean {
  if (address.family !== 4 || ipv4Forwarding(s) !== '1' || ipv4Forwarding(s, iface.name) === '0') return false;
  const net = networkOf(address);
  const own = parseAddress(address.cidr.split('/')[0]);
  if (!net || net.family !== 4 || net.len > 30 || !own || own.family !== 4) return false;
  const size = 2 ** (32 - net.len);
  if (own.value !== net.value + 1 && own.value !== net.value + size - 2) return false;
  const routes = s.routes;
  for (let i = 0; i < routes.length; i++) {
    if (routes.family(i) !== 4) continue;
    const vias = routes.hasNexthops(i) ? routes.get(i).nexthops.map((n) => n.via) : [routes.via(i)];
    for (const via of vias) {
      const gw = via === undefined ? null : parseAddress(via);
      if (gw && gw.family === 4 && gw.value !== own.value && prefixContains(net, gw)) return false;
    }
  }
  return true;
}
