/**
 * asymmetric-return: a peer's traffic arrives on one NIC; the reply route leaves by another.
 * Clouds drop a packet whose source address is not the sending NIC's (source check), and so does
 * strict rp_filter on the path.
 */
import { evidenceOf, findingKey, uniqueEvidence, type Finding } from '../model/finding.js';
import { kernelSignals } from '../simulate/kernel-signals.js';
import { routeQuestion } from '../simulate/route-get.js';
import { gatewayOfRoutedNetwork } from './datapath/router.js';
import { routeFor, routesItsOwnSubnet } from './routing.js';
import type { Check } from './types.js';
import { interfaceByName, peerLabel, sourceTableFix, uplinkAddresses } from './view.js';

const ID = 'asymmetric-return';

export const asymmetricReturn: Check = {
  id: ID,
  title: "Replies to a peer leave through another NIC than the peer's traffic arrived on",
  severity: 'error',
  explain: `On a host with several NICs, a peer that talks to the second NIC's address sends its
packets in through that NIC; the reply is routed by destination and, without source-based
routing, follows the main table out of the first NIC with the second NIC's address as its
source. Cloud networks drop such packets (the NIC's source check), and so does a router with
strict rp_filter. The peer sees a timeout.

A peer on the NIC's own subnet is answered through that NIC (its on-link route), and a router's
own LAN side is not such a NIC: when the host forwards IPv4, holds the first or last host
address of the NIC's subnet (where the LAN's gateway sits; clouds keep those addresses for their
own router, so an ENI never has them) and no route names another gateway in that subnet, peers
off the subnet reach that address only through the host's other NICs, and the reply goes back
the same way (a NAT gateway's eth1 10.0.1.1/24).

Fix: give the NIC its own route table and a rule for its address:
  ip route add default via <gateway> dev eth1 table <N>
  ip rule add from <eth1 address>/32 lookup <N>`,
  families: {
    host(ctx) {
      const s = ctx.snapshot;
      const out: Finding[] = [];
      for (const family of [4, 6] as const) {
        // A router's routed networks sit behind it: its address there is their gateway, not a second NIC's.
        const local = uplinkAddresses(s, family).filter((l) => !gatewayOfRoutedNetwork(ctx, l.iface.name, l.address));
        if (new Set(local.map((l) => l.iface.name)).size < 2) continue;
        for (const peer of ctx.peers) {
          if ((peer.address.includes(':') ? 6 : 4) !== family) continue;
          for (const { iface, address, ip } of local) {
            // The host routes this subnet itself (a NAT gateway's LAN side): off-subnet peers come in by the reply's way.
            if (routesItsOwnSubnet(s, iface, address)) continue;
            const r = routeFor(s, { dst: peer.address, src: ip });
            if (r.type !== 'unicast' || !r.dev || r.dev === iface.name) continue;
            // A peer on-link on the reply's interface sends everything in through that interface.
            if (!r.via) continue;
            const out2 = interfaceByName(s, r.dev);
            if (!out2?.uplink) continue; // a bridge is route-captures-peer's finding
            const subject = `${ip} ${iface.name}>${r.dev} ${peer.address}`;
            out.push({
              check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
              summary: `replies from ${ip} (${iface.name}) to ${peerLabel(peer)} leave through ${r.dev}: asymmetric return`,
              evidence: uniqueEvidence([...evidenceOf(address.origin), ...(r.rule && r.rule.priority !== 32766 ? evidenceOf(r.rule.origin) : []), ...evidenceOf(r.route?.origin)]),
              why: `Traffic from ${peer.address} to ${ip} arrives on ${iface.name}; the reply's lookup (ip route get ${peer.address} from ${ip}) picks ${r.route?.dst ?? 'a route'} dev ${r.dev}. It leaves ${r.dev} with source ${ip}, which the network drops (cloud source check, strict rp_filter).`,
              fix: sourceTableFix(s, iface, ip, `replies from ${ip} leave by ${iface.name}`),
              peers: [peer.address],
              queries: [routeQuestion({ dst: peer.address, src: ip }, r)],
              // The network drops it (cloud source check, a router's rp_filter): nothing moves here.
              signals: kernelSignals({ cause: 'dropped-elsewhere' }),
            });
          }
        }
      }
      return out;
    },
  },
};
