/** Typed views of a snapshot's slots, and small questions checks share (addresses, uplinks, peers). */
import type { DockerDaemonConfig } from '../model/docker.js';
import type { DockerNetworkRecord } from '../model/docker.js';
import type { SysctlRecord } from '../model/sysctl.js';
import type { Peer } from '../model/config.js';
import { memo, memoKey } from '../model/memo.js';
import type { AddressRecord, RouteRecord } from '../model/records.js';
import type { HostSnapshot, InterfaceModel } from '../model/snapshot.js';
import { formatIPv4, formatIPv6, formatPrefix, maskV4, maskV6, parseAddress, parsePrefix, type Prefix } from '../net/address.js';

export const dockerDaemon = (s: HostSnapshot): DockerDaemonConfig | undefined => s.docker.daemon;
export const dockerNetworks = (s: HostSnapshot): DockerNetworkRecord[] => s.docker.networks;
export const sysctls = (s: HostSnapshot): SysctlRecord[] => s.sysctls;

/** A peer's display: "ecs1 172.17.0.64" or the address alone. */
export function peerLabel(p: Peer): string {
  return p.name ? `${p.name} ${p.address}` : p.address;
}

export function interfaceByName(s: HostSnapshot, name: string | undefined): InterfaceModel | undefined {
  return name === undefined ? undefined : s.interfaces.find((i) => i.name === name);
}

/** Global-scope addresses of uplink interfaces, with their interface. */
export function uplinkAddresses(s: HostSnapshot, family: 4 | 6 = 4): { iface: InterfaceModel; address: AddressRecord; ip: string }[] {
  const out: { iface: InterfaceModel; address: AddressRecord; ip: string }[] = [];
  for (const iface of s.interfaces) {
    if (!iface.uplink) continue;
    for (const a of iface.addresses) {
      if (a.family !== family || (a.scope && a.scope !== 'global')) continue;
      out.push({ iface, address: a, ip: a.cidr.split('/')[0] });
    }
  }
  return out;
}

/** The interface's own network prefix of an address record ("172.17.0.1/16" → 172.17.0.0/16). */
export function networkOf(a: AddressRecord): Prefix | null {
  const p = parsePrefix(a.cidr, a.family, true);
  return p ? maskPrefix(p) : null;
}

export function maskPrefix(p: Prefix): Prefix {
  if (p.family === 4) return { family: 4, value: (p.value & maskV4(p.len)) >>> 0, len: p.len };
  return { family: 6, value: p.value & maskV6(p.len), len: p.len };
}

/** Every peer, and each remote network as its first host (`subject` is the network). */
export function peersAndRemotes(peers: readonly Peer[], remotes: readonly string[]): (Peer & { subject?: string })[] {
  const targets: (Peer & { subject?: string })[] = [...peers];
  for (const r of remotes) {
    const h = firstHost(r);
    if (h) targets.push({ address: h, name: `remote ${r}`, subject: r });
  }
  return targets;
}

/** Representative address of a remote CIDR for lookups: its first host. */
export function firstHost(cidr: string): string | undefined {
  const p = parsePrefix(cidr, cidr.includes(':') ? 6 : 4);
  if (!p) return undefined;
  if (p.family === 4) return formatIPv4(p.len >= 31 ? p.value : p.value + 1);
  return formatIPv6(p.len >= 127 ? p.value : p.value + 1n);
}

export function familyOf(ip: string): 4 | 6 {
  return parseAddress(ip)?.family ?? 4;
}

/** Every unicast default route of a snapshot, found in one pass (a big table is walked once). */
const ALL_DEFAULTS = memoKey<HostSnapshot, RouteRecord[]>('checks: unicast default routes');

/** Main-table default routes of a family. */
export function defaultRoutes(s: HostSnapshot, family: 4 | 6 = 4, table = 'main'): RouteRecord[] {
  const defaults = memo(s, ALL_DEFAULTS, () => {
    const found: RouteRecord[] = [];
    const routes = s.routes;
    for (let i = 0; i < routes.length; i++) if (routes.isDefault(i) && routes.type(i) === 'unicast') found.push(routes.get(i));
    return found;
  });
  const dst = family === 4 ? '0.0.0.0/0' : '::/0';
  return defaults.filter((r) => r.family === family && r.table === table && r.dst === dst);
}

/** The gateway a route on the interface names, if any. */
export function knownGateway(s: HostSnapshot, iface: InterfaceModel): string | undefined {
  const routes = s.routes;
  for (let i = 0; i < routes.length; i++) {
    if (routes.family(i) !== 4) continue;
    const via = routes.via(i);
    if (via && routes.dev(i) === iface.name) return via;
    if (!routes.hasNexthops(i)) continue;
    for (const n of routes.get(i).nexthops) if (n.dev === iface.name && n.via) return n.via;
  }
  return undefined;
}

/**
 * Indices of the routes through an interface of the snapshot that is neither an uplink nor
 * loopback (a bridge, tunnel, ...) by the route's dev or a nexthop's: the candidates of the
 * capture checks, found without making a record of the uplink bulk of a big table.
 */
const NON_UPLINK_ROUTES = memoKey<HostSnapshot, number[]>('checks: routes on non-uplinks');
export function routesOnNonUplinks(s: HostSnapshot): number[] {
  return memo(s, NON_UPLINK_ROUTES, findRoutesOnNonUplinks);
}

function findRoutesOnNonUplinks(s: HostSnapshot): number[] {
  const out: number[] = [];
  const candidate = new Set(s.interfaces.filter((i) => !i.uplink && i.kind !== 'loopback').map((i) => i.name));
  const routes = s.routes;
  for (let i = 0; i < routes.length; i++) {
    const dev = routes.dev(i);
    if (dev !== undefined && candidate.has(dev)) out.push(i);
    else if (routes.hasNexthops(i) && routes.get(i).nexthops.some((n) => n.dev !== undefined && candidate.has(n.dev))) out.push(i);
  }
  return out;
}

/** The subnet's first host: the usual cloud gateway when no route names one (a guess, said as such). */
export function guessedGateway(iface: InterfaceModel): string | undefined {
  const a = iface.addresses.find((x) => x.family === 4 && (!x.scope || x.scope === 'global'));
  const net = a ? networkOf(a) : null;
  return net ? firstHost(formatPrefix(net)) : undefined;
}

/** `ip route add default via GW dev IF table N` steps, with a note when the gateway is guessed. */
export function sourceTableFix(s: HostSnapshot, iface: InterfaceModel, ip: string, note = ''): string[] {
  const known = knownGateway(s, iface);
  const gw = known ?? guessedGateway(iface);
  const table = 100 + (iface.ifindex ?? 0);
  const steps = [
    `ip route add default ${gw ? `via ${gw} ` : ''}dev ${iface.name} table ${table}`,
    `ip rule add from ${ip}/32 lookup ${table} priority 1000${note ? `   # ${note}` : ''}`,
  ];
  if (!known && gw) steps.push(`# ${gw} is a guess (first address of ${iface.name}'s subnet): use the subnet's real gateway if it differs`);
  return steps;
}
