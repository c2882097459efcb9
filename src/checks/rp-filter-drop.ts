/**
 * rp-filter-drop: effective rp_filter (max of `all` and the interface) is strict on an interface
 * whose reverse route for a peer leaves elsewhere — the second-NIC failure; or loose with no
 * route back at all.
 */
import { kernelSignals } from '../simulate/kernel-signals.js';
import { routeQuestion, rpFilterQuestion } from '../simulate/route-get.js';
import { effectiveRpFilter } from '../simulate/rp-filter.js';
import { evidenceOf, findingKey, uniqueEvidence, type Finding } from '../model/finding.js';
import type { Peer } from '../model/config.js';
import { gatewayOfRoutedNetwork } from './datapath/router.js';
import { routeFor } from './routing.js';
import type { Check } from './types.js';
import type { HostSnapshot, InterfaceModel } from '../model/snapshot.js';
import { firstHost, peerLabel, sourceTableFix, sysctls, uplinkAddresses } from './view.js';

const ID = 'rp-filter-drop';

/** Source-based routing when the NIC's own gateway is known (it fixes the return path too), else loose mode. */
function strictFix(s: HostSnapshot, iface: InterfaceModel, ip: string, peer: string): string[] {
  const loose = `sysctl -w net.ipv4.conf.${iface.name}.rp_filter=2`;
  return [
    ...sourceTableFix(s, iface, ip, `the route back to ${peer} now leaves by ${iface.name}`),
    `# or, keeping the asymmetric path: ${loose} (loose mode; persist in /etc/sysctl.d/)`,
  ];
}

export const rpFilterDrop: Check = {
  id: ID,
  title: 'Reverse-path filtering drops a peer’s packets',
  severity: 'error',
  explain: `With rp_filter=1 (strict) the kernel drops a packet unless the route back to its source
leaves through the interface it arrived on; with 2 (loose) it drops it only when there is no
route back at all. The effective value is the larger of net.ipv4.conf.all.rp_filter and the
interface's own. On a second NIC without source-based routing, the route back to a peer leaves
by eth0, so strict mode silently drops everything the peer sends to eth1 (no ICMP, no log).

Fix: loose mode on that interface (sysctl -w net.ipv4.conf.<if>.rp_filter=2, persisted in
/etc/sysctl.d/), or source-based routing so the route back leaves by the same NIC.`,
  families: {
    host(ctx) {
      const s = ctx.snapshot;
      const records = sysctls(s);
      if (records.length === 0) return [];
      const sources: (Peer & { subject?: string })[] = [...ctx.peers.filter((p) => !p.address.includes(':'))];
      for (const r of ctx.remotes) {
        const h = firstHost(r);
        if (h && !h.includes(':')) sources.push({ address: h, name: `remote ${r}`, subject: r });
      }
      const out: Finding[] = [];
      for (const { iface, ip, address } of uplinkAddresses(s, 4)) {
        // Peers do not reach a router's LAN-side address from outside: forward-blocked walks that path.
        if (gatewayOfRoutedNetwork(ctx, iface.name, address)) continue;
        const mode = effectiveRpFilter(records, iface.name);
        if (!mode) continue;
        const lines = records.filter((x) => x.family === 4 && x.name === 'rp_filter' && (x.device === 'all' || x.device === iface.name));
        for (const peer of sources) {
          // fib_validate_source: the route from this address back to the packet's source.
          const r = routeFor(s, { dst: peer.address, src: ip });
          const back = r.type === 'unicast' || r.type === 'local' ? r.dev : undefined;
          const dropped = mode === 1 ? back !== iface.name : back === undefined;
          if (!dropped) continue;
          const subject = `${iface.name} ${peer.subject ?? peer.address}`;
          out.push({
            check: ID, severity: 'error', host: ctx.host, subject, key: findingKey(ID, ctx.host, subject),
            summary: `rp_filter=${mode} (${mode === 1 ? 'strict' : 'loose'}) on ${iface.name} drops packets from ${peerLabel(peer)}: the route back ${back ? `leaves by ${back}` : 'does not exist'}`,
            evidence: uniqueEvidence([...lines.flatMap((l) => evidenceOf(l.origin)), ...evidenceOf(r.route?.origin ?? (r.type !== 'unicast' ? r.rule?.origin : undefined))]),
            why: `A packet from ${peer.address} to ${ip} arrives on ${iface.name}. The kernel checks the reverse path (ip route get ${peer.address} from ${ip}): ${back ? `it leaves by ${back}, not ${iface.name}` : `there is no usable route (${r.type})`}, so with effective rp_filter ${mode} the packet is dropped before any firewall rule or socket sees it.`,
            fix: mode === 1 ? strictFix(s, iface, ip, peer.address) : [`# add a route back to ${peer.address}`],
            peers: ctx.peers.some((p) => p.address === peer.address) ? [peer.address] : undefined,
          // The reverse route, and the packet itself as the kernel's input path sees it.
          queries: [routeQuestion({ dst: peer.address, src: ip }, r), rpFilterQuestion(ip, peer.address, iface.name, true)],
          signals: kernelSignals({ cause: 'rp-filter' }),
          });
        }
      }
      return out;
    },
  },
};
