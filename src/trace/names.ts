/** Who an address on the path is: from the topology file, then from hosts' bundles, then from the aggregator's fleet. */
import type { HostSnapshot } from '../model/snapshot.js';
import { describeAddress, type Topology } from '../model/topology.js';

/** What an address is, as far as the topology file, bundles or the fleet know (undefined: unknown). */
export type AddressNamer = (address: string) => string | undefined;

/** `an address of host ecs3 (eth0)` for every address of every snapshot. */
function snapshotNames(snapshots: readonly HostSnapshot[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const s of snapshots) {
    for (const i of s.interfaces) {
      for (const a of i.addresses) {
        const ip = a.cidr.split('/')[0];
        if (!names.has(ip)) names.set(ip, `an address of host ${s.identity.name} (${i.name})`);
      }
    }
  }
  return names;
}

/** A host of the aggregator's fleet (`GET /api/hosts`): its name and addresses (CIDR or bare). */
export interface FleetHostAddresses {
  name: string;
  addresses: string[];
}

/** `an address of host ecs3 (fleet)` for every address the aggregator knows; bundles' names win. */
function fleetNames(hosts: readonly FleetHostAddresses[], names: Map<string, string>): void {
  for (const h of hosts) {
    for (const a of h.addresses) {
      const ip = a.split('/')[0];
      if (!names.has(ip)) names.set(ip, `an address of host ${h.name} (fleet)`);
    }
  }
}

/** Exact knowledge first (a bundle's interface, a fleet host, a topology device), then the network it is in. */
export function addressNamer(sources: { topology?: Topology; snapshots?: readonly HostSnapshot[]; fleet?: readonly FleetHostAddresses[] }): AddressNamer {
  const fromSnapshots = snapshotNames(sources.snapshots ?? []);
  fleetNames(sources.fleet ?? [], fromSnapshots);
  return (address) => {
    const exact = fromSnapshots.get(address);
    const fromTopology = sources.topology ? describeAddress(sources.topology, address) : undefined;
    // A topology device (VPN gateway) beats a bundle; a bundle's host beats "an address in vSwitch ...".
    if (fromTopology && !fromTopology.startsWith('an address in')) return fromTopology;
    return exact ?? fromTopology;
  };
}
