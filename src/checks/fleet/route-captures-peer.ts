/**
 * route-captures-peer (fleet): host B's bridge or tunnel route covers host A's address, and B's
 * own route lookup for a reply to A really leaves into that bridge. The candidates come from the
 * fleet index (A's addresses inside B's non-uplink routes); the verdict and the finding come from
 * the host check run on B with A as its peer, so key, evidence and fix are the host check's own.
 * First incident: "ecs3's docker0 172.17.0.0/16 captures replies to ecs1 172.17.0.64: ecs1 ↔ ecs3 broken".
 */
import { routeCapturesPeer } from '../route-captures-peer.js';
import type { Peer } from '../../model/config.js';
import type { FleetCheck, FleetCheckContext, FleetFinding, FleetView } from './types.js';

export const ID = 'route-captures-peer';

/** Capturing host → the peers (address and owner) its non-uplink routes cover. */
type Candidates = Map<string, Map<string, string>>;

function addCandidate(out: Candidates, capturer: string, address: string, victim: string): void {
  if (capturer === victim) return;
  let peers = out.get(capturer);
  if (!peers) out.set(capturer, (peers = new Map()));
  peers.set(address, victim);
}

/** Pairs to verify: every capture route of `host` against others' addresses, and the reverse. */
function candidates(fleet: FleetView, host: string | undefined): Candidates {
  const out: Candidates = new Map();
  const capturers = host === undefined ? fleet.hosts() : [host];
  for (const c of capturers) {
    for (const r of fleet.routesOf(c)) {
      for (const a of fleet.addressesIn(r.prefix)) addCandidate(out, c, a.address, a.host);
    }
  }
  if (host !== undefined) {
    for (const a of fleet.addressesOf(host)) {
      for (const r of fleet.routesContaining(a.address)) addCandidate(out, r.host, a.address, host);
    }
  }
  return out;
}

/** Run the host check on the capturer with the candidate victims as its peers; keep real captures. */
function verify(fleet: FleetView, capturer: string, victims: Map<string, string>): FleetFinding[] {
  const snapshot = fleet.snapshot(capturer);
  if (!snapshot) return [];
  const peers: Peer[] = [...victims].map(([address, name]) => ({ address, name }));
  const out: FleetFinding[] = [];
  for (const f of routeCapturesPeer.run({ host: capturer, snapshot, peers, remotes: [], ports: [] })) {
    const address = f.peers?.[0] ?? '';
    const victim = victims.get(address);
    if (f.severity !== 'error' || victim === undefined || !f.subject.endsWith(` captures ${address}`)) continue;
    const [iface, dst] = f.subject.split(' ');
    out.push({
      ...f,
      summary: `${capturer}'s ${iface} ${dst} captures replies to ${victim} ${address}: ${victim} ↔ ${capturer} broken`,
      peers: [address, victim],
      pair: [victim, capturer],
    });
  }
  return out;
}

export const routeCapturesPeerFleet: FleetCheck = {
  id: ID,
  title: "A host's bridge or tunnel route captures replies to another host of the fleet",
  severity: 'error',
  explain: `The fleet form of route-captures-peer. The aggregator indexes every host's uplink
addresses and every non-uplink route (docker0, br-*, cni0, virbr*, tun*, ...). When host B
holds such a route covering host A's address, it asks B's own route lookup (rules, tables,
longest prefix) what happens to a reply to A. When the reply leaves into the bridge, A ↔ B is
broken although the cloud is fine: A's requests reach B, B's replies never reach A.

The finding is the host check's finding on B (same key, evidence and fix), with a summary that
names both sides, e.g. "ecs3's docker0 172.17.0.0/16 captures replies to ecs1 172.17.0.64:
ecs1 ↔ ecs3 broken". It is resolved when either side's report no longer shows the capture.

Fix: move the bridge to an unused range (Docker: "bip" and "default-address-pools" in
/etc/docker/daemon.json), or add a more specific route for the peer through the uplink.`,
  run(ctx: FleetCheckContext): FleetFinding[] {
    const out: FleetFinding[] = [];
    for (const [capturer, victims] of candidates(ctx.fleet, ctx.host)) for (const f of verify(ctx.fleet, capturer, victims)) out.push(f);
    return out;
  },
};
