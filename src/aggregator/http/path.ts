/**
 * `GET /api/path?from=HOST&to=HOST|IP[&port=icmp|tcp/N|udp/N][&source=IP]`: the path tracer
 * (src/simulate/path.ts) over the fleet's current snapshots. A host name as `to` means its
 * first uplink address (or, with a topology, a topology host's first address). With `serve --topology`
 * the topology's cloud nodes (VPN gateways, VPC routers) are on the path; without one a packet
 * that leaves every reporting host is "left" at that hop.
 */
import type { HostSnapshot } from '../../model/snapshot.js';
import type { Topology } from '../../model/topology.js';
import { parseAddress } from '../../net/address.js';
import { PathQueryError, tracePath, type PathResult } from '../../simulate/path.js';

/** What the path route needs from the aggregator. */
export interface PathFleet {
  hosts(): Iterable<string>;
  snapshot(host: string): HostSnapshot | undefined;
  addressesOf(host: string): { address: string }[];
}

export interface PathAnswer extends PathResult {
  /** The host `to` named or holds, when one does. */
  toHost?: string;
}

/** Answer a path query; throws PathQueryError for a question that cannot be answered. */
export function fleetPath(fleet: PathFleet, params: URLSearchParams, topology?: Topology): PathAnswer {
  const from = params.get('from') ?? '';
  const toParam = params.get('to') ?? '';
  if (!from || !toParam) throw new PathQueryError('give from (a host) and to (a host or an address)');
  const snapshots: HostSnapshot[] = [];
  for (const h of fleet.hosts()) {
    const s = fleet.snapshot(h);
    if (s) snapshots.push(s);
  }
  let to = toParam;
  let toHost: string | undefined;
  if (!parseAddress(toParam)) {
    const address = fleet.addressesOf(toParam)[0]?.address ?? topology?.hosts.find((h) => h.name === toParam)?.addresses[0];
    if (!address) throw new PathQueryError(`"${toParam}" is neither an address nor a host with an uplink address${topology ? ' nor a host of the topology' : ''}`);
    to = address;
    toHost = toParam;
  } else {
    toHost = snapshots.find((s) => s.interfaces.some((i) => i.addresses.some((a) => a.cidr.split('/')[0] === toParam)))?.identity.name;
  }
  const ttl = params.get('ttl');
  const result = tracePath(snapshots, topology, {
    from, to, port: params.get('port') || undefined, source: params.get('source') || undefined,
    ttl: ttl && /^\d{1,3}$/.test(ttl) ? Number(ttl) : undefined,
  });
  return { ...result, ...(toHost ? { toHost } : {}) };
}
