/**
 * route-captures-peer: a bridge or tunnel route wins the lookup for a reply to a peer (or for
 * part of a remote network). One check in two families: on a host (its peers and remotes) and
 * across the fleet (every host's addresses against every other host's bridge routes); both
 * build their findings in finding.ts.
 */
import type { Check } from '../types.js';
import { ID } from './finding.js';
import { capturesInFleet } from './fleet.js';
import { capturesOnHost } from './host.js';

export const routeCapturesPeer: Check = {
  id: ID,
  title: 'A bridge or tunnel route captures traffic for a peer or remote network',
  severity: 'error',
  explain: `A peer's request arrives on the uplink (eth0), but the kernel routes the reply by
destination: when a bridge or tunnel interface (docker0, br-*, cni0, flannel.*, cali*, virbr*,
tun*, wg*) holds a route covering the peer's address, that route wins and the reply leaves into
the bridge. The peer sees a timeout; other peers work; the cloud's configuration is correct.
A NO-CARRIER docker0 with no containers still captures: its route says "linkdown" but stays
usable unless ignore_routes_with_linkdown=1.

On a host it checks every peer (--peer, config, fleet) with the same lookup the kernel makes for
the reply, and every remote network (--remote) for any address a bridge route wins. Without
peers or remotes it reports, as info, the private address space bridges and tunnels hold.

A peer that lives on the bridge (a VM or container on br0, docker0, virbr0) is reached there,
not captured: the bridge has carrier, the kernel has resolved the peer's address on it (a
neighbour entry with a link-layer address, from ip neigh), and the peer is not inside a
--remote network. A peer elsewhere whose replies go into the bridge never answers its ARP
there (FAILED or no entry), and a bridge without ports (NO-CARRIER) holds nobody.

Across the fleet (hostcheck serve, hostcheck path) the aggregator indexes every host's uplink
addresses and every non-uplink route; when host B holds such a route covering host A's address,
B's own route lookup decides whether the reply to A leaves into the bridge. The finding is the
one B's own check gives with A as its peer (same key and text), plus the pair A ↔ B; it is
resolved when either side's report no longer shows the capture.

Fix: move the bridge to an unused range (Docker: "bip" and "default-address-pools" in
/etc/docker/daemon.json), or add a more specific route for the peer through the uplink.`,
  families: { host: capturesOnHost, fleet: capturesInFleet },
};
