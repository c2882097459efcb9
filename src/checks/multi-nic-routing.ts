/**
 * multi-nic-routing: more than one default route, a secondary NIC without its own table and
 * `from` rule, a default route through a non-uplink interface.
 */
import { evidenceOf, findingKey, type Finding } from '../model/finding.js';
import type { RuleRecord } from '../model/records.js';
import { formatPrefix, parseAddress, parsePrefix, prefixContains } from '../net/address.js';
import { gatewayOfRoutedNetwork } from './datapath/router.js';
import { routesItsOwnSubnet } from './routing.js';
import type { Check, HostContext } from './types.js';
import { defaultRoutes, interfaceByName, networkOf, sourceTableFix, uplinkAddresses } from './view.js';

function finding(ctx: HostContext, severity: Finding['severity'], subject: string, f: Omit<Finding, 'check' | 'severity' | 'host' | 'subject' | 'key'>): Finding {
  return { check: 'multi-nic-routing', severity, host: ctx.host, subject, key: findingKey('multi-nic-routing', ctx.host, subject), ...f };
}

/** A rule that sends traffic from `ip` to a table other than main/local/default. */
function sourceRuleFor(rules: RuleRecord[], ip: string): RuleRecord | undefined {
  const a = parseAddress(ip);
  if (!a) return undefined;
  return rules.find((r) => {
    if (r.not || r.action !== 'lookup' || !r.table || ['main', 'local', 'default', '253', '254', '255'].includes(r.table)) return false;
    const p = parsePrefix(r.from, r.family);
    return !!p && p.len > 0 && prefixContains(p, a);
  });
}

export const multiNicRouting: Check = {
  id: 'multi-nic-routing',
  title: 'Routing of a host with several NICs or default routes',
  severity: 'warning',
  explain: `Cloud instances with a second NIC (ENI) need source-based routing: traffic from the second
NIC's address must leave through that NIC, or the cloud's source check and rp_filter drop it.
Without its own route table and an "ip rule from <address> lookup <table>", replies from the
second address follow the main table's default route out of eth0 (replies to peers on the
NIC's own subnet leave by the NIC: its connected route). Not reported for a router's own LAN
side: a host that forwards IPv4 and holds the first or last host address of that NIC's subnet,
with no route naming another gateway there, is that subnet's gateway (a NAT gateway's eth1),
not an ENI.

It also reports more than one default route in the main table (the kernel uses the lowest
metric, then the first; the other NIC's replies follow it) and a default route through a
bridge or tunnel (everything not more specific leaves through docker0, tun0, ...).

Fix: per NIC, a table with its own default route and a from rule:
  ip route add default via <gateway> dev eth1 table 101
  ip rule add from <eth1 address>/32 lookup 101 priority 1000`,
  families: {
    host(ctx) {
      const s = ctx.snapshot;
      const out: Finding[] = [];
      for (const family of [4, 6] as const) {
        const defaults = defaultRoutes(s, family);
        if (defaults.length > 1) {
          const devs = defaults.map((r) => r.dev ?? r.nexthops.map((n) => n.dev).join('+')).join(', ');
          const metrics = new Set(defaults.map((r) => r.metric ?? 0));
          out.push(finding(ctx, metrics.size < defaults.length ? 'warning' : 'info', `defaults-v${family}`, {
            summary: `${defaults.length} IPv${family} default routes in the main table (${devs})${metrics.size < defaults.length ? ' with equal metrics' : ''}`,
            evidence: defaults.flatMap((r) => evidenceOf(r.origin)),
            why: 'The kernel uses one of them (lowest metric, then the first listed) for everything without a more specific route; replies to peers that reached this host through another NIC leave by the wrong one.',
            fix: ['# keep one default route in main; give each other NIC its own table and a from rule, e.g.:', '#   ip route add default via <gateway> dev <nic> table 101', '#   ip rule add from <nic address>/32 lookup 101 priority 1000'],
          }));
        }
        for (const r of defaults) {
          const iface = interfaceByName(s, r.dev);
          if (iface && !iface.uplink && iface.kind !== 'loopback') {
            out.push(finding(ctx, 'warning', `default-via-${iface.name}`, {
              summary: `the IPv${family} default route leaves through ${iface.name} (${iface.owner?.type ?? iface.kind}), not an uplink`,
              evidence: [...evidenceOf(r.origin), ...evidenceOf(iface.origin)],
              why: `Everything without a more specific route, including replies to peers, goes into ${iface.name}.`,
              fix: [`# if this is not a deliberate full tunnel: ip route replace default via <uplink gateway> dev <uplink>`],
            }));
          }
        }
      }
      const mainDev = defaultRoutes(s, 4)[0]?.dev;
      if (!mainDev) return out;
      for (const { iface, address, ip } of uplinkAddresses(s, 4)) {
        if (iface.name === mainDev) continue;
        if (sourceRuleFor(s.rules, ip)) continue;
        // A router's own LAN side (a NAT gateway's eth1): peers off that subnet come in through the other NICs.
        if (routesItsOwnSubnet(s, iface, address)) continue;
        // The gateway of a network this router routes for (forward-blocked walks its clients' traffic).
        if (gatewayOfRoutedNetwork(ctx, iface.name, address)) continue;
        const subnet = networkOf(address);
        out.push(finding(ctx, 'warning', `no-source-table-${iface.name}`, {
          summary: `secondary NIC ${iface.name} (${ip}) has no route table and from rule of its own: its replies to peers outside ${subnet ? formatPrefix(subnet) : 'its subnet'} leave through ${mainDev}`,
          evidence: [...evidenceOf(address.origin), ...defaultRoutes(s, 4).flatMap((r) => evidenceOf(r.origin))],
          why: `Traffic to ${ip} arrives on ${iface.name}, but the reply is routed by the main table's default route out of ${mainDev}: the cloud's source check drops it, and strict rp_filter on ${iface.name} drops the requests.`,
          fix: sourceTableFix(s, iface, ip),
        }));
      }
      return out;
    },
  },
};
