/**
 * What a host is checked against when it is part of a fleet: the other hosts' addresses (its
 * peers) and the other VPCs' CIDRs (its remotes). The aggregator sends this to every agent as its
 * context; a fleet check that runs a host check on a fleet host gives it the same, so the finding
 * reads the same from the agent and from the fleet.
 */
import type { Peer } from '../model/config.js';
import type { FleetContext, PeerContext, PeerMtu } from '../model/protocol.js';
import type { FleetView, IndexedAddress } from './types.js';

/** Up to this many hosts every host gets every other host as a peer; above, only those its routes cover. */
export const CONTEXT_PEERS_LIMIT = 1000;
/** Addresses per peer a context lists. */
const ADDRESSES_PER_PEER = 64;
const REMOTES_MAX = 10_000;

/** The names a host is checked against: every other host of a small fleet, else those inside its bridge and tunnel routes. */
export function contextNames(fleet: FleetView, host: string, limit = CONTEXT_PEERS_LIMIT): Set<string> {
  const names = new Set<string>();
  if (fleet.size <= limit) for (const h of fleet.hosts()) names.add(h);
  else for (const r of fleet.routesOf(host)) for (const a of fleet.addressesIn(r.prefix)) names.add(a.host);
  names.delete(host);
  return names;
}

/** The peers (sorted by name) and remotes of `host` for the given names, as the agent's context carries them. */
export function contextFor(fleet: FleetView, host: string, names: Iterable<string>): Pick<FleetContext, 'peers' | 'remotes'> {
  const own = new Set(fleet.vpcOf(host));
  const remotes = new Set<string>();
  const peers: FleetContext['peers'] = [];
  for (const name of [...names].filter((n) => n !== host).sort()) {
    const indexed = fleet.addressesOf(name).slice(0, ADDRESSES_PER_PEER);
    const addresses = indexed.map((a) => a.address);
    const vpcs = fleet.vpcOf(name);
    for (const c of vpcs) if (!own.has(c)) remotes.add(c);
    const mtus = peerMtus(indexed);
    if (addresses.length) peers.push({ name, addresses, ...(vpcs[0] ? { vpc: vpcs[0] } : {}), ...(mtus.length > 0 && { mtus }) });
  }
  return { peers, remotes: [...remotes].sort().slice(0, REMOTES_MAX) };
}

/** The MTU of the device each address is on, as the host reported it (its route's mtu is the host's own business). */
export function peerMtus(addresses: readonly IndexedAddress[]): PeerMtu[] {
  const out: PeerMtu[] = [];
  for (const a of addresses) if (a.mtu !== undefined) out.push({ address: a.address, dev: a.iface, mtu: a.mtu });
  return out;
}

/** A peer of the context as a host check's peer: its name, and the MTU it reported for the address. */
export function peerOfContext(p: PeerContext, address: string): Peer {
  const m = p.mtus?.find((x) => x.address === address);
  return { address, name: p.name, ...(m !== undefined && { reportedMtu: { mtu: m.mtu, dev: m.dev } }) };
}

/** The context as a host check's peers and remotes (what the agent makes of it, without its config). */
export function contextPeers(context: Pick<FleetContext, 'peers' | 'remotes'>, ownAddresses: ReadonlySet<string>): { peers: Peer[]; remotes: string[] } {
  const peers = new Map<string, Peer>();
  for (const p of context.peers) for (const address of p.addresses) if (!ownAddresses.has(address)) peers.set(address, peerOfContext(p, address));
  return { peers: [...peers.values()], remotes: [...context.remotes] };
}
